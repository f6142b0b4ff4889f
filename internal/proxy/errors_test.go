package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func rigWithTarget(t *testing.T, target string, opts ...rigOption) *rig {
	t.Helper()
	u, _ := url.Parse(target)
	return newRig(t, http.NotFoundHandler(), append([]rigOption{func(o *Options, _ *TransportOptions) { o.Target = u }}, opts...)...)
}

func TestUnreachableTarget502(t *testing.T) {
	addr := closedPort(t)
	r := rigWithTarget(t, "http://"+addr)
	res := r.get("/x")
	body := readAll(t, res)
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", res.StatusCode)
	}
	if !strings.Contains(body, "http://"+addr) || !strings.Contains(body, "refused") || strings.Count(body, "\n") != 1 {
		t.Errorf("body %q should be one line naming the target and the cause", body)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrUnreachable || x.Err.Status != 502 || x.Response != nil {
		t.Errorf("recorded err=%+v response=%v", x.Err, x.Response)
	}
}

func TestDNSFailure502(t *testing.T) {
	r := rigWithTarget(t, "http://devproxy-test.invalid:80", func(_ *Options, to *TransportOptions) {
		to.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			// No network in tests: fail the way the resolver does.
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "devproxy-test.invalid", IsNotFound: true}}
		}
	})
	res := r.get("/")
	body := readAll(t, res)
	if res.StatusCode != 502 || !strings.Contains(body, "cannot resolve devproxy-test.invalid") {
		t.Fatalf("status %d body %q", res.StatusCode, body)
	}
	if x := r.waitDone(1)[0]; x.Err == nil || x.Err.Kind != record.ErrDNS {
		t.Errorf("recorded %+v", x.Err)
	}
}

func TestResponseHeaderTimeout504(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}), func(_ *Options, to *TransportOptions) { to.ResponseHeaderTimeout = 50 * time.Millisecond })
	res := r.get("/slow")
	body := readAll(t, res)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d body %q, want 504", res.StatusCode, body)
	}
	if x := r.waitDone(1)[0]; x.Err == nil || x.Err.Kind != record.ErrTimeout || x.Err.Status != 504 {
		t.Errorf("recorded %+v", x.Err)
	}
}

// TestClientCancel: the client gives up; nothing is written, the exchange is
// recorded as canceled (499) and the upstream request is canceled too.
func TestClientCancel(t *testing.T) {
	upstreamGone := make(chan struct{})
	arrived := make(chan struct{})
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		close(arrived)
		<-req.Context().Done()
		close(upstreamGone)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", r.proxy.URL+"/wait", nil)
	errc := make(chan error, 1)
	go func() {
		_, err := r.client.Do(req)
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v", err)
	}
	select {
	case <-upstreamGone:
	case <-time.After(testTimeout):
		t.Fatal("upstream request was not canceled")
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrCanceled || x.Err.Status != StatusClientClosed {
		t.Errorf("recorded %+v", x.Err)
	}
}

// TestUpstreamBreaksOffBody: headers sent, then the backend dies. The client
// sees an aborted response (not a clean end), and the exchange says why.
func TestUpstreamBreaksOffBody(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", "100")
		fmt.Fprint(w, "partial")
		http.NewResponseController(w).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	res := r.get("/")
	defer res.Body.Close()
	buf := make([]byte, 200)
	n, err := res.Body.Read(buf)
	for err == nil {
		var m int
		m, err = res.Body.Read(buf[n:])
		n += m
	}
	if err == nil || string(buf[:n]) != "partial" {
		t.Fatalf("client read %q, err %v: want the partial body and an error", buf[:n], err)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrAborted || x.Response.Body.Complete {
		t.Errorf("recorded err=%+v complete=%v", x.Err, x.Response.Body.Complete)
	}
}

func TestConnect405(t *testing.T) {
	d := &dialLog{}
	r := newRig(t, http.HandlerFunc(echoHeaders), d.option)
	conn := dialProxy(t, r)
	fmt.Fprint(conn, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("CONNECT status %d, want 405", res.StatusCode)
	}
	if dials := d.addrs(); len(dials) != 0 {
		t.Errorf("CONNECT made devproxy dial %v", dials)
	}
}

// TestAbsoluteFormGoesToTarget: a request line naming another host is still
// sent to --target (devproxy is not an open proxy).
func TestAbsoluteFormGoesToTarget(t *testing.T) {
	d := &dialLog{}
	r := newRig(t, http.HandlerFunc(echoHeaders), d.option)
	conn := dialProxy(t, r)
	fmt.Fprint(conn, "GET http://127.0.0.2:9/x HTTP/1.1\r\nHost: 127.0.0.2:9\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := decodeHeaders(t, readAll(t, res))
	want := strings.TrimPrefix(r.backend.URL, "http://")
	if h.Get("Host") != want {
		t.Errorf("backend saw Host %q, want %q", h.Get("Host"), want)
	}
	dials := d.addrs()
	for _, a := range dials {
		if a != want {
			t.Errorf("devproxy dialed %s; only the target %s is allowed", a, want)
		}
	}
	if len(dials) == 0 {
		t.Error("no dial recorded")
	}
}

func dialProxy(t *testing.T, r *rig) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(r.proxy.URL, "http://"), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return conn
}

// dialLog records every address the proxy's transport dials.
type dialLog struct {
	mu    sync.Mutex
	dials []string
}

func (d *dialLog) option(_ *Options, to *TransportOptions) {
	to.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.mu.Lock()
		d.dials = append(d.dials, addr)
		d.mu.Unlock()
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

func (d *dialLog) addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}
