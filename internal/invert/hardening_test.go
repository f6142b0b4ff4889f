package invert

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// listenRelay serves the rig's relay through proxy.Listen, as `devproxy
// relay` does, and returns its address.
func listenRelay(t *testing.T, r *rig) string {
	t.Helper()
	srv, err := proxy.Listen(proxy.ServerOptions{Listen: "127.0.0.1:0", Tap: r.relayRec, Role: record.RoleRelay}, r.relay)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String()
}

// rawExchange writes payload on a new connection and reads until the relay
// closes it.
func rawExchange(t *testing.T, addr, payload string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the answer: %v (got %q)", err, b)
	}
	return string(b)
}

func TestRelayRefusesSmuggling(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		var smuggled atomic.Int64
		r.mux.HandleFunc("/smuggled", func(w http.ResponseWriter, _ *http.Request) { smuggled.Add(1) })
		addr := listenRelay(t, r)
		out := rawExchange(t, addr, "POST /anything HTTP/1.1\r\nHost: relay.example\r\nContent-Length: 48\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: relay.example\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 400 ") || strings.Count(out, "HTTP/1.1 ") != 1 || !strings.Contains(out, "smuggling") {
			t.Fatalf("want one 400 naming smuggling and the connection closed, got:\n%s", out)
		}
		if n := smuggled.Load(); n != 0 {
			t.Errorf("the smuggled request reached the backend %d times", n)
		}
		for _, x := range r.agentRec.Snapshot() {
			t.Errorf("the agent was sent %s %s", x.Request.Method, x.Request.URL)
		}
	})
}

func TestRelayMalformedBody400(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		addr := listenRelay(t, r)
		out := rawExchange(t, addr, "POST /anything HTTP/1.1\r\nHost: relay.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 400 ") || !strings.Contains(out, "request body is malformed") {
			t.Fatalf("want 400 blaming the request body, got:\n%s", out)
		}
		if strings.Contains(out, "backend.invalid") {
			t.Errorf("the answer names the relay's internal upstream:\n%s", out)
		}
	})
}
