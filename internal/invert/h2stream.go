package invert

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Byte streams on an HTTP/2 tunnel. A request that needs the connection
// itself (an Upgrade: a WebSocket) cannot be an HTTP/2 request, so the
// relay opens a CONNECT stream and speaks HTTP/1.1 in it, as it would on a
// yamux stream; the agent serves HTTP/1.1 on the stream with its handler,
// which can hijack it like any connection.

// errGoingAway: the agent said it takes no new requests (a go-away); the
// request was not sent.
var errGoingAway = errors.New("the agent is going away")

// errTunnelClosed: the tunnel closed before the request was sent.
var errTunnelClosed = errors.New("the tunnel is closed")

// relayStream is a byte stream on the relay's side: writes go into the
// CONNECT request's body, reads come from its response's.
type relayStream struct {
	body          io.ReadCloser
	pw            *io.PipeWriter
	cancel        func()
	local, remote net.Addr
	once          sync.Once
}

func (c *relayStream) Read(p []byte) (int, error)  { return c.body.Read(p) }
func (c *relayStream) Write(p []byte) (int, error) { return c.pw.Write(p) }

func (c *relayStream) Close() error {
	c.once.Do(func() {
		c.pw.Close()
		c.body.Close()
		c.cancel()
	})
	return nil
}

// CloseWrite ends the relay's side of the stream.
func (c *relayStream) CloseWrite() error { return c.pw.Close() }

func (c *relayStream) LocalAddr() net.Addr  { return c.local }
func (c *relayStream) RemoteAddr() net.Addr { return c.remote }

// Deadlines are not supported on the relay's streams; nothing on the relay
// sets them (the HTTP/1.1 transport uses timers).
func (c *relayStream) SetDeadline(time.Time) error      { return nil }
func (c *relayStream) SetReadDeadline(time.Time) error  { return nil }
func (c *relayStream) SetWriteDeadline(time.Time) error { return nil }

// agentStream is a byte stream on the agent's side: reads come from the
// CONNECT request's body, writes go out as its response's, each flushed.
//
// Its read deadlines are its own: an HTTP/2 stream's read deadline, once
// passed, ends the stream's body for good, where net/http's HTTP/1.1
// server sets a deadline in the past to interrupt a read and then reads
// on. So each read runs on a goroutine of its own, and when the deadline
// passes (or is set in the past) first, its bytes go to the next read.
// (Streams carry upgrades only; requests are HTTP/2 streams.)
type agentStream struct {
	body          io.ReadCloser
	w             http.ResponseWriter
	rc            *http.ResponseController
	local, remote net.Addr

	// mu is held by a write in progress: the handler must not return
	// while one is, and writes after Close must not reach w.
	mu      sync.Mutex
	isShut  bool
	closed  chan struct{}
	closing sync.Once

	rmu      sync.Mutex      // one Read at a time; guards the fields below
	pending  chan readResult // a read a timed-out Read started, if any
	leftover []byte          // bytes of a finished read not yet returned
	rerr     error           // the error after leftover
	dmu      sync.Mutex      // guards deadline and dchange
	deadline time.Time       // for reads
	dchange  chan struct{}   // closed when the deadline changes
}

type readResult struct {
	b   []byte
	err error
}

func newAgentStream(w http.ResponseWriter, r *http.Request, tunnel net.Conn) *agentStream {
	return &agentStream{
		body: r.Body, w: w, rc: http.NewResponseController(w),
		local: tunnel.LocalAddr(), remote: tunnel.RemoteAddr(),
		closed: make(chan struct{}), dchange: make(chan struct{}),
	}
}

func (c *agentStream) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.leftover) > 0 || c.rerr != nil {
		n := copy(p, c.leftover)
		c.leftover = c.leftover[n:]
		if len(c.leftover) > 0 {
			return n, nil
		}
		err := c.rerr
		c.rerr = nil
		return n, err
	}
	for {
		c.dmu.Lock()
		deadline, changed := c.deadline, c.dchange
		c.dmu.Unlock()
		if c.pending == nil {
			ch := make(chan readResult, 1)
			buf := make([]byte, len(p))
			go func() {
				n, err := c.body.Read(buf)
				ch <- readResult{buf[:n], err}
			}()
			c.pending = ch
		}
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expired = t.C
		}
		select {
		case r := <-c.pending:
			c.pending = nil
			n := copy(p, r.b)
			if c.leftover = r.b[n:]; len(c.leftover) > 0 {
				c.rerr = r.err
				return n, nil
			}
			return n, r.err
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-changed:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
}

func (c *agentStream) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isShut {
		return 0, net.ErrClosed
	}
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	return n, err
}

// Close ends the stream: the CONNECT handler returns once no write is in
// progress. A write blocked on the relay (flow control) is cut short.
func (c *agentStream) Close() error {
	c.closing.Do(func() {
		close(c.closed)
		if !c.mu.TryLock() {
			_ = c.rc.SetWriteDeadline(time.Now())
			c.mu.Lock()
		}
		c.isShut = true
		c.mu.Unlock()
	})
	return nil
}

// wait returns once the stream is closed and no write is in progress; the
// handler may then return.
func (c *agentStream) wait() {
	<-c.closed
	c.mu.Lock()
	c.isShut = true
	c.mu.Unlock()
}

func (c *agentStream) LocalAddr() net.Addr  { return c.local }
func (c *agentStream) RemoteAddr() net.Addr { return c.remote }

func (c *agentStream) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *agentStream) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.deadline = t
	close(c.dchange)
	c.dchange = make(chan struct{})
	return nil
}

// SetWriteDeadline does nothing: nothing on the agent sets one on a stream
// (the HTTP/1.1 server has no WriteTimeout here), and the HTTP/2 stream's
// own would reset the stream when it passed.
func (c *agentStream) SetWriteDeadline(time.Time) error { return nil }

// streamListener hands the agent's HTTP/1.1 server the streams the relay
// opens, and keeps them until they close, so shutdown can end the ones
// still open (upgraded connections, which the server no longer tracks).
type streamListener struct {
	addr    net.Addr
	ch      chan *agentStream
	mu      sync.Mutex
	live    map[*agentStream]bool
	shut    bool
	stopped chan struct{}
}

func newStreamListener(tunnel net.Conn) *streamListener {
	return &streamListener{addr: tunnel.LocalAddr(), ch: make(chan *agentStream), live: map[*agentStream]bool{}, stopped: make(chan struct{})}
}

// push hands c to the server; false when the listener is closed (c is then
// closed too).
func (l *streamListener) push(c *agentStream) bool {
	l.mu.Lock()
	if l.shut {
		l.mu.Unlock()
		c.Close()
		return false
	}
	l.live[c] = true
	l.mu.Unlock()
	go func() {
		<-c.closed
		l.mu.Lock()
		delete(l.live, c)
		l.mu.Unlock()
	}()
	select {
	case l.ch <- c:
		return true
	case <-l.stopped:
		c.Close()
		return false
	}
}

func (l *streamListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.stopped:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; open streams go on (http.Server.Shutdown closes its
// listener, then waits for their requests).
func (l *streamListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.shut {
		l.shut = true
		close(l.stopped)
	}
	return nil
}

// closeAll closes the listener and every stream still open.
func (l *streamListener) closeAll() {
	l.Close()
	l.mu.Lock()
	live := make([]*agentStream, 0, len(l.live))
	for c := range l.live {
		live = append(live, c)
	}
	l.mu.Unlock()
	for _, c := range live {
		c.Close()
	}
}

func (l *streamListener) Addr() net.Addr { return l.addr }
