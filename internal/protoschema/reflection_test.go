package protoschema

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/grpcwire"
)

// waitBound bounds each wait for a reflection query; queries on loopback
// end in milliseconds, so reaching it means a hang.
const waitBound = 30 * time.Second

// reflecting returns Schemas with reflection on and a channel that gets a
// value each time a query ends.
func reflecting(t *testing.T, o Options) (*Schemas, chan struct{}) {
	t.Helper()
	changed := make(chan struct{}, 16)
	o.Reflection = true
	o.OnChange = func() { changed <- struct{}{} }
	return newSchemas(t, o), changed
}

// queried calls Method once, which must miss and start a query, and waits
// for the query to end.
func queried(t *testing.T, s *Schemas, changed chan struct{}, upstream, path string) {
	t.Helper()
	if _, _, ok := s.Method(upstream, path); ok {
		t.Fatalf("Method(%s) found a method before any query", path)
	}
	select {
	case <-changed:
	case <-time.After(waitBound):
		t.Fatalf("no reflection answer from %s; status %q", upstream, s.Status(upstream))
	}
}

// spy is an h2c RoundTripper that notes each request's path and
// user-agent.
type spy struct {
	rt http.RoundTripper
	mu sync.Mutex
	// calls are "user-agent path" of each request.
	calls []string
}

func newSpy() *spy {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &spy{rt: &http.Transport{Protocols: p}}
}

func (s *spy) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.calls = append(s.calls, r.Header.Get("User-Agent")+" "+r.URL.Path)
	s.mu.Unlock()
	return s.rt.RoundTrip(r)
}

func (s *spy) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func TestReflectionV1(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{})
	sp := newSpy()
	s, changed := reflecting(t, Options{Transport: sp})
	if got := s.Status(srv.URL); got != "reflection: not asked yet" {
		t.Errorf("Status before = %q", got)
	}
	queried(t, s, changed, srv.URL, unaryPath)
	md, src, ok := s.Method(srv.URL, unaryPath)
	if !ok || src != SourceReflection || md.Input().FullName() != "devproxy.test.v1.EchoRequest" {
		t.Fatalf("Method = %v, %q, %v", md, src, ok)
	}
	if _, _, ok := s.Method(srv.URL, "/grpc.health.v1.Health/Check"); !ok {
		t.Error("no health method")
	}
	// Echo, health, reflection v1 and v1alpha.
	if got := s.Status(srv.URL); got != "reflection: 4 services" {
		t.Errorf("Status = %q", got)
	}
	want := []string{UserAgent + " /grpc.reflection.v1.ServerReflection/ServerReflectionInfo"}
	if got := sp.seen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls = %q, want %q", got, want)
	}
	// Another upstream has its own cache.
	other := grpctest.Start(t, grpctest.Options{})
	if _, _, ok := s.Method(other.URL, unaryPath); ok {
		t.Error("the other upstream's method came from the first one's cache")
	}
}

// devproxy's own transport is an *http.Transport that speaks HTTP/1.1 to
// http:// upstreams; reflection goes through an h2c copy of it.
func TestReflectionThroughHTTP1Transport(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{})
	s, changed := reflecting(t, Options{Transport: &http.Transport{}})
	queried(t, s, changed, srv.URL, unaryPath)
	if _, _, ok := s.Method(srv.URL, unaryPath); !ok {
		t.Fatalf("no method; status %q", s.Status(srv.URL))
	}
}

func TestReflectionTLS(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{TLS: true})
	// As devproxy's transport: a TLS config of its own, HTTP/2 by ALPN.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool}, ForceAttemptHTTP2: true}
	s, changed := reflecting(t, Options{Transport: tr})
	queried(t, s, changed, srv.URL, unaryPath)
	if _, src, ok := s.Method(srv.URL, unaryPath); !ok || src != SourceReflection {
		t.Fatalf("no method; status %q", s.Status(srv.URL))
	}
}

// v1alphaServer serves health and only v1alpha reflection.
func v1alphaServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	v1alphareflectiongrpc.RegisterServerReflectionServer(gs, reflection.NewServer(reflection.ServerOptions{Services: gs}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func TestReflectionV1alphaOnly(t *testing.T) {
	upstream := v1alphaServer(t)
	sp := newSpy()
	s, changed := reflecting(t, Options{Transport: sp})
	queried(t, s, changed, upstream, "/grpc.health.v1.Health/Check")
	md, src, ok := s.Method(upstream, "/grpc.health.v1.Health/Check")
	if !ok || src != SourceReflection || md.Output().FullName() != "grpc.health.v1.HealthCheckResponse" {
		t.Fatalf("Method = %v, %q, %v; status %q", md, src, ok, s.Status(upstream))
	}
	if got := s.Status(upstream); got != "reflection v1alpha: 2 services" {
		t.Errorf("Status = %q", got)
	}
	want := []string{
		UserAgent + " /grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		UserAgent + " /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
	}
	if got := sp.seen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls = %q, want %q", got, want)
	}
	b, _ := proto.Marshal(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
	if d := s.Decode(upstream, "/grpc.health.v1.Health/Check", true, b, false, ""); d.JSON != "{\n  \"status\": \"SERVING\"\n}" || d.Source != SourceReflection {
		t.Errorf("Decode = %+v", d)
	}
}

func TestNoReflection(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{NoReflection: true})
	sp := newSpy()
	s, changed := reflecting(t, Options{Transport: sp})
	queried(t, s, changed, srv.URL, unaryPath)
	if got := s.Status(srv.URL); got != "reflection: not offered (UNIMPLEMENTED)" {
		t.Errorf("Status = %q", got)
	}
	msg := grpctest.Req{Text: "hello world"}.Message()
	b, _ := proto.Marshal(msg)
	d := s.Decode(srv.URL, unaryPath, false, b, false, "")
	if d.JSON != "" || d.Raw != "1: \"hello world\"\n" || d.Err != nil || d.Source != SourceNone {
		t.Errorf("Decode = %+v", d)
	}
	// The failure is cached: no new query before RetryAfter.
	if n := len(sp.seen()); n != 2 {
		t.Errorf("%d calls, want 2 (v1, v1alpha)", n)
	}
	_, err := s.Encode(srv.URL, unaryPath, false, []byte(`{"text":"hi"}`))
	if err == nil || !strings.Contains(err.Error(), "UNIMPLEMENTED") || !strings.Contains(err.Error(), "--proto") {
		t.Errorf("Encode error = %v", err)
	}
}

func TestReflectionFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	h1 := func(h http.HandlerFunc) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		hs := &http.Server{Handler: h, Protocols: p}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		return "http://" + ln.Addr().String()
	}
	notFound := h1(http.NotFound)
	html := h1(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html></html>")
	})
	garbage := h1(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Write([]byte{0, 0, 0, 0, 3, 0xff, 0xff, 0xff})
	})
	for _, tc := range []struct{ name, upstream, want string }{
		{"refused", closed, "connection refused"},
		{"404", notFound, "reflection: not offered (UNIMPLEMENTED)"},
		{"html", html, "reflection: the upstream answered with text/html, not gRPC"},
		{"garbage", garbage, "reflection: reflection answer does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, changed := reflecting(t, Options{})
			queried(t, s, changed, tc.upstream, unaryPath)
			if got := s.Status(tc.upstream); !strings.Contains(got, tc.want) {
				t.Errorf("Status = %q, want %q in it", got, tc.want)
			}
		})
	}
}

// A query that cannot finish ends at the Timeout, and Close ends one in
// flight.
func TestReflectionBounded(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	upstream := "http://" + ln.Addr().String()

	s, changed := reflecting(t, Options{Timeout: time.Millisecond})
	queried(t, s, changed, upstream, unaryPath)
	if got := s.Status(upstream); !strings.Contains(got, "reflection: no answer within 1ms") {
		t.Errorf("Status = %q", got)
	}

	s2, changed2 := reflecting(t, Options{})
	s2.Method(upstream, unaryPath)
	s2.Close()
	select {
	case <-changed2:
	default:
		t.Fatal("Close returned before the query ended")
	}
	if got := s2.Status(upstream); !strings.Contains(got, "canceled") {
		t.Errorf("Status after Close = %q", got)
	}
	s2.Method(upstream, unaryPath)
	if got := s2.Status(upstream); strings.Contains(got, "loading") {
		t.Errorf("a query started after Close: %q", got)
	}
}

// capture is a reverse proxy, h2c on both sides, that keeps the bodies of
// the calls it carries, like devproxy's recorder.
type capture struct {
	mu                 sync.Mutex
	req, resp          bytes.Buffer
	reqCoding, rspCode string
}

func (c *capture) start(t *testing.T, target string) string {
	up, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	rp := &httputil.ReverseProxy{
		Transport: &http.Transport{Protocols: h2c},
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			c.mu.Lock()
			c.reqCoding = r.In.Header.Get("Grpc-Encoding")
			c.mu.Unlock()
			r.Out.Body = teeBody{r.In.Body, c, &c.req}
		},
		ModifyResponse: func(resp *http.Response) error {
			c.mu.Lock()
			c.rspCode = resp.Header.Get("Grpc-Encoding")
			c.mu.Unlock()
			resp.Body = teeBody{resp.Body, c, &c.resp}
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rp, Protocols: h2c}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

type teeBody struct {
	io.ReadCloser
	c   *capture
	buf *bytes.Buffer
}

func (b teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.buf.Write(p[:n])
	b.c.mu.Unlock()
	return n, err
}

func split(t *testing.T, body []byte) []grpcwire.Message {
	t.Helper()
	sp := grpcwire.Splitter{Max: 1 << 20}
	msgs, err := sp.Write(body)
	if err == nil {
		err = sp.End()
	}
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// A real client calls through a recording proxy with gzip; the captured
// messages decode with the server's reflection, as in the Messages tab.
func TestDecodeCapturedGzipCall(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{})
	var c capture
	cc := grpctest.Dial(t, c.start(t, srv.URL), nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	in := grpctest.Req{Text: strings.Repeat("hello ", 100), Number: 42, Tags: []string{"a"}, Note: "n", Level: 3}
	if _, _, err := grpctest.NewClient(cc).Unary(ctx, in, grpc.UseCompressor("gzip")); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	reqMsgs, respMsgs := split(t, c.req.Bytes()), split(t, c.resp.Bytes())
	reqCoding, respCoding := c.reqCoding, c.rspCode
	c.mu.Unlock()
	if len(reqMsgs) != 1 || len(respMsgs) != 1 || !reqMsgs[0].Compressed || reqCoding != "gzip" {
		t.Fatalf("captured %d and %d messages, request compressed %v with %q", len(reqMsgs), len(respMsgs), reqMsgs[0].Compressed, reqCoding)
	}

	s, changed := reflecting(t, Options{})
	first := s.Decode(srv.URL, unaryPath, false, reqMsgs[0].Payload, true, reqCoding)
	if first.JSON != "" || !strings.Contains(first.Raw, "1: \"hello hello") {
		t.Errorf("before reflection, Decode = %+v", first)
	}
	select {
	case <-changed:
	case <-time.After(waitBound):
		t.Fatal("no reflection answer")
	}
	want := `{
  "text": "` + in.Text + `",
  "number": "42",
  "tags": [
    "a"
  ],
  "nested": {
    "note": "n",
    "level": 3
  }
}`
	for _, tc := range []struct {
		msg      grpcwire.Message
		response bool
		coding   string
	}{{reqMsgs[0], false, reqCoding}, {respMsgs[0], true, respCoding}} {
		d := s.Decode(srv.URL, unaryPath, tc.response, tc.msg.Payload, tc.msg.Compressed, tc.coding)
		if d.JSON != want || d.Source != SourceReflection || d.Err != nil || d.Unknown != "" {
			t.Errorf("Decode(response %v) = %+v\nwant JSON %s", tc.response, d, want)
		}
	}
}

func TestReflectStatusNames(t *testing.T) {
	if got := (&statusError{5, "no"}).Error(); got != "grpc-status NOT_FOUND: no" {
		t.Error(got)
	}
	if got := (&statusError{99, ""}).Error(); got != "grpc-status 99" {
		t.Error(got)
	}
}
