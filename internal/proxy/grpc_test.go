package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/record"
)

// grpcServed is the engine with its real server in front of a grpc-go
// server.
type grpcServed struct {
	backend *grpctest.Server
	srv     *Server
	rec     *record.Recorder
	pool    *x509.CertPool // trusts srv when it serves TLS
}

// waitRecorded waits until an exchange matching ok is recorded as done.
func waitRecorded(t *testing.T, rec *record.Recorder, what string, ok func(record.Exchange) bool) record.Exchange {
	t.Helper()
	sub := rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(testTimeout)
	for {
		for _, x := range rec.Snapshot() {
			if x.State == record.Done && ok(x) {
				return x
			}
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("no %s was recorded; have %d exchanges", what, len(rec.Snapshot()))
		}
	}
}

// serveGRPC puts serve's engine and server in front of a grpc-go server:
// tlsIn serves TLS (h2 by ALPN) instead of h2c; tlsUp makes the backend
// serve TLS, so the engine reaches it with h2 by ALPN instead of h2c.
func serveGRPC(t *testing.T, tlsIn, tlsUp bool, opts ...rigOption) *grpcServed {
	t.Helper()
	g := &grpcServed{backend: grpctest.Start(t, grpctest.Options{TLS: tlsUp})}
	target, _ := url.Parse(g.backend.URL)
	g.rec = record.NewRecorder(record.Limits{})
	o := Options{Target: target, Tap: g.rec}
	to := TransportOptions{CAFile: g.backend.CertFile}
	for _, f := range opts {
		f(&o, &to)
	}
	tr, err := NewTransport(to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	o.Transport = tr
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	so := ServerOptions{Listen: "127.0.0.1:0", Tap: g.rec}
	if tlsIn {
		cert, pool := grpctest.LoopbackCert(t)
		so.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		g.pool = pool
	}
	g.srv, err = Listen(so, h)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.srv.Serve() }()
	t.Cleanup(func() { _ = g.srv.Close() })
	return g
}

func TestGRPCThroughServe(t *testing.T) {
	for _, c := range []struct {
		name         string
		tlsIn, tlsUp bool
		wantProto    string // recorded on both sides
	}{
		{"h2c-in/h2c-up", false, false, "HTTP/2.0"},
		{"tls-in/h2c-up", true, false, "HTTP/2.0"},
		{"h2c-in/tls-up", false, true, "HTTP/2.0"},
		{"tls-in/tls-up", true, true, "HTTP/2.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := serveGRPC(t, c.tlsIn, c.tlsUp)
			cc := grpctest.Dial(t, g.srv.Addr().String(), g.pool)
			grpctest.RunSuite(t, cc, g.backend)

			x := waitRecorded(t, g.rec, "unary exchange", func(x record.Exchange) bool {
				return strings.HasSuffix(x.Request.URL, grpctest.UnaryMethod)
			})
			if x.Request.Proto != c.wantProto || x.Response.Proto != c.wantProto {
				t.Errorf("recorded client side %q, upstream side %q; want %s both", x.Request.Proto, x.Response.Proto, c.wantProto)
			}
		})
	}
}

func TestParseGRPCTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"1H": time.Hour, "2M": 2 * time.Minute, "3S": 3 * time.Second, "200m": 200 * time.Millisecond, "99999999u": 99999999 * time.Microsecond, "5n": 5} {
		if got, ok := parseGRPCTimeout(in); !ok || got != want {
			t.Errorf("parseGRPCTimeout(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "5", "S", "123456789S", "-1S", "1x", "1.5S"} {
		if _, ok := parseGRPCTimeout(in); ok {
			t.Errorf("parseGRPCTimeout(%q) accepted", in)
		}
	}
}

// gRPC-Web and Connect are plain HTTP: they go upstream over HTTP/1.1 (no
// h2c switch), bytes and trailers-in-body unchanged, streamed.
func TestGRPCWebAndConnectPassThrough(t *testing.T) {
	frame := func(flag byte, payload string) string {
		return string([]byte{flag, 0, 0, 0, byte(len(payload))}) + payload
	}
	webResp := frame(0, "\x0a\x02hi") + frame(0x80, "grpc-status: 0\r\ngrpc-message: \r\n")
	connectResp := frame(0, `{"text":"hi"}`) + frame(0x02, `{}`)
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		w.Header().Set("X-Saw", req.Proto+" "+hex.EncodeToString(body))
		switch req.Header.Get("Content-Type") {
		case "application/grpc-web+proto":
			w.Header().Set("Content-Type", "application/grpc-web+proto")
			_, _ = io.WriteString(w, webResp)
		case "application/connect+json":
			w.Header().Set("Content-Type", "application/connect+json")
			_, _ = io.WriteString(w, connectResp)
		default: // Connect unary: no envelope
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"text":"hi"}`)
		}
	}))
	for _, c := range []struct{ ct, req, want string }{
		{"application/grpc-web+proto", frame(0, "\x0a\x02hi"), webResp},
		{"application/connect+json", frame(0, `{"text":"hi"}`), connectResp},
		{"application/json", `{"text":"hi"}`, `{"text":"hi"}`},
	} {
		req, _ := http.NewRequest("POST", r.proxy.URL+"/devproxy.test.v1.Echo/Unary", strings.NewReader(c.req))
		req.Header.Set("Content-Type", c.ct)
		res, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, res); res.StatusCode != 200 || body != c.want || res.Header.Get("X-Saw") != "HTTP/1.1 "+hex.EncodeToString([]byte(c.req)) {
			t.Errorf("%s: %d %q (backend saw %q); want the bytes unchanged over HTTP/1.1", c.ct, res.StatusCode, body, res.Header.Get("X-Saw"))
		}
	}
}
