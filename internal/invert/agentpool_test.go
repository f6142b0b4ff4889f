package invert

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
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

// TestAgentWhoseBackendFailsIsSkipped: of two tunnel agents of one
// backend, the first one's backend refuses connections. The one request
// whose turn was that agent's gets its 502 (a response is final; the
// request may have reached the backend), then the agent is skipped: every
// later request is served by the other agent, and the recording names the
// agent each went to.
func TestAgentWhoseBackendFailsIsSkipped(t *testing.T) {
	refusing := closedPortURL(t)
	rec := record.NewRecorder(record.Limits{})
	relayURL, relay := startRelayAgents(t, RelayOptions{Tap: rec, AgentFailWindow: time.Hour},
		testAgent{ModeTunnel, refusing}, testAgent{ModeTunnel, nameServer(t, "bravo")})
	client := &http.Client{Timeout: testTimeout}
	defer client.CloseIdleConnections()
	const n = 20
	var failed []int
	for i := range n {
		res, err := client.Get(relayURL + "/who")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body := readAll(t, res)
		switch {
		case res.StatusCode == http.StatusBadGateway && strings.Contains(body, "refused"):
			failed = append(failed, i)
		case res.StatusCode != 200 || body != "bravo":
			t.Fatalf("request %d: status %d body %q, want bravo's answer", i, res.StatusCode, body)
		}
	}
	if len(failed) != 1 || failed[0] > 1 {
		t.Errorf("requests %v failed at the refusing agent, want exactly one, at its first turn (request 0 or 1)", failed)
	}
	for _, x := range waitDone(t, rec, n) {
		want := "agent 2 of web"
		if x.Response != nil && x.Response.Status == http.StatusBadGateway {
			want = "agent 1 of web"
		}
		if got := markValue(x, "route", "upstream"); got != want {
			t.Errorf("exchange %d (status %v): upstream mark %q, want %q", x.ID, x.Response, got, want)
		}
		if got := markValue(x, "relay", "backend"); got != "web" {
			t.Errorf("exchange %d: backend mark %q, want web", x.ID, got)
		}
	}
	if st := relay.Status("web"); st.Agents != 2 {
		t.Errorf("status counts %d agents, want 2: a skipped agent is still connected", st.Agents)
	}
}

// TestHealthyAgentsAlternate: two healthy tunnel agents take turns, the
// recording names the agent of each turn, and a client that gives up on a
// request does not count against the agent it went to.
func TestHealthyAgentsAlternate(t *testing.T) {
	rec := record.NewRecorder(record.Limits{})
	hang := make(chan struct{})
	alpha := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/hang" {
			close(hang)
			<-req.Context().Done()
			return
		}
		io.WriteString(w, "alpha")
	}))
	t.Cleanup(alpha.Close)
	relayURL, _ := startRelayAgents(t, RelayOptions{Tap: rec, AgentFailWindow: time.Hour},
		testAgent{ModeTunnel, alpha.URL}, testAgent{ModeTunnel, nameServer(t, "bravo")})
	client := &http.Client{Timeout: testTimeout}
	defer client.CloseIdleConnections()

	// The first turn is agent 1's (alpha): its client gives up.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", relayURL+"/hang", nil)
	gaveUp := make(chan error, 1)
	go func() {
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		gaveUp <- err
	}()
	<-hang
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("the abandoned request got a response")
	}

	var served, marks []string
	for i := range 6 {
		res, err := client.Get(relayURL + "/who")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body := readAll(t, res); res.StatusCode != 200 {
			t.Fatalf("request %d: status %d body %q", i, res.StatusCode, body)
		} else {
			served = append(served, body)
		}
	}
	for _, x := range waitDone(t, rec, 7) {
		if strings.HasSuffix(x.Request.URL, "/who") {
			marks = append(marks, markValue(x, "route", "upstream"))
		}
	}
	want := "bravo alpha bravo alpha bravo alpha"
	if got := strings.Join(served, " "); got != want {
		t.Errorf("served by %s, want %s: the agents take turns, and the abandoned request does not take alpha out", got, want)
	}
	wantMarks := "agent 2 of web,agent 1 of web,agent 2 of web,agent 1 of web,agent 2 of web,agent 1 of web"
	if got := strings.Join(marks, ","); got != wantMarks {
		t.Errorf("upstream marks %s, want %s", got, wantMarks)
	}
}

// TestOnlyAgentServesAfterItsBackendFailed: passive health steers requests
// between agents but never refuses them: the only agent of a backend whose
// backend failed a moment ago still gets the next request, which succeeds
// once the backend is back (no 503 for the rest of the window).
func TestOnlyAgentServesAfterItsBackendFailed(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if broken.Load() {
			panic(http.ErrAbortHandler) // hang up without an answer
		}
		io.WriteString(w, "back")
	}))
	t.Cleanup(backend.Close)
	relayURL, _ := startRelayAgents(t, RelayOptions{AgentFailWindow: time.Hour}, testAgent{ModeTunnel, backend.URL})
	client := &http.Client{Timeout: testTimeout}
	defer client.CloseIdleConnections()
	res, err := client.Get(relayURL + "/who")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != http.StatusBadGateway {
		t.Fatalf("while the backend hangs up: status %d body %q, want the agent's 502", res.StatusCode, body)
	}
	broken.Store(false)
	res, err = client.Get(relayURL + "/who")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || body != "back" {
		t.Fatalf("after the backend came back: status %d body %q, want 200 back", res.StatusCode, body)
	}
}

// markValue is the value of the exchange's first mark of stage and name.
func markValue(x record.Exchange, stage, name string) string {
	for _, m := range x.Marks {
		if m.Stage == stage && m.Name == name {
			return m.Value
		}
	}
	return ""
}

// closedPortURL is the URL of a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// nameServer starts a server that answers every request with name (as
// text, or as one WebSocket message) and returns its URL.
func nameServer(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
	t.Cleanup(srv.Close)
	return srv.URL
}

// startTwoAgentRelay starts a relay with backend "web" and two agents of it
// with the given transports, the first in front of a server answering
// "alpha", the second "bravo" (as text, or as a WebSocket message). It
// returns the relay's URL once both agents are connected.
func startTwoAgentRelay(t *testing.T, transports [2]Mode) string {
	t.Helper()
	u, _ := startRelayAgents(t, RelayOptions{}, testAgent{transports[0], nameServer(t, "alpha")}, testAgent{transports[1], nameServer(t, "bravo")})
	return u
}

// testAgent is an agent of a test relay: its transport and its backend.
type testAgent struct {
	mode   Mode
	target string
}

// startRelayAgents starts a relay with options o (its registry filled in:
// backend "web", public) and one agent of "web" for each of agents, each
// connected before the next starts, so they are "agent 1 of web", "agent 2
// of web" and so on. It returns the relay's URL and the relay.
func startRelayAgents(t *testing.T, o RelayOptions, agents ...testAgent) (string, *Relay) {
	t.Helper()
	reg, _ := OpenRegistry("")
	tok, err := reg.Create(Backend{ID: "web", PathPrefixes: []string{"/"}, Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	o.Registry = reg
	if o.AgentWait == 0 {
		o.AgentWait = 5 * time.Second
	}
	if o.PollHold == 0 {
		o.PollHold = 2 * time.Second
	}
	o.Logger = quiet
	relay, err := NewRelay(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(relay)
	t.Cleanup(func() { relay.Close(); srv.Close() })
	relayURL, _ := url.Parse(srv.URL)
	for i, spec := range agents {
		target, _ := url.Parse(spec.target)
		h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, TrustForwarded: true, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: "web", Token: tok, Mode: spec.mode, Handler: h, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, fmt.Sprintf("agent %d to connect", i+1), func() bool { return relay.Status("web").Agents == i+1 })
	}
	return srv.URL, relay
}
