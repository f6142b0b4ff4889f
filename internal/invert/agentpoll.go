package invert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
)

// pollTimeout is the agent's limit on one pending-list call (the reference
// agent's --proxy-timeout); relays answer well before it.
const pollTimeout = 60 * time.Second

// pollAttempts is how often a request fetch or response post is tried on
// transport errors and 5xx answers, as the reference agent does.
const pollAttempts = 3

// rewindLimit: a response post is retried only while fewer than this many
// bytes were sent, so no more than this is ever buffered.
const rewindLimit = 4096

// runPoll long-polls the relay for request ids and serves each in its own
// goroutine. It returns when ctx ends, when the relay rejects the agent, or,
// once Shutdown began, when the requests it took are done.
func (a *Agent) runPoll(ctx context.Context) error {
	seen := newSeenSet(1000)
	bo := newBackoff(time.Millisecond, 3*time.Second, 0.1)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Listing stops when Shutdown begins; the requests taken go on.
	listCtx, stopListing := context.WithCancel(ctx)
	defer stopListing()
	defer context.AfterFunc(a.drain, stopListing)()
	failures := 0
	for listCtx.Err() == nil {
		ids, err := a.listPending(listCtx, false)
		if err != nil {
			if listCtx.Err() != nil {
				break
			}
			if errors.Is(err, ErrAgentRejected) {
				return err
			}
			failures++
			wait := bo.Next()
			if failures == 1 || failures%20 == 0 {
				a.setState(fmt.Sprintf("poll failed: %v; retrying", err))
			}
			select {
			case <-listCtx.Done():
			case <-time.After(wait):
			}
			continue
		}
		if failures > 0 {
			a.setState("polling relay (poll transport)")
		}
		failures = 0
		bo.Reset()
		for _, id := range ids {
			if !seen.add(id) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.servePolled(ctx, id); err != nil && ctx.Err() == nil {
					a.opts.Logger.Warn("agent: request failed", "request_id", id, "error", err)
				}
			}()
		}
	}
	if ctx.Err() == nil {
		a.stayPresent(ctx, &wg)
	}
	return nil
}

// stayPresent tells a devproxy relay, while the requests in flight finish,
// that this agent is still there though it takes no new requests: the
// relay's only sign of a poll agent's life is its pending-list calls, and
// without them it would fail those requests as lost. Other relays would
// hand such a call new requests, so it only waits there.
func (a *Agent) stayPresent(ctx context.Context, inflight *sync.WaitGroup) {
	idle := make(chan struct{})
	go func() { inflight.Wait(); close(idle) }()
	if !a.devproxyRelay.Load() {
		select {
		case <-idle:
		case <-ctx.Done():
		}
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-idle:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		if _, err := a.listPending(ctx, true); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (a *Agent) pollURL(sub string) string { return a.opts.Relay.String() + sub }

func (a *Agent) newPollRequest(ctx context.Context, method, sub, id string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.pollURL(sub), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(HeaderBackendID, a.opts.Backend)
	req.Header.Set(HeaderAgent, a.name)
	if id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
	a.authorize(req.Header)
	return req, nil
}

// listPending is one GET agent/pending. A draining call (devproxy relays
// only) asks for no ids; it shows the agent is still serving.
func (a *Agent) listPending(ctx context.Context, draining bool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, err := a.newPollRequest(ctx, http.MethodGet, PendingPath, "", nil)
	if err != nil {
		return nil, err
	}
	if draining {
		req.Header.Set(HeaderDraining, "1")
	}
	res, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.Header.Get(HeaderRelay) != "" {
		a.devproxyRelay.Store(true)
		a.notePollFleet(res.Header)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxPendingBody+1))
	if err != nil {
		return nil, err
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s", ErrAgentRejected, strings.TrimSpace(string(body)))
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("pending list: HTTP %d: %.200s", res.StatusCode, body)
	}
	return parsePending(body)
}

// servePolled fetches one request, serves it through the handler and posts
// the response back as it streams.
func (a *Agent) servePolled(ctx context.Context, id string) error {
	var res *http.Response
	var err error
	for attempt := 1; attempt <= pollAttempts; attempt++ {
		var req *http.Request
		req, err = a.newPollRequest(ctx, http.MethodGet, RequestPath, id, nil)
		if err != nil {
			return err
		}
		res, err = a.client.Do(req)
		if err == nil && res.StatusCode < 500 {
			break
		}
		if err == nil {
			err = fmt.Errorf("fetching the request: HTTP %d", res.StatusCode)
			res.Body.Close()
			res = nil
		}
	}
	if res == nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the request: HTTP %d", res.StatusCode)
	}
	if _, err := parseStartTime(res.Header.Get(HeaderRequestStartTime)); err != nil {
		return err // the reference agent drops such requests; so do we
	}
	req, err := readForwardedRequest(res.Body)
	if err != nil {
		return err
	}
	req.RemoteAddr = "relay"
	if user := res.Header.Get(HeaderUserID); user != "" {
		req.Header.Set(HeaderUserID, user)
	}
	// The request ends, with a cause the engine records, when the relay
	// stops taking its response (its client went away).
	ctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	req = req.WithContext(ctx)

	fw := newResponseForwarder(a, ctx, id, req.Method)
	fw.lose = lose
	func() {
		defer func() {
			if p := recover(); p != nil {
				// The backend broke off mid-body (http.ErrAbortHandler): end
				// the post with an error so the relay's client sees it too.
				fw.abort(fmt.Errorf("backend response broke off: %v", p))
			}
		}()
		a.opts.Handler.ServeHTTP(fw, req)
	}()
	return fw.finish()
}

// responseForwarder is the http.ResponseWriter of a polled request: it
// streams the response as HTTP/1.1 in a POST to agent/response, opened as
// soon as the headers are known.
type responseForwarder struct {
	a   *Agent
	ctx context.Context
	// lose ends ctx when the post fails: nobody takes the rest.
	lose   context.CancelCauseFunc
	id     string
	method string // of the request answered
	header http.Header

	wroteHeader bool
	bodyless    bool // the answer is headers only (HEAD, 204, 304)
	res         *http.Response
	bodyW       *io.PipeWriter // response body → Response.Write
	postErr     chan error     // result of the POST
	started     chan struct{}  // closed when Response.Write has sent the headers
}

func newResponseForwarder(a *Agent, ctx context.Context, id, method string) *responseForwarder {
	return &responseForwarder{a: a, ctx: ctx, id: id, method: method, header: http.Header{}}
}

func (f *responseForwarder) Header() http.Header { return f.header }

func (f *responseForwarder) WriteHeader(code int) {
	if f.wroteHeader || code < 200 {
		return // informational responses cannot cross the poll transport
	}
	f.wroteHeader = true
	h := f.header.Clone()
	var trailerNames []string
	for _, v := range h.Values("Trailer") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				trailerNames = append(trailerNames, http.CanonicalHeaderKey(t))
			}
		}
	}
	proxy.RemoveHopByHop(h)
	if f.method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified {
		f.writeHead(code, h)
		return
	}
	cl := int64(-1)
	if v := h.Get("Content-Length"); v != "" && len(trailerNames) == 0 {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			cl = n // keep the backend's framing (the reference agent always re-chunks)
		}
	}
	if cl < 0 {
		h.Del("Content-Length")
	}
	pr, bodyW := io.Pipe()
	f.bodyW = bodyW
	f.started = make(chan struct{})
	bodyR := &startReader{PipeReader: pr, started: f.started}
	f.res = &http.Response{
		Status:        strconv.Itoa(code) + " " + http.StatusText(code),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          bodyR,
		ContentLength: cl,
		Trailer:       http.Header{},
	}
	if cl < 0 {
		// Without this, Response.Write would frame an unknown length by
		// closing the connection, and trailers could not follow.
		f.res.TransferEncoding = []string{"chunked"}
	}
	for _, t := range trailerNames {
		f.res.Trailer[t] = nil
	}
	if cl == 0 {
		f.res.Body = http.NoBody
		bodyW.Close()
		close(f.started)
	}
	postR, postW := io.Pipe()
	f.postErr = make(chan error, 1)
	go func() {
		err := f.res.Write(postW)
		postW.CloseWithError(err)
		if err != nil {
			bodyR.CloseWithError(err)
		}
	}()
	go func() { f.postErr <- f.lost(f.post(postR)) }()
}

// lost ends the request when its post failed: the relay takes no more of
// the response, so the backend's call (a gRPC stream) is cancelled too.
func (f *responseForwarder) lost(err error) error {
	if err != nil && f.lose != nil {
		f.lose(&proxy.ClientLostError{Reason: "the relay stopped taking the response (" + err.Error() + "); its client probably went away"})
	}
	return err
}

// writeHead posts an answer that never has a body, whatever its headers say:
// a HEAD's or a 304's Content-Length is the length a GET would get, and goes
// on as it is. (Response.Write would wait for that many body bytes.)
func (f *responseForwarder) writeHead(code int, h http.Header) {
	f.bodyless = true
	if code == http.StatusNoContent {
		h.Del("Content-Length")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", code, http.StatusText(code))
	_ = h.Write(&b)
	b.WriteString("\r\n")
	f.postErr = make(chan error, 1)
	go func() { f.postErr <- f.post(&b) }()
}

func (f *responseForwarder) Write(p []byte) (int, error) {
	if !f.wroteHeader {
		f.WriteHeader(http.StatusOK)
	}
	if f.bodyW == nil {
		if f.bodyless && len(p) == 0 {
			return 0, nil
		}
		return 0, errors.New("response body after headers with no body")
	}
	return f.bodyW.Write(p)
}

// Flush is a no-op: every write already goes straight into the post.
func (f *responseForwarder) Flush() {}

func (f *responseForwarder) abort(err error) {
	if !f.wroteHeader {
		f.WriteHeader(http.StatusBadGateway)
	}
	if f.bodyW != nil {
		f.bodyW.CloseWithError(err)
	}
}

// finish ends the body (with trailers) and waits for the post.
func (f *responseForwarder) finish() error {
	if !f.wroteHeader {
		if err := f.ctx.Err(); err != nil {
			// Canceled before any answer (the agent is stopping): post
			// nothing rather than a made-up empty 200.
			return err
		}
		f.WriteHeader(http.StatusOK)
	}
	if f.bodyless {
		return <-f.postErr
	}
	// Response.Write reads the trailer map twice: its keys with the headers,
	// its values after the body. Fill the values only once the headers are
	// out (the first body read), and before the body ends.
	select {
	case <-f.started:
	case err := <-f.postErr:
		f.bodyW.Close()
		return err
	}
	for k := range f.res.Trailer {
		if v := f.header.Values(k); len(v) > 0 {
			f.res.Trailer[k] = v
		}
	}
	if f.res.ContentLength < 0 {
		for k, v := range f.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				// Unannounced trailers go in the trailer section too;
				// Go's reader (and the reference relay) accept them.
				f.res.Trailer[http.CanonicalHeaderKey(name)] = v
			}
		}
	}
	f.bodyW.Close()
	return <-f.postErr
}

// post sends the response stream to agent/response, retrying on transport
// errors and 5xx while fewer than rewindLimit bytes have been sent.
func (f *responseForwarder) post(src io.Reader) error {
	rw := &rewinder{src: src}
	var lastErr error
	for attempt := 1; attempt <= pollAttempts; attempt++ {
		body := rw.view()
		req, err := f.a.newPollRequest(f.ctx, http.MethodPost, ResponsePath, f.id, body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "text/plain")
		res, err := f.a.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
			res.Body.Close()
			if res.StatusCode < 500 {
				if res.StatusCode != http.StatusOK {
					// It may answer before the body ends (410: its client
					// went away): nobody will read the rest.
					if c, ok := src.(io.Closer); ok {
						c.Close()
					}
					return fmt.Errorf("relay answered the response post with HTTP %d", res.StatusCode)
				}
				return nil
			}
			err = fmt.Errorf("posting the response: HTTP %d", res.StatusCode)
		}
		lastErr = err
		if !rw.rewind() {
			break
		}
	}
	// Nobody will read the rest: release the writer.
	if c, ok := src.(io.Closer); ok {
		c.Close()
	}
	return lastErr
}

// startReader closes started on its first Read.
type startReader struct {
	*io.PipeReader
	started chan struct{}
	once    sync.Once
}

func (s *startReader) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	return s.PipeReader.Read(p)
}

// rewinder lets a streamed body be sent again while at most rewindLimit
// bytes of it were consumed. Each attempt gets its own view; a view that
// was superseded returns an error instead of racing with the next.
type rewinder struct {
	mu      sync.Mutex
	src     io.Reader
	buf     []byte
	epoch   int
	tooLate bool
}

type rewindView struct {
	rw    *rewinder
	epoch int
	pos   int
}

func (r *rewinder) view() io.ReadCloser {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch++
	return &rewindView{rw: r, epoch: r.epoch}
}

func (r *rewinder) rewind() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.tooLate
}

func (v *rewindView) Read(p []byte) (int, error) {
	r := v.rw
	r.mu.Lock()
	if v.epoch != r.epoch {
		r.mu.Unlock()
		return 0, errors.New("superseded attempt")
	}
	if v.pos < len(r.buf) {
		n := copy(p, r.buf[v.pos:])
		v.pos += n
		r.mu.Unlock()
		return n, nil
	}
	r.mu.Unlock()
	n, err := r.src.Read(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if n > 0 {
		if !r.tooLate && len(r.buf)+n <= rewindLimit {
			r.buf = append(r.buf, p[:n]...)
			v.pos += n
		} else {
			r.tooLate = true
		}
	}
	return n, err
}

func (v *rewindView) Close() error { return nil }

// seenSet remembers the last n ids handed out (an LRU by insertion), so
// re-offered ids are served once.
type seenSet struct {
	n     int
	order []string
	set   map[string]bool
}

func newSeenSet(n int) *seenSet { return &seenSet{n: n, set: map[string]bool{}} }

// add records id and reports whether it was new.
func (s *seenSet) add(id string) bool {
	if s.set[id] {
		return false
	}
	s.set[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.n {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
	return true
}
