package session

// Header lists and marks are stored as JSON arrays, which SQLite's json
// functions can read: fields as [["Name","Value"],...] in order, marks as
// [["stage","name","value"],...]. A string that is not valid UTF-8 (a
// header value may hold any byte) is written as {"base64":"..."} instead,
// so that no byte is lost: encoding/json would replace it with U+FFFD.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// jsonText is a string that keeps every byte through JSON (written by
// appendText).
type jsonText string

// UnmarshalJSON reads either form appendText writes.
func (t *jsonText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			Base64 []byte `json:"base64"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*t = jsonText(v.Base64)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = jsonText(s)
	return nil
}

// encodeFields is fs as stored: "[]" for none. It writes what
// json.Marshal of jsonText pairs would (without HTML escaping), by hand:
// the writer encodes every exchange's header lists, and reflection made
// that a tenth of its work.
func encodeFields(fs record.Fields) string {
	b := make([]byte, 0, fieldsLen(fs)+2)
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
	return string(append(b, ']'))
}

// decodeFields reads what encodeFields wrote; "[]" is nil.
func decodeFields(s string) (record.Fields, error) {
	var pairs [][2]jsonText
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, fmt.Errorf("header list: %w", err)
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	fs := make(record.Fields, len(pairs))
	for i, p := range pairs {
		fs[i] = record.Field{Name: string(p[0]), Value: string(p[1])}
	}
	return fs, nil
}

// encodeMarks is ms as stored: "[]" for none (see encodeFields).
func encodeMarks(ms []record.Mark) string {
	b := make([]byte, 0, 64*len(ms)+2)
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
	return string(append(b, ']'))
}

// decodeMarks reads what encodeMarks wrote; "[]" is nil.
func decodeMarks(s string) ([]record.Mark, error) {
	var triples [][3]jsonText
	if err := json.Unmarshal([]byte(s), &triples); err != nil {
		return nil, fmt.Errorf("marks: %w", err)
	}
	if len(triples) == 0 {
		return nil, nil
	}
	ms := make([]record.Mark, len(triples))
	for i, t := range triples {
		ms[i] = record.Mark{Stage: string(t[0]), Name: string(t[1]), Value: string(t[2])}
	}
	return ms, nil
}

// appendText appends s to b as a JSON string when it is valid UTF-8, else
// as {"base64":"..."}.
func appendText(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		b = append(b, `{"base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(s))
		return append(b, `"}`...)
	}
	return appendString(b, s)
}

// appendString appends s, valid UTF-8, as a JSON string escaped as
// encoding/json escapes it without HTML escaping: quote, backslash and
// control characters, and U+2028 and U+2029.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
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
	return append(b, '"')
}
