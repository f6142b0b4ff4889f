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

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/devproxy/devproxy/internal/proxy"
)

// Mode is how an agent reaches its relay (the agent's --transport flag).
type Mode string

// Modes.
const (
	ModeTunnel Mode = "tunnel" // yamux over one WebSocket (default)
	ModePoll   Mode = "poll"   // the reference inverting-proxy long-poll protocol
	ModeAuto   Mode = "auto"   // tunnel, falling back to poll when the relay has no tunnel
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
	// Mode is tunnel, poll or auto. Default tunnel.
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
}

// Agent runs beside a private backend: it dials out to the relay and serves
// the requests the relay sends back through its Handler, reconnecting
// forever with backoff. Run serves; Shutdown stops it gracefully.
type Agent struct {
	opts   AgentOptions
	client *http.Client // to the relay (poll calls, WebSocket handshake)
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

	mu      sync.Mutex
	state   string
	tunnel  *liveTunnel        // the tunnel being served, if any
	stopRun context.CancelFunc // cancels Run's context (the hard stop)
	running chan struct{}      // closed when Run returns; nil before Run
}

// liveTunnel is a connected tunnel and the server on its streams.
type liveTunnel struct {
	sess *yamux.Session
	srv  *http.Server
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
	case ModeTunnel, ModePoll, ModeAuto:
	default:
		return nil, &proxy.OptionError{Option: "Mode", Err: fmt.Errorf("agent: transport %q: use tunnel, poll or auto", o.Mode)}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
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
	return &Agent{opts: o, client: &http.Client{Transport: tr}, name: hex.EncodeToString(name[:]), state: "starting", drain: drain, startDrain: startDrain}, nil
}

// Status describes the connection to the relay, for the UI header.
func (a *Agent) Status() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

func (a *Agent) setState(s string, attrs ...any) { a.setStateLog(s, true, attrs...) }

// setStateLog records the state; it is logged only when asked and changed.
func (a *Agent) setStateLog(s string, log bool, attrs ...any) {
	a.mu.Lock()
	changed := a.state != s
	a.state = s
	a.mu.Unlock()
	if changed && log {
		a.opts.Logger.Info("agent: "+s, a.where(attrs...)...)
	}
}

// where puts the relay and the backend in front of attrs, for the log.
func (a *Agent) where(attrs ...any) []any {
	return append([]any{"relay", a.opts.Relay.String(), "backend", a.opts.Backend}, attrs...)
}

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

// Run connects and serves until ctx ends or Shutdown is called,
// reconnecting with exponential backoff (fast first retries, capped at 30 s,
// with jitter). When ctx ends, requests in flight are cancelled; Shutdown
// lets them finish first. Run is called once.
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	// Poll calls and handshakes leave keep-alive connections behind.
	defer a.client.CloseIdleConnections()
	a.mu.Lock()
	a.stopRun, a.running = stop, done
	a.mu.Unlock()
	mode := a.opts.Mode
	bo := newBackoff(100*time.Millisecond, 30*time.Second, 0.2)
	failures := 0 // attempts in a row that ended without a connection
	for ctx.Err() == nil && a.drain.Err() == nil {
		var err error
		var up time.Duration
		switch mode {
		case ModePoll:
			a.setState("polling relay (poll transport)")
			err = a.runPoll(ctx)
		default:
			a.setStateLog("connecting to relay", false)
			up, err = a.runTunnel(ctx)
			if errors.Is(err, errNoTunnel) && mode == ModeAuto {
				a.opts.Logger.Info("agent: relay has no native tunnel; falling back to the poll transport", "reason", err)
				mode = ModePoll
				continue
			}
		}
		if ctx.Err() != nil || a.drain.Err() != nil {
			break
		}
		reason := cause(err)
		if up > 0 {
			failures = 0
			a.opts.Logger.Warn("agent: disconnected from the relay", a.where("reason", reason, "connected_for", up.Round(time.Second).String())...)
		}
		failures++
		if up > 10*time.Second {
			bo.Reset()
		}
		wait := bo.Next()
		level := slog.LevelWarn
		if errors.Is(err, ErrAgentRejected) {
			wait = max(wait, 5*time.Second)
			level = slog.LevelError
		}
		wait = wait.Round(100 * time.Millisecond)
		a.setStateLog(fmt.Sprintf("disconnected: %s; retrying in %s", reason, wait), false)
		a.opts.Logger.Log(ctx, level, "agent: retrying", "retry_in", wait.String(), "reason", reason, "attempt", failures)
		select {
		case <-ctx.Done():
		case <-a.drain.Done():
		case <-time.After(wait):
		}
	}
	a.setState("stopped")
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
	t, stop, done := a.tunnel, a.stopRun, a.running
	a.mu.Unlock()
	if done == nil {
		return nil // Run was never called
	}
	var err error
	if t != nil {
		// The relay opens no more streams on this tunnel, and any that
		// cross the go-away are refused.
		_ = t.sess.GoAway()
	}
	a.setState("shutting down: finishing the requests in flight")
	if t != nil {
		// Waits for the requests on the tunnel, closing each connection
		// once its response is done.
		err = t.srv.Shutdown(ctx)
		t.sess.Close()
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

// tunnelURL is the relay's WebSocket endpoint.
func (a *Agent) tunnelURL() string {
	u := *a.opts.Relay
	u.Path = strings.TrimSuffix(u.Path, "/") + TunnelPath
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	return u.String()
}

// runTunnel opens the WebSocket, runs yamux over it as the server side, and
// serves HTTP on the streams the relay opens, until the tunnel drops. It
// returns how long the tunnel was up.
func (a *Agent) runTunnel(ctx context.Context) (time.Duration, error) {
	sessCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := http.Header{}
	a.authorize(h)
	h.Set(HeaderTunnelBackend, a.opts.Backend)
	// A relay of the reference implementation treats a request without its
	// backend header as an end user's and would queue it for some agent;
	// with the header and an unknown request id it answers 404 at once, so
	// auto mode can fall back. Our relay routes by path and ignores both.
	h.Set(HeaderBackendID, a.opts.Backend)
	h.Set(HeaderRequestID, "devproxy-tunnel-probe")
	handshake := time.AfterFunc(10*time.Second, cancel)
	stopDrainWatch := context.AfterFunc(a.drain, cancel) // Shutdown ends a handshake
	c, res, err := websocket.Dial(sessCtx, a.tunnelURL(), &websocket.DialOptions{HTTPClient: a.client, HTTPHeader: h})
	stopped := handshake.Stop()
	if !stopDrainWatch() {
		if err == nil {
			c.CloseNow()
		}
		return 0, errors.New("shutting down")
	}
	if err != nil {
		ours := res != nil && res.Header.Get(HeaderRelay) != ""
		switch {
		case ours && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusNotFound):
			return 0, fmt.Errorf("%w: %s", ErrAgentRejected, responseText(res))
		case res != nil:
			return 0, fmt.Errorf("%w: HTTP %d", errNoTunnel, res.StatusCode)
		case !stopped && ctx.Err() == nil:
			return 0, fmt.Errorf("%w: no answer to the WebSocket handshake in 10s", errNoTunnel)
		}
		return 0, err
	}
	conn := coalesce(websocket.NetConn(sessCtx, c, websocket.MessageBinary))
	sess, err := yamux.Server(conn, yamuxConfig(a.opts.Logger, a.opts.StreamWindow))
	if err != nil {
		conn.Close()
		return 0, err
	}
	srv := &http.Server{
		Handler:           a.opts.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.opts.Logger.Handler(), slog.LevelWarn),
	}
	// Registered under the lock Shutdown takes: either Shutdown sees this
	// tunnel and drains it, or this sees that Shutdown began.
	a.mu.Lock()
	if a.drain.Err() != nil {
		a.mu.Unlock()
		sess.Close()
		return 0, errors.New("shutting down")
	}
	a.tunnel = &liveTunnel{sess: sess, srv: srv}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.tunnel = nil
		a.mu.Unlock()
	}()
	start := time.Now()
	a.setStateLog(fmt.Sprintf("connected to relay (tunnel) since %s", start.Format("15:04:05")), false)
	a.opts.Logger.Info("agent: connected to the relay", a.where("transport", "tunnel")...)
	go func() {
		select {
		case <-ctx.Done():
			sess.Close()
		case <-sess.CloseChan():
		}
	}()
	if err := srv.Serve(newTunnelListener(sess)); errors.Is(err, http.ErrServerClosed) {
		// Shutdown began: it closes the session once the requests in
		// flight are done (or ctx ends).
		<-sess.CloseChan()
	}
	sess.Close()
	srv.Close() // connections still open (a dropped tunnel) end now
	return time.Since(start), errors.New("tunnel closed")
}

// tunnelListener is the tunnel as the agent's http.Server sees it. Its Close
// stops Accept but leaves the session open: http.Server.Shutdown closes its
// listener first and then waits for the requests in flight, which need the
// session. Whoever ends the tunnel closes the session.
type tunnelListener struct {
	*yamux.Session
	closed    chan struct{}
	closeOnce sync.Once
}

func newTunnelListener(s *yamux.Session) *tunnelListener {
	return &tunnelListener{Session: s, closed: make(chan struct{})}
}

type accepted struct {
	c   net.Conn
	err error
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Session.Accept()
		ch <- accepted{c, err}
	}()
	select {
	case a := <-ch:
		return a.c, a.err
	case <-l.closed:
		// The goroutine above ends when the session closes; a stream it
		// still gets is refused.
		go func() {
			if a := <-ch; a.c != nil {
				a.c.Close()
			}
		}()
		return nil, net.ErrClosed
	}
}

func (l *tunnelListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
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
