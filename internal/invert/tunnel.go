package invert

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/hashicorp/yamux"
)

// StreamWindow is the default yamux per-stream receive window. yamux's own
// default, 256 KiB, caps a stream at window/RTT (frp#2987); 4 MiB keeps
// bulk transfers fast over long round trips. The receiver may buffer a
// window per stream, so a process with a memory budget sets a smaller one
// (RelayOptions and AgentOptions.StreamWindow).
const StreamWindow = 4 << 20

// yamuxConfig is shared by both ends: keepalives find a dead peer within
// about ten seconds. yamux's own messages (a failed keepalive, a broken
// frame) go to logger. window is the receive window per stream (0:
// StreamWindow).
func yamuxConfig(logger *slog.Logger, window uint32) *yamux.Config {
	c := yamux.DefaultConfig()
	if window == 0 {
		window = StreamWindow
	}
	c.MaxStreamWindowSize = max(window, 256<<10)
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

// tunnelConn is one yamux stream on the relay side. When the session under it
// dies, errors say the tunnel was lost, so exchanges are recorded that way.
type tunnelConn struct {
	net.Conn
	sess *yamux.Session
}

func (c *tunnelConn) wrap(err error) error {
	if err != nil && c.sess.IsClosed() && !errors.Is(err, proxy.ErrTunnelLost) {
		return fmt.Errorf("%w: %v", proxy.ErrTunnelLost, err)
	}
	return err
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, c.wrap(err)
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.wrap(err)
}

// yamux frame header: version, type, flags (2), stream id (4), length (4).
const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

// coalescer joins each yamux data-frame header with the body written right
// after it, so one frame is one WebSocket message (one flush, one syscall)
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
