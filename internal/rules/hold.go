package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/units"
)

// DefaultHoldTimeout is how long a breakpoint holds an exchange when
// NewHolds is given no timeout: after it, the exchange goes on unchanged.
const DefaultHoldTimeout = 5 * time.Minute

// Holds keeps the exchanges that breakpoints hold, for a UI to list, edit,
// resume and abort. A held exchange waits on its own goroutine (the one
// serving it) until Resume, ResumeAll or Abort decide, its timeout passes
// (it goes on unchanged, and the logger says so), or its client goes away
// (it is released and recorded as canceled, 499, without calling the
// upstream). Replays are never held. Its methods are safe for concurrent
// use.
type Holds struct {
	timeout time.Duration
	log     *slog.Logger

	// now and after are the clock and the timer (tests replace them);
	// after returns a channel that fires once after d and a stop function.
	now   func() time.Time
	after func(d time.Duration) (<-chan time.Time, func() bool)

	mu      sync.Mutex
	held    map[uint64]*hold
	unnamed uint64 // ids handed to exchanges that are not recorded
	bodyCap int64
	changed chan struct{}
}

// NewHolds returns an empty Holds whose holds last at most timeout
// (DefaultHoldTimeout when timeout ≤ 0) and that logs timeouts to logger
// (nil: slog.Default()). Bodies are buffered for editing up to
// record.DefaultMaxBodyCapture bytes; SetBodyCap changes that.
func NewHolds(timeout time.Duration, logger *slog.Logger) *Holds {
	if timeout <= 0 {
		timeout = DefaultHoldTimeout
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Holds{
		timeout: timeout,
		log:     logger,
		now:     time.Now,
		after: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
		held:    make(map[uint64]*hold),
		bodyCap: record.DefaultMaxBodyCapture,
		changed: make(chan struct{}, 1),
	}
}

// SetBodyCap sets how many bytes of a held message's body are buffered so
// that the body can be edited: the recorder's capture cap
// (record.Limits.MaxBodyCapture, with its meaning: 0 is
// record.DefaultMaxBodyCapture, negative buffers none). A larger body, or
// one of unknown length, can have only its headers edited.
func (h *Holds) SetBodyCap(n int64) {
	switch {
	case n == 0:
		n = record.DefaultMaxBodyCapture
	case n < 0:
		n = 0
	}
	h.mu.Lock()
	h.bodyCap = n
	h.mu.Unlock()
}

// Timeout is how long an exchange is held at most.
func (h *Holds) Timeout() time.Duration { return h.timeout }

// Held describes one held exchange, as List returns it.
type Held struct {
	// ID is the exchange's id in the recorder. An exchange that is not
	// recorded (capture paused) gets an id above 1<<63 instead.
	ID uint64
	// Phase is where it is held: match.PhaseRequest (before the upstream
	// is called) or match.PhaseResponse (before the headers go to the
	// client).
	Phase match.Phase
	// Rule names the rule whose breakpoint holds it.
	Rule string
	// Since is when the hold began; Deadline is when it times out.
	Since, Deadline time.Time
	// Method and URL are the request's, as it will be (or was) sent.
	Method, URL string
	// Status is the response's status (response phase only).
	Status int
	// BodyEditable says whether Text holds the body and an edited body is
	// used; when it is false, only the start line and headers can be
	// edited, Text ends after the blank line and Note says why.
	BodyEditable bool
	// Note says why the body cannot be edited, or is "".
	Note string
	// Text is the message as HTTP/1.1 text, for editing and Resume: the
	// request (request line with the path, Host, headers, body) or the
	// response (status line, headers, body). Content-Length and
	// Transfer-Encoding are left out; devproxy frames the message.
	Text string
}

// hold is one held exchange.
type hold struct {
	Held
	// why says why the body cannot be edited ("" when it can).
	why string
	// decided receives the decision once; whoever removes the hold from
	// Holds.held sends it (buffered, so it never blocks).
	decided chan decision
}

type outcome int

const (
	resumed outcome = iota + 1
	aborted
	timedOut
	clientGone
)

type decision struct {
	outcome outcome
	// edited is the parsed edit when the message changed: a
	// record.Request or a record.Response.
	req *record.Request
	res *record.Response
}

// heldKey keeps a flow from being held twice in one phase by two rules.
type heldKey struct{ phase match.Phase }

// Changed receives a value when the set of held exchanges changes (one
// is held, resumed, aborted, timed out or released); values coalesce, so
// read List after each. It is meant for one reader, the UI.
func (h *Holds) Changed() <-chan struct{} { return h.changed }

func (h *Holds) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// List returns the held exchanges, oldest first.
func (h *Holds) List() []Held {
	h.mu.Lock()
	out := make([]Held, 0, len(h.held))
	for _, hd := range h.held {
		out = append(out, hd.Held)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// errNotHeld is wrapped by Resume and Abort for an id that is not held.
var errNotHeld = errors.New("no exchange is held with that id (it may have been resumed, aborted, timed out or its client went away)")

// Resume lets held exchange id go on. raw "" sends it on unchanged;
// otherwise raw is the edited Held.Text (the request, or at the response
// phase the response, as HTTP/1.1 text) and the exchange goes on as
// edited. Text that does not parse is an error wrapping an
// *export.RawError (with the line), and the exchange stays held.
func (h *Holds) Resume(id uint64, raw string) error {
	h.mu.Lock()
	hd := h.held[id]
	h.mu.Unlock()
	if hd == nil {
		return fmt.Errorf("resume #%d: %w", id, errNotHeld)
	}
	d := decision{outcome: resumed}
	if raw != "" && raw != hd.Text {
		var err error
		if d, err = hd.parse(raw); err != nil {
			return fmt.Errorf("resume #%d: %w", id, err)
		}
		if orig, err := hd.parse(hd.Text); err == nil && reflect.DeepEqual(orig, d) {
			// Saved without a change (line endings, say): unchanged.
			d = decision{outcome: resumed}
		}
	}
	if !h.decide(hd, d) {
		return fmt.Errorf("resume #%d: %w", id, errNotHeld)
	}
	return nil
}

// ResumeAll lets every held exchange go on unchanged.
func (h *Holds) ResumeAll() {
	for _, x := range h.List() {
		_ = h.Resume(x.ID, "")
	}
}

// Abort ends held exchange id: its client gets a 502 whose body says it was
// aborted at a breakpoint, and the upstream is not called (at the request
// phase) or its response is discarded (at the response phase). Other held
// exchanges are not touched.
func (h *Holds) Abort(id uint64) error {
	h.mu.Lock()
	hd := h.held[id]
	h.mu.Unlock()
	if hd == nil || !h.decide(hd, decision{outcome: aborted}) {
		return fmt.Errorf("abort #%d: %w", id, errNotHeld)
	}
	return nil
}

// decide removes hd from the held set and hands it d; false when another
// decision came first.
func (h *Holds) decide(hd *hold, d decision) bool {
	h.mu.Lock()
	if h.held[hd.ID] != hd {
		h.mu.Unlock()
		return false
	}
	delete(h.held, hd.ID)
	h.mu.Unlock()
	hd.decided <- d
	h.notify()
	return true
}

// Hold holds flow f at a breakpoint of the named rule until it is decided
// (see Holds), then applies the decision: at match.PhaseRequest to f.Out,
// before the upstream is called; at match.PhaseResponse to res, before its
// headers go to the client. It returns whether the message was edited,
// and the error that ends the exchange when it was aborted (a 502 for the
// client) or its client went away (recorded as 499). A replayed flow, or
// one already held in this phase, is not held. It marks the exchange
// (Stage "rules", Name "breakpoint": how long it was held and how it
// ended; "modified" when edited).
func (h *Holds) Hold(f *proxy.Flow, phase match.Phase, res *http.Response, rule string) (edited bool, err error) {
	if h == nil || f.Replay() || f.Value(heldKey{phase}) != nil {
		return false, nil
	}
	if phase == match.PhaseResponse && (res == nil || res.StatusCode == http.StatusSwitchingProtocols) {
		// A switched protocol has no message left to hold.
		return false, nil
	}
	f.Set(heldKey{phase}, true)
	req := f.Out
	if req == nil {
		req = f.In
	}
	hd := &hold{decided: make(chan decision, 1)}
	hd.Phase, hd.Rule = phase, rule
	hd.Method, hd.URL = req.Method, absURL(f, req)
	h.mu.Lock()
	bodyCap := h.bodyCap
	h.mu.Unlock()
	if phase == match.PhaseRequest {
		err = hd.prepareRequest(req, bodyCap)
	} else {
		err = hd.prepareResponse(req, res, bodyCap)
	}
	if err != nil {
		return false, err
	}

	timer, stop := h.after(h.timeout)
	defer stop()
	h.add(hd, f.Rec.ID())
	var d decision
	select {
	case d = <-hd.decided:
	case <-req.Context().Done():
		d = h.settle(hd, clientGone)
	case <-timer:
		d = h.settle(hd, timedOut)
	}

	took := h.now().Sub(hd.Since)
	mark := func(what string) { note(f, "breakpoint", "held "+heldFor(took)+", "+what, 0) }
	switch d.outcome {
	case aborted:
		mark("aborted")
		return false, &record.Error{Kind: record.ErrRejected, Status: http.StatusBadGateway,
			Message: "aborted in devproxy at a breakpoint (" + ruleLabel(rule) + ")"}
	case clientGone:
		mark("client gone")
		return false, &record.Error{Kind: record.ErrCanceled, Status: proxy.StatusClientClosed,
			Message: "the client went away while the exchange was held at a breakpoint (" + ruleLabel(rule) + ")"}
	case timedOut:
		h.log.Warn(fmt.Sprintf("breakpoint on %s timed out after %s; resumed unchanged", hd.label(), shortDuration(h.timeout)),
			"rule", rule, "phase", phase.String())
		mark("timed out")
		return false, nil
	}
	switch {
	case d.req != nil:
		applyRequest(req, *d.req, hd.BodyEditable)
	case d.res != nil:
		applyResponse(res, *d.res, hd.BodyEditable)
	default:
		mark("resumed unchanged")
		return false, nil
	}
	note(f, "breakpoint", "held "+heldFor(took)+", resumed edited", kindModified)
	return true, nil
}

// add puts hd in the held set under the exchange's id.
func (h *Holds) add(hd *hold, id uint64) {
	h.mu.Lock()
	if id == 0 || h.held[id] != nil {
		h.unnamed++
		id = 1<<63 | h.unnamed
	}
	hd.ID = id
	hd.Since = h.now()
	hd.Deadline = hd.Since.Add(h.timeout)
	h.held[id] = hd
	h.mu.Unlock()
	h.notify()
}

// settle ends hd's hold for reason o, unless a decision came first: then
// that decision stands.
func (h *Holds) settle(hd *hold, o outcome) decision {
	h.decide(hd, decision{outcome: o})
	return <-hd.decided
}

// label names the held exchange in messages: "#12", or "an unrecorded
// exchange" for one that has no id in the recorder.
func (hd *hold) label() string {
	if hd.ID&(1<<63) != 0 {
		return "an unrecorded exchange"
	}
	return "#" + strconv.FormatUint(hd.ID, 10)
}

// prepareRequest buffers req's body when it can be edited and fills in
// hd's text.
func (hd *hold) prepareRequest(req *http.Request, bodyCap int64) error {
	body, why, err := bufferBody(req.Body, req.ContentLength, req.Header, bodyCap, "request")
	if err != nil {
		return err
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	hd.setWhy(why)
	r := record.Request{Method: req.Method, URL: req.URL.RequestURI(), Host: req.Host, Header: record.FieldsFromHeader(req.Header)}
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	if hd.BodyEditable {
		r.Body = record.Body{Bytes: body, Size: int64(len(body)), Complete: true}
	}
	hd.Text = string(export.FormatRaw(r))
	return nil
}

// prepareResponse buffers res's body when it can be edited and fills in
// hd's text.
func (hd *hold) prepareResponse(req *http.Request, res *http.Response, bodyCap int64) error {
	hd.Status = res.StatusCode
	var body []byte
	var why string
	if bodyless(req.Method, res.StatusCode) {
		why = "the response has no body (" + bodylessWhy(req.Method, res.StatusCode) + ")"
	} else {
		var err error
		body, why, err = bufferBody(res.Body, res.ContentLength, res.Header, bodyCap, "response")
		if err != nil {
			return fmt.Errorf("reading the response body to hold it at a breakpoint: %w", err)
		}
		if body != nil {
			_ = res.Body.Close()
			res.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	hd.setWhy(why)
	r := record.Response{Status: res.StatusCode, Reason: reasonOf(res), Header: record.FieldsFromHeader(res.Header)}
	if hd.BodyEditable {
		r.Body = record.Body{Bytes: body, Size: int64(len(body)), Complete: true}
	}
	hd.Text = string(export.FormatRawResponse(r))
	return nil
}

// setWhy records why the body cannot be edited ("" when it can).
func (hd *hold) setWhy(why string) {
	hd.why, hd.BodyEditable = why, why == ""
	if why == "" {
		return
	}
	start := "status"
	if hd.Phase == match.PhaseRequest {
		start = "request line"
	}
	hd.Note = why + "; only the " + start + " and headers can be edited"
}

// bufferBody reads a body of known length up to bodyCap bytes into memory
// (nil for no body) and says why it cannot be edited as text, if so; a
// body of unknown length (a stream, an upload in progress), an event
// stream or one larger than bodyCap is left unread.
func bufferBody(body io.ReadCloser, length int64, hdr http.Header, bodyCap int64, what string) ([]byte, string, error) {
	if ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type")); ct == "text/event-stream" {
		return nil, "the " + what + " is an event stream", nil
	}
	switch {
	case body == nil || body == http.NoBody || length == 0:
		return nil, "", nil
	case length < 0:
		return nil, "the " + what + " body is streamed (no Content-Length)", nil
	case length > bodyCap:
		return nil, fmt.Sprintf("the %s body (%s) is larger than the %s capture cap", what, units.Size(length), units.Size(bodyCap)), nil
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, "", err
	}
	if data == nil {
		data = []byte{}
	}
	if ce := hdr.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return data, "the " + what + " body is " + ce + "-encoded", nil
	}
	if !utf8.Valid(data) {
		return data, fmt.Sprintf("the %s body is binary (%s)", what, units.Size(int64(len(data)))), nil
	}
	return data, "", nil
}

// bodyless reports whether a response to method with status has no body.
func bodyless(method string, status int) bool {
	return method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified || status < 200
}

func bodylessWhy(method string, status int) string {
	if method == http.MethodHead {
		return "an answer to HEAD"
	}
	return strconv.Itoa(status)
}

// parse reads edited text for hd's phase.
func (hd *hold) parse(raw string) (decision, error) {
	d := decision{outcome: resumed}
	var body []byte
	if hd.Phase == match.PhaseRequest {
		base := "http://placeholder.invalid"
		if u, err := url.Parse(hd.URL); err == nil && u.Host != "" {
			base = u.Scheme + "://" + u.Host
		}
		req, err := export.ParseRaw([]byte(raw), base)
		if err != nil {
			return d, err
		}
		d.req, body = &req, req.Body.Bytes
	} else {
		res, err := export.ParseRawResponse([]byte(raw))
		if err != nil {
			return d, err
		}
		d.res, body = &res, res.Body.Bytes
	}
	if !hd.BodyEditable && len(body) > 0 {
		return d, fmt.Errorf("the body cannot be edited here (%s); leave nothing after the blank line", hd.why)
	}
	return d, nil
}

// applyRequest makes out the edited request. The destination stays the
// router's (or a map rule's): only the method, path, query, Host, headers
// and, when editable, the body change.
func applyRequest(out *http.Request, r record.Request, bodyEditable bool) {
	out.Method = r.Method
	if u, err := url.Parse(r.URL); err == nil {
		out.URL.Path, out.URL.RawPath, out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	}
	out.Host = r.Host
	h := r.Header.Header()
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // keep net/http from adding its own
	}
	out.Header = h
	if !bodyEditable {
		return
	}
	body := r.Body.Bytes
	out.ContentLength = int64(len(body))
	out.TransferEncoding = nil
	if len(body) == 0 {
		out.Body, out.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// applyResponse makes res the edited response; its framing headers are
// recomputed for an edited body and kept otherwise.
func applyResponse(res *http.Response, r record.Response, bodyEditable bool) {
	framing := map[string][]string{}
	for _, k := range []string{"Content-Length", "Transfer-Encoding"} {
		if v, ok := res.Header[k]; ok {
			framing[k] = v
		}
	}
	res.StatusCode = r.Status
	reason := r.Reason
	if reason == "" {
		reason = http.StatusText(r.Status)
	}
	res.Status = strings.TrimSpace(strconv.Itoa(r.Status) + " " + reason)
	clear(res.Header)
	for k, v := range r.Header.Header() {
		res.Header[k] = v
	}
	if !bodyEditable {
		for k, v := range framing {
			res.Header[k] = v
		}
		return
	}
	body := r.Body.Bytes
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.TransferEncoding = nil
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// absURL is the request's URL as the client would write it.
func absURL(f *proxy.Flow, req *http.Request) string {
	if req.URL.IsAbs() {
		return req.URL.String()
	}
	scheme := "http"
	if f.In.TLS != nil {
		scheme = "https"
	}
	host := req.Host
	if host == "" {
		host = f.In.Host
	}
	return scheme + "://" + host + req.URL.RequestURI()
}

func reasonOf(res *http.Response) string {
	if _, after, ok := strings.Cut(res.Status, " "); ok {
		return after
	}
	return http.StatusText(res.StatusCode)
}

// ruleLabel is "rule NAME", or "a breakpoint rule" for an unnamed one.
func ruleLabel(name string) string {
	if name == "" {
		return "a breakpoint rule"
	}
	return "rule " + name
}

// heldFor writes how long an exchange was held: "<1s", "12s", "5m", "1m30s".
func heldFor(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return shortDuration(d)
}

// shortDuration writes d rounded to the second without zero units:
// "5m" rather than "5m0s", "1h" rather than "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
