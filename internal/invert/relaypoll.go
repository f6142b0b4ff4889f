package invert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
)

// pollHold is how long a pending-list call is held open when nothing is
// waiting. It must end before the reference agent's 60 s client timeout, or
// ids handed to an abandoned call are lost.
const pollHold = 30 * time.Second

// reofferAfter: an id handed to a poll but not fetched by then is offered
// again (its poll may have died on the way back).
const reofferAfter = 10 * time.Second

// pollQueue holds a backend's requests waiting for its poll agents, each
// given to one of them.
type pollQueue struct {
	mu      sync.Mutex
	reqs    map[string]*pollRequest
	order   []string // ids in arrival order, not yet fetched
	changed chan struct{}
}

type pollRequest struct {
	id      string
	to      *pollAgent // the agent whose turn it was
	start   time.Time
	req     *http.Request // the relay's outbound request
	offered time.Time
	fetched bool
	hasBody bool
	resp    chan *http.Response // the agent's answer, once
	failed  chan error          // the agent or the transport failed
	gone    chan struct{}       // the relay side stopped waiting
}

func newPollQueue() *pollQueue {
	return &pollQueue{reqs: map[string]*pollRequest{}, changed: make(chan struct{})}
}

func newRequestID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (q *pollQueue) add(p *pollRequest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reqs[p.id] = p
	q.order = append(q.order, p.id)
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *pollQueue) remove(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.reqs, id)
	q.dropOrderLocked(id)
}

func (q *pollQueue) dropOrderLocked(id string) {
	for i, o := range q.order {
		if o == id {
			q.order = append(q.order[:i], q.order[i+1:]...)
			return
		}
	}
}

func (q *pollQueue) get(id string) *pollRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reqs[id]
}

// take returns the ids to hand to a poll of agent a: those given to a and
// never offered, and those offered long ago but never fetched.
func (q *pollQueue) take(a *pollAgent, now time.Time) ([]string, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for _, id := range q.order {
		p := q.reqs[id]
		if p.to != a {
			continue
		}
		if p.offered.IsZero() || now.Sub(p.offered) > reofferAfter {
			p.offered = now
			ids = append(ids, id)
			if len(ids) == 100 {
				break
			}
		}
	}
	return ids, q.changed
}

// failAll ends every waiting request with err (the agents went away).
func (q *pollQueue) failAll(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.reqs {
		select {
		case p.failed <- err:
		default:
		}
	}
}

// pollRoundTrip sends req through the poll transport: queue it for poll
// agent a, wait for a to fetch it, then for its response.
func (r *Relay) pollRoundTrip(pool *agentPool, a *pollAgent, req *http.Request) (*http.Response, error) {
	if req.Header.Get("Upgrade") != "" {
		return synthetic(req, http.StatusNotImplemented, fmt.Sprintf(
			"devproxy relay: backend %q is connected through the poll transport, which cannot carry %s upgrades (WebSockets); run its agent with the tunnel transport\n",
			pool.id, req.Header.Get("Upgrade"))), nil
	}
	if req.Header.Get("Expect") != "" {
		// The relay's own server already answered the client's Expect; a
		// poll agent's backend would answer it again, with a 1xx that
		// cannot cross this transport.
		req = req.WithContext(req.Context())
		req.Header = req.Header.Clone()
		req.Header.Del("Expect")
	}
	p := &pollRequest{
		id:      newRequestID(),
		to:      a,
		start:   time.Now(),
		req:     req,
		hasBody: req.Body != nil && req.Body != http.NoBody,
		resp:    make(chan *http.Response, 1),
		failed:  make(chan error, 1),
		gone:    make(chan struct{}),
	}
	pool.poll.add(p)
	defer pool.poll.remove(p.id)
	// giveUp tells a POST that may still arrive that nobody waits for it.
	giveUp := func(err error) (*http.Response, error) {
		close(p.gone)
		return nil, err
	}

	fetchWait := time.NewTimer(r.opts.AgentWait)
	defer fetchWait.Stop()
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	for {
		changed := pool.changes()
		idle := false
		select {
		case res := <-p.resp:
			// The POST handler stays until the body is consumed or closed.
			return res, nil
		case err := <-p.failed:
			return giveUp(err)
		case <-req.Context().Done():
			return giveUp(req.Context().Err())
		case <-fetchWait.C:
			if !pool.poll.isFetched(p.id) {
				return giveUp(&proxy.NoAgentError{Backend: pool.id})
			}
			continue
		case <-changed:
		case <-watch.C:
			idle = true
		}
		gone, takes, listening := pool.pollAgentState(a)
		// Not fetched yet, and the agent stopped taking requests (it
		// shuts down, hung up or went), or a second passed without it
		// listening for the id, while another agent takes requests: send
		// it to that one instead. A live agent keeps an id it was handed,
		// since it is fetching it (a slow machine is not a dead agent).
		stalled := !takes || idle && !listening && !pool.poll.isOffered(p.id)
		if stalled && pool.othersTake(a) && pool.poll.withdraw(p.id) {
			return giveUp(errPickAgain)
		}
		if gone {
			if !pool.poll.isFetched(p.id) {
				return giveUp(&proxy.NoAgentError{Backend: pool.id})
			}
			return giveUp(fmt.Errorf("%w: the poll agent stopped calling", proxy.ErrTunnelLost))
		}
	}
}

// errPickAgain: a request waiting for a poll agent was withdrawn before it
// fetched the request, to go to another agent of the backend.
var errPickAgain = errors.New("relay: send to another agent instead")

// withdraw removes a request that no agent fetched yet and reports whether
// it did; a fetched one stays.
func (q *pollQueue) withdraw(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.reqs[id]
	if !ok || p.fetched {
		return false
	}
	delete(q.reqs, id)
	q.dropOrderLocked(id)
	return true
}

// isOffered reports whether id was handed to a pending-list call.
func (q *pollQueue) isOffered(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.reqs[id]
	return ok && !p.offered.IsZero()
}

func (q *pollQueue) isFetched(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.reqs[id]
	return ok && p.fetched
}

// synthetic is a response made up by the relay itself.
func synthetic(req *http.Request, status int, body string) *http.Response {
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// handlePending answers GET agent/pending: a JSON array of the ids of the
// requests given to the calling agent, held open until one is waiting or
// pollHold passes.
func (r *Relay) handlePending(w http.ResponseWriter, req *http.Request, pool *agentPool) {
	name := req.Header.Get(HeaderAgent)
	if name != "" && !validAgentName(name) {
		http.Error(w, "devproxy relay: invalid "+HeaderAgent, http.StatusBadRequest)
		return
	}
	draining := req.Header.Get(HeaderDraining) != ""
	a := pool.pollStart(name, draining)
	hungUp := false
	defer func() { pool.pollEnd(a, hungUp) }()
	hold := time.NewTimer(r.opts.PollHold)
	defer hold.Stop()
	if draining {
		// A shutting-down agent: alive, but it takes nothing new.
		select {
		case <-hold.C:
			writeJSON(w, http.StatusOK, []string{})
		case <-req.Context().Done():
			hungUp = true
		case <-r.closing:
			writeJSON(w, http.StatusOK, []string{})
		}
		return
	}
	for {
		ids, changed := pool.poll.take(a, time.Now())
		if len(ids) > 0 {
			writeJSON(w, http.StatusOK, ids)
			return
		}
		select {
		case <-changed:
		case <-hold.C:
			writeJSON(w, http.StatusOK, []string{})
			return
		case <-req.Context().Done():
			hungUp = true
			return
		case <-r.closing:
			writeJSON(w, http.StatusOK, []string{})
			return
		}
	}
}

// handleRequest answers GET agent/request: the client's request as HTTP/1.1,
// body streamed.
func (r *Relay) handleRequest(w http.ResponseWriter, req *http.Request, pool *agentPool) {
	id := req.Header.Get(HeaderRequestID)
	p := pool.poll.get(id)
	if p == nil {
		http.Error(w, "devproxy relay: no pending request "+id, http.StatusNotFound)
		return
	}
	pool.poll.mu.Lock()
	if pool.poll.reqs[id] != p {
		pool.poll.mu.Unlock() // withdrawn meanwhile
		http.Error(w, "devproxy relay: no pending request "+id, http.StatusNotFound)
		return
	}
	if p.fetched && p.hasBody {
		pool.poll.mu.Unlock()
		http.Error(w, "devproxy relay: request "+id+" was already fetched and its body cannot be sent twice", http.StatusNotFound)
		return
	}
	p.fetched = true
	pool.poll.dropOrderLocked(id)
	pool.poll.mu.Unlock()

	w.Header().Set(HeaderRequestStartTime, p.start.UTC().Format(time.RFC3339Nano))
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := p.req.Write(fw); err != nil {
		select {
		case p.failed <- fmt.Errorf("%w: sending the request to the agent failed: %v", proxy.ErrTunnelLost, err):
		default:
		}
	}
}

// handleResponse takes POST agent/response: the backend's response as
// HTTP/1.x, streamed on to the waiting client as it arrives.
func (r *Relay) handleResponse(w http.ResponseWriter, req *http.Request, pool *agentPool) {
	id := req.Header.Get(HeaderRequestID)
	p := pool.poll.get(id)
	if p == nil {
		http.Error(w, "devproxy relay: no pending request "+id, http.StatusNotFound)
		return
	}
	res, err := readAgentResponse(req.Body, p.req)
	if err != nil {
		// The client must not wait for an answer that will not come.
		select {
		case p.failed <- &badAgentAnswer{backend: pool.id, err: err}:
		default:
		}
		http.Error(w, "devproxy relay: "+err.Error(), http.StatusBadRequest)
		return
	}
	body := &agentBody{rc: res.Body, done: make(chan struct{})}
	if res.Body == http.NoBody || res.ContentLength == 0 {
		body.eof.Store(true) // nothing to read: closing it unread cuts nothing
	}
	res.Body = body
	select {
	case p.resp <- res:
	case <-p.gone:
		res.Body.Close()
		http.Error(w, "devproxy relay: the client is gone", http.StatusNotFound)
		return
	}
	// A client that goes away while the body streams ends it: the reader
	// may be waiting on the agent for the next bytes of a stream.
	stop := context.AfterFunc(p.req.Context(), func() { body.Close() })
	defer stop()
	select {
	case <-body.done:
	case <-req.Context().Done():
	}
	if body.cut.Load() {
		// Nobody reads the rest (the client went away): answer the post
		// at once, so that the agent stops its backend's call too (a gRPC
		// stream sees the cancel), instead of reading the rest here for
		// nothing. (Breaking the connection off would not do: Go's client
		// waits for its request body before it reports the error. Full
		// duplex keeps net/http from reading the rest of the body before
		// it answers.)
		_ = http.NewResponseController(w).EnableFullDuplex()
		http.Error(w, "devproxy relay: the client went away; the rest of the response is not wanted", http.StatusGone)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// badAgentAnswer fails a request whose poll agent posted an answer the relay
// cannot use. Its text says "malformed HTTP" so the proxy records it as a
// protocol error (502), and it puts the fault on the agent, not the backend.
type badAgentAnswer struct {
	backend string
	err     error
}

func (e *badAgentAnswer) Error() string {
	return fmt.Sprintf("the poll agent of backend %q posted a malformed HTTP answer (a fault of the agent, not of the backend): %v", e.backend, e.err)
}

// agentBody is a response body arriving in an agent's POST. The POST handler
// must stay until it is consumed; read errors mean the agent is lost.
type agentBody struct {
	rc   io.ReadCloser
	once sync.Once
	done chan struct{}
	// eof is set once the body was read to its end; cut when it was
	// closed before that, and the POST handler then breaks the post off.
	eof, cut atomic.Bool
}

func (b *agentBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("%w: the agent's response broke off: %v", proxy.ErrTunnelLost, err)
		} else {
			b.eof.Store(true)
		}
		b.once.Do(func() { close(b.done) })
	}
	return n, err
}

// Close ends the body. Closed before its end, it is not drained (that
// would read the rest of a stream for nobody): the POST handler breaks the
// post off instead.
func (b *agentBody) Close() error {
	if !b.eof.Load() {
		b.cut.Store(true)
		b.once.Do(func() { close(b.done) })
		return nil
	}
	b.once.Do(func() { close(b.done) })
	return b.rc.Close()
}

// flushWriter flushes after every write, so a streamed upload reaches the
// agent as it arrives.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// Rules read as written ("=>", not "=\u003e") when an admin curls them.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
