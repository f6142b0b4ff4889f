package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// h2cClient speaks HTTP/2 with prior knowledge to http:// URLs, as
// `curl --http2-prior-knowledge` does.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Proxy: nil, Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: testTimeout, Transport: tr}
}

// h2cBackend is a backend that speaks only HTTP/2 with prior knowledge and
// answers with the protocol it saw.
func h2cBackend(t *testing.T) *httptest.Server {
	t.Helper()
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "backend saw "+r.Proto)
	}))
	b.Config.Protocols = new(http.Protocols)
	b.Config.Protocols.SetUnencryptedHTTP2(true)
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func TestServeAcceptsH2CPriorKnowledge(t *testing.T) {
	s := newServed(t, nil, ServerOptions{})
	res, err := h2cClient(t).Get(s.srv.URL() + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || body != "ok /h2" {
		t.Fatalf("h2c: %d %q", res.StatusCode, body)
	}
	if res.ProtoMajor != 2 {
		t.Errorf("client spoke %s, want HTTP/2.0", res.Proto)
	}
	x := s.waitRecorded("the h2c exchange", func(x record.Exchange) bool { return strings.HasSuffix(x.Request.URL, "/h2") })
	if x.Request.Proto != "HTTP/2.0" || x.Err != nil {
		t.Errorf("recorded request proto %q, err %v; want HTTP/2.0 and no error", x.Request.Proto, x.Err)
	}

	// HTTP/1.1 on the same listener, as before.
	c1 := &http.Client{Timeout: testTimeout, Transport: &http.Transport{Proxy: nil}}
	t.Cleanup(c1.CloseIdleConnections)
	res, err = c1.Get(s.srv.URL() + "/h1")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || body != "ok /h1" || res.ProtoMajor != 1 {
		t.Fatalf("HTTP/1.1: %s %d %q", res.Proto, res.StatusCode, body)
	}
	x = s.waitRecorded("the HTTP/1.1 exchange", func(x record.Exchange) bool { return strings.HasSuffix(x.Request.URL, "/h1") })
	if x.Request.Proto != "HTTP/1.1" {
		t.Errorf("recorded request proto %q, want HTTP/1.1", x.Request.Proto)
	}
}

func TestIncompleteH2PrefaceRefused(t *testing.T) {
	s := newServed(t, nil, ServerOptions{})
	out := s.raw("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", false)
	if !strings.HasPrefix(out, "HTTP/1.1 505 ") || !strings.Contains(out, "h2c") {
		t.Fatalf("want 505 naming h2c, got:\n%s", out)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("the preface reached the backend %d times", n)
	}
}

func TestUpstreamH2C(t *testing.T) {
	r := newRigFor(t, h2cBackend(t), func(_ *Options, to *TransportOptions) { to.UpstreamH2C = true })
	res := r.get("/x")
	if body := readAll(t, res); res.StatusCode != 200 || body != "backend saw HTTP/2.0" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}
	x := r.waitDone(1)[0]
	if x.Request.Proto != "HTTP/1.1" || x.Response.Proto != "HTTP/2.0" {
		t.Errorf("recorded client side %q, upstream side %q; want HTTP/1.1 and HTTP/2.0", x.Request.Proto, x.Response.Proto)
	}
}

func TestGRPCGoesAsH2CAutomatically(t *testing.T) {
	r := newRigFor(t, h2cBackend(t))
	req, _ := http.NewRequest("POST", r.proxy.URL+"/pkg.Svc/Call", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc+proto")
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || body != "backend saw HTTP/2.0" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}
	if x := r.waitDone(1)[0]; x.Response.Proto != "HTTP/2.0" {
		t.Errorf("recorded upstream proto %q, want HTTP/2.0", x.Response.Proto)
	}
}

func TestUpstreamRefusesH2C(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "h1 only") }),
		func(_ *Options, to *TransportOptions) { to.UpstreamH2C = true })
	res := r.get("/x")
	body := readAll(t, res)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "h2c") || !strings.Contains(body, UpstreamH2CFlag) {
		t.Fatalf("want 502 naming h2c and %s, got %d %q", UpstreamH2CFlag, res.StatusCode, body)
	}
	if x := r.waitDone(1)[0]; x.Err == nil || x.Err.Kind != record.ErrProtocol {
		t.Errorf("recorded error %+v, want a protocol error", x.Err)
	}
}

func TestGRPCToHTTP1UpstreamExplains(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "h1 only") }))
	req, _ := http.NewRequest("POST", r.proxy.URL+"/pkg.Svc/Call", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc")
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "gRPC") {
		t.Fatalf("want 502 explaining gRPC needs h2c, got %d %q", res.StatusCode, body)
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "Application/GRPC; charset=x": true,
		"application/grpc-web": false, "application/grpc-web+proto": false, "application/json": false, "": false,
	} {
		if got := isGRPC(ct); got != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}
