package invert

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/pgtest"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/regstore"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// fleetRig is a fleet of relays behind a round-robin TCP load balancer,
// with agents that reach it through the balancer, all on loopback.
type fleetRig struct {
	t       *testing.T
	pgURL   string // "" for a static fleet
	relays  []*fleetRelay
	lb      *loadBalancer
	backend *httptest.Server
	token   string
	agents  []*fleetAgent
	client  *http.Client
}

// fleetRelay is one relay of the rig, restartable on its address.
type fleetRelay struct {
	addr   string
	url    string
	store  regstore.Store
	reg    *Registry
	relay  *Relay
	srv    *http.Server
	rec    *record.Recorder
	stopRg context.CancelFunc
	regRun chan struct{}
}

type fleetAgent struct {
	agent *Agent
	rec   *record.Recorder
	stop  context.CancelFunc
	done  chan struct{}
}

// fleetPG returns a PostgreSQL database for a fleet test: on the server
// of DEVPROXY_TEST_POSTGRES, else in a private cluster.
func fleetPG(t *testing.T) string {
	if os.Getenv(pgtest.EnvURL) != "" {
		return pgtest.URL(t)
	}
	return pgtest.NewCluster(t).URL(t)
}

// newFleetRig starts n relays (on one PostgreSQL registry when pgURL is
// set, else a static fleet with the backend in each one's config), the
// load balancer in front of them, and a backend "web" for agents.
func newFleetRig(t *testing.T, n int, pgURL string) *fleetRig {
	f := &fleetRig{t: t, pgURL: pgURL}
	f.backend = httptest.NewServer(httpbin.New())
	t.Cleanup(f.backend.Close)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		f.relays = append(f.relays, &fleetRelay{addr: addr, url: "http://" + addr})
	}
	f.token = "dpt_fleet-test-agent-token"
	for i := range f.relays {
		f.startRelay(i)
	}
	if pgURL != "" {
		// Registered once, on the first relay: the others learn it from
		// PostgreSQL.
		tok, err := f.relays[0].reg.Create(Backend{ID: "web", PathPrefixes: []string{"/"}, Access: Access{Public: true}})
		if err != nil {
			t.Fatal(err)
		}
		f.token = tok
	}
	addrs := make([]string, n)
	for i, r := range f.relays {
		addrs[i] = r.addr
	}
	f.lb = newLoadBalancer(t, addrs)
	f.client = &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(func() {
		for _, a := range f.agents {
			a.stop()
			<-a.done
		}
		for i := range f.relays {
			f.stopRelay(i, false)
		}
	})
	return f
}

// startRelay (re)starts relay i on its address.
func (f *fleetRig) startRelay(i int) {
	t := f.t
	r := f.relays[i]
	fo := &FleetOptions{URL: r.url, Heartbeat: 100 * time.Millisecond, TTL: time.Second}
	if f.pgURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		store, err := regstore.OpenPG(ctx, f.pgURL)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		r.store = store
		fo.Store = store
		if r.reg, err = NewRegistry(store); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		r.stopRg, r.regRun = stop, make(chan struct{})
		go func() { defer close(r.regRun); r.reg.Run(ctx, nil) }()
	} else {
		reg, err := OpenRegistry("")
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.AddStatic(Backend{ID: "web", PathPrefixes: []string{"/"}, Access: Access{Public: true}}, f.token); err != nil {
			t.Fatal(err)
		}
		r.reg = reg
		for _, o := range f.relays {
			fo.Static = append(fo.Static, o.url)
		}
	}
	r.rec = record.NewRecorder(record.Limits{})
	relay, err := NewRelay(RelayOptions{Registry: r.reg, Tap: r.rec, AgentWait: 5 * time.Second, Logger: quiet, Fleet: fo})
	if err != nil {
		t.Fatal(err)
	}
	r.relay = relay
	var ln net.Listener
	// The port was free a moment ago (or was this relay's before a kill).
	deadline := time.Now().Add(testTimeout)
	for {
		if ln, err = net.Listen("tcp", r.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.srv = &http.Server{Handler: relay}
	go r.srv.Serve(ln)
}

// stopRelay stops relay i: killed (its tunnels and connections dropped,
// its heartbeat row left to expire) or shut down cleanly (it leaves the
// fleet).
func (f *fleetRig) stopRelay(i int, kill bool) {
	r := f.relays[i]
	if r.relay == nil {
		return
	}
	if kill && r.store != nil {
		r.store.Close() // no Leave: the others drop it after the TTL
		r.store = nil
	}
	r.srv.Close()
	r.relay.Close()
	if r.stopRg != nil {
		r.stopRg()
		<-r.regRun
	}
	if r.store != nil {
		r.store.Close()
	}
	r.relay, r.store, r.stopRg = nil, nil, nil
}

// startAgent starts an agent of "web" that reaches the fleet through the
// load balancer.
func (f *fleetRig) startAgent() *fleetAgent {
	t := f.t
	target, _ := url.Parse(f.backend.URL)
	rec := record.NewRecorder(record.Limits{})
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: rec, TrustForwarded: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	lbURL, _ := url.Parse("http://" + f.lb.addr())
	a, err := NewAgent(AgentOptions{Relay: lbURL, Backend: "web", Token: f.token, Handler: h, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fa := &fleetAgent{agent: a, rec: rec, stop: cancel, done: make(chan struct{})}
	go func() { a.Run(ctx); close(fa.done) }()
	f.agents = append(f.agents, fa)
	return fa
}

// waitAgents waits until every running relay holds n agents of "web".
func (f *fleetRig) waitAgents(n int) {
	f.t.Helper()
	for i, r := range f.relays {
		if r.relay != nil {
			f.waitRelayAgents(i, n)
		}
	}
}

func (f *fleetRig) waitRelayAgents(i, n int) {
	f.t.Helper()
	r := f.relays[i]
	p := r.relay.pool("web")
	deadline := time.After(testTimeout)
	for {
		changed := p.changes()
		if got := r.relay.Status("web").Agents; got == n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			f.t.Fatalf("relay %d holds %d agents of web, want %d", i, r.relay.Status("web").Agents, n)
		}
	}
}

// get sends a GET through the load balancer.
func (f *fleetRig) get(path string) (int, error) {
	res, err := f.client.Get("http://" + f.lb.addr() + path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// TestFleetOnPostgres: three relays on one PostgreSQL registry behind a
// load balancer, two agents of one backend that know only the balancer's
// address: each agent holds a tunnel to every relay; requests spread over
// relays and agents; a backend created on one relay is served by another;
// killing a relay under load fails no request sent after the kill; the
// relay that comes back gets its agents back.
func TestFleetOnPostgres(t *testing.T) {
	f := newFleetRig(t, 3, fleetPG(t))
	a1, a2 := f.startAgent(), f.startAgent()
	f.waitAgents(2)
	for _, a := range []*fleetAgent{a1, a2} {
		waitFor(t, "the agent says 3/3 relays", func() bool { return strings.HasPrefix(a.agent.Status(), "3/3 relays connected") })
	}

	// Spread: fresh connections through the balancer, so each request
	// reaches the next relay.
	for range 30 {
		if code, err := f.get("/get"); err != nil || code != 200 {
			t.Fatalf("GET through the fleet: %d %v", code, err)
		}
	}
	for i, r := range f.relays {
		if n := len(r.rec.Snapshot()); n == 0 {
			t.Errorf("relay %d served no request", i)
		}
	}
	for i, a := range f.agents {
		if n := len(a.rec.Snapshot()); n == 0 {
			t.Errorf("agent %d served no request", i)
		}
	}

	// The admin API names the relays that hold the backend's agents.
	if v := f.relays[0].relay.view(mustGet(t, f.relays[0].reg, "web")); len(v.Relays) != 3 {
		waitFor(t, "the admin API lists 3 relays holding web's agents", func() bool {
			return len(f.relays[0].relay.view(mustGet(t, f.relays[0].reg, "web")).Relays) == 3
		})
	}

	// A backend created on relay 0 is served by relay 2.
	start := time.Now()
	tok, err := f.relays[0].reg.Create(Backend{ID: "api", PathPrefixes: []string{"/anything/api"}, Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relay 2 knows backend api", func() bool { _, ok := f.relays[2].reg.Get("api"); return ok })
	t.Logf("backend created on relay 0 known to relay 2 after %s", time.Since(start).Round(time.Millisecond))
	f.startAgentFor("api", tok)
	wctx, wcancel := context.WithTimeout(context.Background(), testTimeout)
	err = f.relays[2].relay.WaitForAgent(wctx, "api")
	wcancel()
	if err != nil {
		t.Fatalf("the agent of api never reached relay 2: %v", err)
	}
	res, err := f.client.Get(f.relays[2].url + "/anything/api")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("relay 2 answered %d for the backend created on relay 0: %s", res.StatusCode, body)
	}

	// Kill relay 1 under load: requests sent after the kill all succeed.
	var killed atomic.Bool
	var failedAfter, okAfter atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := killed.Load()
				code, err := f.get("/get")
				if !after {
					continue
				}
				if err != nil || code != 200 {
					failedAfter.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %v", code, err))
					mu.Unlock()
				} else {
					okAfter.Add(1)
				}
			}
		})
	}
	waitFor(t, "load runs", func() bool { return len(f.relays[1].rec.Snapshot()) > 40 })
	f.stopRelay(1, true)
	killed.Store(true)
	waitFor(t, "100 requests after the kill", func() bool { return okAfter.Load()+failedAfter.Load() >= 100 })
	close(stop)
	wg.Wait()
	if n := failedAfter.Load(); n > 0 {
		t.Fatalf("%d of %d requests sent after the kill failed: %v", n, n+okAfter.Load(), failures)
	}
	waitFor(t, "the agents say 2/2 relays", func() bool {
		return strings.HasPrefix(a1.agent.Status(), "2/2 relays") && strings.HasPrefix(a2.agent.Status(), "2/2 relays")
	})

	// Relay 1 comes back: the agents connect to it again.
	f.startRelay(1)
	f.waitRelayAgents(1, 2)
	for _, a := range []*fleetAgent{a1, a2} {
		waitFor(t, "the agent says 3/3 relays again", func() bool { return strings.HasPrefix(a.agent.Status(), "3/3 relays connected") })
	}
	res, err = f.client.Get(f.relays[1].url + "/get")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the restarted relay answered %d", res.StatusCode)
	}
}

func mustGet(t *testing.T, reg *Registry, id string) Backend {
	t.Helper()
	b, ok := reg.Get(id)
	if !ok {
		t.Fatalf("no backend %q", id)
	}
	return b
}

// startAgentFor starts an agent of backend id through the balancer.
func (f *fleetRig) startAgentFor(id, token string) *fleetAgent {
	t := f.t
	target, _ := url.Parse(f.backend.URL)
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.Discard, TrustForwarded: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	lbURL, _ := url.Parse("http://" + f.lb.addr())
	a, err := NewAgent(AgentOptions{Relay: lbURL, Backend: id, Token: token, Handler: h, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fa := &fleetAgent{agent: a, stop: cancel, done: make(chan struct{})}
	go func() { a.Run(ctx); close(fa.done) }()
	f.agents = append(f.agents, fa)
	return fa
}

// TestFleetStatic: a --fleet list instead of PostgreSQL: the agents learn
// it from the relay they reach and connect to all three.
func TestFleetStatic(t *testing.T) {
	f := newFleetRig(t, 3, "")
	a := f.startAgent()
	f.startAgent()
	f.waitAgents(2)
	waitFor(t, "the agent says 3/3 relays", func() bool { return strings.HasPrefix(a.agent.Status(), "3/3 relays connected") })
	for range 12 {
		if code, err := f.get("/get"); err != nil || code != 200 {
			t.Fatalf("GET through the static fleet: %d %v", code, err)
		}
	}
	for i, r := range f.relays {
		if len(r.rec.Snapshot()) == 0 {
			t.Errorf("relay %d served no request", i)
		}
	}
	st, ok := f.relays[0].relay.Fleet()
	if !ok || len(st.Members) != 3 || !st.Static {
		t.Fatalf("relay 0's fleet: %+v", st)
	}
}

// TestFleetAnnouncementNeedsTheTunnelSecret: an end user cannot pass the
// agent a fleet announcement: the relay strips X-Devproxy-* headers, and
// the agent answers the relay's own requests only with the tunnel's
// secret.
func TestFleetAnnouncementNeedsTheTunnelSecret(t *testing.T) {
	r := newRig(t, ModeTunnel)
	evil := `{"relay":{"id":"evil","url":"http://127.0.0.1:1"},"members":[{"id":"evil","url":"http://127.0.0.1:1"}]}`
	res := r.get("/headers", HeaderTunnel, "fleet", HeaderFleet, evil, HeaderFleetSecret, "guess")
	body := readAll(t, res)
	if res.StatusCode != 200 || strings.Contains(body, "evil") || strings.Contains(strings.ToLower(body), "x-devproxy") {
		t.Fatalf("status %d body %s", res.StatusCode, body)
	}
	if links := r.agent.Links(); len(links) != 1 {
		t.Fatalf("the agent opened links: %+v", links)
	}

	// Straight to the agent's tunnel server: the secret is checked.
	l := r.agent.newLink(r.agent.opts.Relay, false)
	h := l.control()
	hello := httptest.NewRequest("GET", "/", nil)
	hello.Header.Set(HeaderTunnel, "hello")
	hello.Header.Set(HeaderFleetSecret, "s3cret")
	w := httptest.NewRecorder()
	h(w, hello)
	if w.Code != http.StatusNoContent {
		t.Fatalf("hello: %d", w.Code)
	}
	for _, secret := range []string{"", "guess"} {
		req := httptest.NewRequest("POST", "/", nil)
		req.Header.Set(HeaderTunnel, "fleet")
		req.Header.Set(HeaderFleetSecret, secret)
		req.Header.Set(HeaderFleet, evil)
		w := httptest.NewRecorder()
		h(w, req)
		if w.Code != http.StatusForbidden {
			t.Fatalf("announcement with secret %q: %d, want 403", secret, w.Code)
		}
	}
	if links := r.agent.Links(); len(links) != 1 {
		t.Fatalf("the agent opened links: %+v", links)
	}
}

// TestPollAgentInAFleetSaysSo: the poll transport serves one relay; the
// agent says so when the relay is one of a fleet.
func TestPollAgentInAFleetSaysSo(t *testing.T) {
	r := newRigWith(t, ModePoll, func(o *RelayOptions) {
		o.Fleet = &FleetOptions{URL: "http://127.0.0.1:1", Static: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}}
	})
	waitFor(t, "the poll agent says it serves one relay of two", func() bool {
		return strings.Contains(r.agent.Status(), "1 of 2 relays")
	})
}

// TestFleetNeedsAPublicURL: a fleet without this relay's public URL is an
// error that says what to give.
func TestFleetNeedsAPublicURL(t *testing.T) {
	reg, _ := OpenRegistry("")
	_, err := NewRelay(RelayOptions{Registry: reg, Logger: quiet, Fleet: &FleetOptions{Static: []string{"http://a:1"}}})
	if err == nil || !strings.Contains(err.Error(), "--public-url") {
		t.Fatalf("err = %v", err)
	}
}

// TestRequestsCrossingAnAgentsExit: an agent that stops while requests
// arrive: those it did not take go to the backend's other agent instead
// of failing as "tunnel lost".
func TestRequestsCrossingAnAgentsExit(t *testing.T) {
	r := newRig(t, ModeTunnel)
	firstDone, stopFirst := r.agentDone, r.stopAgent
	r.startAgent("web", r.token)
	waitFor(t, "two agents", func() bool { return r.relay.Status("web").Agents == 2 })
	var wg sync.WaitGroup
	var failed atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := r.client.Get(r.relaySrv.URL + "/get")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	waitFor(t, "load runs", func() bool { return len(r.relayRec.Snapshot()) > 50 })
	stopFirst()
	<-firstDone
	n := len(r.relayRec.Snapshot())
	waitFor(t, "more load", func() bool { return len(r.relayRec.Snapshot()) > n+50 })
	close(stop)
	wg.Wait()
	// Requests the first agent had taken when it stopped may fail; /get
	// answers at once, so few were: but none that it had not taken.
	for _, x := range r.relayRec.Snapshot() {
		if x.Err != nil && x.Err.Kind == record.ErrTunnelLost {
			t.Logf("tunnel lost: %s (%s)", x.Request.URL, x.Err.Message)
		}
	}
	if f := failed.Load(); f > 4 {
		t.Fatalf("%d requests failed as the agent stopped", f)
	}
}

// loadBalancer is a round-robin TCP load balancer: each connection goes to
// the next backend address, skipping those that refuse it.
type loadBalancer struct {
	ln    net.Listener
	addrs []string
	next  atomic.Uint64
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newLoadBalancer(t *testing.T, addrs []string) *loadBalancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &loadBalancer{ln: ln, addrs: addrs, conns: map[net.Conn]bool{}}
	lb.wg.Go(lb.serve)
	t.Cleanup(lb.close)
	return lb
}

func (lb *loadBalancer) addr() string { return lb.ln.Addr().String() }

func (lb *loadBalancer) serve() {
	for {
		c, err := lb.ln.Accept()
		if err != nil {
			return
		}
		lb.wg.Go(func() { lb.handle(c) })
	}
}

func (lb *loadBalancer) track(c net.Conn, on bool) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.conns == nil {
		return false
	}
	if on {
		lb.conns[c] = true
	} else {
		delete(lb.conns, c)
	}
	return true
}

func (lb *loadBalancer) handle(c net.Conn) {
	defer c.Close()
	if !lb.track(c, true) {
		return
	}
	defer lb.track(c, false)
	var up net.Conn
	var err error
	first := lb.next.Add(1)
	for i := range uint64(len(lb.addrs)) {
		addr := lb.addrs[(first+i)%uint64(len(lb.addrs))]
		if up, err = net.Dial("tcp", addr); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	lb.track(up, true)
	defer lb.track(up, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	// One side ended: the other gets a moment to end too, then both
	// connections close and the second copy returns.
	select {
	case <-done:
		return
	case <-time.After(time.Second):
	}
	c.Close()
	up.Close()
	<-done
}

func (lb *loadBalancer) close() {
	lb.ln.Close()
	lb.mu.Lock()
	for c := range lb.conns {
		c.Close()
	}
	lb.conns = nil
	lb.mu.Unlock()
	lb.wg.Wait()
}

// TestFleetWhilePostgresIsDown: PostgreSQL stops: the relays keep the
// fleet and the backends they last saw, and serve; it comes back: they
// beat into it again.
func TestFleetWhilePostgresIsDown(t *testing.T) {
	pg := pgtest.NewCluster(t)
	f := newFleetRig(t, 3, pg.URL(t))
	f.startAgent()
	f.waitAgents(1)
	pg.Stop(t)
	waitFor(t, "relay 0 sees the registry fail", func() bool { st, _ := f.relays[0].relay.Fleet(); return st.Err != nil })
	for range 12 {
		if code, err := f.get("/get"); err != nil || code != 200 {
			t.Fatalf("GET while PostgreSQL is down: %d %v", code, err)
		}
	}
	if st, _ := f.relays[0].relay.Fleet(); len(st.Members) != 3 {
		t.Fatalf("relay 0 forgot relays while PostgreSQL was down: %+v", st.Members)
	}
	pg.Start(t)
	waitFor(t, "relay 0 beats again", func() bool { st, _ := f.relays[0].relay.Fleet(); return st.Err == nil })
	f.waitAgents(1)
}
