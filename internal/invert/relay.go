package invert

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/route"
	"github.com/devproxy/devproxy/internal/rules"
)

// RelayOptions configure a Relay.
type RelayOptions struct {
	// Registry holds the backends. Required.
	Registry *Registry
	// Tap records every end-user exchange. Default record.Discard.
	Tap record.Tap
	// AgentWait is how long a request waits for an agent of its backend to
	// (re)connect before 503. Default 10s.
	AgentWait time.Duration
	// PollHold is how long a pending-list call is held open. Default 30s.
	PollHold time.Duration
	// PollPrefix is the path under which agent/pending, agent/request and
	// agent/response are served. Default "/".
	PollPrefix string
	// FlushInterval is passed to the proxy engine (0 flushes every write).
	FlushInterval time.Duration
	// Stages run on every end-user exchange, before its backend's agent is
	// chosen (the rules). The backend's own rules (Backend.Rules) run after
	// them.
	Stages []proxy.Stage
	// Holds keeps the exchanges that backends' breakpoint rules hold, for
	// the relay's UI. Nil: a backend rule with a breakpoint is refused (at
	// NewRelay, and when the admin API creates or changes a backend).
	Holds *rules.Holds
	// Logger receives agent connects and disconnects. Default slog.Default().
	Logger *slog.Logger
	// StreamWindow is the tunnel's receive window per stream: how much of
	// each response the relay may buffer before its client reads it.
	// Default StreamWindow; at least 256 KiB.
	StreamWindow uint32
	// AgentFailWindow is how long an agent whose request failed (a broken
	// tunnel, or a 502 or 504 from its engine: it could not reach its
	// backend) is skipped while its backend has other agents. Default 10s.
	AgentFailWindow time.Duration
	// Fleet makes the relay one of several behind a load balancer: it
	// tells its agents the fleet's relays so that they keep a tunnel to
	// each (fleet.go). Nil: the relay runs alone.
	Fleet *FleetOptions
}

// Relay is the public side of the inverting proxy: an http.Handler that
// routes end-user requests to the agents of registered backends, accepts
// agent tunnels and poll calls, and serves the admin API. It never dials
// anywhere: every upstream connection is a stream on a tunnel an agent
// opened, or a request an agent fetched.
type Relay struct {
	opts RelayOptions

	mu    sync.Mutex
	pools map[string]*agentPool
	// engine proxies end-user requests; its Router sends each to an agent
	// of the backend serveEndUser chose.
	engine *proxy.Handler

	closing   chan struct{}
	closeOnce sync.Once
	// closed is closed by Close: a tunnel that an agent opens while the
	// relay closes (registered after Close went through the pools) is
	// closed too, rather than left up.
	closed     chan struct{}
	closedOnce sync.Once

	// legacyTunnel makes the relay answer tunnels as relays before HTTP/2
	// tunnels did (yamux over a WebSocket only), for compatibility tests.
	legacyTunnel atomic.Bool

	// fleet is the relay's fleet membership; nil when it runs alone.
	fleet *fleet
}

// NewRelay returns a relay.
func NewRelay(o RelayOptions) (*Relay, error) {
	if o.Registry == nil {
		return nil, errors.New("relay: a registry is required")
	}
	if o.Tap == nil {
		o.Tap = record.Discard
	}
	if o.AgentWait <= 0 {
		o.AgentWait = 10 * time.Second
	}
	if o.PollHold <= 0 {
		o.PollHold = pollHold
	}
	if o.PollPrefix == "" {
		o.PollPrefix = "/"
	}
	if !strings.HasSuffix(o.PollPrefix, "/") || !strings.HasPrefix(o.PollPrefix, "/") {
		return nil, fmt.Errorf("relay: poll prefix %q must start and end with /", o.PollPrefix)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.AgentFailWindow <= 0 {
		o.AgentFailWindow = route.DefaultFailWindow
	}
	for _, b := range o.Registry.List() {
		if err := checkRules(b.ID, b.Rules, o.Holds != nil); err != nil {
			if !b.Static {
				return nil, fmt.Errorf("%w; or change its rules (PATCH /api/backends/%s) while the relay runs in a terminal", err, b.ID)
			}
			return nil, err
		}
	}
	r := &Relay{opts: o, pools: map[string]*agentPool{}, closing: make(chan struct{}), closed: make(chan struct{})}
	stages := append(slices.Clip(o.Stages), &backendRules{reg: o.Registry, holds: o.Holds, logger: o.Logger, sets: map[string]*backendSet{}})
	engine, err := proxy.New(proxy.Options{
		TargetName:    "the relay's backends",
		Router:        proxy.RouterFunc(r.route),
		Role:          record.RoleRelay,
		Tap:           o.Tap,
		PreserveHost:  true,
		FlushInterval: o.FlushInterval,
		Stages:        stages,
		Logger:        o.Logger,
		Rewrite:       stripRelayHeaders,
	})
	if err != nil {
		return nil, err
	}
	r.engine = engine
	if o.Fleet != nil {
		if r.fleet, err = newFleet(r, *o.Fleet); err != nil {
			return nil, err
		}
		r.fleet.start()
	}
	return r, nil
}

// backendKey carries the backend chosen for an end-user request (its id)
// from serveEndUser to route.
type backendKey struct{}

// route sends each attempt of a flow to one agent of its backend, picked
// by the backend's pool (waiting up to AgentWait for one): the upstream is
// that agent, named like "agent 2 of web", with the agent's own transport.
// Its Done feeds the agent's passive health; a request the agent did not
// take (it went away first) is tried again on another agent.
func (r *Relay) route(f *proxy.Flow) (*proxy.Upstream, error) {
	id, _ := f.In.Context().Value(backendKey{}).(string)
	if id == "" {
		return nil, errors.New("relay: the request was not routed to a backend")
	}
	if f.Attempt == 1 {
		f.Rec.Mark(record.Mark{Stage: "relay", Name: "backend", Value: id})
	}
	p := r.pool(id)
	m, err := p.pick(f.Out, r.opts.AgentWait, f.Tried)
	if err != nil {
		return nil, err
	}
	// Only a request the agent did not take is tried again (see
	// agentAttempt); a failure once it was sent is final, as without a pool.
	retry := &proxy.RetryPolicy{Tries: 1}
	u := p.members.Upstream(m, retry)
	if passive := u.Done; passive != nil {
		ctx := f.Out.Context()
		u.Done = func(res *http.Response, err error) {
			// Neither a client that went away nor an agent that went
			// away before taking the request is the agent's failure.
			if ctx.Err() == nil && !isNotTaken(err) {
				passive(res, err)
			}
		}
	}
	u.Transport = &agentAttempt{p: p, m: m, retry: retry, attempt: f.Attempt}
	return u, nil
}

// agentAttempt is the transport of one attempt at one agent.
type agentAttempt struct {
	p       *agentPool
	m       *route.Member
	retry   *proxy.RetryPolicy // the attempt's Upstream.Retry
	attempt int                // the flow's Attempt
}

// RoundTrip sends req through the agent's transport. A request the agent
// did not take (a go-away crossed it, its tunnel closed, or a poll request
// was withdrawn for another agent) may be tried again: the engine asks
// route for another agent, unless the request body was already read.
func (t *agentAttempt) RoundTrip(req *http.Request) (*http.Response, error) {
	t.p.inflight.Add(1)
	defer t.p.inflight.Add(-1)
	res, err := t.m.Transport.RoundTrip(req)
	if err == nil {
		return res, nil
	}
	if a, ok := t.m.Value.(*tunnelAgent); ok && errors.Is(err, errGoingAway) {
		t.p.leave(a)
	}
	if isNotTaken(err) {
		// The engine decides on a retry once RoundTrip returns, from this
		// attempt's Upstream.Retry: allow exactly one more attempt.
		t.retry.Tries = t.attempt + 1
	}
	return nil, err
}

// Drain ends held poll calls at once (answering them with no ids), so a
// shutting-down server need not wait for them; tunnels stay up so requests
// in flight can finish.
func (r *Relay) Drain() { r.closeOnce.Do(func() { close(r.closing) }) }

// Close drops every agent connection; requests in flight fail as "tunnel
// lost".
func (r *Relay) Close() {
	r.Drain()
	r.closedOnce.Do(func() { close(r.closed) })
	if r.fleet != nil {
		r.fleet.stop()
	}
	pools := r.poolList()
	for _, p := range pools {
		p.closeAll()
	}
}

// pool returns the agent pool of backend id.
// poolList returns the backends' agent pools as they are now, to work on
// without holding r.mu.
func (r *Relay) poolList() []*agentPool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.pools))
}

func (r *Relay) pool(id string) *agentPool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pools[id]
	if !ok {
		p = newAgentPool(r, id)
		r.pools[id] = p
	}
	return p
}

// Status reports the agents of backend id.
func (r *Relay) Status(id string) AgentPoolStatus { return r.pool(id).status() }

// stripRelayHeaders removes what end users must not pass to agents: the
// poll protocol's and devproxy's own headers (a client could otherwise pose
// as the relay, e.g. forge X-Inverting-Proxy-User-ID), and the credentials
// the relay consumed.
func stripRelayHeaders(pr *httputil.ProxyRequest) {
	for k := range pr.Out.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-inverting-proxy-") || strings.HasPrefix(lk, "x-devproxy-") {
			delete(pr.Out.Header, k)
		}
	}
	if v, _ := pr.In.Context().Value(consumedAuthKey{}).(bool); v {
		pr.Out.Header.Del("Authorization")
	}
}

type consumedAuthKey struct{}

// ServeHTTP dispatches by path: the tunnel endpoint, the poll protocol, the
// admin API, and everything else to the backends.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	switch {
	case path == TunnelPath:
		r.handleTunnel(w, req)
		return
	case path == "/api/backends" || strings.HasPrefix(path, "/api/backends/"):
		r.handleAdmin(w, req, strings.TrimPrefix(path, "/api/backends"))
		return
	case strings.HasPrefix(path, r.opts.PollPrefix+"agent/") && req.Header.Get(HeaderBackendID) != "":
		if r.handlePoll(w, req, strings.TrimPrefix(path, r.opts.PollPrefix)) {
			return
		}
	}
	r.serveEndUser(w, req)
}

func (r *Relay) serveEndUser(w http.ResponseWriter, req *http.Request) {
	b, ok := r.opts.Registry.Route(req.Host, req.URL.Path)
	if !ok {
		proxy.Refuse(r.opts.Tap, record.RoleRelay, w, req, http.StatusNotFound, record.ErrRejected,
			fmt.Sprintf("no backend serves %s%s; register one with POST /api/backends", req.Host, req.URL.Path))
		return
	}
	if !b.Access.Public {
		tok := endUserToken(req)
		if !b.Access.allows(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="devproxy", Basic realm="devproxy"`)
			msg := fmt.Sprintf("backend %q needs an access token: send Authorization: Bearer <token>", b.ID)
			if tok != "" {
				msg = fmt.Sprintf("backend %q: the access token is not valid", b.ID)
			}
			proxy.Refuse(r.opts.Tap, record.RoleRelay, w, req, http.StatusUnauthorized, record.ErrRejected, msg)
			return
		}
		req = req.WithContext(context.WithValue(req.Context(), consumedAuthKey{}, true))
	}
	r.engine.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), backendKey{}, b.ID)))
}

// endUserToken reads a bearer token, or the password (else the user) of
// basic credentials.
func endUserToken(req *http.Request) string {
	auth := req.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	if enc, ok := strings.CutPrefix(auth, "Basic "); ok {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return ""
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		if pass != "" {
			return pass
		}
		return user
	}
	return ""
}

// bearer is the request's bearer token; "" when it has none (or other
// credentials).
func bearer(req *http.Request) string {
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}

// handleTunnel accepts an agent's tunnel: a direct Upgrade to ProtocolH2,
// or a WebSocket carrying HTTP/2 (subprotocol ProtocolH2) or, for agents
// that predate it, yamux. The relay is the client of either protocol.
func (r *Relay) handleTunnel(w http.ResponseWriter, req *http.Request) {
	w.Header().Set(HeaderRelay, "1")
	id := req.Header.Get(HeaderTunnelBackend)
	if !r.authorizeAgent(w, req, id) {
		return
	}
	var conn net.Conn
	var err error
	proto, how := "yamux", carrierWebSocket
	switch {
	case hasToken(req.Header, "Upgrade", ProtocolH2) && !r.legacyTunnel.Load():
		proto, how = ProtocolH2, carrierUpgrade
		conn, err = acceptUpgrade(w, ProtocolH2)
	default:
		opts := &websocket.AcceptOptions{InsecureSkipVerify: true}
		if !r.legacyTunnel.Load() {
			opts.Subprotocols = []string{ProtocolH2}
		}
		var c *websocket.Conn
		if c, err = websocket.Accept(w, req, opts); err != nil {
			return // Accept answered the agent
		}
		if c.Subprotocol() == ProtocolH2 {
			proto = ProtocolH2
		}
		conn = websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	}
	if err != nil {
		return
	}
	var sess relaySession
	hello, secret, announced := r.tunnelHello()
	if proto == ProtocolH2 {
		ctx, cancel := context.WithTimeout(req.Context(), handshakeTimeout)
		sess, err = newH2Session(ctx, conn, r.opts.StreamWindow, hello)
		cancel()
	} else {
		sess, err = newYamuxSession(conn, r.opts.Logger, r.opts.StreamWindow)
	}
	if err != nil {
		conn.Close()
		r.opts.Logger.Warn("agent tunnel failed", "backend", id, "reason", err.Error(), "remote", req.RemoteAddr)
		return
	}
	p := r.pool(id)
	a := &tunnelAgent{sess: sess, since: time.Now(), secret: secret, announced: announced}
	// The agent serves HTTP/1.1 on the byte streams of its tunnel.
	var h1 http.Protocols
	h1.SetHTTP1(true)
	a.transport, err = proxy.NewTransport(proxy.TransportOptions{
		Protocols: &h1,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return a.dial(ctx)
		},
	})
	if err != nil {
		sess.close()
		return
	}
	if sess.native() != nil {
		// Streams carry only upgrades here, which are never reused.
		a.transport.DisableKeepAlives = true
	}
	p.addTunnel(a)
	if r.fleet != nil {
		// The fleet may have changed since the hello.
		go r.announceTo(a)
	}
	r.opts.Logger.Info("agent connected", "backend", id, "transport", "tunnel", "protocol", protocolName(proto), "carrier", string(how), "remote", req.RemoteAddr)
	select {
	case <-sess.done():
	case <-r.closed:
		sess.close()
	}
	p.removeTunnel(a)
	r.opts.Logger.Info("agent disconnected", "backend", id, "transport", "tunnel", "remote", req.RemoteAddr)
}

// authorizeAgent checks that an agent call names a registered backend and
// carries its agent token; otherwise it answers 401 and returns false. The
// answer says whether a token was sent, but an unknown id and a wrong token
// get the same one, so the endpoint does not tell a caller without a token
// which backend ids exist.
func (r *Relay) authorizeAgent(w http.ResponseWriter, req *http.Request, id string) bool {
	tok := bearer(req)
	if r.opts.Registry.CheckAgent(id, tok) {
		return true
	}
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devproxy-agent"`)
		http.Error(w, "devproxy relay: no agent token: an agent sends its backend's agent token (Authorization: Bearer <agentToken>), which the admin API answered when the backend was registered", http.StatusUnauthorized)
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="devproxy-agent", error="invalid_token"`)
	http.Error(w, "devproxy relay: the agent token is wrong, or the backend id is not registered (check the agent's backend id and token)", http.StatusUnauthorized)
	return false
}

// Admin API answers to a request without the admin token, and with a
// wrong one.
const (
	adminTokenMissing = "no admin token: send Authorization: Bearer <admin token> (the relay printed it once, when it first started; or the one given with --admin-token or $DEVPROXY_ADMIN_TOKEN)"
	adminTokenWrong   = "the admin token is wrong: use the one the relay printed once, when it first started, or the one given with --admin-token or $DEVPROXY_ADMIN_TOKEN; lost, restart the relay with --admin-token (or $DEVPROXY_ADMIN_TOKEN) set to a new one: it replaces the stored token (for every relay of a fleet)"
)

// authorizeAdmin checks that an admin API call carries the admin token;
// otherwise it answers 401, saying whether the token is missing or wrong,
// and returns false.
func (r *Relay) authorizeAdmin(w http.ResponseWriter, req *http.Request) bool {
	tok := bearer(req)
	if r.opts.Registry.CheckAdmin(tok) {
		return true
	}
	if tok == "" {
		msg := adminTokenMissing
		if auth := req.Header.Get("Authorization"); auth != "" {
			scheme, _, _ := strings.Cut(auth, " ")
			msg = fmt.Sprintf("no admin token: the Authorization header is %s, not Bearer: send Authorization: Bearer <admin token> (the relay printed it once, when it first started; or the one given with --admin-token or $DEVPROXY_ADMIN_TOKEN)", scheme)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="devproxy-admin"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="devproxy-admin", error="invalid_token"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": adminTokenWrong})
	return false
}

// writeStoreError answers a failed change of the registry: 503 while the
// registry is read-only (its PostgreSQL is away; a retry later works),
// else 500.
func writeStoreError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrReadOnly) {
		w.Header().Set("Retry-After", "10")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error() + "; try again once it is back"})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}

// handlePoll serves the poll protocol; it returns false for paths that are
// not agent calls (they go to the backends like any request).
func (r *Relay) handlePoll(w http.ResponseWriter, req *http.Request, sub string) bool {
	var fn func(http.ResponseWriter, *http.Request, *agentPool)
	switch {
	case sub == PendingPath && req.Method == http.MethodGet:
		fn = r.handlePending
	case sub == RequestPath && req.Method == http.MethodGet:
		fn = r.handleRequest
	case sub == ResponsePath && req.Method == http.MethodPost:
		fn = r.handleResponse
	default:
		return false
	}
	w.Header().Set(HeaderRelay, "1")
	if r.fleet != nil {
		// The poll transport reaches only this relay (the agent warns).
		w.Header().Set(HeaderFleetSize, strconv.Itoa(r.fleet.size()))
	}
	id := req.Header.Get(HeaderBackendID)
	if !r.authorizeAgent(w, req, id) {
		return true
	}
	if sub != PendingPath && !validRequestID(req.Header.Get(HeaderRequestID)) {
		http.Error(w, "devproxy relay: missing or invalid "+HeaderRequestID, http.StatusBadRequest)
		return true
	}
	fn(w, req, r.pool(id))
	return true
}

// backendView is a backend as the admin API shows it.
type backendView struct {
	Backend
	Status AgentPoolStatus `json:"status"`
	// Relays are, in a fleet, the relays that hold the backend's agents.
	Relays []RelayAgents `json:"relays,omitempty"`
}

func (r *Relay) handleAdmin(w http.ResponseWriter, req *http.Request, rest string) {
	if !r.authorizeAdmin(w, req) {
		return
	}
	id := strings.TrimPrefix(rest, "/")
	switch {
	case id == "" && req.Method == http.MethodGet:
		out := []backendView{}
		for _, b := range r.opts.Registry.List() {
			out = append(out, r.view(b))
		}
		writeJSON(w, http.StatusOK, out)
	case id == "" && req.Method == http.MethodPost:
		var in struct {
			ID           string          `json:"id"`
			PathPrefixes []string        `json:"pathPrefixes"`
			Hosts        []string        `json:"hosts"`
			Access       json.RawMessage `json:"access"`
			AgentAuth    string          `json:"agentAuth"`
			Rules        []string        `json:"rules"`
		}
		if !decodeAdminBody(w, req, &in) {
			return
		}
		access, err := parseAccess(in.Access)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := checkRules(in.ID, in.Rules, r.opts.Holds != nil); err != nil {
			writeRulesError(w, err)
			return
		}
		nb := Backend{ID: in.ID, PathPrefixes: in.PathPrefixes, Hosts: in.Hosts, Access: access, AgentAuth: in.AgentAuth, Rules: in.Rules}
		if err := nb.validate(); err != nil {
			writeRulesError(w, err) // what was asked for is wrong: 400
			return
		}
		tok, err := r.opts.Registry.Create(nb)
		switch {
		case errors.Is(err, ErrExists):
			writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf("backend %q already exists; DELETE /api/backends/%s first", in.ID, in.ID)})
		case err != nil:
			writeStoreError(w, err) // the registry failed: 503 while read-only, else 500
		default:
			b, _ := r.opts.Registry.Get(in.ID)
			r.opts.Logger.Info("relay: backend registered through the admin API; its agent token is in the answer", "backend", in.ID, "path_prefixes", strings.Join(b.PathPrefixes, " "), "remote", req.RemoteAddr)
			writeJSON(w, http.StatusCreated, map[string]string{"id": in.ID, "agentToken": tok})
		}
	case id != "" && req.Method == http.MethodGet:
		b, ok := r.opts.Registry.Get(id)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no backend %q", id)})
			return
		}
		writeJSON(w, http.StatusOK, r.view(b))
	case id != "" && req.Method == http.MethodPatch:
		r.patchBackend(w, req, id)
	case id != "" && req.Method == http.MethodDelete:
		err := r.opts.Registry.Delete(id)
		switch {
		case errors.Is(err, ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no backend %q", id)})
		case errors.Is(err, ErrStatic):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case err != nil:
			writeStoreError(w, err)
		default:
			r.mu.Lock()
			p := r.pools[id]
			r.mu.Unlock()
			if p != nil {
				p.closeAll()
			}
			r.opts.Logger.Info("relay: backend deleted through the admin API", "backend", id, "remote", req.RemoteAddr)
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		w.Header().Set("Allow", "GET, POST, PATCH, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST /api/backends, GET, PATCH or DELETE /api/backends/{id}"})
	}
}

// view is backend b as the admin API shows it; no rules show as [].
func (r *Relay) view(b Backend) backendView {
	if b.Rules == nil {
		b.Rules = []string{}
	}
	v := backendView{Backend: b, Status: r.Status(b.ID)}
	if r.fleet != nil {
		v.Relays = r.fleet.holders(b.ID)
	}
	return v
}

// patchBackend changes a backend's rules: PATCH /api/backends/{id} with
// {"rules": ["…", …]} ([] removes them). It answers the backend as changed.
func (r *Relay) patchBackend(w http.ResponseWriter, req *http.Request, id string) {
	var in struct {
		Rules *[]string `json:"rules"`
	}
	if !decodeAdminBody(w, req, &in) {
		return
	}
	if in.Rules == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `give the backend's rules: {"rules": ["path:/x => status 418"]}, or {"rules": []} to remove them`})
		return
	}
	if err := checkRules(id, *in.Rules, r.opts.Holds != nil); err != nil {
		writeRulesError(w, err)
		return
	}
	err := r.opts.Registry.SetRules(id, *in.Rules)
	var re *rules.Error
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no backend %q", id)})
	case errors.Is(err, ErrStatic):
		writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf("backend %q is declared in the config file; change its rules there and restart the relay", id)})
	case errors.As(err, &re):
		writeRulesError(w, err)
	case err != nil:
		writeStoreError(w, err)
	default:
		b, _ := r.opts.Registry.Get(id)
		writeJSON(w, http.StatusOK, r.view(b))
	}
}

// checkRules parses backend id's rules and refuses a breakpoint when the
// relay has no UI to hold exchanges in (holds false).
func checkRules(id string, texts []string, holds bool) error {
	rs, err := parseRules(id, texts)
	if err != nil {
		return err
	}
	return checkBreakpoints(id, rs, holds)
}

// writeRulesError answers 400 with err; when it is about a rule, the
// answer also has "rule" (its number, from 1) and "column" (from 1, when
// the problem is at one place in the rule's text).
func writeRulesError(w http.ResponseWriter, err error) {
	out := map[string]any{"error": err.Error()}
	var re *rules.Error
	if errors.As(err, &re) {
		var n int
		if _, serr := fmt.Sscanf(re.Rule, "rule %d", &n); serr == nil {
			out["rule"] = n
		}
		if re.Col > 0 {
			out["column"] = re.Col
		}
	}
	writeJSON(w, http.StatusBadRequest, out)
}

// maxAdminBody caps an admin API request body.
const maxAdminBody = 1 << 20

// decodeAdminBody reads exactly one JSON object from the body into v; on
// failure it answers (413 over the cap, else 400) and returns false.
func decodeAdminBody(w http.ResponseWriter, req *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Anything but white space after the object is a mistake (two
		// objects, a truncated paste), not something to ignore.
		var tooBig *http.MaxBytesError
		if _, terr := dec.Token(); errors.As(terr, &tooBig) {
			err = terr
		} else if terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body is too large: the limit is %d bytes (1 MiB)", tooBig.Limit)})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be one JSON object like {\"id\":\"web\",\"pathPrefixes\":[\"/\"]}: " + err.Error()})
	}
	return false
}

// WaitForAgent blocks until an agent of backend id takes requests (over a
// tunnel or by polling), or ctx ends.
func (r *Relay) WaitForAgent(ctx context.Context, id string) error {
	return r.pool(id).waitAgent(ctx)
}

// Replayer replays the relay's recorded exchanges through the backend that
// serves them now (routing by the recorded host and path).
func (r *Relay) Replayer(rec record.Getter) *RelayReplayer {
	return &RelayReplayer{r: r, rec: rec}
}

// RelayReplayer sends recorded relay exchanges again, as new exchanges.
type RelayReplayer struct {
	r   *Relay
	rec record.Getter
}

// route finds the backend that serves exchange id now and returns a
// context that sends the replay there.
func (rr *RelayReplayer) route(ctx context.Context, id uint64) (context.Context, error) {
	x, ok := rr.rec.Get(id)
	if !ok {
		return nil, fmt.Errorf("replay #%d: the exchange is no longer recorded", id)
	}
	u, err := url.Parse(x.Request.URL)
	if err != nil {
		return nil, fmt.Errorf("replay #%d: %v", id, err)
	}
	b, ok := rr.r.opts.Registry.Route(x.Request.Host, u.Path)
	if !ok {
		return nil, fmt.Errorf("replay #%d: no backend serves %s%s any more", id, x.Request.Host, u.Path)
	}
	return context.WithValue(ctx, backendKey{}, b.ID), nil
}

// Replay re-sends exchange id.
func (rr *RelayReplayer) Replay(ctx context.Context, id uint64) (uint64, error) {
	ctx, err := rr.route(ctx, id)
	if err != nil {
		return 0, err
	}
	return proxy.NewReplayer(rr.r.engine, rr.rec).Replay(ctx, id)
}

// ReplayRaw sends edited request text as a replay of id.
func (rr *RelayReplayer) ReplayRaw(ctx context.Context, id uint64, raw []byte) (uint64, error) {
	ctx, err := rr.route(ctx, id)
	if err != nil {
		return 0, err
	}
	return proxy.NewReplayer(rr.r.engine, rr.rec).ReplayRaw(ctx, id, raw)
}
