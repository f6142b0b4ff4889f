package session

// Header lists and marks are stored as JSON arrays, which SQLite's json
// functions can read: fields as [["Name","Value"],...] in order, marks as
// [["stage","name","value"],...]. A string that is not valid UTF-8 (a
// header value may hold any byte) is written as {"base64":"..."} instead,
// so that no byte is lost: encoding/json would replace it with U+FFFD.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// jsonText is a string that keeps every byte through JSON.
type jsonText string

// MarshalJSON writes valid UTF-8 as a JSON string, anything else as
// {"base64":"..."}.
func (t jsonText) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(t)) {
		return marshal(string(t))
	}
	return marshal(struct {
		Base64 []byte `json:"base64"`
	}{[]byte(t)})
}

// UnmarshalJSON reads either form MarshalJSON writes.
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

// marshal is json.Marshal without HTML escaping, so that "<" stays
// readable in the file.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encodeFields is fs as stored: "[]" for none.
func encodeFields(fs record.Fields) (string, error) {
	pairs := make([][2]jsonText, len(fs))
	for i, f := range fs {
		pairs[i] = [2]jsonText{jsonText(f.Name), jsonText(f.Value)}
	}
	b, err := marshal(pairs)
	return string(b), err
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

// encodeMarks is ms as stored: "[]" for none.
func encodeMarks(ms []record.Mark) (string, error) {
	triples := make([][3]jsonText, len(ms))
	for i, m := range ms {
		triples[i] = [3]jsonText{jsonText(m.Stage), jsonText(m.Name), jsonText(m.Value)}
	}
	b, err := marshal(triples)
	return string(b), err
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
