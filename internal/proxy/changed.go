package proxy

import (
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/devproxy/devproxy/internal/record"
)

// What the stages changed is recorded beside what the client sent and got:
// the request line and headers that went upstream (record.SentRequest) and
// the status and headers the upstream answered (record.UpstreamResponse),
// each only when a stage changed them, against a snapshot taken before the
// first stage ran. Bodies are not copied: the stages' marks say when one
// changed.
//
// A snapshot copies no header values: it keeps each name's value slice,
// as stages replace values (Header.Set, Add, Del, a new map) rather than
// edit them in place, and it lives on the stack for up to snapMax names,
// so that an exchange the stages leave alone costs no allocation.

// snapMax is how many header names a snapshot holds without allocating.
const snapMax = 24

// headerPair is one name of a snapshot and its values then.
type headerPair struct {
	name   string
	values []string
}

// snapHeader appends h's names and value slices to buf.
func snapHeader(h http.Header, buf []headerPair) []headerPair {
	for k, v := range h {
		buf = append(buf, headerPair{k, v[:len(v):len(v)]})
	}
	return buf
}

// sameHeader reports whether h still holds the snapshot's names with the
// same values in the same order, and no others.
func sameHeader(snap []headerPair, h http.Header) bool {
	if len(snap) != len(h) {
		return false
	}
	for _, p := range snap {
		v, ok := h[p.name]
		if !ok || !slices.Equal(p.values, v) {
			return false
		}
	}
	return true
}

// snapFields is a snapshot as record.Fields, in record.FieldsFromHeader's
// order.
func snapFields(snap []headerPair) record.Fields {
	s := slices.Clone(snap)
	sort.Slice(s, func(i, j int) bool { return s[i].name < s[j].name })
	var out record.Fields
	for _, p := range s {
		for _, v := range p.values {
			out = append(out, record.Field{Name: p.name, Value: v})
		}
	}
	return out
}

// requestLine is a request's method, target and headers at one moment.
type requestLine struct {
	method, path, rawPath, query string
	header                       []headerPair
}

// lineOf snapshots r's line and headers into buf.
func lineOf(r *http.Request, buf []headerPair) requestLine {
	return requestLine{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, snapHeader(r.Header, buf)}
}

// same reports whether r still has l's line and headers.
func (l *requestLine) same(r *http.Request) bool {
	return l.method == r.Method && l.path == r.URL.Path && l.rawPath == r.URL.RawPath &&
		l.query == r.URL.RawQuery && sameHeader(l.header, r.Header)
}

// sentRequest is what of r goes upstream, for the record: its line and its
// headers but those of this hop (record.HopHeader) and an empty
// User-Agent, which only tells net/http to send none. Content-Length is
// the one net/http sends, from r.ContentLength (a stage that changes the
// body sets that, not the header).
func sentRequest(r *http.Request) record.SentRequest {
	h := make(http.Header, len(r.Header)+1)
	for k, v := range r.Header {
		if record.HopHeader(k) || k == "Content-Length" || k == "User-Agent" && len(v) == 1 && v[0] == "" {
			continue
		}
		h[k] = v
	}
	if n := r.ContentLength; n > 0 || n == 0 && r.Header.Get("Content-Length") == "0" {
		h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	}
	return record.SentRequest{Method: r.Method, URL: r.URL.RequestURI(), Header: record.FieldsFromHeader(h)}
}

// statusLine is a response's status and headers at one moment.
type statusLine struct {
	status int
	header []headerPair
}

// statusOf snapshots res's status and headers into buf.
func statusOf(res *http.Response, buf []headerPair) statusLine {
	return statusLine{res.StatusCode, snapHeader(res.Header, buf)}
}

// changed returns the record of l when res no longer has its status or
// headers, else nil.
func (l *statusLine) changed(res *http.Response) *record.UpstreamResponse {
	if l.status == res.StatusCode && sameHeader(l.header, res.Header) {
		return nil
	}
	return &record.UpstreamResponse{Status: l.status, Header: snapFields(l.header)}
}
