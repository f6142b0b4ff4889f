package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// RetryPolicy says whether and how a failed attempt is tried again. The
// engine retries after a transport error, or a Router error wrapping
// ErrNoUpstream, while the policy's bounds allow it and the client is still
// there: a dial error (nothing was sent) or ErrNoUpstream for any method,
// any other error only for idempotent methods (GET, HEAD, OPTIONS, TRACE,
// PUT, DELETE), and only when the request body can be sent again. A
// response that reached the engine is final, whatever its status.
type RetryPolicy struct {
	// Tries is the number of attempts in all, including the first; values
	// below 1 count as 1.
	Tries int
	// Within bounds the time after the first attempt in which a new attempt
	// may start; 0 = no limit.
	Within time.Duration
	// Interval is the wait between attempts (0 = none); it ends early, and
	// no attempt follows, when the client goes away.
	Interval time.Duration
	// BodyBuffer is how many bytes of a request body are kept as they are
	// read, so a retry can send them again and then the rest of the
	// client's body. Once more than this was read, the exchange is not
	// retried unless nothing at all was read (a dial error).
	BodyBuffer int64
}

// ErrNoUpstream is wrapped by a Router's error when every upstream of the
// pool is down or full. The engine retries it within the policy (see
// WithRetry), waiting for an upstream to come back, and answers 503 with the
// Router's message when it gives up.
var ErrNoUpstream = errors.New("no upstream available")

// WithRetry attaches a retry policy to a Router's error, so that an error
// wrapping ErrNoUpstream is retried before any upstream was chosen. Without
// it the policy of the last upstream tried (if any) applies.
func WithRetry(err error, p *RetryPolicy) error {
	if err == nil || p == nil {
		return err
	}
	return &retryError{err: err, policy: p}
}

type retryError struct {
	err    error
	policy *RetryPolicy
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// policyFor is the policy that decides whether a failed attempt is retried.
func policyFor(f *Flow, u *Upstream, err error) *RetryPolicy {
	if u != nil {
		return u.Retry
	}
	if re := (*retryError)(nil); errors.As(err, &re) {
		return re.policy
	}
	if n := len(f.Tried); n > 0 {
		return f.Tried[n-1].Retry
	}
	return nil
}

// idempotent reports whether repeating a request of this method has the
// same effect as sending it once (RFC 9110 §9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// notSent reports whether an attempt failed before any byte of the request
// left: no connection was made (or no agent was there to take it).
func notSent(err error) bool {
	var op *net.OpError
	var noAgent *NoAgentError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &noAgent)
}

// retryPlan is the state of an exchange's attempts.
type retryPlan struct {
	first time.Time   // when the first attempt started
	body  *replayBody // the request body shared by the attempts, once needed
}

// again reports whether the attempt that just failed with err may be tried
// again, and how long to wait first.
func (pl *retryPlan) again(f *Flow, u *Upstream, err error, bodyErr error) (wait time.Duration, ok bool) {
	p := policyFor(f, u, err)
	if p == nil || f.Attempt >= p.Tries || f.Out.Context().Err() != nil {
		return 0, false
	}
	if p.Within > 0 && time.Since(pl.first)+p.Interval > p.Within {
		return 0, false
	}
	switch {
	case errors.Is(err, ErrNoUpstream):
	case u == nil:
		return 0, false // the Router failed otherwise (no route): final
	case bodyErr != nil:
		return 0, false // the client's own body was bad or cut
	case notSent(err), idempotent(f.Out.Method):
	default:
		return 0, false
	}
	if pl.body != nil && !pl.body.replayable() {
		return 0, false
	}
	return p.Interval, true
}

// withinAfterWait re-checks Within once the Interval has passed.
func (pl *retryPlan) withinAfterWait(f *Flow, u *Upstream, err error) bool {
	p := policyFor(f, u, err)
	return p == nil || p.Within <= 0 || time.Since(pl.first) <= p.Within
}

// sleep waits d, or until the client goes away (false).
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// attemptMark is the value of an attempt's mark:
// "1 http://127.0.0.1:3001 → dial tcp …: connection refused (0.4 ms)".
func attemptMark(n int, u *Upstream, res *http.Response, err error, took time.Duration) string {
	s := fmt.Sprint(n)
	if u != nil {
		s += " " + u.Name
	}
	if err != nil {
		s += " → " + err.Error()
	} else {
		s += fmt.Sprintf(" → %d", res.StatusCode)
	}
	return s + " (" + millis(took) + ")"
}

// millis formats a duration as "0.4 ms", or "2.35 s" from a second on.
func millis(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// errAttemptOver is what a transport reads from the request body of an
// attempt that already ended; the next attempt has its own reader.
var errAttemptOver = errors.New("proxy: request body read after its attempt ended")

// errBodyNotKept is what an attempt reads when an earlier one consumed more
// of the body than was kept.
var errBodyNotKept = errors.New("proxy: the request body was partly sent to an earlier upstream and not kept, so it cannot be sent again")

// replayBody is the client's request body shared by the attempts of one
// exchange. It keeps the first keep bytes read, so that a later attempt can
// send them again and go on with the rest of the client's body. Bytes are
// read from the client once, whichever attempt asks, so the recording
// (which taps the client's body below this) sees each byte once.
type replayBody struct {
	src  io.Reader
	keep int64

	// mu lets one reader at a time at src (a transport may still be
	// reading for an attempt that failed) and guards kept, eof and err.
	mu   sync.Mutex
	kept []byte
	eof  bool
	err  error

	read atomic.Int64 // bytes read from src
	lost atomic.Bool  // more than keep bytes were read: no attempt can start over
}

func newReplayBody(src io.Reader, keep, contentLength int64) *replayBody {
	b := &replayBody{src: src, keep: max(keep, 0)}
	if contentLength > 0 && contentLength <= b.keep {
		b.kept = make([]byte, 0, contentLength)
	}
	return b
}

// replayable reports whether a new attempt can send the whole body: every
// byte read so far was kept.
func (b *replayBody) replayable() bool { return !b.lost.Load() }

// attempt returns a reader of the body for a new attempt. Closing it ends
// the attempt's access, never the client's body.
func (b *replayBody) attempt() *attemptBody { return &attemptBody{b: b} }

// attemptBody is one attempt's view of a replayBody: the kept bytes first,
// then the client's body from where the last reader left it.
type attemptBody struct {
	b    *replayBody
	pos  int64 // guarded by b.mu
	over atomic.Bool
}

func (a *attemptBody) Read(p []byte) (int, error) {
	if a.over.Load() {
		return 0, errAttemptOver
	}
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if a.over.Load() {
		return 0, errAttemptOver
	}
	if a.pos < int64(len(b.kept)) {
		n := copy(p, b.kept[a.pos:])
		a.pos += int64(n)
		return n, nil
	}
	if a.pos < b.read.Load() {
		return 0, errBodyNotKept
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		if !b.lost.Load() && int64(len(b.kept)+n) <= b.keep {
			b.kept = append(b.kept, p[:n]...)
		} else {
			b.lost.Store(true)
		}
		b.read.Add(int64(n))
		a.pos += int64(n)
	}
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.err = err
	}
	return n, err
}

// Close ends this attempt's reading; the client's body stays open for the
// next attempt (ReverseProxy and the server close it).
func (a *attemptBody) Close() error {
	a.over.Store(true)
	return nil
}

// releaseBody calls release once the response body reached its end or was
// closed, whichever comes first.
type releaseBody struct {
	io.ReadCloser
	release func()
}

func (r *releaseBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF {
		r.release()
	}
	return n, err
}

func (r *releaseBody) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}

// releaseConn is the body of a 101 response, the upstream side of the
// upgraded connection: release is called when it is closed.
type releaseConn struct {
	io.ReadWriteCloser
	release func()
}

func (c *releaseConn) Close() error {
	err := c.ReadWriteCloser.Close()
	c.release()
	return err
}

// CloseWrite passes half-closes through (see countingConn).
func (c *releaseConn) CloseWrite() error {
	if cw, ok := c.ReadWriteCloser.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// withRelease arranges for release to be called exactly once, when the
// response's body is done with.
func withRelease(res *http.Response, release func()) {
	if res.Body == nil {
		release()
		return
	}
	if rwc, ok := res.Body.(io.ReadWriteCloser); ok && res.StatusCode == http.StatusSwitchingProtocols {
		res.Body = &releaseConn{ReadWriteCloser: rwc, release: release}
		return
	}
	res.Body = &releaseBody{ReadCloser: res.Body, release: release}
}
