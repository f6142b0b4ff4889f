package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/record"
)

// Replayer sends recorded requests again through a Handler, so a replay is
// recorded, timed and streamed like any other exchange. Each replay is a new
// exchange whose ReplayOf names the original; nothing is edited in place.
type Replayer struct {
	h   *Handler
	rec record.Getter
}

// NewReplayer replays exchanges found in rec (a Recorder, or one that
// also reads a session) through h (h's target decides where they go).
func NewReplayer(h *Handler, rec record.Getter) *Replayer {
	return &Replayer{h: h, rec: rec}
}

// replayInfo travels in the request context from Send to ServeHTTP.
type replayInfo struct {
	of uint64
	id uint64 // set by ServeHTTP
}

// Replay re-sends exchange id as it was recorded and returns the new
// exchange's id.
func (r *Replayer) Replay(ctx context.Context, id uint64) (uint64, error) {
	x, ok := r.rec.Get(id)
	if !ok {
		return 0, fmt.Errorf("replay #%d: the exchange is no longer recorded", id)
	}
	req, err := ReplayRequest(&x)
	if err != nil {
		return 0, err
	}
	return r.Send(ctx, req, id)
}

// ReplayRequest is the request to send when replaying x: refused when it
// cannot be replayed faithfully. Bodies read from a HAR file are already
// decoded, so their Content-Encoding is dropped to match the bytes sent.
func ReplayRequest(x *record.Exchange) (record.Request, error) {
	if err := Replayable(x); err != nil {
		return record.Request{}, err
	}
	req := x.Request
	if x.BodiesDecoded && req.Header.Get("Content-Encoding") != "" {
		h := make(record.Fields, 0, len(req.Header))
		for _, f := range req.Header {
			if !strings.EqualFold(f.Name, "Content-Encoding") {
				h = append(h, f)
			}
		}
		req.Header = h
	}
	return req, nil
}

// AsSent is req (from ReplayRequest) changed into the request as it went
// upstream when rules had changed it (x.Request.Sent): its method, path and
// query and headers. The body is the recorded one, so a Content-Length the
// rules changed (a body replaced in flight) is left for the transport to
// set. Without a change it returns req as it is.
func AsSent(x *record.Exchange, req record.Request) record.Request {
	s := x.Request.Sent
	if s == nil {
		return req
	}
	req.Method = s.Method
	if u, err := url.Parse(req.URL); err == nil {
		if t, err := url.Parse(s.URL); err == nil {
			u.Path, u.RawPath, u.RawQuery = t.Path, t.RawPath, t.RawQuery
			req.URL = u.String()
		}
	}
	h := make(record.Fields, 0, len(s.Header))
	for _, f := range s.Header {
		if strings.EqualFold(f.Name, "Content-Length") {
			continue
		}
		h = append(h, f)
	}
	req.Header = h
	return req
}

// Placeholders a HAR export writes in place of secrets (see record's
// redaction): values read "[redacted]" (or "[redacted: why]" for a body or
// part it could not parse), URL query and form values "%5Bredacted%5D", and
// a JWT keeps its header and payload but its signature reads "redacted".
var (
	redactedMarks = [][]byte{[]byte("[redacted"), []byte("%5Bredacted%5D")}
	redactedJWT   = regexp.MustCompile(`ey[A-Za-z0-9_-]+\.ey[A-Za-z0-9_-]+\.redacted([^A-Za-z0-9_-]|$)`)
)

func hasRedacted(b []byte) bool {
	for _, m := range redactedMarks {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return redactedJWT.Match(b)
}

// Redacted names the parts of req that hold a redaction placeholder instead
// of the recorded value, as in a request read from a redacted HAR export:
// header names (canonical, each once, in order), then "URL" and "body".
// Replaying sends the placeholder as literal text, so a caller should say
// so, let the user supply the values (WithHeaders) or skip the request.
func Redacted(req record.Request) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range req.Header {
		name := http.CanonicalHeaderKey(f.Name)
		if !seen[name] && hasRedacted([]byte(f.Value)) {
			seen[name] = true
			out = append(out, name)
		}
	}
	if hasRedacted([]byte(req.URL)) {
		out = append(out, "URL")
	}
	if hasRedacted(req.Body.Bytes) {
		out = append(out, "body")
	}
	return out
}

// WithHeaders returns req with every recorded line of each name in hs
// replaced by hs's lines of that name (names match in any case); a line
// with an empty value only removes the name. The new lines go at the end.
// req itself is not modified.
func WithHeaders(req record.Request, hs record.Fields) record.Request {
	if len(hs) == 0 {
		return req
	}
	replaced := map[string]bool{}
	for _, f := range hs {
		replaced[http.CanonicalHeaderKey(f.Name)] = true
	}
	h := make(record.Fields, 0, len(req.Header)+len(hs))
	for _, f := range req.Header {
		if !replaced[http.CanonicalHeaderKey(f.Name)] {
			h = append(h, f)
		}
	}
	for _, f := range hs {
		if f.Value != "" {
			h = append(h, f)
		}
	}
	req.Header = h
	return req
}

// NoAnswer says why the target gave no response to x, or nil when it
// answered (even if its body then broke off). A status devproxy wrote in
// the target's place (502 for an unreachable target, 504 for a timeout,
// 508 for a loop) is then devproxy's, not the target's, and must not be
// compared with a recorded status.
func NoAnswer(x *record.Exchange) *record.Error {
	switch {
	case x.Response != nil:
		return nil
	case x.Err != nil:
		return x.Err
	}
	return &record.Error{Kind: record.ErrInternal, Message: "the exchange has no response"}
}

// ReplayRaw sends edited raw HTTP/1.1 request text as a replay of id. Parse
// errors are *export.RawError, with the line.
func (r *Replayer) ReplayRaw(ctx context.Context, id uint64, raw []byte) (uint64, error) {
	base := ""
	if x, ok := r.rec.Get(id); ok {
		if u, err := url.Parse(x.Request.URL); err == nil {
			base = u.Scheme + "://" + u.Host
		}
	}
	if base == "" {
		base = "http://" + r.h.opts.Target.Host
	}
	req, err := export.ParseRaw(raw, base)
	if err != nil {
		return 0, err
	}
	return r.Send(ctx, req, id)
}

// HeadersSetByReplay are sent as net/http computes them for the replayed
// request (framing and connection headers), whatever the recording says.
var HeadersSetByReplay = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Connection"}

// ErrBodyTruncated is wrapped by replay errors for a request body captured
// only in part; the command layer may name the flag that raises the limit.
var ErrBodyTruncated = errors.New("record with a larger body capture limit to replay it")

// Replayable says why an exchange cannot be replayed, or nil.
func Replayable(x *record.Exchange) error {
	b := x.Request.Body
	switch {
	case x.Upgraded:
		return fmt.Errorf("replay %s: it switched protocols (WebSocket); only plain HTTP exchanges can be replayed", x.Label())
	case b.Truncated:
		return fmt.Errorf("replay %s: the request body was captured only in part (%d of %d bytes); %w", x.Label(), len(b.Bytes), b.Size, ErrBodyTruncated)
	case !b.Complete:
		return fmt.Errorf("replay %s: the request body did not arrive complete, so it cannot be sent again", x.Label())
	}
	return nil
}

// Send sends req through the handler as a replay of replayOf (0 for none)
// and waits for the exchange to finish. It returns the new exchange's id (0
// while capture is paused).
func (r *Replayer) Send(ctx context.Context, req record.Request, replayOf uint64) (uint64, error) {
	hreq, err := buildRequest(ctx, req)
	if err != nil {
		return 0, err
	}
	info := &replayInfo{of: replayOf}
	hreq = hreq.WithContext(context.WithValue(hreq.Context(), replayKey{}, info))
	w := &discardResponse{header: http.Header{}}
	r.h.ServeHTTP(w, hreq)
	return info.id, nil
}

func buildRequest(ctx context.Context, req record.Request) (*http.Request, error) {
	if req.Method == "" {
		return nil, errors.New("replay: the request has no method")
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("replay: bad URL %q: %v", req.URL, err)
	}
	var body io.Reader
	if len(req.Body.Bytes) > 0 {
		body = bytes.NewReader(req.Body.Bytes)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("replay: %v", err)
	}
	hreq.Header = req.Header.Header()
	for _, h := range HeadersSetByReplay {
		hreq.Header.Del(h)
	}
	hreq.Host = req.Host
	if hreq.Host == "" {
		hreq.Host = u.Host
	}
	hreq.RemoteAddr = "replay"
	hreq.RequestURI = u.RequestURI()
	hreq.Proto, hreq.ProtoMajor, hreq.ProtoMinor = "HTTP/1.1", 1, 1
	return hreq, nil
}

// discardResponse is the ResponseWriter of a replay: the response is
// recorded by the tap, so the bytes themselves go nowhere.
type discardResponse struct {
	header http.Header
	status int
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(p), nil
}
func (d *discardResponse) WriteHeader(code int) {
	if d.status == 0 && code >= 200 {
		d.status = code
	}
}
func (d *discardResponse) Flush() {}
