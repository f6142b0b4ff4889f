// Package body turns captured message bodies into something to read: it
// undoes their Content-Encoding (gzip, deflate, br, zstd) from an explicit
// table, and tells text from binary. Captured bodies keep their
// Content-Encoding as they crossed the wire; this package decodes them on
// demand, for display, search, redaction and export.
package body

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/units"
)

// MaxDecoded caps a Decoder's output by default (64 MiB), so a small
// compressed body cannot expand without bound (a decompression bomb). Each
// layer of a coding list is capped separately.
const MaxDecoded = 64 << 20

// Decoder undoes content codings. The zero Decoder knows the standard
// codings (see Codings) and caps its output at MaxDecoded; it is what the
// package-level functions use. A Decoder is safe for concurrent use as long
// as its table is not modified.
type Decoder struct {
	// Codings maps lower-case coding names to decoders; nil means the
	// standard table.
	Codings map[string]Coding
	// Limit caps the output of each layer in bytes; 0 or less means
	// MaxDecoded.
	Limit int64
}

// Decode undoes contentEncoding (a Content-Encoding header value, possibly
// a list such as "gzip, br") on b with the zero Decoder. It returns the
// decoded bytes, a short note for the reader (e.g. "decoded from gzip, 1.2
// KiB → 8.4 KiB"), and an error when the bytes do not decode (a truncated
// capture decodes as far as it can and says so in the note). Identity and
// "" return b unchanged.
//
// Output is capped at MaxDecoded bytes: past that the output stops and the
// note says so. Codings in a list are undone last one first. On error,
// decoded is nil and the error names the coding.
func Decode(b []byte, contentEncoding string) (decoded []byte, note string, err error) {
	decoded, note, _, err = Decoder{}.Decode(b, contentEncoding)
	return decoded, note, err
}

// Decode is the package-level Decode with d's table and limit, and it also
// reports whether the output is partial (the input ended early or the
// output hit the limit).
func (d Decoder) Decode(b []byte, contentEncoding string) (decoded []byte, note string, partial bool, err error) {
	codings, limit := d.Codings, d.Limit
	if codings == nil {
		codings = standard
	}
	if limit <= 0 {
		limit = MaxDecoded
	}
	var names []string
	for c := range strings.SplitSeq(contentEncoding, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && c != "identity" {
			names = append(names, c)
		}
	}
	if len(names) == 0 || len(b) == 0 {
		return b, "", false, nil
	}
	out := b
	var notes []string
	for i := len(names) - 1; i >= 0; i-- {
		c := names[i]
		fn := codings[c]
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
	note = fmt.Sprintf("decoded from %s, %s → %s", strings.Join(names, ", "), units.Size(int64(len(b))), units.Size(int64(len(out))))
	if len(notes) > 0 {
		note += "; " + strings.Join(notes, "; ")
	}
	return out, note, len(notes) > 0, nil
}

// Body returns the bytes of b, a body sent with header fields h, with their
// Content-Encoding undone, as Decode does. A body that was decoded when it
// was imported (alreadyDecoded, see record.Exchange.BodiesDecoded) is
// returned as it is, with a note naming the coding it had.
func (d Decoder) Body(b record.Body, h record.Fields, alreadyDecoded bool) (data []byte, note string, partial bool, err error) {
	ce := ContentEncoding(h)
	if alreadyDecoded {
		if ce != "" && len(b.Bytes) > 0 {
			return b.Bytes, "decoded on import (" + ce + ")", false, nil
		}
		return b.Bytes, "", false, nil
	}
	return d.Decode(b.Bytes, ce)
}

// Request returns x's request body decoded by d, with the note Decode
// gives.
func (d Decoder) Request(x *record.Exchange) (b []byte, note string, err error) {
	b, note, _, err = d.Body(x.Request.Body, x.Request.Header, x.BodiesDecoded)
	return b, note, err
}

// Response is Request for the response body; no response gives nil.
func (d Decoder) Response(x *record.Exchange) (b []byte, note string, err error) {
	if x.Response == nil {
		return nil, "", nil
	}
	b, note, _, err = d.Body(x.Response.Body, x.Response.Header, x.BodiesDecoded)
	return b, note, err
}

// Request returns x's request body with its Content-Encoding undone by the
// zero Decoder. An exchange imported from a HAR file (BodiesDecoded)
// already holds decoded bytes, which are returned as they are.
func Request(x *record.Exchange) (b []byte, note string, err error) { return Decoder{}.Request(x) }

// Response is Request for the response body; no response gives nil.
func Response(x *record.Exchange) (b []byte, note string, err error) {
	return Decoder{}.Response(x)
}

// decodeOne undoes one coding. stop is non-empty when the output is partial:
// the input ended early or the output reached limit.
func decodeOne(b []byte, coding string, fn Coding, limit int64) (out []byte, stop string, err error) {
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
		return buf.Bytes()[:limit], fmt.Sprintf("stopped at %s of %s output (decompression limit)", units.Size(limit), coding), nil
	case err == nil:
		return buf.Bytes(), "", nil
	case isTruncation(err):
		return buf.Bytes(), fmt.Sprintf("%s input ended early (truncated capture?): decoded the first %s", coding, units.Size(n)), nil
	default:
		return nil, "", fmt.Errorf("decode body: %s: %w", coding, err)
	}
}

// isTruncation reports whether err means the compressed input stopped short,
// as opposed to being corrupt.
func isTruncation(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// ContentEncoding joins every Content-Encoding line of h and drops
// identity, so "" means the body is not encoded.
func ContentEncoding(h record.Fields) string {
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
