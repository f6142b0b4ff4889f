package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
)

// testTimeout bounds every network wait in these tests.
const testTimeout = 20 * time.Second

// clock is the time the cache and the test backend both see; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is a real proxy.Handler with the cache as its only stage, in front
// of a test backend, both on loopback, with a recorder.
type rig struct {
	t     *testing.T
	clk   *clock
	cache *Cache
	rec   *record.Recorder
	proxy *httptest.Server
	c     *http.Client

	mu      sync.Mutex
	handler http.HandlerFunc
	calls   int           // requests the backend answered
	last    *http.Request // the last one it got
	done    int           // exchanges finished so far, as seen by do
}

func newRig(t *testing.T, cfg Config, handler http.HandlerFunc) *rig {
	t.Helper()
	r := &rig{t: t, clk: newClock(), handler: handler}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.calls++
		r.last = req.Clone(req.Context())
		h := r.handler
		r.mu.Unlock()
		w.Header().Set("Date", r.clk.now().Format(http.TimeFormat))
		h(w, req)
	}))
	t.Cleanup(backend.Close)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = r.clk.now
	r.cache = c
	target, _ := url.Parse(backend.URL)
	tr, err := proxy.NewTransport(proxy.TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	r.rec = record.NewRecorder(record.Limits{})
	h, err := proxy.New(proxy.Options{Target: target, Tap: r.rec, Transport: tr, Stages: []proxy.Stage{c}})
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = httptest.NewServer(h)
	t.Cleanup(r.proxy.Close)
	r.c = &http.Client{
		Timeout:       testTimeout,
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(r.c.CloseIdleConnections)
	return r
}

// setHandler changes what the backend answers.
func (r *rig) setHandler(h http.HandlerFunc) {
	r.mu.Lock()
	r.handler = h
	r.mu.Unlock()
}

func (r *rig) backendCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *rig) lastRequest() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// result is what the client got, and what was recorded of the exchange.
type result struct {
	status int
	header http.Header
	body   string
	x      record.Exchange
}

// mark is the cache's verdict on the exchange.
func (res result) mark() string {
	v, _ := res.x.Mark("cache")
	return v
}

// do sends one request through the proxy, reads the whole response and
// waits until the exchange is recorded as finished, so that whatever the
// cache stores at the end of the body is stored before the next request.
// hdr is name, value pairs.
func (r *rig) do(method, path string, hdr ...string) result {
	r.t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader("payload")
	}
	req, err := http.NewRequest(method, r.proxy.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := r.c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		r.t.Fatal(err)
	}
	r.done++
	x := r.waitDone(r.done)
	return result{status: res.StatusCode, header: res.Header, body: string(b), x: x}
}

func (r *rig) get(path string, hdr ...string) result {
	r.t.Helper()
	return r.do(http.MethodGet, path, hdr...)
}

// waitDone waits until n exchanges are finished and returns the nth.
func (r *rig) waitDone(n int) record.Exchange {
	return recordtest.WaitExchange(r.t, r.rec, n, testTimeout)
}

// respond returns a handler that sets the header pairs and writes body.
func respond(status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// expect checks a result's status, body, cache mark and Cache-Status.
func expect(t *testing.T, what string, got result, status int, body, mark, cacheStatus string) {
	t.Helper()
	if got.status != status || got.body != body {
		t.Errorf("%s: got %d %q, want %d %q", what, got.status, got.body, status, body)
	}
	if got.mark() != mark {
		t.Errorf("%s: cache mark %q, want %q (marks %v)", what, got.mark(), mark, got.x.Marks)
	}
	if cs := got.header.Get("Cache-Status"); cs != cacheStatus {
		t.Errorf("%s: Cache-Status %q, want %q", what, cs, cacheStatus)
	}
}
