package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

func init() { register("replace", parseReplace) }

// replaceWindow is the most of a body replace holds at once. A body whose
// length is known and at most this is rewritten whole, and keeps an exact
// Content-Length; a longer one, or one of unknown length, is rewritten as
// it streams (see replaceStream) and goes on chunked.
const replaceWindow = 64 << 10

// replaceBody is "replace [request|response] REGEX REPLACEMENT": every
// match of REGEX (Go's RE2 syntax) in the request body (the default) or
// the response body is replaced, with $1 or ${name} standing for groups.
// A body in a content coding devproxy reads (gzip, deflate, br, zstd) is
// decoded first and goes on without its Content-Encoding.
type replaceBody struct {
	side headerSide
	re   *regexp.Regexp
	repl string
}

func parseReplace(args []string) (Action, error) {
	side, args := cutSide(args, 2)
	if len(args) != 2 {
		return nil, errors.New(`write replace [request|response] REGEX REPLACEMENT, e.g. replace response "\"price\": *[0-9]+" "\"price\": 0"`)
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression (Go RE2 syntax): %s", args[0], strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	if re.Match(nil) {
		return nil, fmt.Errorf("%q matches empty text, so it would insert the replacement between every two bytes; make it match at least one character", args[0])
	}
	return &replaceBody{side: side, re: re, repl: args[1]}, nil
}

func (a *replaceBody) Name() string  { return "replace" }
func (a *replaceBody) Prob() float64 { return 1 }

func (a *replaceBody) Phase() match.Phase {
	if a.side == onResponse {
		return match.PhaseResponse
	}
	return match.PhaseRequest
}

func (a *replaceBody) String() string {
	if a.side == onResponse {
		return joinArgs("replace", "response", a.re.String(), a.repl)
	}
	return joinArgs("replace", a.re.String(), a.repl)
}

// Request rewrites the outbound request's body.
func (a *replaceBody) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	if a.side != onRequest {
		return nil, nil
	}
	out := f.Out
	if out.Body == nil || out.Body == http.NoBody {
		note(f, "replace", "request: no body", 0)
		return nil, nil
	}
	rc, n, skip := a.decoded(out.Body, out.Header, out.ContentLength)
	if skip != "" {
		out.Body = rc
		note(f, "replace", "request: "+skip, 0)
		return nil, nil
	}
	if n >= 0 && n <= replaceWindow {
		b, count, err := a.whole(rc, n)
		if err != nil {
			return nil, err
		}
		out.Body, out.ContentLength, out.GetBody = io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
		out.Header.Del("Content-Length")
		a.noteCount(f, "request", count, false)
		return nil, nil
	}
	out.Body, out.ContentLength, out.GetBody = a.stream(f, "request", rc), -1, nil
	out.Header.Del("Content-Length")
	return nil, nil
}

// Response rewrites the response body.
func (a *replaceBody) Response(f *proxy.Flow, res *http.Response, _ Env) error {
	if a.side != onResponse {
		return nil
	}
	if res.Body == nil || res.Body == http.NoBody || res.StatusCode == http.StatusSwitchingProtocols ||
		res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified ||
		res.Request != nil && res.Request.Method == http.MethodHead {
		note(f, "replace", "response: no body", 0)
		return nil
	}
	rc, n, skip := a.decoded(res.Body, res.Header, res.ContentLength)
	if skip != "" {
		res.Body = rc
		note(f, "replace", "response: "+skip, 0)
		return nil
	}
	if n >= 0 && n <= replaceWindow {
		b, count, err := a.whole(rc, n)
		if err != nil {
			return err
		}
		res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		res.Header.Set("Content-Length", strconv.Itoa(len(b)))
		a.noteCount(f, "response", count, false)
		return nil
	}
	res.Body, res.ContentLength = a.stream(f, "response", rc), -1
	res.Header.Del("Content-Length")
	return nil
}

// decoded returns the body to rewrite and its length (-1 unknown): the
// body itself, or, in a content coding, its decoded form, with the
// Content-Encoding header removed. skip says why the body is left alone;
// the body returned then reads as the original.
func (a *replaceBody) decoded(rc io.ReadCloser, h http.Header, n int64) (io.ReadCloser, int64, string) {
	ce := strings.TrimSpace(strings.ToLower(h.Get("Content-Encoding")))
	if ce == "" || ce == "identity" {
		return rc, n, ""
	}
	if strings.Contains(ce, ",") {
		return rc, n, "body in several content codings (" + ce + "); not rewritten"
	}
	dec, ok := body.Codings()[ce]
	if !ok {
		return rc, n, "body in content coding " + ce + ", which devproxy cannot decode; not rewritten"
	}
	seen := &rewind{r: rc, keep: true}
	r, err := dec(seen)
	if err != nil {
		// Put back what the decoder read, so the body goes on unchanged.
		return decodedBody{Reader: io.MultiReader(bytes.NewReader(seen.seen), rc), src: rc}, n, fmt.Sprintf("%s body does not decode (%v); not rewritten", ce, err)
	}
	seen.keep, seen.seen = false, nil
	h.Del("Content-Encoding")
	return decodedBody{Reader: r, src: rc}, -1, ""
}

// rewind keeps what is read through it while keep is set, so a body a
// decoder started on can be put back together.
type rewind struct {
	r    io.Reader
	seen []byte
	keep bool
}

func (w *rewind) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if w.keep {
		w.seen = append(w.seen, p[:n]...)
	}
	return n, err
}

// decodedBody reads a decoder and closes both it (when it can be closed)
// and the encoded body under it.
type decodedBody struct {
	io.Reader
	src io.Closer
}

func (d decodedBody) Close() error {
	if c, ok := d.Reader.(io.Closer); ok {
		c.Close()
	}
	return d.src.Close()
}

// whole reads a body of length n (at most replaceWindow) and returns it
// rewritten, with the number of replacements.
func (a *replaceBody) whole(rc io.ReadCloser, n int64) ([]byte, int, error) {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, n))
	if err != nil {
		return nil, 0, err
	}
	var out []byte
	count, end := replaceIn(a.re, []byte(a.repl), b, 0, a.re.FindAllSubmatchIndex(b, -1), 0, len(b), &out)
	if count == 0 {
		return b, 0, nil
	}
	return append(out, b[end:]...), count, nil
}

// replaceIn appends to out the text of b from `from`, with every match in
// locs that starts in [from, until) replaced by repl ($1 expanded), up to
// the end of the last such match. locs are re's matches in b[off:], as
// FindAllSubmatchIndex gives them. It returns the number of matches and
// where the appended text ends in b (from, with none).
func replaceIn(re *regexp.Regexp, repl, b []byte, off int, locs [][]int, from, until int, out *[]byte) (count, end int) {
	end = from
	for _, m := range locs {
		start, stop := off+m[0], off+m[1]
		if start < from {
			continue
		}
		if start >= until {
			break
		}
		*out = append(*out, b[end:start]...)
		*out = re.Expand(*out, repl, b[off:], m)
		end = stop
		count++
	}
	return count, end
}

// noteCount marks how many replacements were made in a body.
func (a *replaceBody) noteCount(f *proxy.Flow, side string, count int, streamed bool) {
	what := fmt.Sprintf("%s body: %d replacements", side, count)
	if count == 1 {
		what = side + " body: 1 replacement"
	}
	if streamed {
		what += " (streamed, sent chunked)"
	}
	if count == 0 {
		note(f, "replace", what, 0)
		return
	}
	note(f, "replace", what, kindModified)
}

// stream wraps rc in a replaceStream. The exchange is marked modified at
// once (its Content-Length goes), and the count marked when the body ends,
// from whichever goroutine reads it.
func (a *replaceBody) stream(f *proxy.Flow, side string, rc io.ReadCloser) io.ReadCloser {
	note(f, "replace", side+" body: rewritten as it streams, sent chunked", kindModified)
	return &replaceStream{src: rc, re: a.re, repl: []byte(a.repl), done: func(count int) {
		f.Rec.Mark(record.Mark{Stage: "rules", Name: "replace", Value: fmt.Sprintf("%s body: %d replacements (streamed)", side, count)})
	}}
}

// replaceStream rewrites a body of any length holding at most about two
// windows of it: it reads until it has two windows past what it has sent
// (or the body ended), replaces the matches that start in the first one
// and sends up to the end of them, and keeps the rest for the next round.
// So a match up to a window (64 KiB) long is found whole, wherever it
// falls. The last byte sent is kept in front as context, so ^ and \b
// judge the start of a round by the text before it. Limits: a longer
// match may be missed or cut; a slow stream (an event stream) reaches the
// client a window at a time or at its end; and when the regex matches
// starting on the context byte itself, the round is searched without it,
// so ^ and \b may then match at the round's start.
type replaceStream struct {
	src  io.ReadCloser
	re   *regexp.Regexp
	repl []byte
	done func(count int)

	buf    []byte // [context byte] + input not sent yet
	ctx    int    // 1 when buf starts with the last byte sent, else 0
	out    []byte // rewritten text not read yet, from outPos
	outPos int
	eof    bool
	err    error // returned once out is drained: io.EOF or the source's error
	count  int
}

func (s *replaceStream) Read(p []byte) (int, error) {
	for s.outPos == len(s.out) {
		if s.err != nil {
			return 0, s.err
		}
		s.round()
	}
	n := copy(p, s.out[s.outPos:])
	s.outPos += n
	return n, nil
}

// round reads the next two windows (or to the end) and rewrites what can
// be rewritten for sure.
func (s *replaceStream) round() {
	if s.buf == nil {
		s.buf = make([]byte, 0, 2*replaceWindow+1)
	}
	for len(s.buf)-s.ctx < 2*replaceWindow && !s.eof {
		n, err := s.src.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			s.err = err
			return
		}
	}
	s.out, s.outPos = s.out[:0], 0
	until := len(s.buf)
	if !s.eof {
		until = s.ctx + replaceWindow
	}
	off, locs := s.matches()
	n, end := replaceIn(s.re, s.repl, s.buf, off, locs, s.ctx, until, &s.out)
	s.count += n
	if end < until {
		s.out = append(s.out, s.buf[end:until]...)
		end = until
	}
	if s.eof {
		s.buf = s.buf[:0]
		s.err = io.EOF
		s.done(s.count)
		return
	}
	// Keep the last byte sent as context for the next round.
	s.ctx = 1
	s.buf = s.buf[:copy(s.buf, s.buf[end-1:])]
}

// matches finds the matches in buf: with the context byte in front, so ^
// and \b see what came before; but if a match starts on that byte (it was
// sent already, so this one is not real, and it may hide a real one that
// overlaps it), without it. It returns the offset in buf the matches are
// relative to.
func (s *replaceStream) matches() (int, [][]int) {
	locs := s.re.FindAllSubmatchIndex(s.buf, -1)
	if s.ctx == 1 && len(locs) > 0 && locs[0][0] == 0 {
		return 1, s.re.FindAllSubmatchIndex(s.buf[1:], -1)
	}
	return 0, locs
}

// Close closes the source.
func (s *replaceStream) Close() error { return s.src.Close() }
