package route

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// upstream is a test server that answers with its name and counts what it
// served.
type upstream struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
	// health is the status /healthz answers (200 by default).
	health int
	// healthVia records whether a health check arrived through a proxy.
	healthVia []string
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{name: name, health: http.StatusOK}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		if r.URL.Path == "/healthz" {
			code := u.health
			u.healthVia = append(u.healthVia, r.Header.Get("Via"))
			u.mu.Unlock()
			w.WriteHeader(code)
			return
		}
		u.hits++
		u.mu.Unlock()
		w.Header().Set("X-Upstream", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) URL() string { return u.srv.URL }

func (u *upstream) setHealth(code int) {
	u.mu.Lock()
	u.health = code
	u.mu.Unlock()
}

// front is a proxy.Handler routed by a Table, on a test server.
type front struct {
	t      *testing.T
	table  *Table
	srv    *httptest.Server
	client *http.Client
}

func newFront(t *testing.T, specs []Spec, o Options) *front {
	t.Helper()
	tab, err := New(specs, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(tab.Close)
	return frontFor(t, tab, tab)
}

// frontFor serves a router that is also the route stage (a Table or Switch).
func frontFor(t *testing.T, table *Table, r interface {
	proxy.Router
	proxy.RequestStage
	proxy.ResponseStage
}) *front {
	t.Helper()
	h, err := proxy.New(proxy.Options{Router: r, TargetName: "the routes", Stages: []proxy.Stage{r}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &front{t: t, table: table, srv: srv, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// get sends GET path (with an optional Host) and returns status and body.
func (f *front) get(path string, mod ...func(*http.Request)) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range mod {
		m(req)
	}
	res, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("GET %s: body: %v", path, err)
	}
	return res, string(b)
}

// flowFor makes a Flow as the engine would for a request to target.
func flowFor(method, target, remote string) *proxy.Flow {
	in := httptest.NewRequest(method, target, nil)
	if remote != "" {
		in.RemoteAddr = remote
	}
	out := in.Clone(in.Context())
	out.URL.Scheme, out.URL.Host = "", ""
	rec := &markRec{Recording: record.Discard.Begin(record.Begin{})}
	return &proxy.Flow{In: in, Out: out, Attempt: 1, Rec: rec}
}

// markRec keeps the marks made on a flow.
type markRec struct {
	record.Recording
	mu    sync.Mutex
	marks []record.Mark
}

func (r *markRec) Mark(m record.Mark) {
	r.mu.Lock()
	r.marks = append(r.marks, m)
	r.mu.Unlock()
}

func marksOf(f *proxy.Flow) string {
	r := f.Rec.(*markRec)
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, m := range r.marks {
		s = append(s, m.String())
	}
	return strings.Join(s, "; ")
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// events collects health events on a channel.
func events() (chan HealthEvent, func(HealthEvent)) {
	ch := make(chan HealthEvent, 64)
	return ch, func(e HealthEvent) { ch <- e }
}

// nextEvent waits for the next event on ch.
func nextEvent(t *testing.T, ch chan HealthEvent) HealthEvent {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a health event")
	}
	return HealthEvent{}
}
