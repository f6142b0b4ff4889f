package record

// Body decoding for display and export. Captured bodies keep their
// Content-Encoding; these helpers undo it on demand.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// MaxDecoded caps the output of DecodeBody (64 MiB), so a small compressed
// body cannot expand without bound (a decompression bomb). Each layer of a
// coding list is capped separately.
const MaxDecoded = 64 << 20

var decoders = struct {
	sync.RWMutex
	m map[string]func(io.Reader) (io.Reader, error)
}{m: map[string]func(io.Reader) (io.Reader, error){
	"gzip":    gunzip,
	"x-gzip":  gunzip,
	"deflate": inflate,
}}

// RegisterDecoder adds or replaces the decoder for a content coding (matched
// case-insensitively), e.g. "br" or "zstd". fn wraps the encoded stream; if
// the reader it returns is also an io.Closer, DecodeBody closes it when done.
// gzip, x-gzip and deflate are registered from the start; the package
// internal/codec registers br and zstd. Safe for concurrent use.
func RegisterDecoder(name string, fn func(io.Reader) (io.Reader, error)) {
	decoders.Lock()
	defer decoders.Unlock()
	decoders.m[strings.ToLower(strings.TrimSpace(name))] = fn
}

func decoder(name string) func(io.Reader) (io.Reader, error) {
	decoders.RLock()
	defer decoders.RUnlock()
	return decoders.m[name]
}

func gunzip(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

// inflate reads "deflate" bodies. RFC 9110 says zlib-wrapped, but some
// servers send a bare deflate stream, so the zlib header is checked first.
func inflate(r io.Reader) (io.Reader, error) {
	br, ok := r.(*bytes.Reader)
	if !ok {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		br = bytes.NewReader(b)
	}
	var head [2]byte
	if n, _ := br.ReadAt(head[:], 0); n == 2 && head[0]&0x0f == 8 && head[0]>>4 <= 7 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

// DecodeBody undoes contentEncoding (a Content-Encoding header value, possibly
// a list such as "gzip, br") on b. It returns the decoded bytes, a short note
// for the reader (e.g. "decoded from gzip, 1.2 KiB → 8.4 KiB"), and an error
// when the bytes do not decode (a truncated capture decodes as far as it can
// and says so in the note). Identity and "" return b unchanged.
//
// gzip, x-gzip and deflate are built in; other codings (br, zstd) are added
// with RegisterDecoder. Output is capped at MaxDecoded bytes: past that the
// output stops and the note says so. Codings in a list are undone last one
// first. On error, decoded is nil and the error names the coding.
func DecodeBody(b []byte, contentEncoding string) (decoded []byte, note string, err error) {
	decoded, note, _, err = decodeBody(b, contentEncoding)
	return decoded, note, err
}

// decodeBody is DecodeBody that also reports whether the output is partial
// (the input ended early or the output hit MaxDecoded).
func decodeBody(b []byte, contentEncoding string) (decoded []byte, note string, partial bool, err error) {
	return decodeBodyLimit(b, contentEncoding, MaxDecoded)
}

// decodeBodyLimit is decodeBody with the output cap as a parameter.
func decodeBodyLimit(b []byte, contentEncoding string, limit int64) (decoded []byte, note string, partial bool, err error) {
	var codings []string
	for c := range strings.SplitSeq(contentEncoding, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && c != "identity" {
			codings = append(codings, c)
		}
	}
	if len(codings) == 0 || len(b) == 0 {
		return b, "", false, nil
	}
	out := b
	var notes []string
	for i := len(codings) - 1; i >= 0; i-- {
		c := codings[i]
		fn := decoder(c)
		if fn == nil {
			return nil, "", false, fmt.Errorf("decode body: unknown content coding %q", c)
		}
		var stop string
		out, stop, err = decodeOne(out, c, fn, limit)
		if err != nil {
			return nil, "", false, err
		}
		if stop != "" {
			notes = append(notes, stop)
		}
	}
	note = fmt.Sprintf("decoded from %s, %s → %s", strings.Join(codings, ", "), sizeText(int64(len(b))), sizeText(int64(len(out))))
	if len(notes) > 0 {
		note += "; " + strings.Join(notes, "; ")
	}
	return out, note, len(notes) > 0, nil
}

// decodeOne undoes one coding. stop is non-empty when the output is partial:
// the input ended early or the output reached limit.
func decodeOne(b []byte, coding string, fn func(io.Reader) (io.Reader, error), limit int64) (out []byte, stop string, err error) {
	r, err := fn(bytes.NewReader(b))
	if err != nil {
		if isTruncation(err) {
			return []byte{}, fmt.Sprintf("%s input ended before any output (truncated capture?)", coding), nil
		}
		return nil, "", fmt.Errorf("decode body: %s: %w", coding, err)
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	switch {
	case n > limit:
		return buf.Bytes()[:limit], fmt.Sprintf("stopped at %s of %s output (decompression limit)", sizeText(limit), coding), nil
	case err == nil:
		return buf.Bytes(), "", nil
	case isTruncation(err):
		return buf.Bytes(), fmt.Sprintf("%s input ended early (truncated capture?): decoded the first %s", coding, sizeText(n)), nil
	default:
		return nil, "", fmt.Errorf("decode body: %s: %w", coding, err)
	}
}

// isTruncation reports whether err means the compressed input stopped short,
// as opposed to being corrupt.
func isTruncation(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// sizeText formats n bytes for a note: "512 B", "1.2 KiB", "3.0 MiB".
func sizeText(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
}

// ResponseBodyDecoded returns the captured response body with its
// Content-Encoding undone, as DecodeBody does, with DecodeBody's note. An
// exchange imported from a HAR file (BodiesDecoded) already holds decoded
// bytes, which are returned as they are. No response gives nil.
func (e *Exchange) ResponseBodyDecoded() (b []byte, note string, err error) {
	if e.Response == nil {
		return nil, "", nil
	}
	return e.decodedBody(e.Response.Body, e.Response.Header)
}

// RequestBodyDecoded is ResponseBodyDecoded for the request body.
func (e *Exchange) RequestBodyDecoded() (b []byte, note string, err error) {
	return e.decodedBody(e.Request.Body, e.Request.Header)
}

func (e *Exchange) decodedBody(b Body, h Fields) ([]byte, string, error) {
	if e.BodiesDecoded {
		if ce := contentEncoding(h); ce != "" && len(b.Bytes) > 0 {
			return b.Bytes, "decoded on import (" + ce + ")", nil
		}
		return b.Bytes, "", nil
	}
	return DecodeBody(b.Bytes, contentEncoding(h))
}

// contentEncoding joins every Content-Encoding line of h and drops identity,
// so "" means the body is not encoded.
func contentEncoding(h Fields) string {
	var cs []string
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				cs = append(cs, c)
			}
		}
	}
	return strings.Join(cs, ", ")
}
