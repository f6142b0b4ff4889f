package grpcwire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of DecodeRaw.
const (
	// MaxDepth is how deeply DecodeRaw nests: a length-delimited field
	// deeper than this is shown as a string, and a group deeper than this
	// is malformed.
	MaxDepth = 64
	// MaxText is about the most text DecodeRaw returns; past it the text
	// stops with a comment saying so.
	MaxText = 1 << 20
)

// Protobuf wire types.
const (
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireStartGroup = 3
	wireEndGroup   = 4
	wireFixed32    = 5
)

// errTextFull stops a decoding whose text reached MaxText.
var errTextFull = errors.New("text full")

// DecodeRaw renders a protobuf message without its schema, as
// `protoc --decode_raw` does: one line per field with its number, varints
// as unsigned decimals (`1: 150`), fixed64 and fixed32 as zero-padded hex
// (`2: 0x0000000000000001`, `3: 0x00000001`), groups and length-delimited
// fields that parse as messages as indented blocks (`4 {` … `}`), and other
// length-delimited fields as quoted strings: valid UTF-8 as text, other
// bytes C-escaped in octal. Like protoc, it prefers a message when bytes
// parse as both.
//
// ok reports that text is the whole decoding. When the bytes are malformed
// (or the text reached MaxText), ok is false and text holds the fields
// before the problem, followed by a `#` comment that names it and its byte
// offset. An empty input is an empty message: "", true.
func DecodeRaw(b []byte) (text string, ok bool) {
	d := decoder{}
	_, err := d.fields(b, 0, 0, 0, true)
	if err == nil {
		return d.out.String(), true
	}
	if errors.Is(err, errTextFull) {
		fmt.Fprintf(&d.out, "# text truncated at %d bytes\n", MaxText)
	} else {
		fmt.Fprintf(&d.out, "# malformed: %v\n", err)
	}
	return d.out.String(), false
}

// decoder walks protobuf bytes, writing text when asked to.
type decoder struct {
	out strings.Builder
}

// wireError is malformed input at a byte offset.
type wireError struct {
	at  int
	why string
}

func (e *wireError) Error() string { return fmt.Sprintf("at byte %d: %s", e.at, e.why) }

// fields walks the records in b, whose first byte is at offset base of the
// input, at nesting depth depth. With group != 0 it is inside that group
// and stops after the group's end tag; otherwise it runs to the end of b.
// It returns the bytes consumed. With emit it writes each record's text;
// without, it only checks that b parses, which never recurses into
// length-delimited values, so checking a value costs its length.
func (d *decoder) fields(b []byte, base, depth int, group uint64, emit bool) (int, error) {
	i := 0
	for i < len(b) {
		if emit && d.out.Len() >= MaxText {
			return i, errTextFull
		}
		at := base + i
		tag, n := varint(b[i:])
		if n < 0 {
			return i, &wireError{at, "truncated or overlong varint in a field tag"}
		}
		if tag > 1<<32-1 {
			return i, &wireError{at, fmt.Sprintf("field tag %d is over 32 bits", tag)}
		}
		num, typ := tag>>3, tag&7
		if num == 0 {
			return i, &wireError{at, "field number 0"}
		}
		i += n
		switch typ {
		case wireVarint:
			v, n := varint(b[i:])
			if n < 0 {
				return i, &wireError{base + i, fmt.Sprintf("field %d: truncated or overlong varint", num)}
			}
			i += n
			if emit {
				d.line(depth, num, ": ", strconv.FormatUint(v, 10))
			}
		case wireFixed64, wireFixed32:
			size := 8
			if typ == wireFixed32 {
				size = 4
			}
			if len(b)-i < size {
				return i, &wireError{base + i, fmt.Sprintf("field %d: %d of %d fixed-width bytes", num, len(b)-i, size)}
			}
			var v uint64
			for k := size - 1; k >= 0; k-- {
				v = v<<8 | uint64(b[i+k])
			}
			i += size
			if emit {
				d.line(depth, num, ": ", fmt.Sprintf("0x%0*x", size*2, v))
			}
		case wireBytes:
			l, n := varint(b[i:])
			if n < 0 {
				return i, &wireError{base + i, fmt.Sprintf("field %d: truncated or overlong length", num)}
			}
			i += n
			if l > uint64(len(b)-i) {
				return i, &wireError{base + i, fmt.Sprintf("field %d: length %d past the end (%d bytes left)", num, l, len(b)-i)}
			}
			v := b[i : i+int(l)]
			if emit {
				if err := d.value(v, base+i, depth, num); err != nil {
					return i, err
				}
			}
			i += int(l)
		case wireStartGroup:
			if depth+1 > MaxDepth {
				return i, &wireError{at, fmt.Sprintf("group %d nested over %d deep", num, MaxDepth)}
			}
			if emit {
				d.line(depth, num, " {", "")
			}
			n, err := d.fields(b[i:], base+i, depth+1, num, emit)
			if emit {
				d.line(depth, 0, "}", "")
			}
			i += n
			if err != nil {
				return i, err
			}
		case wireEndGroup:
			if num != group {
				if group == 0 {
					return i, &wireError{at, fmt.Sprintf("end of group %d outside any group", num)}
				}
				return i, &wireError{at, fmt.Sprintf("end of group %d inside group %d", num, group)}
			}
			return i, nil
		default:
			return i, &wireError{at, fmt.Sprintf("field %d: wire type %d does not exist", num, typ)}
		}
	}
	if group != 0 {
		return i, &wireError{base + i, fmt.Sprintf("group %d has no end", group)}
	}
	return i, nil
}

// value writes a length-delimited field: a block when it parses as a
// message, else a string.
func (d *decoder) value(v []byte, base, depth int, num uint64) error {
	if len(v) > 0 && depth+1 <= MaxDepth {
		if _, err := d.fields(v, base, depth+1, 0, false); err == nil {
			d.line(depth, num, " {", "")
			_, err := d.fields(v, base, depth+1, 0, true)
			d.line(depth, 0, "}", "")
			return err // only errTextFull: v parsed
		}
	}
	d.indent(depth)
	d.out.WriteString(strconv.FormatUint(num, 10))
	d.out.WriteString(": ")
	// An escaped byte takes at most 4 bytes of text.
	if room := max((MaxText-d.out.Len())/4, 1); len(v) > room {
		for room > 0 && !utf8.RuneStart(v[room]) {
			room--
		}
		quote(&d.out, v[:room])
		d.out.WriteString("...\n")
		return errTextFull
	}
	quote(&d.out, v)
	d.out.WriteByte('\n')
	return nil
}

// line writes one line at depth: the field number (none when num is 0),
// then sep and val.
func (d *decoder) line(depth int, num uint64, sep, val string) {
	d.indent(depth)
	if num != 0 {
		d.out.WriteString(strconv.FormatUint(num, 10))
	}
	d.out.WriteString(sep)
	d.out.WriteString(val)
	d.out.WriteByte('\n')
}

func (d *decoder) indent(depth int) {
	for range depth {
		d.out.WriteString("  ")
	}
}

// varint decodes a base-128 varint from the front of b and returns it with
// its length, or a negative length when b ends inside it or it is longer
// than 10 bytes or over 64 bits.
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, -1
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

// quote writes b as a double-quoted string: valid UTF-8 keeps its
// printable characters; quotes, backslashes and control characters are
// escaped as C does (\n, \r, \t, or three octal digits), and so is every
// byte of invalid UTF-8 over 0x7f, as protoc's CEscape does.
func quote(w *strings.Builder, b []byte) {
	w.WriteByte('"')
	if utf8.Valid(b) {
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b)
			if r >= utf8.RuneSelf && unicode.IsPrint(r) {
				w.Write(b[:n])
			} else {
				for _, c := range b[:n] {
					escape(w, c)
				}
			}
			b = b[n:]
		}
	} else {
		for _, c := range b {
			escape(w, c)
		}
	}
	w.WriteByte('"')
}

// escape writes one byte C-escaped.
func escape(w *strings.Builder, c byte) {
	switch c {
	case '\n':
		w.WriteString(`\n`)
	case '\r':
		w.WriteString(`\r`)
	case '\t':
		w.WriteString(`\t`)
	case '"':
		w.WriteString(`\"`)
	case '\'':
		w.WriteString(`\'`)
	case '\\':
		w.WriteString(`\\`)
	default:
		if c >= 0x20 && c < 0x7f {
			w.WriteByte(c)
			return
		}
		w.WriteByte('\\')
		w.WriteByte('0' + c>>6)
		w.WriteByte('0' + c>>3&7)
		w.WriteByte('0' + c&7)
	}
}
