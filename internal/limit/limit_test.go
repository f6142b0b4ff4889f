package limit

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
)

// testTimeout bounds every network wait in these tests.
const testTimeout = 20 * time.Second

// rig is a proxy.Handler with stages in front of an upstream that counts
// its requests, both on loopback, with a recorder.
type rig struct {
	t     *testing.T
	url   string
	rec   *record.Recorder
	hits  atomic.Int64
	reply http.HandlerFunc // the upstream's answer; default 200 "ok"
}

func newRig(t *testing.T, stages ...proxy.Stage) *rig {
	t.Helper()
	r := &rig{t: t, rec: record.NewRecorder(record.Limits{})}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if r.reply != nil {
			r.reply(w, req)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	target, _ := url.Parse(up.URL)
	h, err := proxy.New(proxy.Options{Target: target, Tap: r.rec, Stages: stages})
	if err != nil {
		t.Fatal(err)
	}
	p := httptest.NewServer(h)
	t.Cleanup(p.Close)
	r.url = p.URL
	return r
}

// clientFrom is a client whose connections come from ip (a loopback
// address other than 127.0.0.1 is a different client to the proxy).
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: testTimeout}
	tr := &http.Transport{DialContext: d.DialContext, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// get sends GET path and returns the response with its body read.
func (r *rig) get(c *http.Client, path string) (*http.Response, string) {
	r.t.Helper()
	res, err := c.Get(r.url + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return res, string(b)
}

// waitDone waits until n exchanges are recorded as done and returns them.
func (r *rig) waitDone(n int) []record.Exchange {
	return recordtest.WaitDone(r.t, r.rec, n, testTimeout)
}

// clock is a stopped clock the test moves by hand.
type clock struct{ t atomic.Pointer[time.Time] }

func stopClock(l *Limiter) *clock {
	c := &clock{}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c.t.Store(&now)
	l.now = func() time.Time { return *c.t.Load() }
	return c
}

func (c *clock) advance(d time.Duration) {
	t := c.t.Load().Add(d)
	c.t.Store(&t)
}

func newLimiter(t *testing.T, cfg Config, route string) (*Limiter, *clock) {
	t.Helper()
	l, err := New(cfg, route)
	if err != nil {
		t.Fatal(err)
	}
	return l, stopClock(l)
}

// resetGlobals forgets the global buckets earlier tests (or runs) used.
func resetGlobals(t *testing.T) {
	globals.Lock()
	globals.m = nil
	globals.Unlock()
}

const perHour = 1.0 / 3600

func TestBurstThenRefused(t *testing.T) {
	l, _ := newLimiter(t, Config{Rate: perHour, Burst: 3}, "api")
	r := newRig(t, l)
	c := clientFrom(t, "127.0.0.1")
	for i, want := range []string{`"api";r=2;t=3600`, `"api";r=1;t=7200`, `"api";r=0;t=10800`} {
		res, body := r.get(c, "/x")
		if res.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 from the upstream", i+1, res.StatusCode, body)
		}
		if got := res.Header.Values("RateLimit"); len(got) != 1 || got[0] != want {
			t.Errorf("request %d: RateLimit %q, want %q", i+1, got, want)
		}
		if got := res.Header.Get("RateLimit-Policy"); got != `"api";q=3;w=10800` {
			t.Errorf("request %d: RateLimit-Policy %q", i+1, got)
		}
	}
	for i := 4; i <= 5; i++ {
		res, body := r.get(c, "/x")
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d: %d %q, want 429", i, res.StatusCode, body)
		}
		checkFields(t, res, map[string]string{
			"Retry-After":      "3600",
			"RateLimit":        `"api";r=0;t=10800`,
			"RateLimit-Policy": `"api";q=3;w=10800`,
			"Cache-Control":    "no-store",
		})
		if want := "rate limit of route api: 1 request/h, burst 3, per client 127.0.0.1; retry in 3600s\n"; body != want {
			t.Errorf("429 body %q, want %q", body, want)
		}
	}
	if n := r.hits.Load(); n != 3 {
		t.Errorf("the upstream got %d requests, want the 3 of the burst", n)
	}
	xs := r.waitDone(5)
	for i, x := range xs {
		verdict, _ := x.Mark("limit")
		if i < 3 {
			if verdict != "allowed" || x.Response == nil || x.Response.Status != 200 {
				t.Errorf("exchange %d: limit=%q status %v", i+1, verdict, x.Status())
			}
			continue
		}
		if verdict != "limited" {
			t.Errorf("exchange %d: marks %v, want limit=limited", i+1, x.Marks)
		}
		if v, _ := x.Mark("answered"); v != "by rate limit" {
			t.Errorf("exchange %d: marks %v, want answered=by rate limit", i+1, x.Marks)
		}
		// Recorded like any exchange: status, headers, the whole body.
		if x.Err != nil || x.Response == nil || x.Response.Status != 429 || !x.Response.Body.Complete ||
			!strings.HasPrefix(string(x.Response.Body.Bytes), "rate limit of route api") ||
			x.Response.Header.Get("Retry-After") != "3600" {
			t.Errorf("exchange %d recorded as %+v, err %v", i+1, x.Response, x.Err)
		}
		if x.Request.UpstreamURL != "" {
			t.Errorf("exchange %d recorded an upstream %q", i+1, x.Request.UpstreamURL)
		}
	}
}

func checkFields(t *testing.T, res *http.Response, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

// Retry-After is never earlier than the real wait: half a second rounds up
// to 1, and a token is there once the wait has passed.
func TestRetryAfterRoundsUp(t *testing.T) {
	l, clk := newLimiter(t, Config{Rate: 2, Burst: 1}, "api")
	r := newRig(t, l)
	c := clientFrom(t, "127.0.0.1")
	if res, _ := r.get(c, "/"); res.StatusCode != 200 {
		t.Fatalf("first request: %d", res.StatusCode)
	}
	res, body := r.get(c, "/")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" || !strings.HasSuffix(body, "retry in 1s\n") {
		t.Fatalf("second request: %d Retry-After %q body %q, want 429 after 1", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if got := res.Header.Get("RateLimit"); got != `"api";r=0;t=1` {
		t.Errorf("RateLimit %q", got)
	}
	clk.advance(500 * time.Millisecond)
	if res, _ := r.get(c, "/"); res.StatusCode != 200 {
		t.Fatalf("after the wait: %d, want 200", res.StatusCode)
	}
}

func TestPer(t *testing.T) {
	const a, b = "127.0.0.1", "127.0.0.2"
	type step struct {
		from   string
		status int
	}
	for _, tc := range []struct {
		per   string
		steps []step
	}{
		{PerClient, []step{{a, 200}, {a, 200}, {a, 429}, {b, 200}, {b, 200}, {b, 429}, {a, 429}}},
		{PerRoute, []step{{a, 200}, {b, 200}, {a, 429}, {b, 429}}},
	} {
		t.Run(tc.per, func(t *testing.T) {
			l, _ := newLimiter(t, Config{Rate: perHour, Burst: 2, Per: tc.per}, "api")
			r := newRig(t, l)
			clients := map[string]*http.Client{a: clientFrom(t, a), b: clientFrom(t, b)}
			for i, s := range tc.steps {
				res, body := r.get(clients[s.from], "/")
				if res.StatusCode != s.status {
					t.Fatalf("step %d from %s: %d %q, want %d", i+1, s.from, res.StatusCode, body, s.status)
				}
			}
			if tc.per == PerClient {
				if n := l.clients.len(); n != 2 {
					t.Errorf("%d client buckets, want 2", n)
				}
				// Each client is told its own remaining quota, and
				// so is the next request's client address.
				x := r.waitDone(len(tc.steps))
				if x[3].ClientAddr == x[0].ClientAddr || !strings.HasPrefix(x[3].ClientAddr, b+":") {
					t.Errorf("client addresses %q and %q, want two sources", x[0].ClientAddr, x[3].ClientAddr)
				}
			}
		})
	}
}

// Two routes limited per global share one bucket; limited per route, each
// has its own.
func TestGlobalAndRoute(t *testing.T) {
	for _, tc := range []struct {
		per       string
		secondOfB int // status of b's second request, after a's two
	}{
		{PerGlobal, 429},
		{PerRoute, 200},
	} {
		t.Run(tc.per, func(t *testing.T) {
			resetGlobals(t)
			la, _ := newLimiter(t, Config{Rate: perHour, Burst: 3, Per: tc.per}, "a")
			lb, _ := newLimiter(t, Config{Rate: perHour, Burst: 3, Per: tc.per}, "b")
			ra, rb := newRig(t, la), newRig(t, lb)
			c := clientFrom(t, "127.0.0.1")
			for range 2 {
				if res, _ := ra.get(c, "/"); res.StatusCode != 200 {
					t.Fatalf("route a: %d", res.StatusCode)
				}
			}
			res, _ := rb.get(c, "/")
			if res.StatusCode != 200 {
				t.Fatalf("route b, first: %d", res.StatusCode)
			}
			res, body := rb.get(c, "/")
			if res.StatusCode != tc.secondOfB {
				t.Fatalf("route b, second: %d %q, want %d", res.StatusCode, body, tc.secondOfB)
			}
			if tc.per == PerGlobal {
				if want := "rate limit of route b: 1 request/h, burst 3, shared by every route with a global limit; retry in 3600s\n"; body != want {
					t.Errorf("body %q, want %q", body, want)
				}
				if got := res.Header.Get("RateLimit-Policy"); got != `"global";q=3;w=10800` {
					t.Errorf("RateLimit-Policy %q", got)
				}
			}
		})
	}
}

// The upstream's own RateLimit fields are kept; devproxy's come after them.
func TestUpstreamFieldsKept(t *testing.T) {
	l, _ := newLimiter(t, Config{Rate: perHour, Burst: 5}, "api")
	r := newRig(t, l)
	r.reply = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("RateLimit-Policy", `"origin";q=100;w=60`)
		w.Header().Set("RateLimit", `"origin";r=99;t=60`)
	}
	res, _ := r.get(clientFrom(t, "127.0.0.1"), "/")
	want := []string{`"origin";r=99;t=60`, `"api";r=4;t=3600`}
	if got := res.Header.Values("RateLimit"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	if got := res.Header.Values("RateLimit-Policy"); len(got) != 2 || got[0] != `"origin";q=100;w=60` {
		t.Errorf("RateLimit-Policy %q", got)
	}
}

// A later attempt of the same exchange (a retry) takes no second token.
func TestLaterAttemptsNotCounted(t *testing.T) {
	l, _ := newLimiter(t, Config{Rate: perHour, Burst: 1}, "api")
	in := httptest.NewRequest("GET", "/", nil)
	in.RemoteAddr = "127.0.0.1:5000"
	f := &proxy.Flow{In: in, Out: in.Clone(context.Background()), Attempt: 1, Rec: discard{}}
	if res, _ := l.Request(f); res != nil {
		t.Fatalf("first attempt answered %d", res.StatusCode)
	}
	f.Attempt = 2
	if res, _ := l.Request(f); res != nil {
		t.Fatalf("second attempt answered %d", res.StatusCode)
	}
}

type discard struct{ record.Recording }

func (discard) Mark(record.Mark) {}

func TestClientsBounded(t *testing.T) {
	c := newClients(2, func() *rate.Limiter { return rate.NewLimiter(rate.Limit(perHour), 1) })
	now := time.Now()
	a := c.get("a")
	a.AllowN(now, 1)
	c.get("b")
	c.get("a") // a is now the most recently used
	c.get("c") // evicts b
	if c.len() != 2 {
		t.Fatalf("%d buckets, want 2", c.len())
	}
	if c.get("a") != a {
		t.Error("a's bucket was dropped though b was older")
	}
	if _, ok := c.byKey["b"]; ok {
		t.Error("b's bucket was kept past the bound")
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "rate_limit.rate: 0 is not a rate"},
		{Config{Rate: -1}, "rate_limit.rate: -1 is not a rate"},
		{Config{Rate: 1, Burst: -2}, "rate_limit.burst: -2 is negative"},
		{Config{Rate: 1, Per: "ip"}, `rate_limit.per: "ip" is not one of client`},
	} {
		_, err := New(tc.cfg, "api")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
	l, err := New(Config{Rate: 2.5}, "api")
	if err != nil || l.burst != 3 || l.per != PerClient {
		t.Errorf("defaults: burst %d per %q err %v, want 3 client", l.burst, l.per, err)
	}
}

func TestDescribeRate(t *testing.T) {
	for r, want := range map[float64]string{
		100: "100 requests/s", 1: "1 request/s", 10.0 / 60: "10 requests/min", 0.5: "30 requests/min",
		perHour: "1 request/h", 5000.0 / 3600: "1.389 requests/s", 1.0 / 86400: "0.042 requests/h",
	} {
		if got := describeRate(r); got != want {
			t.Errorf("describeRate(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestSFString(t *testing.T) {
	if got := sfString(`api.localhost/v1/ "x"\é`); got != `"api.localhost/v1/ \"x\"\\??"` {
		t.Errorf("got %s", got)
	}
}

// BenchmarkStage is the limiter's own cost per request, per client, with
// every request let through.
func BenchmarkStage(b *testing.B) {
	l, err := New(Config{Rate: 1e9, Burst: 1 << 20}, "api")
	if err != nil {
		b.Fatal(err)
	}
	in := httptest.NewRequest("GET", "/", nil)
	in.RemoteAddr = "127.0.0.1:5000"
	b.ReportAllocs()
	for b.Loop() {
		f := &proxy.Flow{In: in, Out: in, Attempt: 1, Rec: discard{}}
		if res, _ := l.Request(f); res != nil {
			b.Fatal("refused")
		}
		if err := l.Response(f, &http.Response{Header: http.Header{}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxy compares GETs through a proxy with the limiter to the same
// proxy without it (sub-benchmarks baseline and limit, in one run).
func BenchmarkProxy(b *testing.B) {
	for _, name := range []string{"baseline", "limit"} {
		b.Run(name, func(b *testing.B) {
			var stages []proxy.Stage
			if name == "limit" {
				l, err := New(Config{Rate: 1e9, Burst: 1 << 20}, "api")
				if err != nil {
					b.Fatal(err)
				}
				stages = append(stages, l)
			}
			benchProxy(b, stages)
		})
	}
}

func benchProxy(b *testing.B, stages []proxy.Stage) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	h, err := proxy.New(proxy.Options{Target: target, Stages: stages})
	if err != nil {
		b.Fatal(err)
	}
	p := httptest.NewServer(h)
	defer p.Close()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: testTimeout}
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Get(p.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.Status)
		}
	}
}
