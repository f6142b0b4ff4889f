package invert

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// runAgent starts an agent of backend "web" in front of r's backend,
// reaching the relay at relayURL, logging to logs; it stops with the test.
func runAgent(t *testing.T, r *rig, relayURL string, mode Mode, logs logLines, tweak func(*AgentOptions)) *Agent {
	t.Helper()
	target, _ := url.Parse(r.backend.URL)
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.Discard, TrustForwarded: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(relayURL)
	o := AgentOptions{Relay: u, Backend: "web", Token: r.token, Mode: mode, Handler: h, Logger: slog.New(logs)}
	if tweak != nil {
		tweak(&o)
	}
	a, err := NewAgent(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// tunnelWorks sends a request and a WebSocket through the relay at base.
func tunnelWorks(t *testing.T, client *http.Client, base string) {
	t.Helper()
	res, err := client.Get(base + "/bytes/100000")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || len(body) != 100000 {
		t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(base, "http")
	c, _, err := websocket.Dial(ctx, ws+"/websocket/echo", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("through")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "through" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// tunnelProtocol is the protocol of the one tunnel of backend "web".
func tunnelProtocol(t *testing.T, r *Relay) string {
	t.Helper()
	p := r.pool("web")
	p.mu.Lock()
	defer p.mu.Unlock()
	for a := range p.tunnels {
		if _, ok := a.sess.(*h2Session); ok {
			return "h2"
		}
		return "yamux"
	}
	t.Fatal("no tunnel")
	return ""
}

// TestTunnelFallsBackToWebSocket: between the agent and the relay sits a
// proxy that passes WebSocket upgrades and refuses any other. The agent's
// direct upgrade is refused, it says so, and it opens the tunnel over a
// WebSocket instead, still speaking HTTP/2; after the relay restarts it
// goes straight to the WebSocket.
func TestTunnelFallsBackToWebSocket(t *testing.T) {
	r := newRig(t, ModePoll)
	r.killAgent()
	relay, _ := url.Parse(r.relaySrv.URL)
	rp := httputil.NewSingleHostReverseProxy(relay)
	var refused atomic.Int64
	middlebox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if up := req.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
			refused.Add(1)
			http.Error(w, "this proxy passes WebSocket upgrades only", http.StatusBadRequest)
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(middlebox.Close)

	logs := make(logLines, 1000)
	runAgent(t, r, middlebox.URL, ModeTunnel, logs, nil)
	logs.next(t, "INFO agent: the direct upgrade did not reach the relay", "HTTP 400")
	logs.next(t, "INFO agent: connected to the relay", "protocol=http2", "carrier=websocket")
	r.waitAgent("web")
	if p := tunnelProtocol(t, r.relay); p != "h2" {
		t.Errorf("tunnel protocol %s, want h2 over the WebSocket", p)
	}
	tunnelWorks(t, r.client, r.relaySrv.URL)

	before := refused.Load()
	r.relay.Close()
	r.startRelay()
	logs.next(t, "INFO agent: connected to the relay", "carrier=websocket")
	r.waitAgent("web")
	tunnelWorks(t, r.client, r.relaySrv.URL)
	if n := refused.Load(); n != before {
		t.Errorf("the agent tried the direct upgrade %d more times after it fell back", n-before)
	}
}

// TestAgentWithOlderRelay: a relay that predates HTTP/2 tunnels refuses
// the direct upgrade and picks no WebSocket subprotocol; the agent speaks
// yamux over the WebSocket with it, and says the relay is older.
func TestAgentWithOlderRelay(t *testing.T) {
	r := newRig(t, ModePoll)
	r.killAgent()
	r.relay.legacyTunnel.Store(true)
	logs := make(logLines, 1000)
	runAgent(t, r, r.relaySrv.URL, ModeTunnel, logs, nil)
	logs.next(t, "agent: the relay predates HTTP/2 tunnels")
	logs.next(t, "INFO agent: connected to the relay", "protocol=yamux", "carrier=websocket")
	r.waitAgent("web")
	if p := tunnelProtocol(t, r.relay); p != "yamux" {
		t.Errorf("tunnel protocol %s, want yamux", p)
	}
	tunnelWorks(t, r.client, r.relaySrv.URL)
}

// TestTunnelOverTLS: an https relay that offers HTTP/2 (ALPN) still gets
// the direct upgrade, which needs HTTP/1.1, and serves through it.
func TestTunnelOverTLS(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	reg, _ := OpenRegistry("")
	tok, err := reg.Create(Backend{ID: "web", PathPrefixes: []string{"/"}, Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	relay, err := NewRelay(RelayOptions{Registry: reg, Tap: record.Discard, AgentWait: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(relay)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() { relay.Close(); srv.Close() })

	r := &rig{t: t, backend: backend, token: tok}
	logs := make(logLines, 1000)
	runAgent(t, r, srv.URL, ModeTunnel, logs, func(o *AgentOptions) { o.RelayInsecure = true })
	logs.next(t, "INFO agent: connected to the relay", "protocol=http2", "carrier=upgrade")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := relay.WaitForAgent(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	client.Timeout = testTimeout
	res, err := client.Get(srv.URL + "/get")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || res.ProtoMajor != 2 {
		t.Fatalf("status %d over %s: %s", res.StatusCode, res.Proto, body)
	}
}

// TestStreamingAfterABigChunk: a response that starts with more than the
// agent writes straight through (so its writes are coalesced) still
// streams: each later event reaches the client before the backend writes
// the next.
func TestStreamingAfterABigChunk(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		next := make(chan struct{})
		big := strings.Repeat("x", 200_000)
		r.mux.HandleFunc("/bigthenevents", func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: %s\n\n", big)
			http.NewResponseController(w).Flush()
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				http.NewResponseController(w).Flush()
				select {
				case <-next:
				case <-req.Context().Done():
					return
				}
			}
		})
		res := r.get("/bigthenevents")
		defer res.Body.Close()
		br := bufio.NewReaderSize(res.Body, 1<<20)
		if line, err := br.ReadString('\n'); err != nil || len(line) != len(big)+7 {
			t.Fatalf("first event: %d bytes, %v", len(line), err)
		}
		br.ReadString('\n')
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("data: %d\n", i) {
				t.Fatalf("event %d: %q %v", i, line, err)
			}
			br.ReadString('\n')
			next <- struct{}{}
		}
	})
}
