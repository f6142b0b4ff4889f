package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// served is a devproxy server (proxy.Listen, as the CLI runs it) in front of
// a backend that counts the requests it receives.
type served struct {
	t       *testing.T
	srv     *Server
	rec     *record.Recorder
	backend *httptest.Server
	hits    atomic.Int64
	paths   chan string
}

func newServed(t *testing.T, backend http.HandlerFunc, so ServerOptions) *served {
	t.Helper()
	s := &served{t: t, paths: make(chan string, 100)}
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		select {
		case s.paths <- r.URL.Path:
		default:
		}
		if backend != nil {
			backend(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(b.Close)
	s.backend = b
	target, _ := url.Parse(b.URL)
	s.rec = record.NewRecorder(record.Limits{})
	tr, err := NewTransport(TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	h, err := New(Options{Target: target, Tap: s.rec, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if so.Listen == "" {
		so.Listen = "127.0.0.1:0"
	}
	so.Tap = s.rec
	s.srv, err = Listen(so, h)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.srv.Serve() }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// raw sends bytes on a new connection, optionally half-closes it, and
// returns everything the server sent until it closed the connection.
func (s *served) raw(payload string, halfClose bool) string {
	s.t.Helper()
	c, err := net.DialTimeout("tcp", s.srv.Addr().String(), testTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, payload); err != nil {
		s.t.Fatal(err)
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) { // 431: net/http resets while the client still writes
		s.t.Fatalf("reading the answer: %v (got %q)", err, b)
	}
	return string(b)
}

// waitRecorded waits until an exchange matching ok is recorded as done.
func (s *served) waitRecorded(what string, ok func(record.Exchange) bool) record.Exchange {
	s.t.Helper()
	sub := s.rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(testTimeout)
	for {
		for _, x := range s.rec.Snapshot() {
			if x.State == record.Done && ok(x) {
				return x
			}
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			s.t.Fatalf("no %s was recorded; have %d exchanges", what, len(s.rec.Snapshot()))
		}
	}
}

func TestSmugglingRefusedAndClosed(t *testing.T) {
	cases := []struct{ name, req string }{
		{"CL+TE", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"TE+CL", "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"obs-folded TE with CL", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 44\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"obs-folded TE alone", "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"after a clean request", "GET /first HTTP/1.1\r\nHost: localhost\r\n\r\nPOST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServed(t, nil, ServerOptions{})
			out := s.raw(c.req, false)
			if strings.Contains(out, "ok /smuggled") {
				t.Fatalf("the smuggled request was served:\n%s", out)
			}
			if n := strings.Count(out, "HTTP/1.1 400 "); n != 1 {
				t.Fatalf("want one 400 and the connection closed, got:\n%s", out)
			}
			if !strings.Contains(out, "smuggling") {
				t.Errorf("the 400 does not say why:\n%s", out)
			}
			want := int64(0)
			if strings.HasPrefix(c.req, "GET /first") {
				want = 1
			}
			if got := s.hits.Load(); got != want {
				t.Errorf("backend received %d requests, want %d", got, want)
			}
			x := s.waitRecorded("smuggling refusal", func(x record.Exchange) bool { return x.Err != nil && x.Err.Status == 400 })
			if x.Err.Kind != record.ErrRejected {
				t.Errorf("recorded as %q, want rejected", x.Err.Kind)
			}
		})
	}
}

// Chunked uploads and keep-alive still work with the scanner following
// the connection: several requests, chunked and not, pipelined on one.
func TestChunkedKeepAliveStillServed(t *testing.T) {
	s := newServed(t, nil, ServerOptions{})
	req := "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello world" +
		"POST /c HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"GET /d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
	out := s.raw(req, false)
	for _, p := range []string{"ok /a", "ok /b", "ok /c", "ok /d"} {
		if !strings.Contains(out, p) {
			t.Errorf("missing %q in:\n%s", p, out)
		}
	}
	if strings.Contains(out, " 400 ") {
		t.Errorf("a clean request was refused:\n%s", out)
	}
}

func TestHalfClosedClientGetsNoInventedResponse(t *testing.T) {
	s := newServed(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the proxy gives up
	}, ServerOptions{})
	out := s.raw("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n", true)
	if out != "" {
		t.Fatalf("devproxy wrote a response it never got from the target:\n%s", out)
	}
	x := s.waitRecorded("canceled exchange", func(x record.Exchange) bool { return x.Err != nil })
	if x.Err.Status != StatusClientClosed {
		t.Errorf("recorded status %d, want %d", x.Err.Status, StatusClientClosed)
	}
}

func TestMalformedRequestBodyIsClientError(t *testing.T) {
	cases := []struct{ name, body string }{
		{"bad chunk size", "zz\r\nhello\r\n0\r\n\r\n"},
		{"bare LF", "5\nhello\n0\n\n"},
		{"chunk longer than said", "2\r\nhello\r\n0\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServed(t, nil, ServerOptions{})
			out := s.raw("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"+c.body, false)
			if !strings.HasPrefix(out, "HTTP/1.1 400 ") {
				t.Fatalf("want 400, got:\n%s", out)
			}
			if !strings.Contains(out, "request body is malformed") || strings.Contains(out, "127.0.0.1") {
				t.Errorf("the 400 should blame the request body, not the target:\n%s", out)
			}
			x := s.waitRecorded("rejected upload", func(x record.Exchange) bool { return x.Err != nil })
			if x.Err.Status != 400 || x.Err.Kind != record.ErrRejected {
				t.Errorf("recorded %v, want rejected 400", x.Err)
			}
		})
	}
}

func TestParserRefusalsAreRecorded(t *testing.T) {
	cases := []struct {
		name, req, status, method, url, msg string
	}{
		{"malformed header", "GET /bad HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", "400", "GET", "/bad", "could not be parsed"},
		{"unsupported transfer coding", "POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n", "501", "POST", "/te", "transfer coding"},
		{"headers too large", "GET /big HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 8000) + "\r\n\r\n", "431", "GET", "/big", "larger than the 1KiB limit"},
		{"bad request line", "GET\r\n\r\n", "400", "GET", "", "could not be parsed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServed(t, nil, ServerOptions{MaxHeaderBytes: 1024})
			out := s.raw(c.req, false)
			if !strings.HasPrefix(out, "HTTP/1.1 "+c.status) {
				t.Fatalf("want %s from the parser, got:\n%s", c.status, out)
			}
			x := s.waitRecorded("parser refusal", func(x record.Exchange) bool { return x.Err != nil })
			if got := x.Err.Status; http.StatusText(got) == "" || strconv.Itoa(got) != c.status {
				t.Errorf("recorded status %d, want %s", got, c.status)
			}
			if x.Request.Method != c.method || !strings.HasSuffix(x.Request.URL, c.url) {
				t.Errorf("recorded %s %s, want %s …%s", x.Request.Method, x.Request.URL, c.method, c.url)
			}
			if !strings.Contains(x.Err.Message, c.msg) {
				t.Errorf("message %q does not say %q", x.Err.Message, c.msg)
			}
		})
	}
}

func TestHeaderTimeoutIsRecorded(t *testing.T) {
	s := newServed(t, nil, ServerOptions{ReadHeaderTimeout: 100 * time.Millisecond})
	out := s.raw("GET /never-finished HTTP/1.1\r\nHost: localhost\r\n", false)
	if out != "" {
		t.Fatalf("want the connection closed silently, got:\n%s", out)
	}
	x := s.waitRecorded("header timeout", func(x record.Exchange) bool { return x.Err != nil })
	if x.Err.Status != 0 || !strings.Contains(x.Err.Message, "did not finish sending the request headers") {
		t.Errorf("recorded %v", x.Err)
	}
	if x.Request.Method != "GET" || !strings.HasSuffix(x.Request.URL, "/never-finished") {
		t.Errorf("recorded %s %s", x.Request.Method, x.Request.URL)
	}
}

func TestLoopbackListenerRefusesForeignHosts(t *testing.T) {
	cases := []struct {
		host    string
		allowed []string
		ok      bool
	}{
		{"localhost", nil, true},
		{"LOCALHOST:8080", nil, true},
		{"app.localhost:3000", nil, true},
		{"127.0.0.1", nil, true},
		{"127.1.2.3:80", nil, true},
		{"[::1]:8080", nil, true},
		{"evil.example", nil, false},
		{"evil.example:80", nil, false},
		{"localhost.evil.example", nil, false},
		{"10.0.0.1", nil, false},
		{"myapp.test", []string{"myapp.test"}, true},
		{"api.myapp.test", []string{"*.myapp.test"}, true},
		{"myapp.test", []string{"*.myapp.test"}, false},
		{"evil.example", []string{"*"}, true},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			s := newServed(t, nil, ServerOptions{CheckHost: true, AllowedHosts: c.allowed, AllowedHostFlag: "--allowed-host"})
			out := s.raw("GET /secret HTTP/1.1\r\nHost: "+c.host+"\r\nConnection: close\r\n\r\n", false)
			served := strings.Contains(out, "ok /secret")
			if served != c.ok {
				t.Fatalf("served=%v, want %v:\n%s", served, c.ok, out)
			}
			if c.ok {
				return
			}
			if !strings.HasPrefix(out, "HTTP/1.1 403 ") || !strings.Contains(out, "--allowed-host") {
				t.Errorf("want 403 naming --allowed-host, got:\n%s", out)
			}
			x := s.waitRecorded("host refusal", func(x record.Exchange) bool { return x.Err != nil })
			if x.Err.Status != 403 || !strings.Contains(x.Request.URL, "/secret") {
				t.Errorf("recorded %v for %s", x.Err, x.Request.URL)
			}
		})
	}
}

func TestHostCheckOnlyOnLoopback(t *testing.T) {
	for _, c := range []struct {
		host string
		want bool
	}{{"127.0.0.1", true}, {"::1", true}, {"localhost", true}, {"0.0.0.0", false}, {"", false}, {"::", false}, {"192.168.1.5", false}} {
		if got := isLoopbackListen(c.host); got != c.want {
			t.Errorf("isLoopbackListen(%q) = %v, want %v", c.host, got, c.want)
		}
	}
	// Without CheckHost (the relay), any Host is served.
	s := newServed(t, nil, ServerOptions{})
	if out := s.raw("GET /x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", false); !strings.Contains(out, "ok /x") {
		t.Errorf("a server without CheckHost refused a Host:\n%s", out)
	}
}

func TestSpoofableClientHeadersStripped(t *testing.T) {
	spoofed := []string{"Proxy", "True-Client-Ip", "Cf-Connecting-Ip", "Client-Ip", "X-Cluster-Client-Ip",
		"Fastly-Client-Ip", "X-Originating-Ip", "X-Remote-Addr", "X-Forwarded", "X-Original-Forwarded-For", "True_Client_Ip"}
	r := newRig(t, http.HandlerFunc(echoHeaders))
	var hdr []string
	for _, h := range spoofed {
		hdr = append(hdr, h, "6.6.6.6")
	}
	h := decodeHeaders(t, readAll(t, r.get("/", append(hdr, "X-Keep", "yes")...)))
	for _, name := range spoofed {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("%s = %q reached the backend", name, v)
		}
	}
	if h.Get("X-Keep") != "yes" {
		t.Errorf("an ordinary header was dropped")
	}
}

// The smuggling variants net/http already refuses stay refused: no request,
// and above all no second, smuggled request, reaches the target.
func TestOtherSmugglingVariantsRefused(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
	cases := []struct{ name, head, body, status string }{
		{"two Content-Lengths", "Content-Length: 4\r\nContent-Length: 44", "abcd", "400"},
		{"signed Content-Length", "Content-Length: +4", "abcd", "400"},
		{"Content-Length list", "Content-Length: 4, 44", "abcd", "400"},
		{"space before colon", "Transfer-Encoding : chunked\r\nContent-Length: 4", "0\r\n\r\n", "400"},
		{"TE chunked, identity", "Transfer-Encoding: chunked, identity", "0\r\n\r\n", "501"},
		{"TE xchunked", "Transfer-Encoding: xchunked", "0\r\n\r\n", "501"},
		{"two TE lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", "0\r\n\r\n", "501"},
		{"chunk size overflow", "Transfer-Encoding: chunked", "fffffffffffffffff\r\nx\r\n0\r\n\r\n", "400"},
		{"two Hosts", "Host: other", "", "400"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServed(t, nil, ServerOptions{})
			out := s.raw("POST /first HTTP/1.1\r\nHost: localhost\r\n"+c.head+"\r\n\r\n"+c.body+smuggled, false)
			if !strings.HasPrefix(out, "HTTP/1.1 "+c.status+" ") {
				t.Errorf("want %s, got:\n%s", c.status, out)
			}
			if strings.Contains(out, "ok /smuggled") || strings.Count(out, "HTTP/1.1 ") != 1 {
				t.Errorf("more than one answer on the connection:\n%s", out)
			}
			select {
			case p := <-s.paths:
				if p == "/smuggled" {
					t.Errorf("the smuggled request reached the target")
				}
			default:
			}
		})
	}
}

// A refused smuggling attempt is recorded with the headers as they arrived,
// Content-Length and Transfer-Encoding both, which net/http would hide.
func TestSmugglingRecordedAsSent(t *testing.T) {
	s := newServed(t, nil, ServerOptions{})
	s.raw("POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false)
	x := s.waitRecorded("smuggling refusal", func(x record.Exchange) bool { return x.Err != nil })
	if x.Request.Method != "POST" || !strings.HasSuffix(x.Request.URL, "/up") || x.Request.Header.Get("Content-Length") != "5" || x.Request.Header.Get("Transfer-Encoding") != "chunked" {
		t.Errorf("recorded %s %s %v", x.Request.Method, x.Request.URL, x.Request.Header)
	}
}
