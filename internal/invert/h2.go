package invert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
)

// Reversed HTTP/2 (ProtocolH2): the agent dialled the connection, the relay
// is the HTTP/2 client on it and the agent the server. Both ends use the
// standard library's HTTP/2 (net/http's Transport.NewClientConn and a
// Server with unencrypted HTTP/2), so flow control, multiplexing, trailers
// and cancellation are its.

// Keepalive: each end pings after h2PingAfter without a frame from the
// other and drops the tunnel when the answer takes over h2PingTimeout, so
// a dead peer is found within about ten seconds, as with yamux.
const (
	h2PingAfter    = 5 * time.Second
	h2PingTimeout  = 5 * time.Second
	h2WriteTimeout = 30 * time.Second
	// h2FrameSize is the largest DATA frame each end accepts: big frames
	// cost fewer headers and writes for large bodies. Both ends advertise
	// it, so each sends frames up to it.
	h2FrameSize = 256 << 10
	// h2MaxStreams is the agent's limit on concurrent streams: none to
	// speak of (yamux had none), since the relay, which the agent chose
	// and authenticated, decides what it sends. The relay counts on it:
	// an HTTP/2 tunnel with no stream available has had a go-away.
	h2MaxStreams = 1 << 20
)

// h2Config is both ends' HTTP/2 configuration for a window per stream.
func h2Config(window uint32) *http.HTTP2Config {
	w := int(streamWindow(window))
	return &http.HTTP2Config{
		MaxConcurrentStreams:          h2MaxStreams,
		MaxReadFrameSize:              h2FrameSize,
		MaxReceiveBufferPerStream:     w,
		MaxReceiveBufferPerConnection: w * windowsPerConn,
		SendPingTimeout:               h2PingAfter,
		PingTimeout:                   h2PingTimeout,
		WriteByteTimeout:              h2WriteTimeout,
	}
}

func unencryptedH2() *http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}

// h2Session is the relay's end of an HTTP/2 tunnel.
type h2Session struct {
	conn *notifyConn
	cc   *http.ClientConn
	// limit is the concurrency the agent allows (Available+InFlight once
	// its settings arrived). With fewer requests in flight than that and
	// none available, the agent sent a go-away.
	limit int
}

// newH2Session starts the HTTP/2 client on conn and waits, up to ctx, for
// the agent's answer to a first request (the hello, with the headers in
// hello): the agent speaks HTTP/2 on it, and its settings are in.
func newH2Session(ctx context.Context, conn net.Conn, window uint32, hello http.Header) (*h2Session, error) {
	nc := newNotifyConn(conn)
	tr := &http.Transport{
		Protocols:          unencryptedH2(),
		DialContext:        func(context.Context, string, string) (net.Conn, error) { return nc, nil },
		DisableCompression: true,
		HTTP2:              h2Config(window),
		// IdleConnTimeout 0: an idle tunnel is kept.
	}
	cc, err := tr.NewClientConn(ctx, "http", "agent.invalid:80")
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &h2Session{conn: nc, cc: cc}
	stop := context.AfterFunc(ctx, func() { cc.Close() })
	defer stop()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent.invalid/", nil)
	for k, v := range hello {
		req.Header[k] = v
	}
	req.Header.Set(HeaderTunnel, "hello")
	res, err := cc.RoundTrip(req)
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("the agent did not answer over HTTP/2: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		cc.Close()
		return nil, fmt.Errorf("the agent answered the tunnel's first request with %s", res.Status)
	}
	s.limit = cc.Available() + cc.InFlight()
	return s, nil
}

func (s *h2Session) lost() bool { return s.conn.isClosed() || s.cc.Err() != nil }

func (s *h2Session) native() http.RoundTripper { return h2RoundTripper{s} }
func (s *h2Session) isClosed() bool            { return s.lost() }
func (s *h2Session) takes() bool               { return !s.goingAway() }
func (s *h2Session) done() <-chan struct{}     { return s.conn.closed }
func (s *h2Session) close()                    { s.cc.Close(); s.conn.Close() }

// goingAway reports whether the agent sent a go-away (or the tunnel is
// gone): it takes no new streams.
func (s *h2Session) goingAway() bool {
	return s.lost() || s.cc.Available() == 0 && s.cc.InFlight() < s.limit
}

// h2RoundTripper sends requests as HTTP/2 streams. Errors and broken
// bodies after the tunnel dropped are proxy.ErrTunnelLost.
type h2RoundTripper struct{ s *h2Session }

func (t h2RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.s.goingAway() {
		return nil, errGoingAway
	}
	res, err := t.s.cc.RoundTrip(req)
	if err != nil {
		if !t.s.lost() && t.s.goingAway() {
			// The go-away crossed the request: the agent refused its
			// stream, or it was never opened.
			return nil, fmt.Errorf("%w: %v", errGoingAway, err)
		}
		return nil, lostErr(err, t.s.lost)
	}
	res.Body = &h2Body{ReadCloser: res.Body, s: t.s}
	return res, nil
}

// h2Body is a response body from the tunnel. It reads ahead, up to
// h2ReadAhead at a time: Go's HTTP/2 client returns flow-control credit
// (a WINDOW_UPDATE, a write on the relay and a read on the agent) on every
// read of 4 KiB or more, and the proxy engine reads 32 KiB at a time. The
// buffer is taken on the first read and given back at the end.
type h2Body struct {
	io.ReadCloser
	s    *h2Session
	buf  *[]byte
	r, w int
	err  error
}

// h2ReadAhead is the most a response body reads from the tunnel at once:
// a WINDOW_UPDATE per frame (up to h2FrameSize) instead of per 32 KiB, for
// a buffer per response being read (from a pool).
const h2ReadAhead = 256 << 10

var h2ReadAheadPool = sync.Pool{New: func() any { b := make([]byte, h2ReadAhead); return &b }}

func (b *h2Body) Read(p []byte) (int, error) {
	if b.r == b.w {
		if b.err != nil {
			return 0, b.err
		}
		if b.buf == nil {
			b.buf = h2ReadAheadPool.Get().(*[]byte)
		}
		n, err := b.ReadCloser.Read(*b.buf)
		b.r, b.w = 0, n
		if err != nil {
			if err != io.EOF {
				err = lostErr(err, b.s.lost)
			}
			b.err = err
			b.release()
			if n == 0 {
				return 0, err
			}
		}
	}
	n := copy(p, (*b.buf)[b.r:b.w])
	b.r += n
	if b.r == b.w && b.err != nil {
		b.release()
		return n, b.err
	}
	return n, nil
}

// release gives the buffer back once it is drained.
func (b *h2Body) release() {
	if b.buf != nil && b.r == b.w {
		h2ReadAheadPool.Put(b.buf)
		b.buf = nil
	}
}

func (b *h2Body) Close() error {
	err := b.ReadCloser.Close()
	b.r, b.w = 0, 0
	b.release()
	return err
}

// openStream opens a byte stream to the agent's HTTP/1.1 server: a CONNECT
// stream, which the agent accepts before it reads anything from it.
func (s *h2Session) openStream(ctx context.Context) (net.Conn, error) {
	if s.goingAway() {
		if s.lost() {
			return nil, errTunnelClosed
		}
		return nil, errGoingAway
	}
	pr, pw := io.Pipe()
	// The stream lives until closed, beyond ctx, which bounds only the wait
	// for the agent's answer.
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	req, _ := http.NewRequestWithContext(sctx, http.MethodConnect, "http://stream.invalid", pr)
	req.Host = "stream.invalid"
	req.Header.Set(HeaderTunnel, "stream")
	req.ContentLength = -1
	res, err := s.cc.RoundTrip(req)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err == nil && res.StatusCode != http.StatusOK {
		res.Body.Close()
		err = fmt.Errorf("the agent refused a stream: %s", res.Status)
	}
	if err != nil {
		cancel()
		pw.Close()
		if !s.lost() && s.goingAway() {
			return nil, errGoingAway
		}
		return nil, lostErr(err, s.lost)
	}
	c := &relayStream{body: res.Body, pw: pw, cancel: cancel, local: s.conn.LocalAddr(), remote: s.conn.RemoteAddr()}
	return &tunnelConn{Conn: c, lost: s.lost}, nil
}

// h2Server is the agent's end of an HTTP/2 tunnel. Requests go to the
// agent's handler, CONNECT streams to an HTTP/1.1 server with the same
// handler (for upgrades).
type h2Server struct {
	conn *notifyConn
	// requests serves the relay's requests: the agent's handler behind a
	// coalescingWriter, on pooled goroutines.
	requests http.Handler
	workers  *handlerPool
	h2       *http.Server
	h1       *http.Server
	streams  *streamListener
	// goAway sees the server's GOAWAY go out (h2goaway.go).
	goAway *goAwayWatch
	// control answers the relay's own requests, the hello and fleet
	// announcements (agentfleet.go); nil: the hello gets 204.
	control http.HandlerFunc
	// lose ends the requests' base context with its cause (see lostConn).
	lose context.CancelCauseFunc
}

// lostConn calls lose with the first error a read of the tunnel gets,
// before the HTTP/2 server hears of it and ends the requests in flight, so
// that they end with that cause.
type lostConn struct {
	net.Conn
	lose func(error)
}

func (c *lostConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.lose(err)
	}
	return n, err
}

func newH2Server(conn net.Conn, o *AgentOptions) *h2Server {
	errLog := slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	// Go's HTTP/2 server reads frames straight from its connection: two
	// reads for each small frame (a header, then the payload) without a
	// buffer under it. The client has its own.
	// The requests' contexts end with a cause the engine records when the
	// tunnel breaks under them: the relay, or the way to it, went away.
	base, lose := context.WithCancelCause(context.Background())
	lost := &lostConn{Conn: conn, lose: func(err error) {
		lose(&proxy.ClientLostError{Reason: "the tunnel to the relay broke before the response was complete (" + err.Error() + ")"})
	}}
	s := &h2Server{goAway: newGoAwayWatch(newReadBufConn(lost)), streams: newStreamListener(conn), workers: newHandlerPool(), lose: lose}
	s.conn = newNotifyConn(s.goAway)
	s.requests = coalesced{o.Handler}
	s.h2 = &http.Server{
		BaseContext: func(net.Listener) context.Context { return base },
		Handler:     s,
		Protocols:   unencryptedH2(),
		HTTP2:       h2Config(o.StreamWindow),
		ErrorLog:    errLog,
		// No IdleTimeout: an idle tunnel is kept.
	}
	s.h1 = &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           o.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	return s
}

func (s *h2Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Header.Get(HeaderTunnel) {
	case "":
		s.workers.serve(s.requests, w, r)
	case "hello", "fleet":
		if s.control != nil {
			s.control(w, r)
		} else if r.Header.Get(HeaderTunnel) == "hello" {
			w.WriteHeader(http.StatusNoContent)
		} else {
			http.Error(w, "devproxy agent: no fleet here", http.StatusNotFound)
		}
	case "stream":
		if r.Method != http.MethodConnect {
			http.Error(w, "devproxy agent: a stream is a CONNECT", http.StatusBadRequest)
			return
		}
		s.serveStream(w, r)
	default:
		http.Error(w, "devproxy agent: unknown "+HeaderTunnel, http.StatusBadRequest)
	}
}

// serveStream answers a CONNECT and hands the stream to the HTTP/1.1
// server; the stream lasts until that server (or whoever hijacked the
// connection from it) closes it.
func (s *h2Server) serveStream(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	c := newAgentStream(w, r, s.conn)
	if !s.streams.push(c) {
		return // shutting down
	}
	select {
	case <-c.closed:
	case <-r.Context().Done():
		c.Close()
	}
	c.wait()
}

func (s *h2Server) serve() {
	go s.h1.Serve(s.streams)
	go s.h2.Serve(newOneConnListener(s.conn))
	<-s.conn.closed
	s.close()
}

func (s *h2Server) done() <-chan struct{} { return s.conn.closed }

// shutdown: a go-away (the relay sends nothing new), then the requests in
// flight finish, HTTP/1.1 streams among them; streams that were upgraded
// (WebSockets) are ended once the others are done, as with yamux. The
// connection closes when nothing is left.
func (s *h2Server) shutdown(ctx context.Context) error {
	errs := make(chan error, 1)
	go func() {
		err := s.h1.Shutdown(ctx)
		s.streams.closeAll()
		errs <- err
	}()
	err := s.h2.Shutdown(ctx)
	err = errors.Join(err, <-errs)
	s.close()
	return err
}

func (s *h2Server) close() {
	s.lose(&proxy.ClientLostError{Reason: "the agent stopped before the response was complete"})
	goAwayFirst(s.h2, s.goAway, s.conn.closed)
	s.workers.close()
	s.conn.Close()
	s.h2.Close()
	s.h1.Close()
	s.streams.closeAll()
}
