package invert

import (
	"context"
	"net"
	"sync"
	"time"
)

// When an agent closes its tunnel without a graceful shutdown (its context
// ended, or a shutdown ran out of time), a request the relay sent in that
// moment, before it read the tunnel's end, would fail as "tunnel lost"
// although the agent never saw it. So the agent first sends an HTTP/2
// GOAWAY naming the last request it took: the relay sends the requests
// after it to another agent (or waits AgentWait for one), as it does with
// those that cross a graceful shutdown's go-away. Requests the agent took
// fail as "tunnel lost", as before.

// goAwayWait bounds how long a closing agent waits for its GOAWAY to be
// written.
const goAwayWait = 250 * time.Millisecond

// goAwayWatch is the agent's tunnel connection, watching the HTTP/2 frames
// the agent's server writes for a GOAWAY.
type goAwayWatch struct {
	net.Conn

	mu       sync.Mutex
	hdr      [9]byte // a frame header being written
	hn       int
	skip     int  // payload bytes of the current frame still to come
	inGoAway bool // the current frame is a GOAWAY
	sent     chan struct{}
	once     sync.Once
}

func newGoAwayWatch(c net.Conn) *goAwayWatch {
	return &goAwayWatch{Conn: c, sent: make(chan struct{})}
}

func (c *goAwayWatch) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.scan(p[:n])
	return n, err
}

// scan follows the frames in p (the server writes no preface: its first
// bytes are a frame).
func (c *goAwayWatch) scan(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(p) > 0 {
		if c.skip > 0 {
			k := min(c.skip, len(p))
			c.skip -= k
			p = p[k:]
		} else {
			k := copy(c.hdr[c.hn:], p)
			c.hn += k
			p = p[k:]
			if c.hn < len(c.hdr) {
				return
			}
			c.hn = 0
			c.skip = int(c.hdr[0])<<16 | int(c.hdr[1])<<8 | int(c.hdr[2])
			c.inGoAway = c.hdr[3] == 0x7 // GOAWAY
		}
		if c.skip == 0 && c.inGoAway {
			c.inGoAway = false
			c.once.Do(func() { close(c.sent) })
		}
	}
}

// goAwayFirst makes srv write a GOAWAY (a graceful shutdown that is not
// waited for) and waits, up to goAwayWait, until it is written or the
// connection closed.
func goAwayFirst(srv interface{ Shutdown(context.Context) error }, w *goAwayWatch, closed <-chan struct{}) {
	select {
	case <-closed:
		return
	case <-w.sent:
		return
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	go srv.Shutdown(ctx) //nolint:errcheck // only its GOAWAY is wanted
	t := time.NewTimer(goAwayWait)
	defer t.Stop()
	select {
	case <-w.sent:
	case <-closed:
	case <-t.C:
	}
}
