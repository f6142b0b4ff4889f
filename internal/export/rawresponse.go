package export

// Responses as HTTP/1.1 text, the counterpart of raw.go's requests: a
// response held at a breakpoint is edited as this text.

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
)

// RawResponseEditable reports why res's body cannot be edited as text, or
// nil when it can, by the rules of RawEditable for requests: complete,
// captured whole, UTF-8.
func RawResponseEditable(res record.Response) error { return bodyEditable(res.Body, "response") }

// FormatRawResponse renders a response as HTTP/1.1 text for editing: the
// status line, the headers, a blank line, the body.
//
// Lines end in "\n". The status line is "HTTP/1.1 CODE REASON" (the reason
// is res.Reason, else the status text). Content-Length, Transfer-Encoding
// and HTTP/2 pseudo-headers are left out: whoever sends the response
// frames it. The body is written only when RawResponseEditable(res) is nil,
// followed by one "\n" that ParseRawResponse strips again.
func FormatRawResponse(res record.Response) []byte {
	var b bytes.Buffer
	reason := res.Reason
	if reason == "" {
		reason = http.StatusText(res.Status)
	}
	fmt.Fprintf(&b, "HTTP/1.1 %03d", res.Status)
	if reason != "" {
		b.WriteString(" " + reason)
	}
	b.WriteByte('\n')
	for _, h := range res.Header {
		switch {
		case strings.EqualFold(h.Name, "Content-Length"), strings.EqualFold(h.Name, "Transfer-Encoding"),
			strings.HasPrefix(h.Name, ":"):
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
	}
	b.WriteByte('\n')
	if len(res.Body.Bytes) > 0 && RawResponseEditable(res) == nil {
		b.Write(res.Body.Bytes)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseRawResponse reads HTTP/1.1 response text as FormatRawResponse writes
// it (and as a user may edit it). Errors are *RawError with the 1-based
// line.
//
// The status line is "HTTP/x.y CODE [REASON]" with a three-digit code from
// 100 to 599; blank lines before it are skipped. Headers follow the rules
// of ParseRaw (tokens for names, no CR, LF or NUL in values, no folding);
// Content-Length and Transfer-Encoding are dropped. The body is everything
// after the first blank line minus one trailing "\n" (or "\r\n"); it is
// Complete, with Size its length.
func ParseRawResponse(text []byte) (record.Response, error) {
	var res record.Response
	lines := newLineReader(text)
	var first string
	for {
		l, ok := lines.next()
		if !ok {
			return res, &RawError{Line: max(lines.no, 1), Msg: "empty response"}
		}
		if strings.TrimSpace(l) != "" {
			first = l
			break
		}
	}
	statusLine := lines.no
	proto, rest, _ := strings.Cut(strings.TrimLeft(first, " \t"), " ")
	code, reason, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if !protoPattern.MatchString(proto) {
		return res, &RawError{Line: statusLine, Msg: fmt.Sprintf(`expected "HTTP/1.1 200 OK", got %q`, first)}
	}
	status, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || status < 100 || status > 599 {
		return res, &RawError{Line: statusLine, Msg: fmt.Sprintf("status %q is not a code from 100 to 599", code)}
	}
	reason = strings.TrimSpace(reason)
	if i := strings.IndexAny(reason, "\r\x00"); i >= 0 {
		return res, &RawError{Line: statusLine, Msg: fmt.Sprintf("the reason phrase has a control character (%q)", reason[i])}
	}
	res.Proto, res.Status, res.Reason = proto, status, reason

	for {
		l, ok := lines.next()
		if !ok || l == "" {
			break
		}
		f, msg := parseHeaderLine(l)
		if msg != "" {
			return res, &RawError{Line: lines.no, Msg: msg}
		}
		if strings.EqualFold(f.Name, "Content-Length") || strings.EqualFold(f.Name, "Transfer-Encoding") {
			continue // the sender frames the body
		}
		res.Header = append(res.Header, f)
	}
	body := lines.body()
	res.Body = record.Body{Size: int64(len(body)), Complete: true}
	if len(body) > 0 {
		res.Body.Bytes = append([]byte(nil), body...)
	}
	return res, nil
}

// lineReader splits raw message text into lines, as ParseRaw does.
type lineReader struct {
	rest []byte
	no   int  // 1-based number of the line last returned
	crlf bool // a line ended in "\r\n"
}

func newLineReader(text []byte) *lineReader { return &lineReader{rest: text} }

func (r *lineReader) next() (string, bool) {
	if len(r.rest) == 0 {
		return "", false
	}
	r.no++
	var line []byte
	if i := bytes.IndexByte(r.rest, '\n'); i < 0 {
		line, r.rest = r.rest, nil
	} else {
		line, r.rest = r.rest[:i], r.rest[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
		r.crlf = true
	}
	return string(line), true
}

// body is what is left, minus the one newline an editor or the formatter
// added.
func (r *lineReader) body() []byte {
	b := r.rest
	if r.crlf && bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// parseHeaderLine reads "Name: value", or says what is wrong with it.
func parseHeaderLine(l string) (record.Field, string) {
	if l[0] == ' ' || l[0] == '\t' {
		return record.Field{}, "folded header lines (starting with a space or tab) are not supported; put the value on one line"
	}
	name, value, found := strings.Cut(l, ":")
	if !found {
		return record.Field{}, fmt.Sprintf(`header %q has no ":"; expected "Name: value"`, l)
	}
	if msg := checkHeaderName(name); msg != "" {
		return record.Field{}, msg
	}
	value = strings.Trim(value, " \t")
	if i := strings.IndexAny(value, "\r\n\x00"); i >= 0 {
		return record.Field{}, fmt.Sprintf("header %q has a control character (%q) in its value", name, value[i])
	}
	return record.Field{Name: name, Value: value}, ""
}
