// Package export renders a recorded request as text to run or edit again:
// a curl command line ("Copy as cURL") and raw HTTP/1.1 request text, which
// ParseRaw reads back for "edit and replay". It redacts nothing: the text
// holds the request as recorded, credentials included.
package export

// "Copy as cURL", by Chrome DevTools' rules (shared/notes/ecosystem.md §2.4)
// with two deliberate differences: HEAD becomes -I (curl -X HEAD waits for a
// body that never comes), and --compressed is added only when the request
// asked for compression.

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// CurlBodyFile is the file name a curl command reads a binary request body
// from (--data-binary @body.bin); the command's trailing comment says so.
const CurlBodyFile = "body.bin"

// Curl renders x's request as a curl command line by Chrome's rules.
//
// The URL is Request.URL (what the client asked for). Host, Content-Length,
// Transfer-Encoding, Accept-Encoding and HTTP/2 pseudo-headers are left to
// curl; Accept-Encoding becomes --compressed. The body goes in --data-raw;
// a body that is not UTF-8 text (or holds NUL bytes, which a shell string
// cannot carry) becomes --data-binary @body.bin with a comment line saying
// to save it there. A truncated or incomplete body is still written, with a
// comment warning that the command sends only part of it. -X is given only
// when curl would not infer the method (GET without a body, POST with one);
// HEAD is -I. Arguments use POSIX single quotes, or ANSI-C $'…' quoting when
// they hold control characters, "'" or "!". A URL with []{} gets --globoff.
// Lines are joined with " \" and a newline; comment lines follow the command.
func Curl(x record.Exchange) string { return CurlWith(x, CurlOptions{}) }

// CurlOptions change the command Curl writes.
type CurlOptions struct {
	// Insecure adds -k, which makes curl accept a certificate it cannot
	// verify, and a comment line saying so and why: Why, if set.
	Insecure bool
	Why      string
}

// CurlWith is Curl with options.
func CurlWith(x record.Exchange, o CurlOptions) string {
	rq := &x.Request
	lines := []string{"curl " + shellQuote(rq.URL)}
	var comments []string
	if o.Insecure {
		lines = append(lines, "  -k")
		c := "# -k: curl does not verify the server's certificate"
		if o.Why != "" {
			c += ": " + o.Why
		}
		comments = append(comments, c+".")
	}

	data := rq.Body.Bytes
	hasBody := len(data) > 0 || rq.Body.Size > 0
	switch {
	case rq.Method == "HEAD" && !hasBody:
		lines = append(lines, "  -I")
	case rq.Method == "" || rq.Method == "GET" && !hasBody || rq.Method == "POST" && hasBody:
	default:
		lines = append(lines, "  -X "+shellQuote(rq.Method))
	}

	compressed := false
	dropEncoding := x.BodiesDecoded && body.ContentEncoding(rq.Header) != "" && hasBody
	for _, h := range rq.Header {
		switch strings.ToLower(h.Name) {
		case "host", "content-length", "transfer-encoding":
			continue
		case "accept-encoding":
			compressed = true
			continue
		case "content-encoding":
			if dropEncoding {
				continue
			}
		}
		if strings.HasPrefix(h.Name, ":") {
			continue
		}
		if h.Value == "" {
			// "-H 'X:'" would tell curl to remove the header; "X;" sends
			// it empty.
			lines = append(lines, "  -H "+shellQuote(h.Name+";"))
			continue
		}
		lines = append(lines, "  -H "+shellQuote(h.Name+": "+h.Value))
	}
	if dropEncoding {
		comments = append(comments, fmt.Sprintf("# The body was stored decoded on import, so its Content-Encoding (%s) is not sent.", body.ContentEncoding(rq.Header)))
	}

	if hasBody {
		if body.IsBinary(data) {
			lines = append(lines, "  --data-binary @"+CurlBodyFile)
			comments = append(comments, fmt.Sprintf("# The request body is binary (%d bytes): save it to %s before running this command.", len(data), CurlBodyFile))
		} else {
			lines = append(lines, "  --data-raw "+shellQuote(string(data)))
		}
		switch {
		case rq.Body.Truncated:
			comments = append(comments, fmt.Sprintf("# Warning: the request body was truncated when captured: this sends %d of its %d bytes.", len(data), rq.Body.Size))
		case !rq.Body.Complete:
			comments = append(comments, fmt.Sprintf("# Warning: the request body did not complete: this sends the %d bytes that arrived.", len(data)))
		}
	}
	if compressed {
		lines = append(lines, "  --compressed")
	}
	if strings.ContainsAny(rq.URL, "[]{}") {
		lines = append(lines, "  --globoff")
	}
	out := strings.Join(lines, " \\\n")
	if len(comments) > 0 {
		out += "\n" + strings.Join(comments, "\n")
	}
	return out
}

// shellQuote quotes s for a POSIX shell: '…' when that is enough, $'…' when
// s holds control characters, "'" or "!" (which an interactive bash would
// expand even in some quoted forms).
func shellQuote(s string) string {
	needsANSI := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\'' || r == '!' || r == utf8.RuneError {
			needsANSI = true
			break
		}
	}
	if !needsANSI {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'':
			b.WriteString(`\'`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '!':
			b.WriteString(`\x21`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteString("'")
	return b.String()
}
