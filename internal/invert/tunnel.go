package invert

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/devproxy/devproxy/internal/proxy"
)

// The native tunnel. The agent dials the relay and asks on TunnelPath for
// one connection that carries the relay's requests back to it. What the
// connection carries is a protocol; how it gets there is a carrier.
//
// Protocols:
//
//   - ProtocolH2, reversed HTTP/2: the relay is the HTTP/2 client and sends
//     each end-user request as a stream, the agent is the HTTP/2 server
//     (cloudflared's design). Flow control, multiplexing, trailers and
//     cancellation come from the standard library. A request that needs a
//     byte stream (an Upgrade, such as a WebSocket) travels as HTTP/1.1
//     inside a CONNECT stream (h2stream.go).
//   - yamux, devproxy's first tunnel protocol: HTTP/1.1 on yamux streams.
//     Relays still serve it to agents that predate HTTP/2, and agents
//     speak it to relays that predate it.
//
// Carriers:
//
//   - an HTTP/1.1 Upgrade (Upgrade: devproxy-h2), after which the protocol
//     runs on the connection itself, framed once;
//   - a WebSocket, for ways to the relay that pass WebSocket and nothing
//     else: the agent offers ProtocolH2 as the subprotocol; a relay that
//     picks none speaks yamux (carrier.go).
//
// The agent tries the Upgrade first and falls back to a WebSocket; see
// Agent.dialTunnel.

// ProtocolH2 names reversed HTTP/2 on the tunnel: the Upgrade token of a
// direct tunnel, and the WebSocket subprotocol of one over a WebSocket.
const ProtocolH2 = "devproxy-h2"

// HeaderTunnel marks the relay's own requests on an HTTP/2 tunnel: "hello"
// (the first request, answered by the agent itself) and "stream" (a CONNECT
// for a byte stream). The relay strips X-Devproxy-* headers from end-user
// requests, so no end user can send either.
const HeaderTunnel = "X-Devproxy-Tunnel"

// StreamWindow is the default receive window per stream. yamux's own
// default, 256 KiB, caps a stream at window/RTT (frp#2987); 4 MiB keeps
// bulk transfers fast over long round trips. The receiver may buffer a
// window per stream, so a process with a memory budget sets a smaller one
// (RelayOptions and AgentOptions.StreamWindow).
const StreamWindow = 4 << 20

// minStreamWindow is the smallest window per stream either end uses.
const minStreamWindow = 256 << 10

// streamWindow is the window per stream for a configured value (0: the
// default).
func streamWindow(w uint32) uint32 {
	if w == 0 {
		w = StreamWindow
	}
	return max(w, minStreamWindow)
}

// windowsPerConn is how many stream windows an HTTP/2 tunnel's connection
// window holds: the most a receiver buffers for all its streams together
// (yamux has no such bound). A reader that stops holds its stream's window
// of the connection's, so the connection stalls only when this many
// streams are full at once.
const windowsPerConn = 64

// tunnelConn is one byte stream of a tunnel on the relay side. When the
// tunnel under it dies, errors say the tunnel was lost, so exchanges are
// recorded that way.
type tunnelConn struct {
	net.Conn
	lost func() bool
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, lostErr(err, c.lost)
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, lostErr(err, c.lost)
}

// lostErr marks err as proxy.ErrTunnelLost when the tunnel is gone.
func lostErr(err error, lost func() bool) error {
	if err != nil && lost() && !errors.Is(err, proxy.ErrTunnelLost) {
		return fmt.Errorf("%w: %v", proxy.ErrTunnelLost, err)
	}
	return err
}

// notifyConn is a tunnel's connection that says when it is closed, by
// either protocol's implementation or by a failure.
type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func newNotifyConn(c net.Conn) *notifyConn {
	return &notifyConn{Conn: c, closed: make(chan struct{})}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

func (c *notifyConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// oneConnListener hands out one connection, then blocks until closed: how
// an http.Server serves the tunnel's connection.
type oneConnListener struct {
	conn   net.Conn
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conn: c, ch: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.ch <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

// readBufConn reads its connection through a buffer, so that one read
// takes the small frames the peer sent together (large payloads still go
// straight to the reader).
type readBufConn struct {
	net.Conn
	r *bufio.Reader
}

// tunnelReadBuffer is the agent's read buffer on an HTTP/2 tunnel.
const tunnelReadBuffer = 64 << 10

func newReadBufConn(c net.Conn) *readBufConn {
	return &readBufConn{Conn: c, r: bufio.NewReaderSize(c, tunnelReadBuffer)}
}

func (c *readBufConn) Read(p []byte) (int, error) { return c.r.Read(p) }
