package export

// Requests as HTTP/1.1 text, for "edit and replay": FormatRaw writes the
// text a user edits, ParseRaw reads it back.

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// RawEditable reports why req cannot be edited as text, or nil when it can:
// its body must be complete, captured whole and UTF-8 text (HTTP has no
// comments, so FormatRaw cannot mark a partial or binary body in place).
// Callers check it before FormatRaw.
func RawEditable(req record.Request) error { return bodyEditable(req.Body, "request") }

// bodyEditable reports why body b (of the request or the response: side)
// cannot be edited as text, or nil.
func bodyEditable(b record.Body, side string) error {
	switch {
	case b.Truncated:
		return fmt.Errorf("the %s body was truncated when captured (%d of %d bytes), so it cannot be edited as text", side, len(b.Bytes), b.Size)
	case !b.Complete && (b.Size > 0 || len(b.Bytes) > 0):
		return fmt.Errorf("the %s body is incomplete (it never finished arriving), so it cannot be edited as text", side)
	case !utf8.Valid(b.Bytes):
		return fmt.Errorf("the %s body is binary (%d bytes), so it cannot be edited as text", side, len(b.Bytes))
	}
	return nil
}

// FormatRaw renders a request as HTTP/1.1 text for editing: request line
// with the path, a Host line, the other headers, a blank line, the body.
//
// Lines end in "\n". The Host line comes from req.Host, else the URL's host.
// Content-Length and Transfer-Encoding are left out (ParseRaw recomputes the
// length from the body) and so are HTTP/2 pseudo-headers. The body is
// written only when RawEditable(req) is nil; otherwise the text ends after
// the blank line, so callers must check RawEditable first. A written body is
// followed by one "\n", which ParseRaw strips again, so the body round-trips
// whether or not it ends in a newline.
func FormatRaw(req record.Request) []byte {
	var b bytes.Buffer
	target, host := "/", req.Host
	if u, err := url.Parse(req.URL); err == nil {
		target = u.RequestURI()
		if u.Opaque == "" && !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		if host == "" {
			host = u.Host
		}
	}
	method := req.Method
	if method == "" {
		method = "GET"
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\n", method, target)
	if host != "" {
		fmt.Fprintf(&b, "Host: %s\n", host)
	}
	for _, h := range req.Header {
		switch {
		case strings.EqualFold(h.Name, "Host"), strings.EqualFold(h.Name, "Content-Length"),
			strings.EqualFold(h.Name, "Transfer-Encoding"), strings.HasPrefix(h.Name, ":"):
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
	}
	b.WriteByte('\n')
	if len(req.Body.Bytes) > 0 && RawEditable(req) == nil {
		b.Write(req.Body.Bytes)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseRaw reads HTTP/1.1 request text as FormatRaw writes it (and as a user
// may edit it). base supplies scheme and host when the request line holds a
// path only. Errors are *RawError with the 1-based line.
//
// Lines may end in "\n" or "\r\n"; blank lines before the request line are
// skipped. The request line is "METHOD target [HTTP/x.y]" (version default
// HTTP/1.1); the target is an absolute http(s) URL or a path joined with
// base (e.g. "http://127.0.0.1:8080"; only its scheme and host are used).
// With a path, a Host header replaces base's host. Header lines are "Name: value"; names must be HTTP tokens,
// values may not hold CR, LF or NUL, and folded (indented) lines are
// refused. Host goes to Request.Host; Content-Length and Transfer-Encoding
// are dropped, the sender recomputes them. The body is everything after the
// first blank line, minus exactly one trailing "\n" (or "\r\n" when the
// text uses CRLF) that FormatRaw or an editor added; Body.Complete is true
// and Size its length. Empty text is an error ("empty request").
func ParseRaw(text []byte, base string) (record.Request, error) {
	var req record.Request
	if len(bytes.TrimSpace(text)) == 0 {
		return req, &RawError{Line: 1, Msg: "empty request"}
	}
	rest := text
	lineNo := 0
	crlf := false
	next := func() (string, bool) {
		if len(rest) == 0 {
			return "", false
		}
		lineNo++
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
			crlf = true
		}
		return string(line), true
	}

	var first string
	for {
		l, ok := next()
		if !ok {
			return req, &RawError{Line: lineNo, Msg: "empty request"}
		}
		if strings.TrimSpace(l) != "" {
			first = l
			break
		}
	}
	reqLine := lineNo
	parts := strings.Fields(first)
	if len(parts) < 2 || len(parts) > 3 {
		return req, &RawError{Line: reqLine, Msg: `expected "METHOD /path HTTP/1.1"`}
	}
	method, target := parts[0], parts[1]
	if !isToken(method) {
		return req, &RawError{Line: reqLine, Msg: fmt.Sprintf("method %q is not a valid HTTP token", method)}
	}
	req.Method = method
	req.Proto = "HTTP/1.1"
	if len(parts) == 3 {
		if !protoPattern.MatchString(parts[2]) {
			return req, &RawError{Line: reqLine, Msg: fmt.Sprintf(`version %q is not like "HTTP/1.1"`, parts[2])}
		}
		req.Proto = parts[2]
	}

	var hostLine int
	for {
		l, ok := next()
		if !ok || l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return req, &RawError{Line: lineNo, Msg: "folded header lines (starting with a space or tab) are not supported; put the value on one line"}
		}
		name, value, found := strings.Cut(l, ":")
		if !found {
			return req, &RawError{Line: lineNo, Msg: fmt.Sprintf(`header %q has no ":"; expected "Name: value"`, l)}
		}
		if err := checkHeaderName(name); err != "" {
			return req, &RawError{Line: lineNo, Msg: err}
		}
		value = strings.Trim(value, " \t")
		if i := strings.IndexAny(value, "\r\n\x00"); i >= 0 {
			return req, &RawError{Line: lineNo, Msg: fmt.Sprintf("header %q has a control character (%q) in its value", name, value[i])}
		}
		switch {
		case strings.EqualFold(name, "Host"):
			if hostLine != 0 {
				return req, &RawError{Line: lineNo, Msg: fmt.Sprintf("a second Host header (the first is on line %d)", hostLine)}
			}
			hostLine = lineNo
			if !validHost(value) {
				return req, &RawError{Line: lineNo, Msg: fmt.Sprintf("Host %q is not a host or host:port", value)}
			}
			req.Host = value
		case strings.EqualFold(name, "Content-Length"), strings.EqualFold(name, "Transfer-Encoding"):
			// recomputed by whoever sends the request
		default:
			req.Header = append(req.Header, record.Field{Name: name, Value: value})
		}
	}

	body := rest
	if crlf && bytes.HasSuffix(body, []byte("\r\n")) {
		body = body[:len(body)-2]
	} else if bytes.HasSuffix(body, []byte("\n")) {
		body = body[:len(body)-1]
	}
	req.Body = record.Body{Bytes: append([]byte(nil), body...), Size: int64(len(body)), Complete: true}
	if len(body) == 0 {
		req.Body.Bytes = nil
	}

	u, err := requestURL(target, base, req.Host)
	if err != nil {
		return req, &RawError{Line: reqLine, Msg: err.Error()}
	}
	req.URL = u
	if req.Host == "" {
		if pu, err := url.Parse(u); err == nil {
			req.Host = pu.Host
		}
	}
	return req, nil
}

var protoPattern = regexp.MustCompile(`^HTTP/[0-9](\.[0-9])?$`)

// requestURL builds the absolute URL for a request-line target. Only the
// scheme and host of base are used; a path target is appended as written
// (so "//x" stays a path, not a host).
func requestURL(target, base, host string) (string, error) {
	if strings.HasPrefix(target, "/") {
		scheme := "http"
		if base != "" {
			pb, err := url.Parse(base)
			if err != nil || pb.Host == "" || (pb.Scheme != "http" && pb.Scheme != "https") {
				return "", fmt.Errorf("base URL %q is not an absolute http(s) URL", base)
			}
			scheme = pb.Scheme
			if host == "" {
				host = pb.Host
			}
		}
		if host == "" {
			return "", fmt.Errorf("the request line has only a path (%q) and there is no Host header or base URL to say where to send it", target)
		}
		u := scheme + "://" + host + target
		if _, err := url.Parse(u); err != nil {
			return "", fmt.Errorf("path %q: %v", target, unwrapURLError(err))
		}
		return u, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("URL %q: %v", target, unwrapURLError(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf(`target %q is neither a path ("/…") nor an absolute http(s) URL`, target)
	}
	return target, nil
}

// validHost reports whether h is a plain host[:port] (as a Host header
// must be): it survives a URL round trip unchanged.
func validHost(h string) bool {
	if h == "" || strings.ContainsAny(h, "/?#@\\ \t%") {
		return false
	}
	u, err := url.Parse("http://" + h + "/")
	return err == nil && u.Host == h && u.User == nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkHeaderName returns why name is not a valid header name, or "".
func checkHeaderName(name string) string {
	if name == "" {
		return `a header line starts with ":"; expected "Name: value"`
	}
	if strings.ContainsAny(name, " \t") {
		return fmt.Sprintf("header %q has a space in its name", name)
	}
	for _, r := range name {
		if r >= utf8.RuneSelf || !tokenChar[r] {
			return fmt.Sprintf("header name %q has an invalid character %q", name, r)
		}
	}
	return ""
}

// tokenChar marks the characters of an HTTP token (RFC 9110 §5.6.2).
var tokenChar = func() (t [utf8.RuneSelf]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= utf8.RuneSelf || !tokenChar[r] {
			return false
		}
	}
	return true
}

// RawError is a parse error in raw request text.
type RawError struct {
	Line int    // 1-based line of the problem
	Msg  string // what is wrong, for a person
}

// Error returns "line N: message".
func (e *RawError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }
