package invert

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

const testTimeout = 30 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// rig is client → relay → agent → backend, all in this process on loopback.
type rig struct {
	t         *testing.T
	backend   *httptest.Server
	mux       *http.ServeMux
	stateDir  string
	reg       *Registry
	relay     *Relay
	relaySrv  *httptest.Server
	current   atomic.Pointer[Relay] // the relay the listener serves (swapped on restart)
	relayRec  *record.Recorder
	agentRec  *record.Recorder
	transport Mode
	token     string
	agent     *Agent
	stopAgent context.CancelFunc
	agentDone chan struct{}
	client    *http.Client
	// posts counts the poll agents' response posts the relay received.
	posts atomic.Int64
	// configure, when set, changes the relay's options before it starts.
	configure func(*RelayOptions)
}

func newRig(t *testing.T, transport Mode) *rig { return newRigWith(t, transport, nil) }

// newRigWith is newRig with configure changing the relay's options.
func newRigWith(t *testing.T, transport Mode, configure func(*RelayOptions)) *rig {
	t.Helper()
	r := &rig{t: t, transport: transport, mux: http.NewServeMux(), stateDir: t.TempDir(), configure: configure}
	r.mux.Handle("/", httpbin.New())
	r.backend = httptest.NewServer(r.mux)
	t.Cleanup(r.backend.Close)
	r.startRelay()
	tok, err := r.reg.Create(Backend{ID: "web", PathPrefixes: []string{"/"}, Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	r.token = tok
	r.client = &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(r.client.CloseIdleConnections)
	r.startAgent("web", tok)
	return r
}

// startRelay (re)starts the relay on a fresh listener over the same state.
func (r *rig) startRelay() {
	t := r.t
	reg, err := OpenRegistry(r.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	r.reg = reg
	r.relayRec = record.NewRecorder(record.Limits{})
	o := RelayOptions{Registry: reg, Tap: r.relayRec, AgentWait: 5 * time.Second, PollHold: 2 * time.Second, Logger: quiet}
	if r.configure != nil {
		r.configure(&o)
	}
	relay, err := NewRelay(o)
	if err != nil {
		t.Fatal(err)
	}
	r.relay = relay
	r.current.Store(relay)
	if r.relaySrv == nil {
		r.relaySrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/"+ResponsePath) {
				r.posts.Add(1)
			}
			r.current.Load().ServeHTTP(w, req)
		}))
		t.Cleanup(func() { r.current.Load().Close(); r.relaySrv.Close() })
	}
}

func (r *rig) startAgent(backend, token string) {
	t := r.t
	target, _ := url.Parse(r.backend.URL)
	r.agentRec = record.NewRecorder(record.Limits{})
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: r.agentRec, TrustForwarded: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	relayURL, _ := url.Parse(r.relaySrv.URL)
	a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: backend, Token: token, Mode: r.transport, Handler: h, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	r.agent, r.stopAgent, r.agentDone = a, cancel, done
	t.Cleanup(func() { cancel(); <-done })
	r.waitAgent(backend)
}

func (r *rig) killAgent() {
	r.stopAgent()
	<-r.agentDone
}

// waitNoAgent waits until the relay has seen every agent of backend id go:
// an agent that has stopped may still look connected to the relay for a
// moment, until it reads the tunnel's end.
func (r *rig) waitNoAgent(id string) {
	r.t.Helper()
	p := r.relay.pool(id)
	deadline := time.After(testTimeout)
	for {
		changed := p.changes()
		if r.relay.Status(id).Agents == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			r.t.Fatalf("the relay still counts %d agents of %q", r.relay.Status(id).Agents, id)
		}
	}
}

func (r *rig) waitAgent(id string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := r.relay.WaitForAgent(ctx, id); err != nil {
		r.t.Fatalf("agent for %q never connected: %v", id, err)
	}
}

func (r *rig) do(req *http.Request) *http.Response {
	r.t.Helper()
	res, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func (r *rig) get(path string, hdr ...string) *http.Response {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.relaySrv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return r.do(req)
}

// goGet sends a GET in the background; wait returns its answer.
func (r *rig) goGet(path string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		res, err := r.client.Get(r.relaySrv.URL + path)
		ch <- result{res, err}
	}()
	return ch
}

type result struct {
	res *http.Response
	err error
}

func (r *rig) wait(ch <-chan result) *http.Response {
	r.t.Helper()
	got := <-ch // the client's timeout bounds the wait
	if got.err != nil {
		r.t.Fatal(got.err)
	}
	return got.res
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitDone waits until rec holds n finished exchanges.
func waitDone(t *testing.T, rec *record.Recorder, n int) []record.Exchange {
	return recordtest.WaitDone(t, rec, n, testTimeout)
}

// forEachTransport runs fn with an agent of each transport: the tunnel
// (HTTP/2 over an upgrade), the tunnel over a WebSocket, yamux over a
// WebSocket (an agent that predates HTTP/2 tunnels), and poll.
func forEachTransport(t *testing.T, fn func(t *testing.T, r *rig)) {
	for _, tr := range []Mode{ModeTunnel, ModeWebSocket, ModeYamux, ModePoll} {
		t.Run(string(tr), func(t *testing.T) { fn(t, newRig(t, tr)) })
	}
}
