package session

// Header lists and marks are stored as JSON arrays, which SQLite's json
// functions can read: fields as [["Name","Value"],...] in order, marks as
// [["stage","name","value"],...]. A string that is not valid UTF-8 (a
// header value may hold any byte) is written as {"base64":"..."} instead,
// so that no byte is lost: encoding/json would replace it with U+FFFD.

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// encodeFields is fs as stored: "[]" for none (appendFields).
func encodeFields(fs record.Fields) string {
	return string(appendFields(make([]byte, 0, fieldsLen(fs)+2), fs))
}

// appendFields appends fs as a JSON array of [name, value] pairs. It
// writes what json.Marshal of jsonText pairs would (without HTML
// escaping), by hand: the writer encodes every exchange's header lists,
// and reflection made that a tenth of its work.
func appendFields(b []byte, fs record.Fields) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendText(b, f.Name)
		b = append(b, ',')
		b = appendText(b, f.Value)
		b = append(b, ']')
	}
	return append(b, ']')
}

// decodeFields reads what encodeFields wrote; "[]" is nil.
func decodeFields(s string) (record.Fields, error) {
	r := jsonReader{b: s}
	fs := r.fields()
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("header list: %w", r.err)
	}
	return fs, nil
}

// encodeMarks is ms as stored: "[]" for none (appendMarks).
func encodeMarks(ms []record.Mark) string {
	return string(appendMarks(make([]byte, 0, 64*len(ms)+2), ms))
}

// appendMarks appends ms as a JSON array of [stage, name, value] triples.
func appendMarks(b []byte, ms []record.Mark) []byte {
	b = append(b, '[')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendText(b, m.Stage)
		b = append(b, ',')
		b = appendText(b, m.Name)
		b = append(b, ',')
		b = appendText(b, m.Value)
		b = append(b, ']')
	}
	return append(b, ']')
}

// decodeMarks reads what encodeMarks wrote; "[]" is nil.
func decodeMarks(s string) ([]record.Mark, error) {
	r := jsonReader{b: s}
	ms := r.marks()
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("marks: %w", r.err)
	}
	return ms, nil
}

// appendText appends s to b as a JSON string when it is valid UTF-8, else
// as {"base64":"..."}.
func appendText(b []byte, s string) []byte {
	n := len(b)
	if b, ok := appendString(b, s); ok {
		return b
	}
	b = append(b[:n], `{"base64":"`...)
	b = base64.StdEncoding.AppendEncode(b, []byte(s))
	return append(b, `"}`...)
}

// appendString appends s as a JSON string escaped as encoding/json
// escapes it without HTML escaping: quote, backslash and control
// characters, and U+2028 and U+2029. It stops and reports false at the
// first byte that is not UTF-8 (checked as it goes: a separate pass was
// a tenth of the writer's encoding).
func appendString(b []byte, s string) ([]byte, bool) {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return b, false
			}
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
				start = i + size
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}
