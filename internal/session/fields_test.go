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

func TestJSONReader(t *testing.T) {
	// What SQLite's json functions write, or any valid JSON of the shapes
	// read: white space, escapes, surrogate pairs, base64 objects.
	for _, c := range []struct {
		in   string
		want record.Fields
	}{
		{`[]`, nil},
		{` [ [ "a" , "b" ] ,["c","d"] ] `, record.Fields{{Name: "a", Value: "b"}, {Name: "c", Value: "d"}}},
		{`[["q\"\\\/\b\f\n\r\t","\u00e9\u2028\ud83d\ude00"]]`, record.Fields{{Name: "q\"\\/\b\f\n\r\t", Value: "é\u2028😀"}}},
		{`[["lone","\ud83d"]]`, record.Fields{{Name: "lone", Value: "\uFFFD"}}},
		{`[[{"base64":"//4="},{"x":[1,{"y":null}],"base64":"YQ=="}]]`, record.Fields{{Name: "\xff\xfe", Value: "a"}}},
	} {
		got, err := decodeFields(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("decodeFields(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `[`, `[["a"]]`, `[["a","b","c"]]`, `[["a",1]]`, `[["a","b"]`, `[["a","b"]] x`, `[["a","\x01"]]`,
		`[["a","\u12"]]`, `[["a","\q"]]`, `{"a":1}`, `[[{"base64":"!"},"b"]]`, `null`} {
		if got, err := decodeFields(bad); err == nil {
			t.Errorf("decodeFields(%q) = %q, want an error", bad, got)
		}
	}
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-1", -1, true}, {"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false}, {"1.5", 0, false}, {"1e3", 0, false}, {"-", 0, false}, {"x", 0, false},
	} {
		r := jsonReader{b: c.in}
		got := r.int()
		if (r.err == nil) != c.ok || got != c.want {
			t.Errorf("int(%s) = %d, %v", c.in, got, r.err)
		}
	}
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	r := jsonReader{b: `{"later":` + deep + `}`}
	r.object(func(string) { r.skip(0) })
	if r.err == nil {
		t.Error("skip followed 100 levels")
	}
}

// FuzzJSONReader reads any text as a header list: the reader must not
// panic, and what it accepts encoding/json must read the same, but for
// bytes that are not UTF-8, which it keeps (SQLite's json functions
// write them as they are) where encoding/json replaces them.
func FuzzJSONReader(f *testing.F) {
	f.Add(`[["a","b"],["c","d\u00e9"]]`)
	f.Add(`[[{"base64":"//4="},"\ud83d\ude00"]]`)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := decodeFields(in)
		if err != nil || !utf8.ValidString(in) {
			return
		}
		var pairs [][2]jsonText
		if err := json.Unmarshal([]byte(in), &pairs); err != nil {
			t.Fatalf("read %q, which encoding/json refuses: %v", in, err)
		}
		if len(pairs) != len(got) {
			t.Fatalf("%d fields, encoding/json %d", len(got), len(pairs))
		}
		for i, p := range pairs {
			if got[i].Name != string(p[0]) || got[i].Value != string(p[1]) {
				t.Fatalf("field %d: %q, encoding/json %q", i, got[i], p)
			}
		}
	})
}
