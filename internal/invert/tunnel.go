package invert

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/hashicorp/yamux"
)

// StreamWindow is the yamux per-stream receive window. The default 256 KiB
// caps a stream at window/RTT (frp#2987); 4 MiB keeps bulk transfers fast.
const StreamWindow = 4 << 20

// yamuxConfig is shared by both ends: keepalives find a dead peer within
// about ten seconds.
func yamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.MaxStreamWindowSize = StreamWindow
	c.EnableKeepAlive = true
	c.KeepAliveInterval = 5 * time.Second
	c.ConnectionWriteTimeout = 5 * time.Second
	c.StreamOpenTimeout = 10 * time.Second
	c.StreamCloseTimeout = time.Minute
	c.AcceptBacklog = 512
	c.LogOutput = io.Discard
	return c
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
