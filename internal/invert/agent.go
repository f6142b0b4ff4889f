package invert

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
)

// Mode is how an agent reaches its relay (the agent's --transport flag).
type Mode string

// Modes.
const (
	// ModeTunnel: the native tunnel, reversed HTTP/2 over an HTTP/1.1
	// Upgrade, or over a WebSocket where the way to the relay passes
	// nothing else; yamux over a WebSocket with a relay that predates
	// HTTP/2 tunnels. The default.
	ModeTunnel Mode = "tunnel"
	// ModeWebSocket: the native tunnel over a WebSocket from the start, for
	// ways to the relay that hold an unknown Upgrade rather than refuse it.
	ModeWebSocket Mode = "websocket"
	// ModePoll: the reference inverting-proxy long-poll protocol.
	ModePoll Mode = "poll"
	// ModeAuto: the tunnel, falling back to poll when the relay has none.
	ModeAuto Mode = "auto"

	// ModeYamux is devproxy's first tunnel, yamux over a WebSocket, as
	// agents before HTTP/2 tunnels speak it: for tests and benchmarks of
	// the relay's compatibility with them (a tunnel agent falls back to it
	// by itself with a relay that predates HTTP/2 tunnels).
	ModeYamux Mode = "yamux"
)

// AgentOptions configure an Agent.
type AgentOptions struct {
	// Relay is the relay's base URL, e.g. https://relay.example.com/ (a path
	// prefix is allowed; a trailing "/" is added).
	Relay *url.URL
	// Backend is the backend id this agent serves.
	Backend string
	// Token is the backend's agent token (optional against a relay that
	// does not ask, such as the reference relay).
	Token string
	// Mode is tunnel, websocket, poll or auto (or one of the modes for
	// tests and benchmarks). Default tunnel.
	Mode Mode
	// Handler serves the requests that arrive: devproxy's proxy engine in
	// front of the private backend. Required.
	Handler http.Handler
	// RelayCAFile and RelayInsecure control verification of an https relay.
	RelayCAFile   string
	RelayInsecure bool
	// Logger receives connection state changes. Default slog.Default().
	Logger *slog.Logger
	// StreamWindow is the tunnel's receive window per stream: how much of
	// each request body the agent may buffer before its backend reads it.
	// Default StreamWindow; at least 256 KiB.
	StreamWindow uint32
	// RejectGrace is how long the relay at Relay may go on rejecting the
	// agent's credentials (at least three attempts in a row) before Run
	// gives up with a *RejectedError: a relay of a fleet may not yet know a
	// backend that another registered a moment ago. Rejections by the
	// other relays of a fleet are logged, never fatal. Default 10s.
	RejectGrace time.Duration
}

// Agent runs beside a private backend: it dials out to the relay and serves
// the requests the relay sends back through its Handler, reconnecting
// with backoff (until the relay goes on rejecting its credentials: see
// RejectGrace). Run serves; Shutdown stops it gracefully.
type Agent struct {
	opts   AgentOptions
	client *http.Client // to the relay (poll calls)
	// handshake opens the tunnel: HTTP/1.1, a new connection each time.
	handshake *http.Client
	// webSocketOnly is set once the direct upgrade failed where a
	// WebSocket then worked: later tunnels go straight to the WebSocket.
	webSocketOnly atomic.Bool
	// name tells this agent's poll calls from those of the backend's other
	// agents (HeaderAgent).
	name string

	// drain ends when Shutdown begins: from then on no new request is
	// taken, and Run does not reconnect.
	drain      context.Context
	startDrain context.CancelFunc
	// devproxyRelay is set once a poll answer shows the relay is devproxy's,
	// which understands HeaderDraining.
	devproxyRelay atomic.Bool

	// entry is the link to the relay at Relay (--proxy, perhaps a load
	// balancer): the only link of an agent whose relay runs alone, and in
	// a fleet the way to learn the fleet (agentfleet.go).
	entry *relayLink

	mu      sync.Mutex
	stopRun context.CancelFunc // cancels Run's context (the hard stop)
	running chan struct{}      // closed when Run returns; nil before Run
	runCtx  context.Context    // Run's context, for the links it starts
	// links are the tunnels to the fleet's relays, by URL; fleet is the
	// fleet as last announced (empty: the relay runs alone).
	links       map[string]*relayLink
	fleet       []FleetMember
	linksWG     sync.WaitGroup
	changed     chan struct{} // closed and replaced when a link changes
	pollFleet   int           // fleet size a poll answer announced
	skippedURLs map[string]bool
	// accepted is when a link last connected (any relay took the agent's
	// credentials), so that the entry's rejections are not fatal while
	// the fleet's relays accept them.
	accepted time.Time
}

// agentTunnel is the agent's end of a connected tunnel: a server of the
// relay's requests.
type agentTunnel interface {
	// serve serves until the tunnel ends.
	serve()
	// shutdown takes no new requests, waits for those in flight (up to
	// ctx), then ends the tunnel.
	shutdown(ctx context.Context) error
	// close ends the tunnel now.
	close()
	// done is closed when the tunnel ends.
	done() <-chan struct{}
}

// NewAgent validates o and returns an Agent.
func NewAgent(o AgentOptions) (*Agent, error) {
	if o.Relay == nil || o.Relay.Host == "" {
		return nil, &proxy.OptionError{Option: "Relay", Err: errors.New("agent: the relay URL is required, e.g. https://relay.example.com/")}
	}
	if o.Relay.Scheme != "http" && o.Relay.Scheme != "https" {
		return nil, &proxy.OptionError{Option: "Relay", Err: fmt.Errorf("agent: relay URL %q must be http:// or https://", o.Relay)}
	}
	if o.Backend == "" {
		return nil, &proxy.OptionError{Option: "Backend", Err: errors.New("agent: the backend id is required")}
	}
	if o.Handler == nil {
		return nil, errors.New("agent: a handler is required")
	}
	switch o.Mode {
	case "":
		o.Mode = ModeTunnel
	case ModeTunnel, ModeWebSocket, ModePoll, ModeAuto, ModeYamux:
	default:
		return nil, &proxy.OptionError{Option: "Mode", Err: fmt.Errorf("agent: transport %q: use tunnel, websocket, poll or auto", o.Mode)}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RejectGrace <= 0 {
		o.RejectGrace = defaultRejectGrace
	}
	u := *o.Relay
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	o.Relay = &u
	tlsConf := &tls.Config{InsecureSkipVerify: o.RelayInsecure} //nolint:gosec // only when asked for
	if o.RelayCAFile != "" {
		pool, err := proxy.LoadCAPool(o.RelayCAFile)
		if err != nil {
			return nil, &proxy.OptionError{Option: "RelayCAFile", Err: fmt.Errorf("relay CA file %w", err)}
		}
		tlsConf.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment, // the way out may need a corporate proxy
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0,
		DisableCompression:    true,
	}
	drain, startDrain := context.WithCancel(context.Background())
	var name [8]byte
	_, _ = rand.Read(name[:])
	a := &Agent{opts: o, client: &http.Client{Transport: tr}, handshake: upgradeClient(tr), name: hex.EncodeToString(name[:]), drain: drain, startDrain: startDrain,
		links: map[string]*relayLink{}, changed: make(chan struct{}), skippedURLs: map[string]bool{}}
	a.entry = a.newLink(o.Relay, true)
	return a, nil
}

// setState records the entry link's state and logs it when it changed.
func (a *Agent) setState(s string, attrs ...any) { a.entry.setStateLog(s, true, attrs...) }

// where puts the relay and the backend in front of attrs, for the log.
func (a *Agent) where(attrs ...any) []any { return a.entry.where(attrs...) }

func (a *Agent) authorize(h http.Header) {
	if a.opts.Token != "" {
		h.Set("Authorization", "Bearer "+a.opts.Token)
	}
}

// errNoTunnel: the relay does not offer the native tunnel (e.g. the
// reference relay); auto mode falls back to polling.
var errNoTunnel = errors.New("the relay does not offer the devproxy tunnel")

// ErrAgentRejected is returned when the relay refuses the agent's
// credentials; retrying will not help until the token is fixed.
var ErrAgentRejected = errors.New("the relay rejected the agent")

// defaultRejectGrace is AgentOptions.RejectGrace's default, and
// rejectAttempts how many rejections in a row it takes at least.
const (
	defaultRejectGrace = 10 * time.Second
	rejectAttempts     = 3
)

// RejectedError is Run's error when the relay at AgentOptions.Relay went
// on rejecting the agent's credentials (see RejectGrace): its agent token
// is missing or wrong, or the relay has no such backend. It wraps
// ErrAgentRejected; its message says how to get a token.
type RejectedError struct {
	// Relay is the relay's URL (AgentOptions.Relay) and Backend the
	// backend id the agent serves.
	Relay, Backend string
	// NoToken says the agent sent no agent token.
	NoToken bool
	// Answer is what the relay answered, last time.
	Answer string
	// Attempts and For are how many attempts in a row it rejected, for
	// how long.
	Attempts int
	For      time.Duration
	// Devproxy says the relay is devproxy's, with its admin API (not the
	// reference inverting proxy's relay, which the poll transport reaches).
	Devproxy bool
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	if e.NoToken {
		fmt.Fprintf(&b, "the relay at %s rejects the agent of backend %q: no agent token was given, and the backend needs one", e.Relay, e.Backend)
	} else {
		fmt.Fprintf(&b, "the relay at %s rejects the agent token of backend %q: the token is wrong, or the relay has no backend %q", e.Relay, e.Backend, e.Backend)
	}
	fmt.Fprintf(&b, " (%d attempts in %s; it answered %q)", e.Attempts, e.For.Round(100*time.Millisecond), e.Answer)
	if !e.Devproxy {
		b.WriteString("\n  the relay is not devproxy's: give the agent the credentials it expects (--token, or $DEVPROXY_TOKEN)")
		return b.String()
	}
	api := strings.TrimSuffix(e.Relay, "/") + "/api/backends"
	b.WriteString("\n  the agent token is in the relay's answer to the admin API call that registered the backend (shown once);")
	b.WriteString("\n  for a new one, register the backend again (as it was: pathPrefixes, hosts, access, rules), with the admin token:")
	fmt.Fprintf(&b, "\n    curl -s -X DELETE -H \"Authorization: Bearer $ADMIN_TOKEN\" %s/%s", api, e.Backend)
	fmt.Fprintf(&b, "\n    curl -s -H \"Authorization: Bearer $ADMIN_TOKEN\" -d '{\"id\":\"%s\",\"pathPrefixes\":[\"/\"]}' %s", e.Backend, api)
	b.WriteString("\n  then pass its agentToken with --token (or $DEVPROXY_TOKEN); a backend declared in the relay's config file (backends:) has its agentToken (or agentTokenEnv) there")
	return b.String()
}

// Unwrap makes errors.Is(err, ErrAgentRejected) true.
func (e *RejectedError) Unwrap() error { return ErrAgentRejected }

// rejections counts a link's attempts in a row that the relay rejected.
type rejections struct {
	since    time.Time
	attempts int
}

// add counts a rejection at now. It returns the error that ends the agent
// once the relay at --proxy has rejected it for RejectGrace and at least
// rejectAttempts times, while no relay took the agent meanwhile; else
// nil, and how long the grace has left (the next attempt comes no later).
func (r *rejections) add(a *Agent, err error, viaPoll bool, now time.Time) (left time.Duration, fatal error) {
	a.mu.Lock()
	accepted, connected := a.accepted, a.connectedLocked()
	a.mu.Unlock()
	if r.attempts == 0 || accepted.After(r.since) || connected {
		// A relay of the fleet took the agent meanwhile: its token is
		// good there, and this relay may just not know it yet.
		r.since, r.attempts = now, 0
	}
	r.attempts++
	elapsed := now.Sub(r.since)
	if r.attempts < rejectAttempts || elapsed < a.opts.RejectGrace {
		return max(a.opts.RejectGrace-elapsed, 0), nil
	}
	answer := strings.TrimPrefix(err.Error(), ErrAgentRejected.Error()+": ")
	return 0, &RejectedError{
		Relay: a.opts.Relay.String(), Backend: a.opts.Backend, NoToken: a.opts.Token == "", Answer: answer,
		Attempts: r.attempts, For: elapsed, Devproxy: !viaPoll || a.devproxyRelay.Load(),
	}
}

// Run connects and serves until ctx ends or Shutdown is called,
// reconnecting with exponential backoff (fast first retries, capped at 30 s,
// with jitter). When the relay announces a fleet, Run keeps a tunnel to
// each of its relays too, each reconnecting on its own (agentfleet.go).
// When ctx ends, requests in flight are cancelled; Shutdown lets them
// finish first; either way Run returns nil. A relay at Relay that goes on
// rejecting the agent's credentials (see RejectGrace) ends Run with a
// *RejectedError: retrying cannot help. Run is called once.
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	// Poll calls and handshakes leave keep-alive connections behind.
	defer a.client.CloseIdleConnections()
	defer a.handshake.CloseIdleConnections()
	a.mu.Lock()
	a.stopRun, a.running, a.runCtx = stop, done, ctx
	a.mu.Unlock()
	err := a.entry.run(ctx)
	if err != nil {
		stop() // the fleet's links too
	}
	// The entry link ends with ctx or Shutdown, and so do the others.
	a.linksWG.Wait()
	a.setState("stopped")
	return err
}

// connectedLocked reports whether any link's tunnel is up. Callers hold mu.
func (a *Agent) connectedLocked() bool {
	for _, l := range a.allLinksLocked() {
		if l.connected {
			return true
		}
	}
	return false
}

// run connects and serves until ctx ends or the link drains, reconnecting
// with backoff. The entry link stands by while the fleet's relays are
// served over their own links. Only the entry link returns an error: a
// *RejectedError once its relay went on rejecting the agent's credentials.
func (l *relayLink) run(ctx context.Context) error {
	a := l.a
	mode := a.opts.Mode
	if !l.entry && (mode == ModePoll || mode == ModeAuto) {
		mode = ModeTunnel // fleets are announced over tunnels only
	}
	bo := newBackoff(100*time.Millisecond, 30*time.Second, 0.2)
	failures := 0 // attempts in a row that ended without a connection
	var rejected rejections
	for ctx.Err() == nil && l.drain.Err() == nil {
		if l.entry && mode != ModePoll {
			if changed, standBy := a.entryStandsBy(); standBy {
				l.setStateLog("standing by: the fleet's relays are served over their own links", false)
				select {
				case <-ctx.Done():
				case <-l.drain.Done():
				case <-changed:
				}
				failures = 0
				rejected = rejections{}
				bo.Reset()
				continue
			}
		}
		var err error
		var up time.Duration
		switch mode {
		case ModePoll:
			l.setState("polling relay (poll transport)")
			err = a.runPoll(ctx)
		default:
			l.setStateLog("connecting to relay", false)
			up, err = l.runTunnel(ctx)
			if errors.Is(err, errNoTunnel) && mode == ModeAuto {
				a.opts.Logger.Info("agent: relay has no native tunnel; falling back to the poll transport", "reason", err)
				mode = ModePoll
				continue
			}
		}
		if ctx.Err() != nil || l.drain.Err() != nil {
			break
		}
		reason := cause(err)
		if up > 0 {
			failures = 0
			rejected = rejections{}
			a.opts.Logger.Warn("agent: disconnected from the relay", l.where("reason", reason, "connected_for", up.Round(time.Second).String())...)
		}
		if l.retired() {
			continue // it handed its relay over to that relay's own link
		}
		failures++
		if up > 10*time.Second {
			bo.Reset()
		}
		wait := bo.Next()
		level := slog.LevelWarn
		switch {
		case errors.Is(err, ErrAgentRejected):
			// A relay of a fleet may not know a backend registered on
			// another a moment ago: the first retries come soon.
			if failures > 2 {
				wait = max(wait, 5*time.Second)
			}
			level = slog.LevelError
			if l.entry {
				// The relay at --proxy goes on rejecting the token, and
				// no other takes it: retrying cannot help.
				left, fatal := rejected.add(a, err, mode == ModePoll, time.Now())
				if fatal != nil {
					l.setStateLog("stopped: the relay rejects the agent token", false)
					return fatal
				}
				wait = min(wait, left)
			}
		default:
			rejected = rejections{}
		}
		wait = wait.Round(100 * time.Millisecond)
		l.setStateLog(fmt.Sprintf("disconnected: %s; retrying in %s", reason, wait), false)
		a.opts.Logger.Log(ctx, level, "agent: retrying", l.where("retry_in", wait.String(), "reason", reason, "attempt", failures)...)
		select {
		case <-ctx.Done():
		case <-l.drain.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// Shutdown stops the agent gracefully: it takes no new requests (the relay
// sends them to other agents of the backend, or holds them until one
// connects), lets the requests in flight finish, then closes its connection
// to the relay and makes Run return. When ctx ends first, the requests still
// in flight are cancelled and Shutdown returns ctx's error.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.startDrain()
	var tunnels []agentTunnel
	for _, l := range a.allLinksLocked() {
		if l.tunnel != nil {
			tunnels = append(tunnels, l.tunnel)
		}
	}
	stop, done := a.stopRun, a.running
	a.mu.Unlock()
	if done == nil {
		return nil // Run was never called
	}
	a.setState("shutting down: finishing the requests in flight")
	// A go-away on each tunnel: the relays send no more requests on it
	// (any that cross it are refused, and they send them elsewhere);
	// those in flight finish, then the tunnels close.
	errs := make(chan error, len(tunnels))
	for _, t := range tunnels {
		go func() { errs <- t.shutdown(ctx) }()
	}
	var err error
	for range tunnels {
		err = errors.Join(err, <-errs)
	}
	select {
	case <-done: // poll requests finished too
	case <-ctx.Done():
		err = ctx.Err()
	}
	stop()
	<-done
	return err
}

// runTunnel opens the tunnel and serves the requests the relay sends on
// it, until the tunnel drops. It returns how long the tunnel was up.
func (l *relayLink) runTunnel(ctx context.Context) (time.Duration, error) {
	a := l.a
	hctx, cancel := context.WithCancel(ctx)
	stopDrainWatch := context.AfterFunc(l.drain, cancel) // Shutdown ends a handshake
	conn, proto, how, err := a.dialTunnel(hctx, l.url)
	cancel()
	if !stopDrainWatch() {
		if err == nil {
			conn.Close()
		}
		return 0, errors.New("shutting down")
	}
	if err != nil {
		return 0, err
	}
	var t agentTunnel
	opts := a.opts
	opts.Handler = l.counted(a.opts.Handler)
	switch proto {
	case ProtocolH2:
		srv := newH2Server(conn, &opts)
		srv.control = l.control()
		t = srv
	default:
		if t, err = newYamuxServer(conn, &opts); err != nil {
			conn.Close()
			return 0, err
		}
	}
	// Registered under the lock Shutdown takes: either Shutdown sees this
	// tunnel and drains it, or this sees that Shutdown began.
	a.mu.Lock()
	if l.drain.Err() != nil {
		a.mu.Unlock()
		t.close()
		return 0, errors.New("shutting down")
	}
	l.tunnel = t
	l.retiring = false
	a.mu.Unlock()
	start := time.Now()
	l.setConnected(true, start)
	defer l.setConnected(false, start)
	defer func() {
		a.mu.Lock()
		l.tunnel = nil
		a.mu.Unlock()
	}()
	a.opts.Logger.Info("agent: connected to the relay", l.where("transport", "tunnel", "protocol", protocolName(proto), "carrier", string(how))...)
	stop := context.AfterFunc(ctx, t.close)
	defer stop()
	t.serve()
	if n := l.inflight.Load(); n > 0 {
		a.opts.Logger.Warn("agent: the tunnel to the relay was lost with requests in flight; they failed, recorded as lost with the tunnel", l.where("requests", n)...)
	}
	return time.Since(start), errors.New("tunnel closed")
}

// protocolName names a tunnel protocol for logs.
func protocolName(proto string) string {
	if proto == ProtocolH2 {
		return "http2"
	}
	return "yamux"
}

// dialTunnel opens the tunnel's connection to the relay at base and says
// which protocol it speaks and how it got there. In tunnel mode the direct
// upgrade comes first; when anything on the way refuses it (or the relay
// predates it), a WebSocket follows, and later tunnels start there once it
// worked. Over the WebSocket, a relay that picks no subprotocol speaks
// yamux.
func (a *Agent) dialTunnel(ctx context.Context, base *url.URL) (net.Conn, string, carrier, error) {
	switch a.opts.Mode {
	case ModeYamux:
		conn, _, err := a.dialCarrier(ctx, base, carrierWebSocket, nil)
		return conn, "yamux", carrierWebSocket, err
	}
	var upgradeErr error
	if a.opts.Mode != ModeWebSocket && !a.webSocketOnly.Load() {
		conn, _, err := a.dialCarrier(ctx, base, carrierUpgrade, []string{ProtocolH2})
		if err == nil || errors.Is(err, ErrAgentRejected) || ctx.Err() != nil {
			return conn, ProtocolH2, carrierUpgrade, err
		}
		upgradeErr = err
	}
	conn, proto, err := a.dialCarrier(ctx, base, carrierWebSocket, []string{ProtocolH2})
	if err != nil {
		return nil, "", "", err
	}
	where := append([]any{"relay", base.String()}, "backend", a.opts.Backend)
	if errors.Is(upgradeErr, errNoTunnel) {
		// Refused or held on the way, where a WebSocket passes: not a
		// passing failure, so later tunnels start with the WebSocket.
		a.webSocketOnly.Store(true)
		a.opts.Logger.Info("agent: the direct upgrade did not reach the relay; the tunnel goes over a WebSocket from now on", append(where, "reason", cause(upgradeErr))...)
	}
	if proto != ProtocolH2 {
		proto = "yamux"
		a.opts.Logger.Info("agent: the relay predates HTTP/2 tunnels; speaking yamux over the WebSocket (upgrade the relay for faster transfers)", where...)
	}
	return conn, proto, carrierWebSocket, nil
}

// dialCarrier opens one carrier to the relay at base, offering protocols
// (the Upgrade token; the WebSocket's subprotocols), within
// handshakeTimeout. It returns the protocol the relay chose. A relay
// without the tunnel, or an answer other than the upgrade, is errNoTunnel.
func (a *Agent) dialCarrier(ctx context.Context, base *url.URL, how carrier, protocols []string) (net.Conn, string, error) {
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var conn net.Conn
	var proto string
	var err error
	if how == carrierUpgrade {
		proto = protocols[0]
		conn, err = a.dialUpgrade(hctx, base, proto)
	} else {
		conn, proto, err = a.dialWebSocket(hctx, base, protocols)
	}
	var refused *errRefused
	switch {
	case err == nil:
		return conn, proto, nil
	case errors.As(err, &refused):
		return nil, "", fmt.Errorf("%w: %s answered %v", errNoTunnel, how, refused)
	case hctx.Err() != nil && ctx.Err() == nil:
		return nil, "", fmt.Errorf("%w: no answer to the %s handshake in %s", errNoTunnel, how, handshakeTimeout)
	}
	return nil, "", err
}

// cause is the innermost message of a connection error ("connection
// refused"), without the layers of dial and handshake wrapping.
func cause(err error) string {
	if errors.Is(err, ErrAgentRejected) || errors.Is(err, errNoTunnel) {
		return err.Error()
	}
	msg := err.Error()
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		msg = u.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "cannot reach the relay: " + msg
	}
	return msg
}

func responseText(res *http.Response) string {
	if res.Body == nil {
		return res.Status
	}
	b := make([]byte, 512)
	n, _ := res.Body.Read(b)
	s := strings.TrimSpace(string(b[:n]))
	s = strings.TrimPrefix(s, "devproxy relay: ")
	if s == "" {
		return res.Status
	}
	return s
}
