package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// testPool is a tiny Router over a list of upstreams: it picks the first
// one not tried yet by this exchange (or always the first, when sticky),
// wires Retry and Release, and counts what it hands out.
type testPool struct {
	t        *testing.T
	urls     []string
	policy   *RetryPolicy
	sticky   bool
	noneFor  int // answer ErrNoUpstream to the first noneFor calls
	calls    atomic.Int32
	routed   atomic.Int32 // upstreams handed out = attempts that reached a transport
	released atomic.Int32
	onFail   chan struct{} // told of each released failed attempt, when set
	onAny    chan struct{} // told of each release, when set
}

func (p *testPool) Route(f *Flow) (*Upstream, error) {
	if int(p.calls.Add(1)) <= p.noneFor {
		return nil, WithRetry(fmt.Errorf("test pool: %w: 0/%d up (starting)", ErrNoUpstream, len(p.urls)), p.policy)
	}
	for _, s := range p.urls {
		tried := false
		for _, u := range f.Tried {
			tried = tried || u.Name == s
		}
		if tried && !p.sticky {
			continue
		}
		target, err := url.Parse(s)
		if err != nil {
			p.t.Error(err)
		}
		p.routed.Add(1)
		var failed atomic.Bool
		u := &Upstream{Name: s, URL: target, Retry: p.policy}
		u.Done = func(_ *http.Response, err error) { failed.Store(err != nil) }
		u.Release = func() {
			p.released.Add(1)
			if p.onAny != nil {
				p.onAny <- struct{}{}
			}
			if failed.Load() && p.onFail != nil {
				p.onFail <- struct{}{}
			}
		}
		return u, nil
	}
	return nil, WithRetry(fmt.Errorf("test pool: %w: all %d tried", ErrNoUpstream, len(p.urls)), p.policy)
}

func (p *testPool) rig(t *testing.T) *rig {
	p.t = t
	return newRig(t, http.NotFoundHandler(), func(o *Options, _ *TransportOptions) { o.Router = p })
}

// checkReleased fails unless Release was called once per attempt.
func (p *testPool) checkReleased(t *testing.T) {
	t.Helper()
	if r, a := p.released.Load(), p.routed.Load(); r != a {
		t.Errorf("Release called %d times for %d attempts", r, a)
	}
}

// deadURL is a loopback address nothing listens on: dialing it is refused.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// bodyServer answers every request with its method, body length and
// SHA-256, and counts them.
type bodyServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newBodyServer(t *testing.T) *bodyServer {
	s := &bodyServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %d %s", r.Method, n, hex.EncodeToString(h.Sum(nil)))
	}))
	t.Cleanup(s.Close)
	return s
}

func bodySum(method string, b []byte) string {
	h := sha256.Sum256(b)
	return fmt.Sprintf("%s %d %s", method, len(b), hex.EncodeToString(h[:]))
}

// resetServer accepts connections, reads `after` bytes of each (headers
// and the start of the body), then resets it: a mid-request failure after
// the upstream may have acted on the request.
func resetServer(t *testing.T, after int) (string, *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			_, _ = io.CopyN(io.Discard, c, int64(after))
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return "http://" + l.Addr().String(), &conns
}

func marksOf(x record.Exchange, stage, name string) []string {
	var vs []string
	for _, m := range x.Marks {
		if m.Stage == stage && m.Name == name {
			vs = append(vs, m.Value)
		}
	}
	return vs
}

func (r *rig) send(method, path string, body []byte) (*http.Response, error) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, r.proxy.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.client.Do(req)
}

func TestRetryDeadThenLiveGET(t *testing.T) {
	live := newBodyServer(t)
	dead := deadURL(t)
	p := &testPool{urls: []string{dead, live.URL}, policy: &RetryPolicy{Tries: 3}}
	r := p.rig(t)
	res, err := r.send("GET", "/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, res); res.StatusCode != 200 || got != bodySum("GET", nil) {
		t.Fatalf("got %d %q", res.StatusCode, got)
	}
	x := r.waitDone(1)[0]
	attempts := marksOf(x, "retry", "attempt")
	if len(attempts) != 2 ||
		!strings.HasPrefix(attempts[0], "1 "+dead+" → dial tcp ") || !strings.Contains(attempts[0], "connection refused (") ||
		!strings.HasPrefix(attempts[1], "2 "+live.URL+" → 200 (") || !strings.HasSuffix(attempts[1], " ms)") {
		t.Errorf("attempt marks %q", attempts)
	}
	if v := marksOf(x, "retry", "retried"); len(v) != 1 || v[0] != "1" {
		t.Errorf("retried marks %q", v)
	}
	if v := marksOf(x, "route", "upstream"); len(v) != 1 || v[0] != live.URL {
		t.Errorf("upstream marks %q", v)
	}
	if x.Err != nil || !strings.HasPrefix(x.Request.UpstreamURL, live.URL) {
		t.Errorf("err %v, upstream %q", x.Err, x.Request.UpstreamURL)
	}
	p.checkReleased(t)
}

func TestSingleAttemptHasNoRetryMarks(t *testing.T) {
	live := newBodyServer(t)
	p := &testPool{urls: []string{live.URL}, policy: &RetryPolicy{Tries: 3}}
	r := p.rig(t)
	res, err := r.send("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	x := r.waitDone(1)[0]
	if len(x.Marks) != 1 || x.Marks[0] != (record.Mark{Stage: "route", Name: "upstream", Value: live.URL}) {
		t.Errorf("marks %v: want only the upstream", x.Marks)
	}
	p.checkReleased(t)
}

func TestRetryPOSTAfterDialErrorSendsWholeBody(t *testing.T) {
	live := newBodyServer(t)
	// BodyBuffer 0: nothing is kept, but nothing was read either.
	p := &testPool{urls: []string{deadURL(t), live.URL}, policy: &RetryPolicy{Tries: 2}}
	r := p.rig(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	res, err := r.send("POST", "/upload", body)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, res); got != bodySum("POST", body) {
		t.Fatalf("upstream saw %q, want %q", got, bodySum("POST", body))
	}
	x := r.waitDone(1)[0]
	if x.Request.Body.Size != int64(len(body)) || !x.Request.Body.Complete {
		t.Errorf("recorded request body of %d bytes (complete %v), want %d once", x.Request.Body.Size, x.Request.Body.Complete, len(body))
	}
	if v := marksOf(x, "retry", "retried"); len(v) != 1 || v[0] != "1" {
		t.Errorf("marks %v", x.Marks)
	}
	p.checkReleased(t)
}

func TestNoRetryOfPOSTResetMidBody(t *testing.T) {
	reset, conns := resetServer(t, 64<<10)
	live := newBodyServer(t)
	p := &testPool{urls: []string{reset, live.URL}, policy: &RetryPolicy{Tries: 3, BodyBuffer: 2 << 20}}
	r := p.rig(t)
	body := bytes.Repeat([]byte("x"), 1<<20)
	res, err := r.send("POST", "/", body)
	if err == nil {
		readAll(t, res)
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502", res.StatusCode)
		}
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrUnreachable {
		t.Errorf("recorded error %+v, want unreachable", x.Err)
	}
	if live.hits.Load() != 0 || conns.Load() != 1 || p.routed.Load() != 1 {
		t.Errorf("live upstream hit %d times, reset upstream %d, attempts %d: a POST whose body was sent must not be retried", live.hits.Load(), conns.Load(), p.routed.Load())
	}
	if len(marksOf(x, "retry", "attempt")) != 0 {
		t.Errorf("marks %v for a single attempt", x.Marks)
	}
	p.checkReleased(t)
}

func TestRetryPUTResetMidRequestWithKeptBody(t *testing.T) {
	reset, conns := resetServer(t, 16<<10)
	live := newBodyServer(t)
	p := &testPool{urls: []string{reset, live.URL}, policy: &RetryPolicy{Tries: 2, BodyBuffer: 256 << 10}}
	r := p.rig(t)
	body := bytes.Repeat([]byte("put!"), 50<<10) // 200 KiB, within the buffer
	res, err := r.send("PUT", "/doc", body)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, res); got != bodySum("PUT", body) {
		t.Fatalf("upstream saw %q, want %q", got, bodySum("PUT", body))
	}
	x := r.waitDone(1)[0]
	if conns.Load() != 1 || live.hits.Load() != 1 {
		t.Errorf("reset upstream %d conns, live %d hits", conns.Load(), live.hits.Load())
	}
	if x.Request.Body.Size != int64(len(body)) {
		t.Errorf("recorded %d request body bytes, want %d (once)", x.Request.Body.Size, len(body))
	}
	if a := marksOf(x, "retry", "attempt"); len(a) != 2 || !strings.HasPrefix(a[0], "1 "+reset+" → ") {
		t.Errorf("attempt marks %q", a)
	}
	p.checkReleased(t)
}

func TestNoRetryOfPUTBeyondBodyBuffer(t *testing.T) {
	reset, _ := resetServer(t, 600<<10)
	live := newBodyServer(t)
	p := &testPool{urls: []string{reset, live.URL}, policy: &RetryPolicy{Tries: 2, BodyBuffer: 64 << 10}}
	r := p.rig(t)
	body := bytes.Repeat([]byte("y"), 1<<20)
	if res, err := r.send("PUT", "/", body); err == nil {
		readAll(t, res)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || live.hits.Load() != 0 || p.routed.Load() != 1 {
		t.Errorf("err %v, live hits %d, attempts %d: a body read past the buffer must not be retried", x.Err, live.hits.Load(), p.routed.Load())
	}
	p.checkReleased(t)
}

func TestNoRetryAfterResponseHeaders(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	t.Cleanup(broken.Close)
	live := newBodyServer(t)
	p := &testPool{urls: []string{broken.URL, live.URL}, policy: &RetryPolicy{Tries: 3, BodyBuffer: 1 << 20}}
	r := p.rig(t)
	res, err := r.send("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || err == nil || string(got) != "0123456789" {
		t.Errorf("got %d %q, err %v: want a truncated 200", res.StatusCode, got, err)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrAborted {
		t.Errorf("recorded error %+v, want aborted", x.Err)
	}
	if live.hits.Load() != 0 || p.routed.Load() != 1 {
		t.Errorf("live upstream hit %d times, %d attempts: no retry after response headers", live.hits.Load(), p.routed.Load())
	}
	p.checkReleased(t)
}

func TestRetryTriesBound(t *testing.T) {
	p := &testPool{urls: []string{deadURL(t)}, sticky: true, policy: &RetryPolicy{Tries: 3}}
	r := p.rig(t)
	res, err := r.send("DELETE", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	x := r.waitDone(1)[0]
	if res.StatusCode != http.StatusBadGateway || p.routed.Load() != 3 {
		t.Errorf("status %d after %d attempts, want 502 after 3", res.StatusCode, p.routed.Load())
	}
	if a := marksOf(x, "retry", "attempt"); len(a) != 3 || !strings.HasPrefix(a[2], "3 ") {
		t.Errorf("attempt marks %q", a)
	}
	if v := marksOf(x, "retry", "retried"); len(v) != 1 || v[0] != "2" {
		t.Errorf("retried marks %q", v)
	}
	if v := marksOf(x, "route", "upstream"); len(v) != 0 {
		t.Errorf("upstream marked %q, but none answered", v)
	}
	p.checkReleased(t)
}

func TestRetryWithinBound(t *testing.T) {
	// Each wait is at least Interval, so attempt k starts at least
	// (k-1)·Interval after the first: at most 4 fit in Within.
	p := &testPool{urls: []string{deadURL(t)}, sticky: true, policy: &RetryPolicy{Tries: 1000, Within: 35 * time.Millisecond, Interval: 10 * time.Millisecond}}
	r := p.rig(t)
	res, err := r.send("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	r.waitDone(1)
	if n := p.routed.Load(); n < 1 || n > 4 {
		t.Errorf("%d attempts, want 1 to 4 within 35ms at 10ms intervals", n)
	}
	p.checkReleased(t)

	// An Interval longer than Within leaves no room for a second attempt.
	p2 := &testPool{urls: []string{deadURL(t)}, sticky: true, policy: &RetryPolicy{Tries: 1000, Within: time.Millisecond, Interval: time.Hour}}
	r2 := p2.rig(t)
	res, err = r2.send("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	r2.waitDone(1)
	if n := p2.routed.Load(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestClientGoneDuringIntervalStopsRetries(t *testing.T) {
	p := &testPool{urls: []string{deadURL(t)}, sticky: true, policy: &RetryPolicy{Tries: 5, Interval: time.Hour}, onFail: make(chan struct{}, 5)}
	r := p.rig(t)
	ctx, cancel := context.WithCancel(ctxTimeout(t))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.proxy.URL+"/", nil)
	errc := make(chan error, 1)
	go func() {
		res, err := r.client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-p.onFail:
	case <-ctx.Done():
		t.Fatal("the first attempt did not fail")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client got %v", err)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrCanceled || p.routed.Load() != 1 {
		t.Errorf("err %+v after %d attempts: want canceled after 1", x.Err, p.routed.Load())
	}
	p.checkReleased(t)
}

func TestNoUpstreamIsRetriedThenServed(t *testing.T) {
	live := newBodyServer(t)
	p := &testPool{urls: []string{live.URL}, noneFor: 2, policy: &RetryPolicy{Tries: 5, Interval: time.Millisecond}}
	r := p.rig(t)
	res, err := r.send("POST", "/", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, res); got != bodySum("POST", []byte("hello")) {
		t.Fatalf("got %d %q", res.StatusCode, got)
	}
	x := r.waitDone(1)[0]
	a := marksOf(x, "retry", "attempt")
	if len(a) != 3 || !strings.HasPrefix(a[0], "1 → test pool: no upstream available: 0/1 up (starting) (") || !strings.HasPrefix(a[2], "3 "+live.URL+" → 200") {
		t.Errorf("attempt marks %q", a)
	}
	p.checkReleased(t)
}

func TestNoUpstreamAnswers503WithRoutersMessage(t *testing.T) {
	p := &testPool{urls: []string{"http://127.0.0.1:1"}, noneFor: 100, policy: &RetryPolicy{Tries: 2}}
	r := p.rig(t)
	res, err := r.send("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, res)
	want := "devproxy: 503 Service Unavailable: test pool: no upstream available: 0/1 up (starting)\n"
	if res.StatusCode != http.StatusServiceUnavailable || got != want {
		t.Errorf("got %d %q, want 503 %q", res.StatusCode, got, want)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Status != http.StatusServiceUnavailable || p.calls.Load() != 2 {
		t.Errorf("err %+v after %d router calls", x.Err, p.calls.Load())
	}
}

func TestNoRetryWithoutPolicy(t *testing.T) {
	live := newBodyServer(t)
	p := &testPool{urls: []string{deadURL(t), live.URL}}
	r := p.rig(t)
	res, err := r.send("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	if res.StatusCode != http.StatusBadGateway || live.hits.Load() != 0 {
		t.Errorf("status %d, live hits %d: no policy, no retry", res.StatusCode, live.hits.Load())
	}
	r.waitDone(1)
	p.checkReleased(t)
}

func TestFlowValues(t *testing.T) {
	type key struct{}
	f := &Flow{}
	if f.Value(key{}) != nil {
		t.Fatal("value before Set")
	}
	f.Set(key{}, "route a")
	if f.Value(key{}) != "route a" {
		t.Fatalf("Value = %v", f.Value(key{}))
	}
}

func TestReleaseWhenUpgradedConnCloses(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(c, rw) // echo until the other side closes
	}))
	t.Cleanup(echo.Close)
	p := &testPool{urls: []string{echo.URL}, policy: &RetryPolicy{Tries: 2}, onAny: make(chan struct{}, 1)}
	r := p.rig(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(r.proxy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	io.WriteString(c, "GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	io.WriteString(c, "ping")
	if _, err := io.ReadFull(br, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if n := p.released.Load(); n != 0 {
		t.Fatalf("released %d times while the upgraded connection is open", n)
	}
	c.Close()
	select {
	case <-p.onAny:
	case <-time.After(testTimeout):
		t.Fatal("not released after the upgraded connection closed")
	}
	r.waitDone(1)
	p.checkReleased(t)
}
