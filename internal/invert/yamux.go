package invert

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// yamux, devproxy's first tunnel protocol: the relay is the yamux client
// and opens a stream per upstream connection; the agent serves HTTP/1.1 on
// the streams it accepts.

// yamuxConfig is shared by both ends: keepalives find a dead peer within
// about ten seconds. yamux's own messages (a failed keepalive, a broken
// frame) go to logger. window is the receive window per stream (0:
// StreamWindow).
func yamuxConfig(logger *slog.Logger, window uint32) *yamux.Config {
	c := yamux.DefaultConfig()
	c.MaxStreamWindowSize = streamWindow(window)
	c.EnableKeepAlive = true
	c.KeepAliveInterval = 5 * time.Second
	c.ConnectionWriteTimeout = 5 * time.Second
	c.StreamOpenTimeout = 10 * time.Second
	c.StreamCloseTimeout = time.Minute
	c.AcceptBacklog = 512
	c.LogOutput = nil
	c.Logger = yamuxLog{logger}
	return c
}

// yamuxLog turns yamux's printf lines ("[ERR] yamux: keepalive failed: …")
// into records: warnings for its errors and warnings, else information.
type yamuxLog struct{ l *slog.Logger }

func (y yamuxLog) Print(v ...any)                 { y.log(fmt.Sprint(v...)) }
func (y yamuxLog) Printf(format string, v ...any) { y.log(fmt.Sprintf(format, v...)) }
func (y yamuxLog) Println(v ...any)               { y.log(fmt.Sprintln(v...)) }

func (y yamuxLog) log(msg string) {
	msg = strings.TrimSpace(msg)
	level := slog.LevelInfo
	for _, tag := range []string{"[ERR] ", "[WARN] "} {
		if rest, ok := strings.CutPrefix(msg, tag); ok {
			msg, level = rest, slog.LevelWarn
		}
	}
	y.l.Log(context.Background(), level, msg)
}

// yamux frame header: version, type, flags (2), stream id (4), length (4).
const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

// coalescer joins each yamux data-frame header with the body written right
// after it, so one frame is one write (one WebSocket message, one syscall)
// instead of two. yamux writes from a single send loop, header then body.
type coalescer struct {
	net.Conn
	mu  sync.Mutex
	hdr []byte
	buf []byte
}

func coalesce(c net.Conn) net.Conn { return &coalescer{Conn: c} }

func (c *coalescer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hdr) == 0 {
		if len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:12]) > 0 {
			c.hdr = append(c.hdr[:0], p...) // a body follows
			return len(p), nil
		}
		return c.Conn.Write(p)
	}
	c.buf = append(append(c.buf[:0], c.hdr...), p...)
	c.hdr = c.hdr[:0]
	n, err := c.Conn.Write(c.buf)
	return max(n-yamuxHeaderSize, 0), err
}

// yamuxSession is the relay's end of a yamux tunnel.
type yamuxSession struct{ s *yamux.Session }

func newYamuxSession(conn net.Conn, logger *slog.Logger, window uint32) (*yamuxSession, error) {
	s, err := yamux.Client(coalesce(conn), yamuxConfig(logger, window))
	if err != nil {
		return nil, err
	}
	return &yamuxSession{s}, nil
}

func (y *yamuxSession) openStream(context.Context) (net.Conn, error) {
	st, err := y.s.Open()
	if errors.Is(err, yamux.ErrRemoteGoAway) {
		return nil, errGoingAway
	}
	if err != nil {
		return nil, err
	}
	return &tunnelConn{Conn: st, lost: y.s.IsClosed}, nil
}

func (y *yamuxSession) native() http.RoundTripper { return nil }
func (y *yamuxSession) isClosed() bool            { return y.s.IsClosed() }
func (y *yamuxSession) takes() bool               { return !y.s.IsClosed() }
func (y *yamuxSession) done() <-chan struct{}     { return y.s.CloseChan() }
func (y *yamuxSession) close()                    { y.s.Close() }

// goingAway reports whether the agent sent a go-away, which yamux tells
// only when a stream is opened (so takes does not ask).
func (y *yamuxSession) goingAway() bool {
	st, err := y.s.Open()
	if err == nil {
		st.Close()
		return false
	}
	return errors.Is(err, yamux.ErrRemoteGoAway) || y.s.IsClosed()
}

// yamuxServer is the agent's end of a yamux tunnel: an http.Server on the
// streams the relay opens.
type yamuxServer struct {
	sess *yamux.Session
	srv  *http.Server
}

func newYamuxServer(conn net.Conn, o *AgentOptions) (*yamuxServer, error) {
	sess, err := yamux.Server(coalesce(conn), yamuxConfig(o.Logger, o.StreamWindow))
	if err != nil {
		return nil, err
	}
	return &yamuxServer{sess: sess, srv: &http.Server{
		Handler:           o.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}}, nil
}

func (y *yamuxServer) serve() {
	if err := y.srv.Serve(newYamuxListener(y.sess)); errors.Is(err, http.ErrServerClosed) {
		// Shutdown began: it closes the session once the requests in
		// flight are done (or its context ends).
		<-y.sess.CloseChan()
	}
	y.close()
}

func (y *yamuxServer) shutdown(ctx context.Context) error {
	// The relay opens no more streams on this tunnel, and any that cross
	// the go-away are refused.
	_ = y.sess.GoAway()
	// Waits for the requests on the tunnel, closing each connection once
	// its response is done.
	err := y.srv.Shutdown(ctx)
	y.sess.Close()
	return err
}

func (y *yamuxServer) close() {
	y.sess.Close()
	y.srv.Close() // connections still open (a dropped tunnel) end now
}

func (y *yamuxServer) done() <-chan struct{} { return y.sess.CloseChan() }

// yamuxListener is the tunnel as the agent's http.Server sees it. Its Close
// stops Accept but leaves the session open: http.Server.Shutdown closes its
// listener first and then waits for the requests in flight, which need the
// session. Whoever ends the tunnel closes the session.
type yamuxListener struct {
	*yamux.Session
	closed    chan struct{}
	closeOnce sync.Once
}

func newYamuxListener(s *yamux.Session) *yamuxListener {
	return &yamuxListener{Session: s, closed: make(chan struct{})}
}

type accepted struct {
	c   net.Conn
	err error
}

func (l *yamuxListener) Accept() (net.Conn, error) {
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

func (l *yamuxListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}
