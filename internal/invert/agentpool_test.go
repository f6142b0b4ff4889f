package invert

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// TestAgentsOfOneBackendTakeTurns: two agents of one backend, each in front
// of its own server, serve a backend's requests in turn, whatever their
// transports and however the clients connect: keep-alive reuse of the
// relay's upstream connections must not pin the backend to one agent.
// Requests here are sequential and both agents stay connected, so the pool's
// round robin makes them alternate exactly.
func TestAgentsOfOneBackendTakeTurns(t *testing.T) {
	for _, pair := range [][2]Mode{
		{ModeTunnel, ModeTunnel},
		{ModePoll, ModePoll},
		{ModeTunnel, ModePoll},
		{ModeTunnel, ModeYamux}, // one agent before HTTP/2 tunnels
	} {
		t.Run(string(pair[0])+"+"+string(pair[1]), func(t *testing.T) {
			relayURL := startTwoAgentRelay(t, pair)
			for _, style := range []struct {
				name   string
				client func() *http.Client
				close  bool // send Connection: close
			}{
				{"one kept-alive connection", func() *http.Client {
					return &http.Client{Timeout: testTimeout, Transport: &http.Transport{MaxConnsPerHost: 1}}
				}, false},
				{"Connection: close", func() *http.Client {
					return &http.Client{Timeout: testTimeout, Transport: &http.Transport{}}
				}, true},
				{"fresh connections", func() *http.Client {
					return &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
				}, false},
			} {
				t.Run(style.name, func(t *testing.T) {
					client := style.client()
					defer client.CloseIdleConnections()
					var served []string
					counts := map[string]int{}
					for i := range 60 {
						req, _ := http.NewRequest("GET", relayURL+"/who", nil)
						req.Close = style.close
						res, err := client.Do(req)
						if err != nil {
							t.Fatalf("request %d: %v", i, err)
						}
						name := readAll(t, res)
						if res.StatusCode != 200 {
							t.Fatalf("request %d: status %d body %q", i, res.StatusCode, name)
						}
						served = append(served, name)
						counts[name]++
					}
					if counts["alpha"] != 30 || counts["bravo"] != 30 {
						t.Errorf("alpha served %d and bravo %d of 60 requests, want 30 each", counts["alpha"], counts["bravo"])
					}
					for i := 1; i < len(served); i++ {
						if served[i] == served[i-1] {
							t.Errorf("requests %d and %d both went to %s; the agents should take turns: %s", i-1, i, served[i], strings.Join(served, " "))
							break
						}
					}
				})
			}
		})
	}
}

// TestUpgradesTakeTheTunnelAgents: in a pool of a tunnel agent and a poll
// agent, WebSockets always go to the tunnel agent (the poll transport would
// answer 501), turn or no turn.
func TestUpgradesTakeTheTunnelAgents(t *testing.T) {
	relayURL := startTwoAgentRelay(t, [2]Mode{ModeTunnel, ModePoll})
	client := &http.Client{Timeout: testTimeout}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i := range 4 {
		c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(relayURL, "http")+"/ws", &websocket.DialOptions{HTTPClient: client})
		if err != nil {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			t.Fatalf("WebSocket %d: %v (status %d)", i, err, status)
		}
		_, msg, err := c.Read(ctx)
		c.CloseNow()
		if err != nil || string(msg) != "alpha" {
			t.Fatalf("WebSocket %d: read %q, %v; want alpha, the tunnel agent's server", i, msg, err)
		}
		// A plain request between upgrades moves the turn on.
		res, err = client.Get(relayURL + "/who")
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res)
	}
}

// startTwoAgentRelay starts a relay with backend "web" and two agents of it
// with the given transports, the first in front of a server answering
// "alpha", the second "bravo" (as text, or as a WebSocket message). It
// returns the relay's URL once both agents are connected.
func startTwoAgentRelay(t *testing.T, transports [2]Mode) string {
	t.Helper()
	reg, _ := OpenRegistry("")
	tok, err := reg.Create(Backend{ID: "web", PathPrefixes: []string{"/"}, Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	relay, err := NewRelay(RelayOptions{Registry: reg, Tap: record.Discard, AgentWait: 5 * time.Second, PollHold: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(relay)
	t.Cleanup(func() { relay.Close(); srv.Close() })
	relayURL, _ := url.Parse(srv.URL)
	for i, name := range []string{"alpha", "bravo"} {
		backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Header.Get("Upgrade") == "" {
				io.WriteString(w, name)
				return
			}
			c, err := websocket.Accept(w, req, nil)
			if err != nil {
				return
			}
			c.Write(req.Context(), websocket.MessageText, []byte(name))
			c.Close(websocket.StatusNormalClosure, "")
		}))
		t.Cleanup(backend.Close)
		target, _ := url.Parse(backend.URL)
		h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, TrustForwarded: true, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: "web", Token: tok, Mode: transports[i], Handler: h, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	waitFor(t, "both agents to connect", func() bool { return relay.Status("web").Agents == 2 })
	return srv.URL
}
