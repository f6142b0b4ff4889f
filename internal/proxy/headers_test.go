package proxy

import (
	"bufio"
	"net/url"

	"encoding/json"
	"fmt"
	"github.com/devproxy/devproxy/internal/record"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// echoHeaders answers with the request's Host and headers as JSON.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	h := map[string][]string(r.Header.Clone())
	h["Host"] = []string{r.Host}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h)
}

func decodeHeaders(t *testing.T, body string) http.Header {
	t.Helper()
	var h http.Header
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("backend answer %q: %v", body, err)
	}
	return h
}

func TestForwardingHeaders(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders))
	res := r.get("/", "X-Forwarded-For", "6.6.6.6",
		"X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Port", "1",
		"X-Real-Ip", "6.6.6.6",
		"X_Forwarded_For", "6.6.6.6",
		"X.Forwarded.For", "6.6.6.6",
		"Forwarded", "for=6.6.6.6",
		"X-Client-Ip", "6.6.6.6",
		"X-Keep", "yes")
	h := decodeHeaders(t, readAll(t, res))

	backendHost := strings.TrimPrefix(r.backend.URL, "http://")
	proxyHost := strings.TrimPrefix(r.proxy.URL, "http://")
	checks := []struct{ name, want string }{
		{"Host", backendHost},
		{"X-Forwarded-For", "127.0.0.1"},
		{"X-Forwarded-Host", proxyHost},
		{"X-Forwarded-Proto", "http"},
		{"X-Keep", "yes"},
	}
	for _, c := range checks {
		if got := strings.Join(h.Values(c.name), ","); got != c.want {
			t.Errorf("%s = %q, want %q", c.name, got, c.want)
		}
	}
	for _, gone := range []string{"X-Forwarded-Port", "X-Real-Ip", "X_forwarded_for", "X.forwarded.for", "Forwarded", "X-Client-Ip"} {
		if v := h.Values(gone); len(v) > 0 {
			t.Errorf("spoofed %s = %q reached the backend", gone, v)
		}
	}
	if via := h.Get("Via"); !strings.HasPrefix(via, "1.1 devproxy") {
		t.Errorf("Via = %q, want 1.1 devproxy…", via)
	}
}

func TestPreserveHost(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders), func(o *Options, _ *TransportOptions) { o.PreserveHost = true })
	h := decodeHeaders(t, readAll(t, r.get("/")))
	if got, want := h.Get("Host"), strings.TrimPrefix(r.proxy.URL, "http://"); got != want {
		t.Errorf("Host = %q, want the client's %q", got, want)
	}
}

func TestViaAppendsToPriorHops(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders))
	h := decodeHeaders(t, readAll(t, r.get("/", "Via", "1.1 corp-proxy")))
	if got := h.Get("Via"); !strings.HasPrefix(got, "1.1 corp-proxy, 1.1 devproxy (") {
		t.Errorf("Via = %q", got)
	}
}

// TestConnectionNamedHeaders covers RFC 9110 §7.6.1 and the hop-by-hop abuse
// case: a client naming headers in Connection removes its own copies, but
// not the headers devproxy sets.
func TestConnectionNamedHeaders(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders))
	h := decodeHeaders(t, readAll(t, r.get("/",
		"Connection", "close, X-Forwarded-For, Via, X-Forwarded-Host, Authorization, X-Secret",
		"Authorization", "Bearer t",
		"X-Secret", "s",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic x",
		"Te", "gzip",
		"X-Other", "kept")))
	if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q: a client naming it in Connection must not remove what devproxy sets", got)
	}
	if got := h.Get("Via"); !strings.Contains(got, "devproxy") {
		t.Errorf("Via = %q: devproxy's Via must survive Connection", got)
	}
	if got := h.Get("X-Forwarded-Host"); got == "" {
		t.Error("X-Forwarded-Host missing")
	}
	for _, gone := range []string{"Authorization", "X-Secret", "Connection", "Keep-Alive", "Proxy-Authorization", "Te"} {
		if v := h.Values(gone); len(v) > 0 {
			t.Errorf("%s = %q reached the backend", gone, v)
		}
	}
	if h.Get("X-Other") != "kept" {
		t.Error("an unnamed end-to-end header was dropped")
	}
}

// TestConnectionEmptyFirstLine is go#46313: an empty first Connection line
// must not hide the tokens on the next one.
func TestConnectionEmptyFirstLine(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders))
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(r.proxy.URL, "http://"), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection:\r\nConnection: X-Foo, close\r\nX-Foo: 1\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := decodeHeaders(t, readAll(t, res))
	if v := h.Values("X-Foo"); len(v) > 0 {
		t.Errorf("X-Foo = %q reached the backend", v)
	}
}

func TestResponseHopByHopStripped(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "X-Foo")
		w.Header().Set("X-Foo", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Alt-Svc", `h3=":443"`)
		w.Header().Set("X-Bar", "2")
		fmt.Fprint(w, "ok")
	}))
	res := r.get("/")
	readAll(t, res)
	for _, gone := range []string{"X-Foo", "Keep-Alive", "Alt-Svc"} {
		if v := res.Header.Values(gone); len(v) > 0 {
			t.Errorf("response %s = %q reached the client", gone, v)
		}
	}
	if res.Header.Get("X-Bar") != "2" {
		t.Error("end-to-end response header dropped")
	}
}

func TestLoopDetected(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders))
	res := r.get("/", "Via", "1.1 devproxy ("+r.handler.opts.LoopToken+")")
	body := readAll(t, res)
	if res.StatusCode != http.StatusLoopDetected {
		t.Fatalf("status %d, want 508; body %q", res.StatusCode, body)
	}
	if !strings.Contains(body, "looped") {
		t.Errorf("body %q does not explain the loop", body)
	}
}

// TestProxyToItself points devproxy at its own listener: the second pass
// carries its own loop token and is refused, instead of recursing.
func TestProxyToItself(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + ln.Addr().String())
	rec := record.NewRecorder(record.Limits{})
	h, err := New(Options{Target: target, Tap: rec})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: testTimeout}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	client := &http.Client{Timeout: testTimeout}
	res, err := client.Get(target.String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusLoopDetected {
		t.Fatalf("status %d, want 508 (body %q)", res.StatusCode, body)
	}
	if n := rec.Stats().Total; n != 2 {
		t.Errorf("recorded %d exchanges, want 2 (the request and its looped copy)", n)
	}
}

// TestTwoHopsInOneProcess: distinct handlers (relay and agent in one test
// process) are not a loop.
func TestTwoHopsInOneProcess(t *testing.T) {
	r := newRig(t, http.HandlerFunc(echoHeaders))
	outer := newRigFor(t, r.proxy)
	res := outer.get("/")
	h := decodeHeaders(t, readAll(t, res))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if via := h.Values("Via"); len(via) != 1 || strings.Count(via[0], "devproxy") != 2 {
		t.Errorf("Via = %q, want both hops", via)
	}
}

// TestUpgradeResponseHopByHop: a 101 keeps Connection and Upgrade but loses
// the other hop-by-hop headers, the ones Connection names, and Alt-Svc.
func TestUpgradeResponseHopByHop(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, X-Hop\r\nUpgrade: websocket\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nAlt-Svc: h3=\":443\"\r\nX-End: kept\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 1)
		conn.Read(buf) // hold the connection until the client goes
	}))
	conn := dialProxy(t, r)
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Upgrade") != "websocket" || !hasToken(res.Header["Connection"], "upgrade") {
		t.Fatalf("status %d headers %v", res.StatusCode, res.Header)
	}
	for _, gone := range []string{"X-Hop", "Keep-Alive", "Alt-Svc"} {
		if v := res.Header.Values(gone); len(v) > 0 {
			t.Errorf("101 carried %s = %q", gone, v)
		}
	}
	if res.Header.Get("X-End") != "kept" {
		t.Error("an end-to-end header of the 101 was dropped")
	}
}

// hasToken reports whether any comma-separated element of values equals
// token, case-insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
