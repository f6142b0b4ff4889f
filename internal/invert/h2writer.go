package invert

import (
	"net/http"
	"strconv"
	"sync"
)

// coalescingWriter is the agent's ResponseWriter on an HTTP/2 tunnel. Go's
// HTTP/2 server turns each Write of the handler into a DATA frame and waits
// until it is written, and the proxy engine writes 32 KiB at a time and
// flushes each: every 32 KiB cost a frame, a write on the agent, reads on
// the relay and hand-offs between goroutines. Here a Write copies into a
// buffer and returns; one goroutine at a time sends what accumulated
// while the previous frame was written, as one frame, and flushes when it
// has nothing more. So a slow drip still goes out at once, and a fast body
// goes in frames of up to coalesceLimit.
//
// The first coalesceAfter bytes of a body go straight through, so a small
// response costs no goroutine and no copy. WriteHeader, and Flush with
// nothing pending, go straight through once the body written so far is
// sent. The handler must call finish before it returns.
type coalescingWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	mu          sync.Mutex
	cond        *sync.Cond // signalled when the sender takes or finishes a chunk
	wroteHeader bool       // a final status went out
	written     int        // body bytes written, up to coalesceAfter
	left        int64      // of the declared Content-Length, to write; -1 without one
	pending     []byte     // written by the handler, not yet sent
	spare       []byte     // the sender's last chunk, reused
	sending     bool       // the sender goroutine runs
	err         error      // the first error sending
}

const (
	// coalesceLimit is the most a coalescingWriter holds: a Write waits
	// for the sender beyond it. It bounds the frames too (h2FrameSize).
	// Two such buffers (from a pool) per response being sent fast; 64 KiB
	// cost 6 % more CPU per 1 MiB response (bench/RESULTS.md).
	coalesceLimit = 256 << 10
	// coalesceAfter is how much of a body is written straight through.
	coalesceAfter = 32 << 10
)

// coalesced serves a handler through a coalescingWriter.
type coalesced struct{ h http.Handler }

func (c coalesced) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := newCoalescingWriter(w)
	// Deferred: the handler may panic (http.ErrAbortHandler when the
	// client went away), and the sender must be done with w first.
	defer cw.finish()
	c.h.ServeHTTP(cw, r)
}

var coalescePool = sync.Pool{New: func() any { b := make([]byte, 0, coalesceLimit); return &b }}

func newCoalescingWriter(w http.ResponseWriter) *coalescingWriter {
	c := &coalescingWriter{w: w, rc: http.NewResponseController(w), left: -1}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *coalescingWriter) Header() http.Header { return c.w.Header() }

// WriteHeader goes through once the body written so far is sent (only
// informational answers come before a body).
func (c *coalescingWriter) WriteHeader(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitIdleLocked()
	if code >= 200 || code == http.StatusSwitchingProtocols {
		c.finalHeaderLocked()
	}
	c.w.WriteHeader(code)
}

// finalHeaderLocked notes that the final status goes out, and the body's
// declared length.
func (c *coalescingWriter) finalHeaderLocked() {
	c.wroteHeader = true
	if n, err := strconv.ParseInt(c.w.Header().Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		c.left = n
	}
}

func (c *coalescingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.wroteHeader {
		// Here, not on the sender: the server reads the handler's header
		// map when it sends the status.
		c.finalHeaderLocked()
		c.w.WriteHeader(http.StatusOK)
	}
	if c.left >= 0 {
		c.left = max(c.left-int64(len(p)), 0)
	}
	if c.written+len(p) <= coalesceAfter && !c.sending && c.err == nil {
		c.written += len(p)
		return c.w.Write(p)
	}
	c.written = coalesceAfter
	n := 0
	for len(p) > 0 {
		for c.err == nil && len(c.pending) >= coalesceLimit {
			c.cond.Wait()
		}
		if c.err != nil {
			return n, c.err
		}
		if c.pending == nil {
			c.pending = (*coalescePool.Get().(*[]byte))[:0]
		}
		k := min(len(p), coalesceLimit-len(c.pending))
		c.pending = append(c.pending, p[:k]...)
		p, n = p[k:], n+k
		if !c.sending {
			c.sending = true
			go c.send()
		}
	}
	return n, nil
}

// send writes pending chunks until none is left, then flushes.
func (c *coalescingWriter) send() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pending) > 0 && c.err == nil {
		chunk := c.pending
		c.pending, c.spare = c.spare, nil
		if c.pending != nil {
			c.pending = c.pending[:0]
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		_, err := c.w.Write(chunk)
		if err == nil && !c.morePending() {
			err = c.rc.Flush()
		}
		c.mu.Lock()
		c.spare = chunk[:0]
		if err != nil && c.err == nil {
			c.err = err
		}
	}
	c.sending = false
	c.cond.Broadcast()
}

func (c *coalescingWriter) morePending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

// waitIdleLocked waits until nothing is pending or being sent.
func (c *coalescingWriter) waitIdleLocked() {
	for c.sending || len(c.pending) > 0 && c.err == nil {
		c.cond.Wait()
	}
}

// Flush: the sender flushes when it runs out of data; with nothing
// pending, flush now (headers without a body yet, an event stream). Once
// all of a declared Content-Length is written, Flush waits for the handler
// to return, which sends what is left with the end of the stream: the
// engine flushes after its last write, just before it returns, and a small
// response then goes out as two frames and one write instead of three
// frames and two writes.
func (c *coalescingWriter) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sending || c.wroteHeader && c.left == 0 {
		return
	}
	_ = c.rc.Flush()
}

// finish waits for the body to be sent and returns the buffers.
func (c *coalescingWriter) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitIdleLocked()
	for _, b := range [][]byte{c.pending, c.spare} {
		if b != nil {
			b = b[:0]
			coalescePool.Put(&b)
		}
	}
	c.pending, c.spare = nil, nil
}

// Unwrap lets http.ResponseController reach the server's writer (read
// deadlines, full duplex).
func (c *coalescingWriter) Unwrap() http.ResponseWriter { return c.w }
