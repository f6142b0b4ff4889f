package route

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/proxy"
)

func threeUpstreams(t *testing.T) ([]*upstream, []string) {
	ups := []*upstream{newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")}
	return ups, []string{ups[0].URL(), ups[1].URL(), ups[2].URL()}
}

// TestPolicyDistribution sends requests through a real proxy to three
// upstreams and checks how each policy spreads them.
func TestPolicyDistribution(t *testing.T) {
	const n = 90
	tests := []struct {
		lb    string
		check func(t *testing.T, seq []string, counts map[string]int)
	}{
		{RoundRobin, func(t *testing.T, seq []string, counts map[string]int) {
			for _, name := range []string{"a", "b", "c"} {
				if counts[name] != n/3 {
					t.Errorf("round_robin: %s got %d of %d, want %d", name, counts[name], n, n/3)
				}
			}
			for i := 3; i < len(seq); i++ {
				if seq[i] != seq[i-3] {
					t.Fatalf("round_robin: not a cycle at %d: %v", i, seq[:i+1])
				}
			}
		}},
		{"", func(t *testing.T, seq []string, counts map[string]int) { // the default is round robin
			if counts["a"] != n/3 || counts["b"] != n/3 || counts["c"] != n/3 {
				t.Errorf("default policy: %v, want an even split", counts)
			}
		}},
		{First, func(t *testing.T, seq []string, counts map[string]int) {
			if counts["a"] != n {
				t.Errorf("first: %v, want all to a", counts)
			}
		}},
		{Random, func(t *testing.T, seq []string, counts map[string]int) {
			// (2/3)^90 ≈ 1e-16: each upstream gets some.
			for _, name := range []string{"a", "b", "c"} {
				if counts[name] == 0 {
					t.Errorf("random: %s got none: %v", name, counts)
				}
			}
		}},
		{LeastConn, func(t *testing.T, seq []string, counts map[string]int) {
			// One at a time, every upstream is idle: ties are random.
			for _, name := range []string{"a", "b", "c"} {
				if counts[name] == 0 {
					t.Errorf("least_conn: %s got none: %v", name, counts)
				}
			}
		}},
		{IPHash, func(t *testing.T, seq []string, counts map[string]int) {
			if len(counts) != 1 {
				t.Errorf("ip_hash: one client went to %v, want one upstream", counts)
			}
		}},
	}
	for _, tt := range tests {
		t.Run("lb="+tt.lb, func(t *testing.T) {
			_, urls := threeUpstreams(t)
			f := newFront(t, []Spec{{Upstreams: urls, LB: tt.lb}}, Options{})
			var seq []string
			counts := map[string]int{}
			for range n {
				res, body := f.get("/x")
				if res.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", res.StatusCode, body)
				}
				seq = append(seq, body)
				counts[body]++
			}
			tt.check(t, seq, counts)
		})
	}
}

// TestIPHashSpreadsClients checks rendezvous hashing over many client IPs:
// every member gets some, and removing one moves only its own clients.
func TestIPHashSpreadsClients(t *testing.T) {
	p, _ := NewPool("api", IPHash, nil)
	var ms []*Member
	for i := range 3 {
		m := &Member{Name: fmt.Sprintf("http://10.0.0.%d:80", i), URL: &url.URL{Scheme: "http", Host: "x"}}
		p.Add(m)
		ms = append(ms, m)
	}
	before := map[string]*Member{}
	counts := map[*Member]int{}
	for i := range 300 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = fmt.Sprintf("192.168.%d.%d:5000", i/250, i%250)
		m, err := p.Pick(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		before[r.RemoteAddr] = m
		counts[m]++
		if again, _ := p.Pick(r, nil); again != m {
			t.Fatalf("%s: picked %s then %s", r.RemoteAddr, m.Name, again.Name)
		}
	}
	for _, m := range ms {
		if counts[m] < 50 {
			t.Errorf("%s got %d of 300 clients", m.Name, counts[m])
		}
	}
	p.Remove(ms[1])
	for addr, m := range before {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		now, _ := p.Pick(r, nil)
		if m != ms[1] && now != m {
			t.Fatalf("%s moved from %s to %s though its upstream stayed", addr, m.Name, now.Name)
		}
	}
}

// TestLeastConnPrefersIdle holds attempts in flight and checks least_conn
// sends new ones elsewhere until they are released.
func TestLeastConnPrefersIdle(t *testing.T) {
	p, _ := NewPool("api", LeastConn, nil)
	a := &Member{Name: "a", URL: &url.URL{Scheme: "http", Host: "a"}}
	b := &Member{Name: "b", URL: &url.URL{Scheme: "http", Host: "b"}}
	p.Add(a)
	p.Add(b)
	r := httptest.NewRequest("GET", "/", nil)
	// Two attempts in flight on a.
	ua1, ua2 := p.Upstream(a, nil), p.Upstream(a, nil)
	for range 20 {
		m, err := p.Pick(r, nil)
		if err != nil || m != b {
			t.Fatalf("picked %v (%v), want b while a has 2 in flight", m, err)
		}
	}
	ub := p.Upstream(b, nil)
	ub2 := p.Upstream(b, nil)
	ub3 := p.Upstream(b, nil) // b: 3, a: 2
	if m, _ := p.Pick(r, nil); m != a {
		t.Fatalf("picked %s, want a (2 in flight) over b (3)", m.Name)
	}
	for _, u := range []*proxy.Upstream{ua1, ua2, ub, ub2, ub3} {
		u.Release()
		u.Release() // the engine calls it once; more must not count twice
	}
	if a.InFlight() != 0 || b.InFlight() != 0 {
		t.Fatalf("in flight after release: a %d, b %d", a.InFlight(), b.InFlight())
	}
}

// TestPassiveEvictsKilledUpstream kills one of two upstreams mid-run: after
// its failure, every request goes to the live one, and an event says so.
func TestPassiveEvictsKilledUpstream(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	ch, on := events()
	f := newFront(t, []Spec{{
		Name:      "api",
		Upstreams: []string{a.URL(), b.URL()},
		Passive:   &PassiveSpec{MaxFails: 1, FailWindow: 3600e9},
	}}, Options{OnHealth: on})
	for range 4 {
		if res, _ := f.get("/"); res.StatusCode != 200 {
			t.Fatalf("status %d before the kill", res.StatusCode)
		}
	}
	a.srv.Close()
	failed := 0
	for range 10 {
		res, body := f.get("/")
		switch {
		case res.StatusCode == http.StatusOK && body == "b":
		case res.StatusCode >= 500:
			failed++ // the attempt that found a dead (retries are the engine's)
		default:
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
	}
	if failed != 1 {
		t.Errorf("%d requests failed after the kill, want exactly 1 (then a is out)", failed)
	}
	e := nextEvent(t, ch)
	if e.Route != "api" || e.Upstream != a.URL() || e.Healthy || !strings.Contains(e.Reason, "1 failure within 1h0m0s") || !strings.Contains(e.Reason, "connection refused") {
		t.Errorf("event %+v", e)
	}
	if h := f.table.Health(); len(h) != 1 || h[0] != (PoolHealth{Route: "api", Up: 1, Total: 2}) {
		t.Errorf("Health() = %+v", h)
	}
}

// TestPassiveUnhealthyStatusAndRecovery: a 5xx counts when listed; the
// member comes back when its failures leave the window.
func TestPassiveUnhealthyStatusAndRecovery(t *testing.T) {
	ch, on := events()
	p, err := NewPool("api", First, &PassiveSpec{MaxFails: 2, FailWindow: 50e6, UnhealthyStatus: []string{"5xx"}})
	if err != nil {
		t.Fatal(err)
	}
	p.OnHealth = on
	a := &Member{Name: "a", URL: &url.URL{Scheme: "http", Host: "a"}}
	b := &Member{Name: "b", URL: &url.URL{Scheme: "http", Host: "b"}}
	p.Add(a)
	p.Add(b)
	fail := func() {
		p.Upstream(a, nil).Done(&http.Response{StatusCode: 502, Status: "502 Bad Gateway", Body: http.NoBody}, nil)
	}
	p.Upstream(a, nil).Done(&http.Response{StatusCode: 404, Status: "404 Not Found", Body: http.NoBody}, nil) // not listed
	fail()
	if !a.Available() {
		t.Fatal("a down after 1 of 2 failures")
	}
	fail()
	e := nextEvent(t, ch)
	if e.Healthy || e.Upstream != "a" || !strings.Contains(e.Reason, "2 failures within 50ms (last: 502 Bad Gateway)") {
		t.Fatalf("event %+v", e)
	}
	r := httptest.NewRequest("GET", "/", nil)
	if m, _ := p.Pick(r, nil); m != b {
		t.Fatalf("picked %s while a is down", m.Name)
	}
	e = nextEvent(t, ch) // the window passes
	if !e.Healthy || e.Upstream != "a" {
		t.Fatalf("event %+v, want a back up", e)
	}
	if m, _ := p.Pick(r, nil); m != a {
		t.Fatalf("picked %s after a recovered (policy first)", m.Name)
	}
}

// TestClientCancelIsNotAFailure: a client that goes away mid-request never
// takes the upstream down.
func TestClientCancelIsNotAFailure(t *testing.T) {
	entered := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	ch, on := events()
	f := newFront(t, []Spec{{Name: "api", Upstreams: []string{slow.URL}, Passive: &PassiveSpec{MaxFails: 1, FailWindow: 3600e9}}}, Options{OnHealth: on})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/", nil)
	done := make(chan error, 1)
	go func() {
		_, err := f.client.Do(req)
		done <- err
	}()
	<-entered
	cancel()
	<-done
	m := f.table.Pool("api").Members()[0]
	waitFor(t, "the attempt to be released", func() bool { return m.InFlight() == 0 })
	if !m.Available() {
		t.Fatalf("upstream down after a client cancel: %s", m.why())
	}
	select {
	case e := <-ch:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

// TestCookieStickiness: the first answer sets devproxy_lb; with it every
// request goes to the same upstream; when that one dies the cookie is
// re-picked and re-set.
func TestCookieStickiness(t *testing.T) {
	ups, urls := threeUpstreams(t)
	f := newFront(t, []Spec{{Name: "web", Upstreams: urls, LB: Cookie, Passive: &PassiveSpec{MaxFails: 1, FailWindow: 3600e9}}}, Options{})
	res, first := f.get("/")
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("no %s cookie in %v", CookieName, res.Header["Set-Cookie"])
	}
	if !cookie.HttpOnly || cookie.Path != "/" || cookie.SameSite != http.SameSiteLaxMode || len(cookie.Value) != 64 {
		t.Errorf("cookie %+v", cookie)
	}
	withCookie := func(c *http.Cookie) func(*http.Request) { return func(r *http.Request) { r.AddCookie(c) } }
	for range 20 {
		res, body := f.get("/", withCookie(cookie))
		if body != first {
			t.Fatalf("sticky request went to %s, want %s", body, first)
		}
		if len(res.Cookies()) != 0 {
			t.Fatalf("cookie re-set though it still matches: %v", res.Header["Set-Cookie"])
		}
	}
	// A foreign cookie value: re-pick and set.
	if res, _ := f.get("/", withCookie(&http.Cookie{Name: CookieName, Value: "bogus"})); len(res.Cookies()) != 1 {
		t.Errorf("unknown cookie not replaced: %v", res.Header["Set-Cookie"])
	}
	// Kill the sticky upstream.
	for _, u := range ups {
		if u.name == first {
			u.srv.Close()
		}
	}
	var newCookie *http.Cookie
	var second string
	for range 3 { // the first try finds it dead (passive), then re-pick
		res, body := f.get("/", withCookie(cookie))
		if res.StatusCode == http.StatusOK {
			second = body
			for _, c := range res.Cookies() {
				if c.Name == CookieName {
					newCookie = c
				}
			}
			break
		}
	}
	if second == "" || second == first {
		t.Fatalf("after %s died, went to %q", first, second)
	}
	if newCookie == nil || newCookie.Value == cookie.Value {
		t.Fatalf("cookie not re-set after re-pick: %v", newCookie)
	}
	for range 10 {
		if _, body := f.get("/", withCookie(newCookie)); body != second {
			t.Fatalf("new cookie went to %s, want %s", body, second)
		}
	}
}

// TestPoolDynamicMembers covers the relay's use: members come and go, an
// empty pool says so, and skip leaves members out.
func TestPoolDynamicMembers(t *testing.T) {
	p, err := NewPool("web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	_, err = p.Pick(r, nil)
	if !errors.Is(err, proxy.ErrNoUpstream) || !strings.Contains(err.Error(), "the pool is empty") {
		t.Fatalf("empty pool: %v", err)
	}
	a := &Member{Name: "agent 1", Value: 1}
	b := &Member{Name: "agent 2", Value: 2}
	p.Add(a)
	p.Add(b)
	m, err := p.Pick(r, func(m *Member) bool { return m == a })
	if err != nil || m != b {
		t.Fatalf("skip a: %v %v", m, err)
	}
	_, err = p.Pick(r, func(*Member) bool { return true })
	if !errors.Is(err, proxy.ErrNoUpstream) || !strings.Contains(err.Error(), "2/2 up, 2 tried already") {
		t.Fatalf("all skipped: %v", err)
	}
	p.Remove(a)
	if ms := p.Members(); len(ms) != 1 || ms[0] != b {
		t.Fatalf("members after remove: %v", ms)
	}
	if _, err := NewPool("web", "round_robbin", nil); err == nil || !strings.Contains(err.Error(), `did you mean "round_robin"`) {
		t.Errorf("bad policy: %v", err)
	}
}

// TestRetryToLiveUpstream: with retries, a GET whose first upstream is dead
// is answered by the live one (the engine's retry loop, the route's skip of
// tried upstreams), and passive health then leaves the dead one out.
func TestRetryToLiveUpstream(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	live := newUpstream(t, "live")
	ch, on := events()
	f := newFront(t, []Spec{{
		Name:      "api",
		LB:        First,
		Upstreams: []string{dead.URL, live.URL()},
		Retries:   &RetrySpec{Tries: 2},
		Passive:   &PassiveSpec{MaxFails: 1, FailWindow: 3600e9},
	}}, Options{OnHealth: on})
	for range 5 {
		if res, body := f.get("/"); res.StatusCode != http.StatusOK || body != "live" {
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
	}
	if e := nextEvent(t, ch); e.Healthy || e.Upstream != dead.URL {
		t.Fatalf("event %+v", e)
	}
	for _, m := range f.table.Pool("api").Members() {
		if n := m.InFlight(); n != 0 {
			t.Errorf("%s: %d in flight after all requests ended", m.Name, n)
		}
	}
}
