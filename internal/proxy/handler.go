// Package proxy is devproxy's engine: a streaming reverse proxy built on
// httputil.ReverseProxy that reports every exchange to a record.Tap, plus the
// server around it and replay. serve, the relay and the agent all use it.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// Options configure a Handler.
type Options struct {
	// Target is where every request goes (scheme, host and optional base
	// path), unless a Router decides. Required without a Router. Requests
	// never choose their own destination.
	Target *url.URL
	// TargetName names the upstream side in messages ("the relay's
	// backends"). Default: Target.
	TargetName string
	// Role is recorded on every exchange. Default record.RoleServe.
	Role record.Role
	// Tap receives each exchange's lifecycle. Default record.Discard.
	Tap record.Tap
	// Transport sends requests upstream. Default NewTransport(TransportOptions{}).
	Transport http.RoundTripper
	// PreserveHost keeps the client's Host header instead of the target's.
	PreserveHost bool
	// TrustForwarded passes the inbound X-Forwarded-For/-Host/-Proto on
	// unchanged instead of deriving them from this hop. Only for a caller
	// that authenticated the previous hop (the agent, behind the relay).
	TrustForwarded bool
	// FlushInterval is how often response bytes are flushed to the client:
	// 0 (the default) flushes after every write, so streams and slow drips
	// arrive as they are produced; a positive value batches flushes.
	FlushInterval time.Duration
	// LoopToken marks requests that passed through this handler (in Via),
	// so a target that points back at devproxy gets 508 instead of a loop.
	// Default: a random token per Handler.
	LoopToken string
	// Marks are put on every recorded exchange when it begins.
	Marks []record.Mark
	// Rewrite, when set, runs after devproxy's own rewrite of each outbound
	// request (target, forwarding headers, Via), so it can remove or add
	// headers; the relay strips its credentials and protocol headers here.
	Rewrite func(*httputil.ProxyRequest)
	// Logger receives ReverseProxy's internal messages, at debug level (the
	// exchanges themselves are recorded through Tap). Default slog.Default().
	Logger *slog.Logger
	// Router chooses where each attempt goes. Default: Target, through
	// Transport.
	Router Router
	// ErrorHints are added to the message of failures of a kind, in
	// parentheses: what the user can do about them, in the words of the
	// command layer (e.g. the flags that trust a CA).
	ErrorHints map[record.ErrorKind]string
	// Stages run on every exchange not refused outright (CONNECT, loops,
	// h2c prefaces), in order: request stages before the upstream is
	// called, response stages on the response.
	Stages []Stage
}

// Handler is the reverse proxy. It is an http.Handler.
type Handler struct {
	opts   Options
	target string // for messages, e.g. "http://localhost:3000"
	rp     *httputil.ReverseProxy
	via    string
	routed bool // the caller gave a Router: the upstream that answered is marked
	// h2c holds the h2c-only copy of each upstream *http.Transport that
	// needed one (see h2cReason).
	h2c sync.Map
}

// h2cTransport returns the h2c-only copy of t, made once.
func (h *Handler) h2cTransport(t *http.Transport) *http.Transport {
	if c, ok := h.h2c.Load(t); ok {
		return c.(*http.Transport)
	}
	c, _ := h.h2c.LoadOrStore(t, h2cOnly(t))
	return c.(*http.Transport)
}

func newLoopToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// New returns a Handler for opts.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Target == nil && opts.Router == nil:
		return nil, errors.New("proxy: a target URL with a host, or a Router, is required")
	case opts.Target == nil && opts.TargetName == "":
		return nil, errors.New("proxy: a Router without a Target needs a TargetName for messages")
	case opts.Target == nil:
	case opts.Target.Host == "":
		return nil, errors.New("proxy: a target URL with a host is required")
	case opts.Target.Scheme != "http" && opts.Target.Scheme != "https":
		return nil, fmt.Errorf("proxy: target %q: scheme must be http or https", opts.Target)
	}
	if opts.Role == "" {
		opts.Role = record.RoleServe
	}
	if opts.Tap == nil {
		opts.Tap = record.Discard
	}
	if opts.Transport == nil {
		t, err := NewTransport(TransportOptions{})
		if err != nil {
			return nil, err
		}
		opts.Transport = t
	}
	if opts.LoopToken == "" {
		opts.LoopToken = newLoopToken()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{opts: opts, target: opts.TargetName, via: "devproxy (" + opts.LoopToken + ")", routed: opts.Router != nil}
	if opts.Target != nil && h.target == "" {
		h.target = (&url.URL{Scheme: opts.Target.Scheme, Host: opts.Target.Host, Path: opts.Target.Path}).String()
	}
	if h.opts.Router == nil {
		h.opts.Router = FixedRouter(&Upstream{Name: h.target, URL: opts.Target})
	}
	// With the default 0, the responseWriter flushes responses of known
	// length itself (see responseWriter); ReverseProxy still flushes every
	// write of event streams and responses of unknown length.
	flush := max(opts.FlushInterval, 0)
	h.rp = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      pipeline{h},
		FlushInterval:  flush,
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.errorHandler,
		BufferPool:     copyBuffers,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return h, nil
}

// Target returns the target URL as text.
func (h *Handler) Target() string { return h.target }

// state is one exchange's bookkeeping, carried in the request context.
type state struct {
	rec      record.Recording
	rw       *responseWriter
	timing   *timing
	res      *http.Response
	body     *bodyEnd
	upgraded *countingConn
	err      *record.Error
	reqBody  *requestTee
	flow     *Flow
	abort    bool // a stage asked to close the connection without an answer (AbortError)
}

type stateKey struct{}

// upstreamName names where the exchange went, for messages: the routed
// upstream, else def.
func (st *state) upstreamName(def string) string {
	if st != nil && st.flow != nil && st.flow.Upstream != nil && st.flow.Upstream.Name != "" {
		return st.flow.Upstream.Name
	}
	return def
}

// requestBodyErr is the error reading the client's body failed with, if any.
func (st *state) requestBodyErr() error {
	if st == nil || st.reqBody == nil {
		return nil
	}
	return st.reqBody.readErr()
}

// replayKey marks a request sent by a Replayer (value *replayInfo).
type replayKey struct{}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var replayOf uint64
	info, _ := r.Context().Value(replayKey{}).(*replayInfo)
	if info != nil {
		replayOf = info.of
	}
	rec := h.opts.Tap.Begin(record.Begin{
		Role:          h.opts.Role,
		Start:         start,
		ClientAddr:    h.clientAddr(r),
		ReplayOf:      replayOf,
		Request:       requestRecord(r, h.requestURL(r)),
		ContentLength: bodyLength(r),
		Marks:         h.opts.Marks,
	})
	if info != nil {
		info.id = rec.ID()
	}
	st := &state{rec: rec, timing: &timing{start: start}, flow: &Flow{In: r, Rec: rec}}
	grpc := grpcCallOf(r, rec, h.opts.Tap)
	st.rw = &responseWriter{ResponseWriter: w, rec: rec, streamFlush: h.opts.FlushInterval <= 0, grpc: grpc}

	if e := h.refuse(r); e != nil {
		reject(rec, st.rw, e)
		return
	}
	fullDuplex(w, r)

	if r.Body != nil && r.Body != http.NoBody {
		st.reqBody = &requestTee{body: r.Body, req: r, rec: rec, grpc: grpc.request()}
		r.Body = st.reqBody
	}
	// One derived request carries both the state and the trace (the
	// outbound request's context is this one's), not one copy for each.
	ctx := httptrace.WithClientTrace(context.WithValue(r.Context(), stateKey{}, st), st.timing.trace())
	r = r.WithContext(ctx)
	st.flow.In = r

	defer func() {
		p := recover()
		h.finish(st, r, p != nil)
		if p != nil {
			panic(p)
		}
	}()
	h.rp.ServeHTTP(st.rw, r)
	if info == nil && st.upgraded == nil && !st.rw.wrote() && (r.Context().Err() != nil || st.abort) {
		// The client went away (or half-closed its side, which net/http
		// cannot tell apart) before any response, or a stage asked for the
		// connection to be closed: write nothing at all. Returning would
		// make net/http send an empty 200 of its own.
		panic(http.ErrAbortHandler)
	}
}

// finish reports the end of the exchange to the tap.
func (h *Handler) finish(st *state, r *http.Request, aborted bool) {
	st.rw.close()
	end := time.Now()
	f := record.Finish{End: end, Timings: st.timing.phases(end), Err: st.err}
	if st.upgraded != nil {
		if st.err != nil {
			// ReverseProxy refused the switch (e.g. a protocol other than
			// the one asked for) and left the upstream connection open.
			_ = st.upgraded.Close()
		}
		st.rec.Upgraded(st.upgraded.up.Load(), st.upgraded.down.Load())
	}
	if st.res != nil {
		f.Trailer = record.FieldsFromHeader(st.res.Trailer)
		f.ResponseComplete = st.body != nil && st.body.eof.Load()
		if st.upgraded != nil {
			f.ResponseComplete = true
		}
	}
	if f.Err == nil && (aborted || (st.res != nil && !f.ResponseComplete)) {
		var cut *AbortError // a stage cut the body off (see AbortError)
		if st.body != nil {
			cut = abortOf(st.body.err)
		}
		switch {
		case r.Context().Err() != nil || st.rw.writeErr != nil:
			f.Err = clientLost(r.Context(), &record.Error{Kind: record.ErrCanceled, Message: "client went away during the response", Status: StatusClientClosed})
		case cut != nil:
			f.Err = &record.Error{Kind: cut.Kind, Message: cut.Message, Status: st.rw.status}
		case st.body != nil && errors.Is(st.body.err, ErrTunnelLost):
			f.Err = &record.Error{Kind: record.ErrTunnelLost, Message: "the tunnel to the agent was lost during the response", Status: st.rw.status}
		default:
			f.Err = &record.Error{Kind: record.ErrAborted, Message: st.upstreamName(h.target) + " broke off the response body", Status: st.rw.status}
		}
	}
	st.rec.Finish(f)
}

func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	stripForwarding(pr.Out.Header)
	if h.opts.TrustForwarded {
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Values(k); len(v) > 0 {
				pr.Out.Header[k] = append([]string(nil), v...)
			}
		}
		if len(pr.In.Header.Values("X-Forwarded-For")) == 0 {
			pr.SetXForwarded()
		}
	} else {
		pr.SetXForwarded()
	}
	via := viaProto(pr.In) + " " + h.via
	if prior := pr.In.Header.Values("Via"); len(prior) > 0 {
		via = strings.Join(prior, ", ") + ", " + via
	}
	pr.Out.Header.Set("Via", via)

	if h.opts.Rewrite != nil {
		h.opts.Rewrite(pr)
	}
}

func (h *Handler) modifyResponse(res *http.Response) error {
	st, _ := res.Request.Context().Value(stateKey{}).(*state)
	if res.StatusCode == http.StatusSwitchingProtocols {
		removeHopByHop(res.Header, true)
	}
	cleanResponseHeaders(res.Header)
	if st == nil {
		return nil
	}
	var before statusLine
	var buf [snapMax]headerPair
	staged := false
	for _, s := range h.opts.Stages {
		if rs, ok := s.(ResponseStage); ok {
			if !staged {
				before, staged = statusOf(res, buf[:0]), true
			}
			if err := rs.Response(st.flow, res); err != nil {
				return err
			}
		}
	}
	st.res = res
	rr := record.Response{
		Status: res.StatusCode,
		Reason: reason(res),
		Proto:  res.Proto,
		Header: record.FieldsFromHeader(res.Header),
	}
	if staged {
		rr.Upstream = before.changed(res)
	}
	st.rec.Response(rr, st.timing.server())
	declareEmptyBody(res) // after recording: the recorded headers are the upstream's
	if res.StatusCode == http.StatusSwitchingProtocols {
		if rwc, ok := res.Body.(io.ReadWriteCloser); ok {
			ws := isWebSocket(strings.Join(res.Header.Values("Upgrade"), ","))
			st.upgraded = newCountingConn(rwc, st.rec, ws, messageCap(h.opts.Tap))
			res.Body = st.upgraded
		}
		return nil
	}
	st.body = &bodyEnd{ReadCloser: res.Body, t: st.timing, rw: st.rw}
	res.Body = st.body
	st.rw.tee = true
	return nil
}

func (h *Handler) errorHandler(w http.ResponseWriter, outreq *http.Request, err error) {
	st, _ := outreq.Context().Value(stateKey{}).(*state)
	clientGone := outreq.Context().Err() != nil && !errors.Is(outreq.Context().Err(), context.DeadlineExceeded)
	var e *record.Error
	if ab := abortOf(err); ab != nil && !clientGone {
		// A stage asked for the connection to be closed; ServeHTTP does it.
		e = &record.Error{Kind: ab.Kind, Message: ab.Message}
		if st != nil {
			st.abort = true
		}
	} else if errors.As(err, &e) {
		// A stage said exactly what the client is told.
	} else if bodyErr := st.requestBodyErr(); bodyErr != nil && !clientGone {
		// Reading the client's body failed (a bad chunk size, a bare LF, a
		// short body): the client's fault, whatever the transport made of it.
		e = &record.Error{Kind: record.ErrRejected, Message: "the request body is malformed: " + lastPart(bodyErr), Status: http.StatusBadRequest}
	} else {
		e = clientLost(outreq.Context(), classify(err, st.upstreamName(h.target), clientGone))
		if hint := h.opts.ErrorHints[e.Kind]; hint != "" && e.Kind != record.ErrCanceled {
			e.Message += " (" + hint + ")"
		}
	}
	if st != nil {
		st.err = e
		st.rw.tee = false
		if e.Status != StatusClientClosed && e.Status != 0 && grpcDeadlinePassed(outreq, st.timing.start) {
			writeGRPCDeadline(w, e.Message)
			return
		}
	}
	writeError(w, e)
}

// clientAddr is the client's address: the connection's peer, or, behind a
// trusted relay, the last X-Forwarded-For hop the relay added.
func (h *Handler) clientAddr(r *http.Request) string {
	if h.opts.TrustForwarded {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := strings.TrimSpace(parts[len(parts)-1]); ip != "" {
				return ip
			}
		}
	}
	return r.RemoteAddr
}

// requestURL is the URL the client asked for; behind a trusted relay the
// scheme is the one the client used with the relay.
func (h *Handler) requestURL(r *http.Request) string {
	u := requestURL(r)
	if h.opts.TrustForwarded {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" && strings.HasPrefix(u, "http://") {
			u = "https://" + strings.TrimPrefix(u, "http://")
		}
	}
	return u
}

// requestRecord is what the tap is told of a request when it arrives.
func requestRecord(r *http.Request, url string) record.Request {
	return record.Request{
		Method: r.Method,
		URL:    url,
		Proto:  r.Proto,
		Host:   r.Host,
		Header: record.FieldsFromHeader(r.Header),
	}
}

// requestURL is the absolute URL the client asked for.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

// bodyLength is the request's declared body length: 0 for none, -1 unknown.
func bodyLength(r *http.Request) int64 {
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	return r.ContentLength
}

func reason(res *http.Response) string {
	if _, after, ok := strings.Cut(res.Status, " "); ok {
		return after
	}
	return http.StatusText(res.StatusCode)
}

func viaProto(r *http.Request) string {
	if r.ProtoMajor >= 2 {
		return fmt.Sprint(r.ProtoMajor)
	}
	return fmt.Sprintf("%d.%d", r.ProtoMajor, r.ProtoMinor)
}
