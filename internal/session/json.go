package session

// A reader for the JSON the session stores (header lists, marks, an
// exchange's record), written by hand: encoding/json's reflection took
// 45 µs to read the header lists of one exchange, which made reading a
// page of a list slow. It reads any valid JSON of the shapes it is asked
// for, including what SQLite's JSON functions write, and fails on
// anything else (a file may be damaged) without panicking.

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// errJSON says stored JSON did not read as expected: only in a damaged
// file.
var errJSON = errors.New("malformed JSON")

// maxJSONDepth bounds the nesting skip follows.
const maxJSONDepth = 32

// jsonReader reads JSON values from b one at a time. The strings it
// returns share b's memory when they hold no escapes. After the first
// error every read returns a zero value and err keeps that error.
type jsonReader struct {
	b   string
	i   int
	err error
}

func (r *jsonReader) fail() {
	if r.err == nil {
		r.err = errJSON
	}
	r.i = len(r.b)
}

// ws skips white space.
func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// consume reads c, after white space, or fails.
func (r *jsonReader) consume(c byte) {
	if r.peek() != c {
		r.fail()
		return
	}
	r.i++
}

// word reads the literal w (true, false, null), or fails.
func (r *jsonReader) word(w string) {
	r.ws()
	if len(r.b)-r.i < len(w) || r.b[r.i:r.i+len(w)] != w {
		r.fail()
		return
	}
	r.i += len(w)
}

// null reads a null if one comes next, and reports whether it did.
func (r *jsonReader) null() bool {
	if r.peek() != 'n' {
		return false
	}
	r.word("null")
	return r.err == nil
}

// end fails unless only white space is left.
func (r *jsonReader) end() {
	if r.peek() != 0 || r.i < len(r.b) {
		r.fail()
	}
}

// array reads an array, calling elem to read each element.
func (r *jsonReader) array(elem func()) {
	r.consume('[')
	if r.peek() == ']' {
		r.i++
		return
	}
	for r.err == nil {
		elem()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.fail()
		}
	}
}

// object reads an object, calling member with each key to read its value.
func (r *jsonReader) object(member func(key string)) {
	r.consume('{')
	if r.peek() == '}' {
		r.i++
		return
	}
	for r.err == nil {
		key := r.plainString()
		r.consume(':')
		if r.err != nil {
			return
		}
		member(key)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.fail()
		}
	}
}

// int reads an integer (a number without fraction or exponent that fits
// in an int64).
func (r *jsonReader) int() int64 {
	r.ws()
	neg := r.i < len(r.b) && r.b[r.i] == '-'
	if neg {
		r.i++
	}
	start := r.i
	var v uint64
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		d := uint64(r.b[r.i] - '0')
		if v > (1<<63-d)/10 {
			r.fail() // past int64
			return 0
		}
		v = v*10 + d
		r.i++
	}
	if r.i == start || r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.fail()
		return 0
	}
	if neg {
		return -int64(v)
	}
	if v > 1<<63-1 {
		r.fail()
		return 0
	}
	return int64(v)
}

// bool reads true or false, or 1 or 0 as SQLite's JSON functions write
// its booleans.
func (r *jsonReader) bool() bool {
	switch r.peek() {
	case 't':
		r.word("true")
		return r.err == nil
	case 'f':
		r.word("false")
	default:
		return r.int() != 0
	}
	return false
}

// text reads a string written by appendText: a JSON string, or
// {"base64":"..."} for bytes that are not UTF-8.
func (r *jsonReader) text() string {
	if r.peek() != '{' {
		return r.plainString()
	}
	var s string
	r.object(func(key string) {
		if !strings.EqualFold(key, "base64") { // as encoding/json matches it
			r.skip(0)
			return
		}
		b, err := base64.StdEncoding.DecodeString(r.plainString())
		if err != nil {
			r.fail()
		}
		s = string(b)
	})
	return s
}

// plainString reads a JSON string.
func (r *jsonReader) plainString() string {
	r.consume('"')
	if r.err != nil {
		return ""
	}
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			s := r.b[start:r.i] // shares the record's memory
			r.i++
			return s
		case c == '\\':
			return r.escapedString(start)
		case c < 0x20:
			r.fail()
			return ""
		default:
			r.i++
		}
	}
	r.fail()
	return ""
}

// escapedString goes on reading a string that started at start and has
// an escape at r.i.
func (r *jsonReader) escapedString(start int) string {
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out)
		case c < 0x20:
			r.fail()
			return ""
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			break
		}
		r.i += 2
		switch e := r.b[r.i-1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c := r.hex4()
			if utf16.IsSurrogate(c) {
				// A pair makes one character; anything else, one
				// U+FFFD for the lone surrogate, as encoding/json.
				low := utf8.RuneError
				if len(r.b)-r.i >= 6 && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if low = utf16.DecodeRune(c, r.hex4()); low == utf8.RuneError {
						r.i = save
					}
				}
				c = low
			}
			out = utf8.AppendRune(out, c)
		default:
			r.fail()
			return ""
		}
		if r.err != nil {
			return ""
		}
	}
	r.fail()
	return ""
}

// hex4 reads the four hex digits of a \u escape.
func (r *jsonReader) hex4() rune {
	if len(r.b)-r.i < 4 {
		r.fail()
		return 0
	}
	var v rune
	for _, c := range []byte(r.b[r.i : r.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			r.fail()
			return 0
		}
	}
	r.i += 4
	return v
}

// skip reads any value and forgets it: a key this devproxy does not know
// (a later one may add some).
func (r *jsonReader) skip(depth int) {
	if depth > maxJSONDepth {
		r.fail()
		return
	}
	switch c := r.peek(); {
	case c == '{':
		r.object(func(string) { r.skip(depth + 1) })
	case c == '[':
		r.array(func() { r.skip(depth + 1) })
	case c == '"':
		r.plainString()
	case c == 't':
		r.word("true")
	case c == 'f':
		r.word("false")
	case c == 'n':
		r.word("null")
	case c == '-' || c >= '0' && c <= '9':
		r.i++
		for r.i < len(r.b) && (r.b[r.i] >= '0' && r.b[r.i] <= '9' || r.b[r.i] == '.' ||
			r.b[r.i] == 'e' || r.b[r.i] == 'E' || r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
	default:
		r.fail()
	}
}

// fields reads a header list as encodeFields writes it.
func (r *jsonReader) fields() record.Fields {
	var fs record.Fields
	r.array(func() {
		var f record.Field
		n := 0
		r.array(func() {
			switch n {
			case 0:
				f.Name = r.text()
			case 1:
				f.Value = r.text()
			default:
				r.fail()
			}
			n++
		})
		if n != 2 {
			r.fail()
		}
		fs = append(fs, f)
	})
	return fs
}

// marks reads marks as encodeMarks writes them.
func (r *jsonReader) marks() []record.Mark {
	var ms []record.Mark
	r.array(func() {
		var m record.Mark
		n := 0
		r.array(func() {
			switch n {
			case 0:
				m.Stage = r.text()
			case 1:
				m.Name = r.text()
			case 2:
				m.Value = r.text()
			default:
				r.fail()
			}
			n++
		})
		if n != 3 {
			r.fail()
		}
		ms = append(ms, m)
	})
	return ms
}
