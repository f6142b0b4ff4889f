package session

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// jsonText is a string that keeps every byte through JSON (written by
// appendText), read by encoding/json: what jsonReader.text must read.
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

// jsonOf is s as encoding/json writes it without HTML escaping, or nil
// when s is not valid UTF-8: what appendText must write.
func jsonOf(t testing.TB, s string) []byte {
	if !utf8.ValidString(s) {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestHeaderListJSON(t *testing.T) {
	var control strings.Builder
	for c := range 0x20 {
		control.WriteByte(byte(c))
	}
	texts := []string{"", "plain", `quote " and \ backslash`, control.String(), "\x7f<&>", "line\u2028para\u2029",
		"日本語 café", "\xff\xfe<&>", "caf\xc3", "a\x00b"}
	for _, s := range texts {
		got := appendText(nil, s)
		if want := jsonOf(t, s); want != nil && !bytes.Equal(got, want) {
			t.Errorf("appendText(%q) = %s, want %s as encoding/json", s, got, want)
		}
		var back jsonText
		if err := json.Unmarshal(got, &back); err != nil || string(back) != s {
			t.Errorf("appendText(%q) = %s reads back as %q, %v", s, got, back, err)
		}
	}
	fs := make(record.Fields, len(texts))
	ms := make([]record.Mark, len(texts))
	for i, s := range texts {
		fs[i] = record.Field{Name: "X-" + s, Value: s}
		ms[i] = record.Mark{Stage: s, Name: "n", Value: s}
	}
	if back, err := decodeFields(encodeFields(fs)); err != nil || !reflect.DeepEqual(back, fs) {
		t.Errorf("fields: %v, %v", back, err)
	}
	if back, err := decodeMarks(encodeMarks(ms)); err != nil || !reflect.DeepEqual(back, ms) {
		t.Errorf("marks: %v, %v", back, err)
	}
	if got := encodeFields(nil) + encodeMarks(nil); got != "[][]" {
		t.Errorf("empty lists: %s", got)
	}
}

// FuzzHeaderListJSON checks the hand-written encoding against
// encoding/json and the way back, for any text.
func FuzzHeaderListJSON(f *testing.F) {
	f.Add("X-Trip", "to \"Zanzibar\"\n\u2028\xff")
	f.Fuzz(func(t *testing.T, name, value string) {
		fs := record.Fields{{Name: name, Value: value}}
		enc := encodeFields(fs)
		if wn, wv := jsonOf(t, name), jsonOf(t, value); wn != nil && wv != nil {
			if want := "[[" + string(wn) + "," + string(wv) + "]]"; enc != want {
				t.Fatalf("encodeFields = %s, want %s", enc, want)
			}
		}
		if back, err := decodeFields(enc); err != nil || !reflect.DeepEqual(back, fs) {
			t.Fatalf("%s reads back as %v, %v", enc, back, err)
		}
	})
}
