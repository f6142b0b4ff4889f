package route

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// TestMatchLongestPrefixAndHost checks which route each request gets.
func TestMatchLongestPrefixAndHost(t *testing.T) {
	specs := []Spec{
		{Name: "root", Match: MatchSpec{Path: "/"}, Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: "api", Match: MatchSpec{Path: "/api/"}, Upstreams: []string{"http://127.0.0.1:2"}},
		{Name: "api-v2", Match: MatchSpec{Path: "/api/v2"}, Upstreams: []string{"http://127.0.0.1:3"}},
		{Name: "sub", Match: MatchSpec{Host: "*.localhost"}, Upstreams: []string{"http://127.0.0.1:4"}},
		{Name: "api-host", Match: MatchSpec{Host: "api.localhost", Path: "/api/"}, Upstreams: []string{"http://127.0.0.1:5"}},
		{Name: "glob-api", Match: MatchSpec{Host: "*.localhost", Path: "/api/"}, Upstreams: []string{"http://127.0.0.1:6"}},
	}
	tab, err := New(specs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ host, path, want string }{
		{"example.test", "/", "root"},
		{"example.test", "/other", "root"},
		{"example.test", "/api", "api"},
		{"example.test", "/api/users", "api"},
		{"example.test", "/apix", "root"},
		{"example.test", "/api/v2", "api-v2"},
		{"example.test", "/api/v2/x", "api-v2"},
		{"example.test", "/api/v20", "api"},
		{"web.localhost", "/", "sub"},
		{"web.localhost:8080", "/index.html", "sub"},
		{"localhost", "/", "root"}, // *.localhost is subdomains only
		{"api.localhost", "/api/x", "api-host"},
		{"API.localhost:80", "/api/x", "api-host"},
		{"web.localhost", "/api/x", "glob-api"},
		{"web.localhost", "/api/v2/x", "api-v2"}, // the longer prefix wins over the host
	}
	for _, tt := range tests {
		f := flowFor("GET", "http://"+tt.host+tt.path, "")
		f.In.Host = tt.host
		if _, err := tab.Request(f); err != nil {
			t.Fatalf("%s%s: %v", tt.host, tt.path, err)
		}
		if got := marksOf(f); got != "route="+tt.want {
			t.Errorf("%s%s: marks %q, want route=%s", tt.host, tt.path, got, tt.want)
		}
	}
}

func TestNoRoute(t *testing.T) {
	tab, err := New([]Spec{
		{Match: MatchSpec{Host: "api.localhost", Path: "/v1/"}, Upstreams: []string{"http://127.0.0.1:1"}},
		{Match: MatchSpec{Path: "/static/"}, Upstreams: []string{"http://127.0.0.1:2"}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := flowFor("GET", "http://web.localhost/x", "")
	_, err = tab.Request(f)
	var re *record.Error
	if !errors.As(err, &re) || re.Status != http.StatusNotFound {
		t.Fatalf("err %v, want a 404 record.Error", err)
	}
	if want := "no route for web.localhost/x; routes: api.localhost/v1/, /static/"; re.Message != want {
		t.Errorf("message %q, want %q", re.Message, want)
	}
	// Through the engine, the client gets the 404 with the message.
	fr := frontFor(t, tab, tab)
	res, body := fr.get("/x")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "no route for") {
		t.Errorf("status %d body %q", res.StatusCode, body)
	}
}

// TestStripPrefixAndRewrite sends requests through the engine to
// go-httpbin, whose /anything echoes the path it got.
func TestStripPrefixAndRewrite(t *testing.T) {
	bin := httptest.NewServer(httpbin.New())
	t.Cleanup(bin.Close)
	f := newFront(t, []Spec{
		{Name: "v1", Match: MatchSpec{Path: "/v1/"}, StripPrefix: "/v1", Upstreams: []string{bin.URL}},
		{Name: "old", Match: MatchSpec{Path: "/old/"}, Rewrite: &RewriteSpec{From: "^/old/(.*)", To: "/anything/new/$1"}, Upstreams: []string{bin.URL}},
		{Name: "both", Match: MatchSpec{Path: "/b/"}, StripPrefix: "/b/", Rewrite: &RewriteSpec{From: "^/x", To: "/anything/y"}, Upstreams: []string{bin.URL}},
		{Name: "base", Match: MatchSpec{Path: "/base/"}, StripPrefix: "/base", Upstreams: []string{bin.URL + "/anything/under"}},
	}, Options{})
	tests := []struct{ path, want string }{
		{"/v1/anything/users?q=1", "/anything/users?q=1"},
		{"/v1/anything/a%2Fb", "/anything/a%2Fb"}, // an escaped slash stays escaped
		{"/old/thing/1", "/anything/new/thing/1"},
		{"/b/x/z", "/anything/y/z"},
		{"/base/k", "/anything/under/k"},
	}
	for _, tt := range tests {
		res, body := f.get(tt.path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tt.path, res.StatusCode, body)
		}
		var echo struct{ URL string }
		if err := json.Unmarshal([]byte(body), &echo); err != nil {
			t.Fatalf("%s: %v: %s", tt.path, err, body)
		}
		if got := echo.URL[strings.Index(echo.URL[len("http://"):], "/")+len("http://"):]; got != tt.want {
			t.Errorf("%s went upstream as %s, want %s", tt.path, got, tt.want)
		}
	}
}

// TestRewriteOnlyOnce: a second Request (a retry) neither rewrites again
// nor re-runs the route's stages; the rewrite is marked.
func TestRewriteOnlyOnce(t *testing.T) {
	tab, err := New([]Spec{{Name: "v1", Match: MatchSpec{Path: "/v1/"}, StripPrefix: "/v1", Upstreams: []string{"http://127.0.0.1:1"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := flowFor("GET", "http://x/v1/v1/a", "")
	for range 2 {
		if _, err := tab.Request(f); err != nil {
			t.Fatal(err)
		}
		f.Attempt++
	}
	if f.Out.URL.Path != "/v1/a" {
		t.Errorf("path %s, want /v1/a (stripped once)", f.Out.URL.Path)
	}
	if got := marksOf(f); got != "route=v1; route: rewrite=/v1/v1/a → /v1/a" {
		t.Errorf("marks %q", got)
	}
}

// TestRouteSkipsTried: a retry goes to an upstream not tried yet; when all
// were tried it tries them again; none available → ErrNoUpstream with why.
func TestRouteSkipsTried(t *testing.T) {
	tab, err := New([]Spec{{Name: "api", LB: First, Upstreams: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, Retries: &RetrySpec{Tries: 3}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := flowFor("GET", "http://x/", "")
	u1, err := tab.Route(f)
	if err != nil || u1.Name != "http://127.0.0.1:1" {
		t.Fatalf("first: %v %v", u1, err)
	}
	f.Tried = []*proxy.Upstream{u1}
	u2, err := tab.Route(f)
	if err != nil || u2.Name != "http://127.0.0.1:2" {
		t.Fatalf("second: %v %v", u2, err)
	}
	f.Tried = []*proxy.Upstream{u1, u2}
	if u3, err := tab.Route(f); err != nil || u3.Name != "http://127.0.0.1:1" {
		t.Fatalf("third (all tried): %v %v", u3, err)
	}
	pool := tab.Pool("api")
	for _, m := range pool.Members() {
		pool.setActive(m, false, "GET /healthz: 503 Service Unavailable (expected 2xx)")
	}
	_, err = tab.Route(f)
	if !errors.Is(err, proxy.ErrNoUpstream) {
		t.Fatalf("err %v, want ErrNoUpstream", err)
	}
	want := "route api: no upstream available: 0/2 up (http://127.0.0.1:1: GET /healthz: 503 Service Unavailable (expected 2xx); http://127.0.0.1:2: GET /healthz: 503 Service Unavailable (expected 2xx))"
	if err.Error() != want {
		t.Errorf("err\n%s\nwant\n%s", err, want)
	}
}

// TestActiveHealthDownUp: a failing health check takes an upstream out, a
// passing one brings it back; checks never go through the proxy.
func TestActiveHealthDownUp(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	ch, on := events()
	f := newFront(t, []Spec{{
		Name:      "api",
		LB:        First,
		Upstreams: []string{a.URL(), b.URL()},
		Health:    &HealthSpec{Path: "/healthz", Interval: 5e6, Timeout: 1e9},
	}}, Options{OnHealth: on})
	f.table.Start(context.Background())
	if _, body := f.get("/"); body != "a" {
		t.Fatalf("got %s, want a", body)
	}
	a.setHealth(http.StatusServiceUnavailable)
	e := nextEvent(t, ch)
	if e.Healthy || e.Upstream != a.URL() || e.Route != "api" || e.Reason != "GET /healthz: 503 Service Unavailable (expected 2xx)" {
		t.Fatalf("event %+v", e)
	}
	if _, body := f.get("/"); body != "b" {
		t.Fatalf("got %s while a is down, want b", body)
	}
	if h := f.table.Health(); h[0].Up != 1 {
		t.Errorf("health %+v", h)
	}
	a.setHealth(http.StatusOK)
	e = nextEvent(t, ch)
	if !e.Healthy || e.Upstream != a.URL() || e.Reason != "GET /healthz: 200 OK" {
		t.Fatalf("event %+v", e)
	}
	if _, body := f.get("/"); body != "a" {
		t.Fatalf("got %s after a recovered, want a", body)
	}
	f.table.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, via := range a.healthVia {
		if via != "" {
			t.Fatalf("a health check came through a proxy (Via: %s)", via)
		}
	}
	if a.hits != 2 {
		t.Errorf("a served %d user requests, want 2 (health checks are not user traffic)", a.hits)
	}
}

// TestHealthCheckAtStart: an upstream that is down when the table starts
// is found by the first check, with the dial error as the reason.
func TestHealthCheckAtStart(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	ch, on := events()
	tab, err := New([]Spec{{Name: "api", Upstreams: []string{dead.URL}, Health: &HealthSpec{Interval: 3600e9}}}, Options{OnHealth: on})
	if err != nil {
		t.Fatal(err)
	}
	tab.Start(context.Background())
	defer tab.Close()
	e := nextEvent(t, ch)
	if e.Healthy || !strings.HasPrefix(e.Reason, "GET /: dial tcp") || !strings.Contains(e.Reason, "connection refused") {
		t.Fatalf("event %+v", e)
	}
	_, err = tab.Route(flowFor("GET", "http://x/", ""))
	if !errors.Is(err, proxy.ErrNoUpstream) || !strings.Contains(err.Error(), "0/1 up") {
		t.Fatalf("Route: %v", err)
	}
}

// TestSwitchPinsFlows: a flow that began on one table keeps it after a
// swap; new flows get the new one.
func TestSwitchPinsFlows(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	t1, err := New([]Spec{{Upstreams: []string{a.URL()}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := New([]Spec{{Upstreams: []string{b.URL()}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sw := NewSwitch(t1)
	f := flowFor("GET", "http://x/", "")
	if _, err := sw.Request(f); err != nil {
		t.Fatal(err)
	}
	if old := sw.Swap(t2); old != t1 {
		t.Fatal("Swap did not return the old table")
	}
	old := t1
	old.Close()
	u, err := sw.Route(f)
	if err != nil || u.Name != a.URL() {
		t.Fatalf("pinned flow routed to %v (%v), want a", u, err)
	}
	fr := frontFor(t, sw.Current(), sw)
	if _, body := fr.get("/"); body != "b" {
		t.Fatalf("new flow went to %s, want b", body)
	}
	if h := sw.Health(); len(h) != 1 || h[0].Route != "/" {
		t.Errorf("Health %+v", h)
	}
}

func TestNewErrorsNameTheRoute(t *testing.T) {
	tests := []struct {
		specs []Spec
		want  string
	}{
		{nil, "no routes"},
		{[]Spec{{Name: "api", Upstreams: []string{"localhost:3000"}}}, `route api: upstreams[0]: "localhost:3000" has no scheme; did you mean "http://localhost:3000"?`},
		{[]Spec{{Name: "api"}}, "route api: upstreams: no upstream given"},
		{[]Spec{{Upstreams: []string{"http://a"}}, {Upstreams: []string{"http://b"}}}, "route /: the name is used by another route"},
		{[]Spec{{Name: "x", Upstreams: []string{"http://a"}}, {Name: "y", Upstreams: []string{"http://b"}}}, "route y: match: same host and path as route x"},
		{[]Spec{{Name: "api", LB: "fastest", Upstreams: []string{"http://a"}}}, `route api: lb: "fastest" is not a policy`},
	}
	for _, tt := range tests {
		_, err := New(tt.specs, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want %q", tt.specs, err, tt.want)
		}
	}
}

// TestRouteStages: a route's auth runs before its rate limit, and both only
// on that route.
func TestRouteStages(t *testing.T) {
	var (
		mu      sync.Mutex
		gotAuth []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	specs, err := Decode(routesFrom(t, `
routes:
  - name: private
    match: {path: /private/}
    upstreams: ["`+up.URL+`"]
    auth: {basic: {user: dev, password_env: PASS}}
    rate_limit: {rate: 1/h, burst: 1, per: route}
  - name: open
    upstreams: ["`+up.URL+`"]
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFront(t, specs, Options{Getenv: func(string) string { return "pw" }})
	login := func(r *http.Request) { r.SetBasicAuth("dev", "pw") }
	if res, _ := f.get("/private/x"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", res.StatusCode)
	}
	if res, _ := f.get("/private/x", login); res.StatusCode != http.StatusOK {
		t.Fatalf("with credentials: %d", res.StatusCode)
	}
	if res, _ := f.get("/private/x", login); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", res.StatusCode)
	}
	for range 3 {
		if res, _ := f.get("/open"); res.StatusCode != http.StatusOK {
			t.Fatalf("open route: %d", res.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gotAuth) != 4 || gotAuth[0] != "" {
		t.Errorf("upstream got Authorization %q, want 4 requests without it", gotAuth)
	}
}
