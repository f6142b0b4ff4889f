package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// The engine is one httputil.ReverseProxy whose Transport is a pipeline:
// it runs the request stages once (any of which may answer by itself), then
// for every attempt asks the Router for an Upstream, rewrites the outbound
// URL to it and calls the upstream's own transport, trying again after a
// failure as the upstream's RetryPolicy allows. Response stages run from
// ModifyResponse on whatever answered, so a stage's synthetic response is
// recorded, timed and streamed exactly like an upstream one. All of this
// happens before ReverseProxy writes anything to the client, so a response
// that reaches it is final.

// Upstream is where an attempt goes.
type Upstream struct {
	// Name identifies the upstream in marks and messages, e.g.
	// "http://localhost:3000" or "agent 2 of web".
	Name string
	// URL is the scheme, host and optional base path requests are sent to,
	// as httputil.ProxyRequest.SetURL joins them.
	URL *url.URL
	// Transport sends the request. Nil uses the Handler's Transport.
	Transport http.RoundTripper
	// Done, when set, is told how the attempt ended (for passive health and
	// load accounting): the response headers, or the error.
	Done func(res *http.Response, err error)
	// Retry says whether a failed attempt at this upstream is tried again
	// (see RetryPolicy); nil: it is not.
	Retry *RetryPolicy
	// Release, when set, is called exactly once per attempt, when the
	// attempt is over: at once after an error; after a response, when its
	// body reached its end or was closed (for a 101, when the upgraded
	// connection closed). Pools count requests in flight with it.
	Release func()
}

// Router chooses the Upstream for a flow. It may fail (no route, no agent);
// the error is mapped to the client's answer like a transport error.
type Router interface {
	Route(f *Flow) (*Upstream, error)
}

// RouterFunc adapts a function to Router.
type RouterFunc func(f *Flow) (*Upstream, error)

// Route calls fn.
func (fn RouterFunc) Route(f *Flow) (*Upstream, error) { return fn(f) }

// FixedRouter sends every flow to one upstream.
func FixedRouter(u *Upstream) Router {
	return RouterFunc(func(*Flow) (*Upstream, error) { return u, nil })
}

// Flow is one exchange on its way through the engine.
type Flow struct {
	// In is the request as the client sent it; stages must not modify it.
	In *http.Request
	// Out is the request that goes upstream; request stages may change it.
	Out *http.Request
	// Upstream is the router's choice for this attempt (nil before).
	Upstream *Upstream
	// Attempt counts the attempts at this exchange, from 1; request stages
	// run once, with Attempt 1.
	Attempt int
	// Tried holds the upstreams of earlier failed attempts of this exchange,
	// oldest first; a Router avoids them when it can.
	Tried []*Upstream
	// Rec is the exchange's recording; stages note what they did with
	// Rec.Mark.
	Rec record.Recording
	// MapTo, when a request stage sets it, is where every attempt goes
	// instead of the Router's choice (scheme, host and optional base path,
	// joined as Upstream.URL is), through the Handler's Transport, without
	// retries: a rule's "map URL".
	MapTo *url.URL

	mu     sync.Mutex
	values map[any]any
}

// Set keeps v under key for the rest of the exchange, so a stage can pass
// what it decided in one phase (request, route, response) to a later one.
// Keys should be of an unexported type, as with context values.
func (f *Flow) Set(key, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.values == nil {
		f.values = make(map[any]any)
	}
	f.values[key] = v
}

// Replay reports whether a Replayer sent the request (edit-and-replay,
// `devproxy replay`) rather than a client.
func (f *Flow) Replay() bool {
	_, ok := f.In.Context().Value(replayKey{}).(*replayInfo)
	return ok
}

// Value returns what Set kept under key, or nil.
func (f *Flow) Value(key any) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.values[key]
}

// Stage is one step of the pipeline. A stage implements RequestStage,
// ResponseStage or both.
type Stage interface {
	// Name is shown on the marks the stage makes.
	Name() string
}

// RequestStage runs once per exchange, before the first attempt (retries do
// not run it again). It may change f.Out; it
// may answer by itself by returning a response (its Body is streamed to the
// client and recorded like an upstream body); or fail the exchange with an
// error (a *record.Error says exactly what the client is told).
type RequestStage interface {
	Stage
	Request(f *Flow) (*http.Response, error)
}

// ResponseStage runs on the response before its headers go to the client.
// It may change the headers or replace the body; an error fails the
// exchange.
type ResponseStage interface {
	Stage
	Response(f *Flow, res *http.Response) error
}

// pipeline is the Handler's ReverseProxy.Transport.
type pipeline struct {
	h *Handler
}

func (p pipeline) RoundTrip(out *http.Request) (*http.Response, error) {
	st, _ := out.Context().Value(stateKey{}).(*state)
	if st == nil {
		return nil, errors.New("proxy: request did not come through the Handler")
	}
	f := st.flow
	f.Out = out
	f.Attempt = 1
	// What the stages change is recorded (Recording.Sent): not what
	// devproxy's own rewrite did (forwarding headers, Via, the relay's
	// credentials), which happened before.
	var before requestLine
	var buf [snapMax]headerPair
	staged := false
	for _, s := range p.h.opts.Stages {
		rs, ok := s.(RequestStage)
		if !ok {
			continue
		}
		if !staged {
			before, staged = lineOf(out, buf[:0]), true
		}
		res, err := rs.Request(f)
		if err != nil {
			return nil, err
		}
		if res != nil {
			f.Rec.Mark(record.Mark{Stage: rs.Name(), Name: "answered", Value: "by " + rs.Name()})
			return synthetic(res, f.Out), nil
		}
	}
	if staged && !before.same(f.Out) {
		f.Rec.Sent(sentRequest(f.Out))
	}
	var pl retryPlan
	for {
		start := time.Now()
		if f.Attempt == 1 {
			pl.first = start
		}
		res, err := p.attempt(f, &pl)
		took := time.Since(start)
		u := f.Upstream
		retry := false
		if err != nil {
			wait, ok := pl.again(f, u, err, st.requestBodyErr())
			retry = ok && sleep(out, wait) && pl.withinAfterWait(f, u, err)
		}
		if retry || f.Attempt > 1 {
			f.Rec.Mark(record.Mark{Stage: "retry", Name: "attempt", Value: attemptMark(f.Attempt, u, res, err, took)})
		}
		if !retry {
			if f.Attempt > 1 {
				f.Rec.Mark(record.Mark{Stage: "retry", Name: "retried", Value: strconv.Itoa(f.Attempt - 1)})
			}
			if err == nil && u != nil && p.h.routed {
				f.Rec.Mark(record.Mark{Stage: "route", Name: "upstream", Value: u.Name})
			}
			return res, err
		}
		if u != nil {
			f.Tried = append(f.Tried, u)
		}
		f.Attempt++
		st.timing.newAttempt()
	}
}

// attempt routes f and sends it once. It sets f.Upstream (nil when the
// Router failed), and calls the upstream's Done and Release.
func (p pipeline) attempt(f *Flow, pl *retryPlan) (*http.Response, error) {
	f.Upstream = nil
	var u *Upstream
	var err error
	if f.MapTo != nil {
		u = &Upstream{Name: f.MapTo.String(), URL: f.MapTo}
	} else if u, err = p.h.opts.Router.Route(f); err != nil {
		return nil, err
	}
	f.Upstream = u
	// A shallow copy with its own URL: ReverseProxy keeps using out.
	sent := *f.Out
	sent.URL = new(url.URL)
	*sent.URL = *f.Out.URL
	pr := &httputil.ProxyRequest{In: f.In, Out: &sent}
	pr.SetURL(u.URL) // Host becomes the upstream's
	if p.h.opts.PreserveHost {
		sent.Host = f.In.Host
	}
	if f.Out.Body != nil && pl.body == nil && u.Retry != nil {
		pl.body = newReplayBody(f.Out.Body, u.Retry.BodyBuffer, f.Out.ContentLength)
	}
	if f.Out.Body != nil && pl.body != nil {
		// Each attempt reads through its own reader: the transport closes
		// it when the attempt fails, and the next one starts over.
		sent.Body = pl.body.attempt()
		sent.GetBody = nil
	}
	f.Rec.Upstream(sent.URL.String())
	tr := u.Transport
	if tr == nil {
		tr = p.h.opts.Transport
	}
	h2c := ""
	if t, ok := tr.(*http.Transport); ok {
		if h2c = h2cReason(t, &sent); h2c != "" {
			tr = p.h.h2cTransport(t)
		}
	}
	res, err := tr.RoundTrip(&sent)
	if err != nil && h2c != "" {
		err = &H2CError{Reason: h2c, Err: err}
	}
	if u.Done != nil {
		u.Done(res, err)
	}
	if u.Release != nil {
		release := sync.OnceFunc(u.Release)
		if err != nil {
			release()
		} else {
			withRelease(res, release)
		}
	}
	return res, err
}

// synthetic completes a stage's own response so ReverseProxy treats it like
// an upstream one.
func synthetic(res *http.Response, req *http.Request) *http.Response {
	if res.Header == nil {
		res.Header = make(http.Header)
	}
	if res.StatusCode == 0 {
		res.StatusCode = http.StatusOK
	}
	if res.Status == "" {
		res.Status = fmt.Sprintf("%d %s", res.StatusCode, http.StatusText(res.StatusCode))
	}
	if res.Proto == "" {
		res.Proto, res.ProtoMajor, res.ProtoMinor = "HTTP/1.1", 1, 1
	}
	if res.Body == nil {
		res.Body = http.NoBody
	}
	res.Request = req
	return res
}

// refuse returns why devproxy will not forward a request at all, or nil.
// ServeHTTP asks before ReverseProxy runs: ReverseProxy answers CONNECT by
// itself (502) since Go 1.26.9, before any Transport or stage.
func (h *Handler) refuse(r *http.Request) *record.Error {
	if r.Method == "PRI" && r.ProtoMajor == 2 {
		// A whole preface goes to net/http's HTTP/2 server before any
		// handler; what arrives here started like one and broke off.
		return &record.Error{Kind: record.ErrRejected, Message: "an incomplete HTTP/2 preface (h2c): send the whole preface \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\", or use HTTP/1.1", Status: http.StatusHTTPVersionNotSupported}
	}
	if r.Method == http.MethodConnect {
		return &record.Error{Kind: record.ErrRejected, Message: "CONNECT is not supported: devproxy is a reverse proxy for " + h.target + ", not a forward proxy", Status: http.StatusMethodNotAllowed}
	}
	for _, v := range r.Header.Values("Via") {
		if strings.Contains(v, "("+h.opts.LoopToken+")") {
			return &record.Error{Kind: record.ErrLoop, Message: "request looped back to this devproxy: the target " + h.target + " points at devproxy itself", Status: http.StatusLoopDetected}
		}
	}
	return nil
}
