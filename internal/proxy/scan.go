package proxy

import (
	"bytes"
	"strconv"
	"strings"
)

// requestScanner follows the HTTP/1.x requests on one client connection as
// the bytes arrive, before net/http parses them, framing bodies the way
// net/http does (Content-Length, or chunked with CRLF-terminated lines). For
// each header block it keeps a verdict: empty when the request may be
// served, else why it must be refused. net/http drops Content-Length when
// Transfer-Encoding is present and unfolds obs-fold lines, so the handler
// cannot see what a front proxy that frames by Content-Length would see:
// only the raw bytes tell.
//
// Where the scanner and net/http could disagree (a malformed chunk, an
// unsupported transfer coding), net/http fails the request and closes the
// connection, so the scanner simply stops.
type requestScanner struct {
	limit int // header bytes kept; net/http refuses larger blocks with 431

	state    scanState
	hdr      []byte // the current or last header block, up to limit bytes
	hdrBytes int    // bytes of the current header block seen
	lineLen  int    // bytes (other than CR) on the current line
	lines    int    // complete lines in the current header block
	remain   int64  // body or chunk bytes still to come
	line     []byte // the current chunk-size or trailer line
	verdicts []string
}

type scanState uint8

const (
	scanHeader scanState = iota
	scanBody             // remain bytes of a Content-Length body
	scanChunkSize
	scanChunkData
	scanChunkEnd // the CRLF after chunk data; line holds what was seen
	scanTrailer
	scanOff // lost sync: the connection is about to be closed
)

// maxChunkLine is net/http's limit on a chunk-size line.
const maxChunkLine = 4096

func newRequestScanner(limit int) *requestScanner {
	return &requestScanner{limit: limit}
}

// feed consumes bytes read from the client.
func (s *requestScanner) feed(p []byte) {
	for len(p) > 0 && s.state != scanOff {
		switch s.state {
		case scanHeader:
			p = s.feedHeader(p)
		case scanBody:
			n := min(int64(len(p)), s.remain)
			p, s.remain = p[n:], s.remain-n
			if s.remain == 0 {
				s.state = scanHeader
			}
		case scanChunkData:
			n := min(int64(len(p)), s.remain)
			p, s.remain = p[n:], s.remain-n
			if s.remain == 0 {
				s.state, s.line = scanChunkEnd, s.line[:0]
			}
		case scanChunkEnd:
			s.line = append(s.line, p[0])
			p = p[1:]
			if len(s.line) == 2 {
				if string(s.line) != "\r\n" {
					s.state = scanOff
					break
				}
				s.state, s.line = scanChunkSize, s.line[:0]
			}
		case scanChunkSize, scanTrailer:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.line = append(s.line, p...)
				p = nil
			} else {
				s.line = append(s.line, p[:i+1]...)
				p = p[i+1:]
				s.endLine()
			}
			if len(s.line) > maxChunkLine {
				s.state = scanOff
			}
		}
	}
}

// endLine handles a complete chunk-size or trailer line in s.line.
func (s *requestScanner) endLine() {
	line := s.line
	s.line = s.line[:0]
	if s.state == scanTrailer {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			s.state = scanHeader
		}
		return
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) || bytes.IndexByte(line, '\r') != len(line)-2 {
		s.state = scanOff
		return
	}
	size, _, _ := bytes.Cut(bytes.TrimRight(line, " \t\r\n"), []byte(";"))
	n, err := strconv.ParseUint(string(size), 16, 63)
	if err != nil || len(size) > 16 {
		s.state = scanOff
		return
	}
	if n == 0 {
		s.state = scanTrailer
		return
	}
	s.state, s.remain = scanChunkData, int64(n)
}

// feedHeader consumes header bytes up to the end of the block and returns
// the rest.
func (s *requestScanner) feedHeader(p []byte) []byte {
	if s.hdrBytes == 0 {
		s.hdr, s.lines, s.lineLen = s.hdr[:0], 0, 0
	}
	for i, c := range p {
		s.hdrBytes++
		if len(s.hdr) < s.limit {
			s.hdr = append(s.hdr, c)
		}
		switch c {
		case '\r':
		case '\n':
			if s.lineLen == 0 {
				s.endHeader()
				return p[i+1:]
			}
			s.lines++
			s.lineLen = 0
		default:
			s.lineLen++
		}
	}
	return nil
}

// endHeader judges a complete header block and sets up its body's framing.
func (s *requestScanner) endHeader() {
	s.hdrBytes = 0
	if s.lines == 0 || len(s.hdr) >= s.limit {
		// An empty request line or an oversized block: net/http refuses it
		// and closes the connection.
		s.verdicts = append(s.verdicts, "")
		s.state = scanOff
		return
	}
	cl, te, folded := framingFields(s.hdr)
	verdict := ""
	switch {
	case len(cl) > 0 && len(te) > 0:
		verdict = "the request has both Content-Length and Transfer-Encoding, which front proxies and servers frame differently (request smuggling)"
	case folded:
		verdict = "the request folds its Content-Length or Transfer-Encoding over several lines (obs-fold), which front proxies and servers read differently (request smuggling)"
	}
	s.verdicts = append(s.verdicts, verdict)
	switch {
	case verdict != "":
		s.state = scanOff // refused and closed
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			s.state = scanOff // net/http answers 501 and closes
			return
		}
		s.state, s.line = scanChunkSize, s.line[:0]
	case len(cl) > 0:
		n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64)
		switch {
		case err != nil || n < 0:
			s.state = scanOff
		case n > 0:
			s.state, s.remain = scanBody, n
		}
	}
}

// next returns the verdict on the oldest header block not yet handed out.
func (s *requestScanner) next() string {
	if len(s.verdicts) == 0 {
		return ""
	}
	v := s.verdicts[0]
	s.verdicts = s.verdicts[1:]
	return v
}

// partial reports whether part of a header block has arrived.
func (s *requestScanner) partial() bool {
	return s.state == scanHeader && s.hdrBytes > 0
}

// framingFields returns the values of a header block's Content-Length and
// Transfer-Encoding fields and whether either was folded (obs-fold), read
// as splitHeaderBlock reads the block but without copying the rest: the
// scanner judges every request's headers.
func framingFields(b []byte) (cl, te []string, folded bool) {
	var last *[]string // the list the last field went to; nil for others
	fields := 0
	for i := 0; len(b) > 0; i++ {
		line := b
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			line, b = b[:j], b[j+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if i == 0 {
			continue // the request line
		}
		if len(line) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && fields > 0 {
			folded = folded || last != nil
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		fields++
		switch {
		case asciiEqualFold(name, "content-length"):
			last = &cl
		case asciiEqualFold(name, "transfer-encoding"):
			last = &te
		default:
			last = nil
			continue
		}
		*last = append(*last, string(bytes.TrimSpace(value)))
	}
	return cl, te, folded
}

// asciiEqualFold reports whether b is lower, ignoring the case of ASCII
// letters; lower is lower case.
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

type headerField struct{ name, value string }

// splitHeaderBlock splits raw header bytes into the request line and fields,
// unfolding obs-fold continuation lines; folded names the fields that were
// folded (lower case).
func splitHeaderBlock(b []byte) (requestLine string, fields []headerField, folded map[string]bool) {
	lines := strings.Split(string(b), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if len(lines) == 0 {
		return "", nil, nil
	}
	requestLine = lines[0]
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.value = strings.TrimSpace(last.value + " " + strings.TrimSpace(l))
			if folded == nil {
				folded = map[string]bool{}
			}
			folded[strings.ToLower(last.name)] = true
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		fields = append(fields, headerField{name: name, value: strings.TrimSpace(value)})
	}
	return requestLine, fields, folded
}
