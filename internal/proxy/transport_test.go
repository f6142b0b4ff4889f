package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestTransportProtocols: a transport speaks the protocols its options ask
// for, whether or not a dialer is injected. The default is HTTP/1.1 and
// HTTP/2 over TLS (h2 negotiated with a TLS server that offers it, HTTP/1.1
// with a plain one); HTTP/1.1 alone keeps TLS targets on HTTP/1.1.
func TestTransportProtocols(t *testing.T) {
	h1 := new(http.Protocols)
	h1.SetHTTP1(true)
	for _, tc := range []struct {
		name      string
		tls       bool
		dialer    bool
		protocols *http.Protocols
		wantMajor int
	}{
		{"default, TLS", true, false, nil, 2},
		{"default, TLS, injected dialer", true, true, nil, 2},
		{"HTTP/1.1 and HTTP/2, TLS, injected dialer", true, true, DefaultProtocols(), 2},
		{"HTTP/1.1 only, TLS, injected dialer", true, true, h1, 1},
		{"HTTP/1.1 only, TLS", true, false, h1, 1},
		{"default, plain", false, false, nil, 1},
		{"default, plain, injected dialer", false, true, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Proto)
			}))
			if tc.tls {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			o := TransportOptions{Insecure: true, Protocols: tc.protocols}
			var dials atomic.Int64
			if tc.dialer {
				o.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}
			}
			tr, err := NewTransport(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(tr.CloseIdleConnections)
			req, _ := http.NewRequest("GET", srv.URL, nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.ProtoMajor != tc.wantMajor {
				t.Errorf("client got %s (server saw %s), want HTTP/%d", res.Proto, body, tc.wantMajor)
			}
			if tc.dialer && dials.Load() == 0 {
				t.Error("the injected dialer was not used")
			}
		})
	}
}

// TestTransportKeepsItsProtocols: changing the caller's Protocols after
// NewTransport does not change the transport.
func TestTransportKeepsItsProtocols(t *testing.T) {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	tr, err := NewTransport(TransportOptions{Protocols: p})
	if err != nil {
		t.Fatal(err)
	}
	p.SetHTTP2(true)
	if tr.Protocols.HTTP2() {
		t.Error("the transport shares the caller's Protocols")
	}
}
