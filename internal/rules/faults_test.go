package rules

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// faultTimeout bounds every wait in these tests.
const faultTimeout = 20 * time.Second

// faultRig is a proxy.Handler with a rules Set in front of a backend, both
// on loopback, with a recorder.
type faultRig struct {
	t       *testing.T
	set     *Set
	rec     *record.Recorder
	handler *proxy.Handler
	proxy   *httptest.Server
	client  *http.Client
	hits    atomic.Int32 // requests the backend saw
}

// newFaultRig serves backend behind rules (one per text). With tls, the
// proxy speaks HTTPS and HTTP/2.
func newFaultRig(t *testing.T, backend http.HandlerFunc, tls bool, texts ...string) *faultRig {
	t.Helper()
	r := &faultRig{t: t}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		backend(w, req)
	}))
	t.Cleanup(be.Close)
	var rules []Rule
	for _, text := range texts {
		rule, err := Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		rules = append(rules, rule)
	}
	set, err := New(rules, Options{Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	r.set = set
	target, _ := url.Parse(be.URL)
	r.rec = record.NewRecorder(record.Limits{})
	tr, err := proxy.NewTransport(proxy.TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	r.handler, err = proxy.New(proxy.Options{Target: target, Tap: r.rec, Transport: tr, Stages: []proxy.Stage{set}})
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = httptest.NewUnstartedServer(r.handler)
	if tls {
		r.proxy.EnableHTTP2 = true
		r.proxy.StartTLS()
		r.client = r.proxy.Client()
		r.client.Timeout = faultTimeout
	} else {
		r.proxy.Start()
		r.client = &http.Client{Timeout: faultTimeout, Transport: &http.Transport{DisableCompression: true}}
	}
	t.Cleanup(r.proxy.Close)
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

// fakeSleeps stands in for the waiting actions' sleeper: it notes each
// wait (and how many requests the backend had seen then) and returns at
// once.
type fakeSleeps struct {
	mu    sync.Mutex
	waits []time.Duration
	hits  []int32
}

// install makes every waiting action of the rig's rules use s.
func (s *fakeSleeps) install(r *faultRig) {
	for _, rule := range r.set.Rules() {
		for _, a := range rule.Actions {
			switch a := unwrap(a).(type) {
			case *delayFault:
				a.sleep = s.sleepFor(r)
			case *firstByteFault:
				a.sleep = s.sleepFor(r)
			case *throttleFault:
				a.sleep = s.sleepFor(r)
			}
		}
	}
}

func (s *fakeSleeps) sleepFor(r *faultRig) sleeper {
	return func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.waits = append(s.waits, d)
		s.hits = append(s.hits, r.hits.Load())
		return ctx.Err()
	}
}

func (s *fakeSleeps) got() ([]time.Duration, []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...), append([]int32(nil), s.hits...)
}

// done waits until n exchanges finished and returns the nth (from 1).
func (r *faultRig) done(n int) record.Exchange {
	r.t.Helper()
	return r.waitFor(fmt.Sprintf("%d finished exchanges", n), func(xs []record.Exchange) (record.Exchange, bool) {
		if len(xs) >= n && xs[n-1].State == record.Done {
			return xs[n-1], true
		}
		return record.Exchange{}, false
	})
}

// marked waits until an exchange in flight has the mark name.
func (r *faultRig) marked(name string) record.Exchange {
	r.t.Helper()
	return r.waitFor("a mark "+name, func(xs []record.Exchange) (record.Exchange, bool) {
		for _, x := range xs {
			if _, ok := x.Mark(name); ok {
				return x, true
			}
		}
		return record.Exchange{}, false
	})
}

func (r *faultRig) waitFor(what string, ok func([]record.Exchange) (record.Exchange, bool)) record.Exchange {
	r.t.Helper()
	sub := r.rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(faultTimeout)
	for {
		if x, done := ok(r.rec.Snapshot()); done {
			return x
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			r.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// markOf is the value of the exchange's last mark name by the rules stage.
func markOf(x record.Exchange, name string) string {
	v := ""
	for _, m := range x.Marks {
		if m.Stage == "rules" && m.Name == name {
			v = m.Value
		}
	}
	return v
}

// fill is n bytes of text.
func fill(n int) []byte {
	return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
}

func TestFaultParseNormalForm(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"* => delay 300ms", "* => delay 300ms"},
		{"* => delay 300ms±100ms p=0.2", "* => delay 300ms±100ms p=0.2"},
		{"* => delay 1s+-250ms", "* => delay 1s±250ms"},
		{"* => first-byte 1.5s", "* => first-byte 1.5s"},
		{"* => reset", "* => reset"},
		{"* => drop p=0.5", "* => drop p=0.5"},
		{"* => truncate 1024", "* => truncate 1KiB"},
		{"* => truncate 1.5MiB", "* => truncate 1536KiB"},
		{"* => truncate 10kb", "* => truncate 10000"},
		{"* => throttle 50KiB/s", "* => throttle 50KiB/s"},
		{"* => throttle 400kbit/s", "* => throttle 50000B/s"},
		{"* => throttle 1MB/s", "* => throttle 1000000B/s"},
		{"* => throttle Slow-3G", "* => throttle slow-3g"},
		{"* => throttle fast-3g", "* => throttle fast-3g"},
		{"* => replace foo bar", "* => replace foo bar"},
		{"* => replace request foo bar", "* => replace foo bar"},
		{`* => replace response "a b" "c;d"`, `* => replace response "a b" "c;d"`},
		{`* => replace response (\w+)@example\.com $1@test.invalid`, `* => replace response (\w+)@example\.com $1@test.invalid`},
	} {
		r, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := r.String(); got != c.want {
			t.Errorf("%s: normal form %q, want %q", c.in, got, c.want)
		}
		again, err := Parse(r.String())
		if err != nil || again.String() != r.String() {
			t.Errorf("%s: normal form %q does not read back: %v %q", c.in, r.String(), err, again.String())
		}
	}
}

func TestFaultParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"* => delay", "delay takes one duration"},
		{"* => delay soon", `"soon" is not a duration`},
		{"* => delay -1s", `"-1s" is not a duration`},
		{"* => delay 1s±x", "jitter"},
		{"* => first-byte", "first-byte takes one duration"},
		{"* => reset now", "reset takes no arguments"},
		{"* => drop 1s", "drop takes no arguments"},
		{"* => truncate", "truncate takes one size"},
		{"* => truncate lots", `"lots" is not a size`},
		{"* => truncate 0", "use reset"},
		{"* => truncate 1.5", `"1.5" is not a size`},
		{"* => throttle", "throttle takes a rate or a preset"},
		{"* => throttle 3g", `"3g" is not a rate`},
		{"* => throttle 0B/s", "at least 1 byte per second"},
		{"* => throttle 1e6/s", "is not a rate"},
		{"* => replace x", "write replace [request|response] REGEX REPLACEMENT"},
		{"* => replace ( x", "is not a regular expression"},
		{"* => replace a* x", "matches empty text"},
		{"status:5xx => delay 1s", "status:5xx needs the response, so it cannot trigger delay"},
		{"status:5xx => replace a b", "cannot trigger replace"},
	} {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.in, err, c.want)
		}
	}
	// Response-phase matchers may carry response-phase faults.
	for _, ok := range []string{"status:5xx => first-byte 1s; truncate 10; throttle slow-3g; replace response a b"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestDelayJitterIsUniformAndClamped(t *testing.T) {
	a := &delayFault{d: 300 * time.Millisecond, jitter: 100 * time.Millisecond}
	for _, c := range []struct {
		r    float64
		want time.Duration
	}{{0, 200 * time.Millisecond}, {0.5, 300 * time.Millisecond}, {0.75, 350 * time.Millisecond}} {
		if got := a.wait(func() float64 { return c.r }); got != c.want {
			t.Errorf("draw %v: wait %v, want %v", c.r, got, c.want)
		}
	}
	clamped := &delayFault{d: 10 * time.Millisecond, jitter: time.Second}
	if got := clamped.wait(func() float64 { return 0 }); got != 0 {
		t.Errorf("10ms±1s at the low end: %v, want 0", got)
	}
}

func TestDelayWaitsBeforeForwarding(t *testing.T) {
	r := newFaultRig(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }, false,
		"path:/slow => delay 300ms±100ms")
	var s fakeSleeps
	s.install(r)
	res, err := r.client.Get(r.proxy.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	res, err = r.client.Get(r.proxy.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	waits, hits := s.got()
	// The Set draws the jitter from its seeded source: the first draw.
	want := (300*time.Millisecond + time.Duration((2*rand.New(rand.NewPCG(1, 2)).Float64()-1)*float64(100*time.Millisecond))).Round(time.Microsecond)
	if len(waits) != 1 || waits[0] != want || hits[0] != 0 {
		t.Fatalf("waits %v (backend hits then %v); want one wait of %v before the backend was called", waits, hits, want)
	}
	x := r.done(1)
	if got := markOf(x, "delay"); got != want.String()+" (300ms±100ms)" || markOf(x, "faulted") != "1" || markOf(x, "rule") != "1" {
		t.Errorf("marks %v", x.Marks)
	}
	if y := r.done(2); markOf(y, "faulted") != "" {
		t.Errorf("an exchange the rule did not match is marked %v", y.Marks)
	}
}

func TestDelayEndsWhenClientLeaves(t *testing.T) {
	r := newFaultRig(t, func(w http.ResponseWriter, _ *http.Request) {}, false, "* => delay 1h")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.proxy.URL+"/", nil)
		res, err := r.client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	r.marked("delay")
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("got a response during a 1h delay")
	}
	x := r.done(1)
	if x.Err == nil || x.Err.Kind != record.ErrCanceled || x.Err.Status != proxy.StatusClientClosed || r.hits.Load() != 0 {
		t.Errorf("recorded %+v, backend hits %d; want canceled (499) and no upstream call", x.Err, r.hits.Load())
	}
}

func TestFirstByteHoldsResponseHeaders(t *testing.T) {
	r := newFaultRig(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "late") }, false,
		"* => first-byte 2s", "status:200 => first-byte 3s")
	var s fakeSleeps
	s.install(r)
	res, err := r.client.Get(r.proxy.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "late" {
		t.Errorf("body %q", b)
	}
	waits, hits := s.got()
	if fmt.Sprint(waits) != "[2s 3s]" || fmt.Sprint(hits) != "[1 1]" {
		t.Errorf("waits %v with backend hits %v; want 2s then 3s, both after the backend answered", waits, hits)
	}
	x := r.done(1)
	if markOf(x, "first-byte") != "headers held 3s" || markOf(x, "faulted") != "1" {
		t.Errorf("marks %v", x.Marks)
	}
}

func TestResetClosesWithoutAnswer(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			r := newFaultRig(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }, h2,
				`path:/reset => reset`)
			res, err := r.client.Get(r.proxy.URL + "/reset")
			if err == nil {
				res.Body.Close()
				t.Fatalf("got %d; want the connection closed without an answer", res.StatusCode)
			}
			x := r.done(1)
			if x.Err == nil || x.Err.Kind != record.ErrAborted || x.Err.Status != 0 || x.Err.Message != "connection reset by devproxy (rule 1)" {
				t.Errorf("recorded %+v", x.Err)
			}
			if markOf(x, "reset") == "" || markOf(x, "faulted") != "1" || r.hits.Load() != 0 {
				t.Errorf("marks %v, backend hits %d", x.Marks, r.hits.Load())
			}
			// The proxy goes on serving.
			res, err = r.client.Get(r.proxy.URL + "/other")
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(res.Body); string(b) != "ok" {
				t.Errorf("after a reset: %q", b)
			}
			res.Body.Close()
		})
	}
}

func TestTruncateCutsBody(t *testing.T) {
	body := fill(10000)
	backend := func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/chunked":
			w.Write(body[:5000])
			w.(http.Flusher).Flush()
			w.Write(body[5000:])
		case "/short":
			io.WriteString(w, "short")
		case "/short-chunked":
			w.Write(body[:100])
			w.(http.Flusher).Flush()
			w.Write(body[100:200])
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}
	}
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			r := newFaultRig(t, backend, h2, `* => truncate 1KiB`)
			n := 0
			for _, path := range []string{"/length", "/chunked"} {
				res, err := r.client.Get(r.proxy.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err == nil || !bytes.Equal(got, body[:1024]) {
					t.Errorf("%s: read %d bytes, %v; want 1024 then an error", path, len(got), err)
				}
				if h2 && res.ProtoMajor != 2 {
					t.Fatalf("%s: answered over %s; want HTTP/2", path, res.Proto)
				}
				if path == "/length" && res.ContentLength != int64(len(body)) {
					t.Errorf("%s: Content-Length %d; want the original %d", path, res.ContentLength, len(body))
				}
				n++
				x := r.done(n)
				if x.Err == nil || x.Err.Kind != record.ErrAborted || x.Err.Status != http.StatusOK || !strings.Contains(x.Err.Message, "cut after 1024 B") {
					t.Errorf("%s: recorded %+v", path, x.Err)
				}
				if x.Response == nil || len(x.Response.Body.Bytes) != 1024 || markOf(x, "faulted") != "1" || !strings.HasPrefix(markOf(x, "truncate"), "cut after 1024 B") {
					t.Errorf("%s: recorded body %d bytes, marks %v", path, len(x.Response.Body.Bytes), x.Marks)
				}
			}
			for _, c := range []struct{ path, body, mark string }{
				{"/short", "short", "body of 5 B not longer than 1024 B; not cut"},
				{"/short-chunked", string(body[:200]), "body of 200 B not longer than 1024 B; not cut"},
			} {
				res, err := r.client.Get(r.proxy.URL + c.path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || string(got) != c.body {
					t.Errorf("%s: %q, %v", c.path, got, err)
				}
				n++
				x := r.done(n)
				if x.Err != nil || markOf(x, "faulted") != "" || markOf(x, "truncate") != c.mark {
					t.Errorf("%s: recorded %+v, marks %v", c.path, x.Err, x.Marks)
				}
			}
		})
	}
}

func TestDropNeverAnswers(t *testing.T) {
	r := newFaultRig(t, func(w http.ResponseWriter, _ *http.Request) {}, false, "method:POST => drop")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", r.proxy.URL+"/", strings.NewReader("x"))
		res, err := r.client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	r.marked("drop")
	cancel() // the client gives up
	if err := <-errc; err == nil {
		t.Fatal("a dropped request got a response")
	}
	x := r.done(1)
	if x.Err == nil || x.Err.Kind != record.ErrCanceled || x.Err.Status != proxy.StatusClientClosed {
		t.Errorf("recorded %+v; want canceled, 499", x.Err)
	}
	if markOf(x, "faulted") != "1" || r.hits.Load() != 0 {
		t.Errorf("marks %v, backend hits %d", x.Marks, r.hits.Load())
	}
}

func TestThrottleBothWays(t *testing.T) {
	echo := func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body) // all of it first: HTTP/1 is not full duplex
		w.Write(b)
	}
	r := newFaultRig(t, echo, false, "path:/up => throttle 4MiB/s", "status:200 => throttle fast-4g", "path:/preset => throttle slow-3g")
	var s fakeSleeps
	s.install(r)
	// Through throttle 4MiB/s (both ways) and fast-4g (matched on the
	// response: down only, its latency before the response).
	body := fill(200 << 10)
	res, err := r.client.Post(r.proxy.URL+"/up", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		x := r.done(1)
		t.Fatalf("echo through throttle: %d bytes, %v; recorded %+v, marks %v", len(got), err, x.Err, x.Marks)
	}
	x := r.done(1)
	if markOf(x, "throttle") != "fast-4g: 1012500B/s down, 168750B/s up, 165ms latency" || markOf(x, "faulted") != "1" {
		t.Errorf("marks %v", x.Marks)
	}
	var seen []string
	for _, m := range x.Marks {
		if m.Name == "throttle" {
			seen = append(seen, m.Value)
		}
	}
	if fmt.Sprint(seen) != "[4MiB/s each way fast-4g: 1012500B/s down, 168750B/s up, 165ms latency]" {
		t.Errorf("throttle marks %q", seen)
	}
	// A preset matched on the request waits its latency once, before
	// forwarding.
	res, err = r.client.Post(r.proxy.URL+"/preset", "text/plain", strings.NewReader("small"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(got) != "small" {
		t.Errorf("preset: %q", got)
	}
	waits, hits := s.got()
	if fmt.Sprint(waits) != "[165ms 2s 165ms]" || fmt.Sprint(hits) != "[1 1 2]" {
		t.Errorf("waits %v at backend hits %v; want fast-4g: 165ms after the first answer, slow-3g: 2s before the second request, fast-4g again after it", waits, hits)
	}
}

func TestThrottledBodyPassesEverything(t *testing.T) {
	data := fill(100_000)
	b := newThrottledBody(context.Background(), io.NopCloser(iotest.HalfReader(bytes.NewReader(data))), 10<<20)
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newThrottledBody(ctx, io.NopCloser(bytes.NewReader(data)), 100)
	if _, err := io.ReadAll(slow); !errors.Is(err, context.Canceled) {
		t.Errorf("with the client gone: %v", err)
	}
}

func TestReplaceBuffered(t *testing.T) {
	var upstream atomic.Value
	echo := func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		upstream.Store(fmt.Sprintf("%d %s", req.ContentLength, b))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
	r := newFaultRig(t, echo, false,
		`* => replace "\"user\":\"(\w+)\"" "\"user\":\"$1-edited\""`,
		`* => replace response secret XXXXXX`)
	res, err := r.client.Post(r.proxy.URL+"/", "application/json", strings.NewReader(`{"user":"ann","token":"secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sent := `{"user":"ann-edited","token":"secret"}`
	if up := upstream.Load(); up != fmt.Sprintf("%d %s", len(sent), sent) {
		t.Errorf("upstream got %v", up)
	}
	if string(got) != `{"user":"ann-edited","token":"XXXXXX"}` || res.ContentLength != int64(len(got)) {
		t.Errorf("client got %q with Content-Length %d", got, res.ContentLength)
	}
	x := r.done(1)
	var seen []string
	for _, m := range x.Marks {
		if m.Name == "replace" {
			seen = append(seen, m.Value)
		}
	}
	if fmt.Sprint(seen) != "[request body: 1 replacement response body: 1 replacement]" || markOf(x, "modified") != "1" || markOf(x, "faulted") != "" {
		t.Errorf("marks %v", x.Marks)
	}
}

func TestReplaceStreamsLargeBodies(t *testing.T) {
	// Matches fall on both sides of every window edge.
	var src bytes.Buffer
	for src.Len() < 300<<10 {
		fmt.Fprintf(&src, "id=%d;", src.Len())
	}
	re := regexp.MustCompile(`id=(\d+);`)
	want := re.ReplaceAll(src.Bytes(), []byte("<$1>"))
	var upstream atomic.Value
	backend := func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		upstream.Store(b)
		switch req.URL.Path {
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(src.Bytes())
			zw.Close()
		default:
			w.Header().Set("Content-Length", strconv.Itoa(src.Len()))
			w.Write(src.Bytes())
		}
	}
	r := newFaultRig(t, backend, false, `* => replace response "id=(\d+);" <$1>`, `path:/up => replace "id=(\d+);" <$1>`)
	for i, path := range []string{"/plain", "/gzip", "/up"} {
		var res *http.Response
		var err error
		if path == "/up" {
			// A body of unknown length goes up chunked, rewritten.
			res, err = r.client.Post(r.proxy.URL+path, "text/plain", io.MultiReader(bytes.NewReader(src.Bytes())))
		} else {
			res, err = r.client.Get(r.proxy.URL + path)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes (%v), want %d; differ at %d", path, len(got), err, len(want), firstDiff(got, want))
		}
		if res.ContentLength != -1 || res.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: Content-Length %d, Content-Encoding %q; want chunked, decoded", path, res.ContentLength, res.Header.Get("Content-Encoding"))
		}
		x := r.done(i + 1)
		if markOf(x, "replace") != fmt.Sprintf("response body: %d replacements (streamed)", len(re.FindAllIndex(src.Bytes(), -1))) || markOf(x, "modified") != "1" {
			t.Errorf("%s: marks %v", path, x.Marks)
		}
		if path == "/up" {
			if up, _ := upstream.Load().([]byte); !bytes.Equal(up, want) {
				t.Errorf("upstream got %d bytes, want %d rewritten", len(up), len(want))
			}
		}
	}
}

func TestReplaceStreamMatchesReplaceAll(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		re, repl string
		unit     string
	}{
		{`ab+c`, "X", "abbbc-"},
		{`(?m)^line (\d+)$`, "L$1", "line 7\n"},
		{`\bword\b`, "W", "word sword "},
		{`x{1,3}`, "", "xxxxxxxyx"},
	} {
		var src []byte
		for len(src) < 3*replaceWindow+rnd.IntN(1000) {
			if rnd.IntN(3) == 0 {
				src = append(src, c.unit...)
			} else {
				src = append(src, "filler text "[:1+rnd.IntN(11)]...)
			}
		}
		re := regexp.MustCompile(c.re)
		want := re.ReplaceAll(src, []byte(c.repl))
		var count int
		s := &replaceStream{src: io.NopCloser(iotest.OneByteReader(bytes.NewReader(src))), re: re, repl: []byte(c.repl), done: func(n int) { count = n }}
		got, err := io.ReadAll(iotest.HalfReader(s))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: streamed %d bytes (%v), ReplaceAll %d; differ at %d", c.re, len(got), err, len(want), firstDiff(got, want))
		}
		if n := len(re.FindAllIndex(src, -1)); count != n {
			t.Errorf("%s: counted %d replacements, want %d", c.re, count, n)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestReplaysSkipFaults(t *testing.T) {
	r := newFaultRig(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }, false,
		"* => reset; truncate 1")
	rp := proxy.NewReplayer(r.handler, r.rec)
	id, err := rp.Send(context.Background(), record.Request{Method: "GET", URL: "http://x/"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := r.rec.Get(id)
	if x.Err != nil || x.Response == nil || string(x.Response.Body.Bytes) != "ok" || markOf(x, "faulted") != "" {
		t.Errorf("replay recorded %+v, marks %v", x.Err, x.Marks)
	}
}
