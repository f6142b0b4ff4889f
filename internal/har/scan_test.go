package har

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// scanAll collects what Scan yields: the exchanges, and the error that
// ended them.
func scanAll(t testing.TB, r io.ReaderAt) ([]record.Exchange, error) {
	t.Helper()
	var xs []record.Exchange
	ended := false
	for x, err := range Scan(r) {
		if ended {
			t.Fatal("Scan yielded after its error")
		}
		if err != nil {
			ended = true
			if x.ID != 0 {
				t.Fatalf("error %v with exchange #%d", err, x.ID)
			}
			if !strings.HasPrefix(err.Error(), "read HAR: ") {
				t.Fatalf("error without context: %v", err)
			}
			return xs, err
		}
		xs = append(xs, x)
	}
	return xs, nil
}

// sameAsRead fails unless Scan of doc yields what Read returns.
func sameAsRead(t *testing.T, doc []byte) {
	t.Helper()
	want, err := Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	got, err := scanAll(t, bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Scan yielded %d exchanges, Read returned %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entry %d: Scan\n%+v\nRead\n%+v", i, got[i], want[i])
		}
	}
}

func TestScanMatchesReadOnTestdata(t *testing.T) {
	var files []string
	for _, dir := range []string{"har", "import"} {
		fs, _ := filepath.Glob(filepath.Join("testdata", dir, "*.har"))
		files = append(files, fs...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d HAR files in testdata", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			doc, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sameAsRead(t, doc)
			if !bytes.HasPrefix(doc, []byte("\xef\xbb\xbf")) {
				sameAsRead(t, append([]byte("\xef\xbb\xbf"), doc...))
			}
		})
	}
}

// The keys of "log" come in any order: mitmproxy's quirks (its creator)
// apply to the entries before it too, and a version after the entries is
// refused before any is yielded, as Read refuses it.
func TestScanLogKeysInAnyOrder(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "import", "mitmproxy.har"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Log map[string]json.RawMessage `json:"log"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	reorder := func(version string, keys ...string) []byte {
		var b bytes.Buffer
		b.WriteString(`{"before": [1, {"x": "]"}], "log": {`)
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",\n")
			}
			v := parsed.Log[k]
			if k == "version" && version != "" {
				v = json.RawMessage(version)
			}
			fmt.Fprintf(&b, "%q: %s", k, v)
		}
		b.WriteString(`}, "after": {"y": null}}`)
		return b.Bytes()
	}
	orders := [][]string{
		{"version", "creator", "pages", "entries"},
		{"entries", "pages", "creator", "version"},
		{"creator", "entries", "pages", "version"},
		{"pages", "entries", "version", "creator"},
	}
	for _, keys := range orders {
		t.Run(strings.Join(keys, ","), func(t *testing.T) {
			sameAsRead(t, reorder("", keys...))
			xs, err := scanAll(t, bytes.NewReader(reorder(`"2.0"`, keys...)))
			want := `read HAR: HAR version "2.0" is not supported (this reader handles 1.x)`
			if len(xs) != 0 || err == nil || err.Error() != want {
				t.Errorf("version 2.0: %d exchanges yielded, then %v", len(xs), err)
			}
		})
	}
	// The quirk matters: read as another tool's file, the sizes differ.
	xs, _ := scanAll(t, bytes.NewReader(bytes.Replace(reorder("", orders[1]...), []byte("mitmproxy exporthar"), []byte("other"), 1)))
	mitm, _ := scanAll(t, bytes.NewReader(reorder("", orders[1]...)))
	if reflect.DeepEqual(xs, mitm) {
		t.Error("the creator after the entries made no difference; is this still a test of key order?")
	}
}

// Bad documents get Read's errors, word for word.
func TestScanErrorsMatchRead(t *testing.T) {
	entry := func(s string) string {
		return `{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[` + s + `]}}`
	}
	okEntry := `{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET","url":"http://x/"}}`
	okReq := `"request":{"method":"GET","url":"http://x/"}`
	for _, in := range []string{
		"",
		"\xef\xbb\xbf \n",
		"<html>",
		"}",
		"nul",
		"null",
		"null x",
		`"a string"`,
		"12",
		"true",
		"[1, 2]",
		"{\n  \"log\": {\n    \"entries\": [,]\n  }\n}",
		`{"log": {"entries": [`,
		`{"log": {"entries": [` + okEntry,
		`{"log": {"entries": [` + okEntry + `,`,
		`{"log": {"entries": [` + okEntry + ` ` + okEntry + `]}}`,
		`{"log": {"entries": [` + okEntry + `]} x`,
		`{"log": {"entries": [` + okEntry + `]}} x`,
		`{"log": {"entries": [` + okEntry + `]}} {}`,
		`{"log": {"entries": [` + okEntry[:40],
		`{"log"`,
		`{"log" {}}`,
		`{"log":`,
		`{"log": }`,
		`{"log": {}`,
		`{"log": {},}`,
		`{"log": {}, 7}`,
		`{,}`,
		`{"a": tru}`,
		`{"a": trux}`,
		`{"a": 1x}`,
		`{"a": 1.}`,
		`{"a": -}`,
		`{"a": 1 2}`,
		`{"a": [1}`,
		`{"a": {"b": 1]}`,
		`{"a": "\q"}`,
		"{\"a\": \"line\nbreak\"}",
		`{"\q": 1}`,
		`{"log": {"version": 1.2, "entries": []}}`,
		`{"log": {"creator": "me", "entries": []}}`,
		`{"log": {"creator": {"name": 7}, "entries": []}}`,
		`{"log": {"entries": [7]}}`,
		`{"log": {"entries": [null]}}`,
		`{"log": {"entries": [[]]}}`,
		`{"log": {"entries": [tru]}}`,
		`{"log": {"entries": [1x]}}`,
		`{"log": {"entries": "none"}}`,
		"{\"log\": {\n\"entries\": {}}}",
		`{"foo": 1}`,
		`{"log": null}`,
		`{"log": "x"}`,
		`{"log": [1]}`,
		`{"log": {"version": "1.2"}}`,
		`{"log": {"entries": null}}`,
		`{"log": {"version": "2.0", "entries": []}}`,
		`{"log": {"entries": [], "version": "2.0"}}`,
		`{"LOG": {"Entries": [], "VERSION": "0.9"}}`,
		entry(`{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET","url":7}}`),
		entry("{\"startedDateTime\":\"2025-01-01T00:00:00Z\",\n\"request\":{\"method\":\"GET\",\"url\":\"ü\",\"headers\":{}}}"),
		entry(`{` + okReq + `}`),
		entry(okEntry + `,` + `{"startedDateTime":"yesterday",` + okReq + `}`),
		entry(`{"startedDateTime":"2025-01-01T00:00:00Z"}`),
		entry(`{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET"}}`),
		entry(`{"startedDateTime":"2025-01-01T00:00:00Z",` + okReq + `,"response":{"status":200,"content":{"text":"%%%","encoding":"base64"}}}`),
		entry(`{"startedDateTime":"2025-01-01T00:00:00Z",` + okReq + `,"response":{"status":200,"content":{"text":"x","encoding":"rot13"}}}`),
		"{\"log\": {\"entries\": [\n\n  {\"startedDateTime\": \"ü\", \"request\": {\"url\": \"é\", \"method\": 1e999}}]}}",
	} {
		t.Run(in, func(t *testing.T) {
			_, want := Read(strings.NewReader(in))
			if want == nil {
				t.Fatal("Read accepts it: not a test of errors")
			}
			_, got := scanAll(t, strings.NewReader(in))
			if got == nil || got.Error() != want.Error() {
				t.Errorf("Scan: %v\nRead: %v", got, want)
			}
			var rse, sse *json.SyntaxError
			if errors.As(want, &rse) != errors.As(got, &sse) || rse != nil && rse.Offset != sse.Offset {
				t.Errorf("syntax error offsets: Scan %+v, Read %+v", sse, rse)
			}
		})
	}
}

// A key twice in "log" or at the top is refused: Read keeps the last, and
// a stream cannot take back what it yielded.
func TestScanRefusesDuplicateKeys(t *testing.T) {
	ok := `{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET","url":"http://x/"}}`
	for _, in := range []string{
		`{"log": {"entries": [` + ok + `], "entries": []}}`,
		`{"log": {"version": "1.2", "Version": "1.2", "entries": []}}`,
		`{"log": {"entries": []}, "log": {"entries": []}}`,
		`{"log": {"creator": {}, "entries": [], "creator": {}}}`,
	} {
		_, err := scanAll(t, strings.NewReader(in))
		if !errors.Is(err, errDuplicateKey) || !strings.Contains(err.Error(), "line 1, column ") {
			t.Errorf("%s: %v", in, err)
		}
	}
}

// Scan reads as it yields: the first entry comes before the rest of the
// file was read, and stopping early reads no further.
func TestScanStreams(t *testing.T) {
	doc := largeDoc(t, 2000)
	r := &watchedReader{r: bytes.NewReader(doc)}
	n := 0
	for x, err := range Scan(r) {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && r.furthest > 2*scanBuffer {
			t.Errorf("read %d bytes of %d before the first entry", r.furthest, len(doc))
		}
		if n++; n == 10 {
			if x.ID != 10 {
				t.Errorf("entry 10 has ID %d", x.ID)
			}
			break
		}
	}
	if r.furthest > 3*scanBuffer {
		t.Errorf("read %d bytes of %d for 10 entries", r.furthest, len(doc))
	}
	xs, err := scanAll(t, bytes.NewReader(doc))
	if err != nil || len(xs) != 2000 {
		t.Fatalf("%d entries, %v", len(xs), err)
	}
}

// A read error ends the scan, and says so.
func TestScanReadError(t *testing.T) {
	doc := largeDoc(t, 2000)
	broken := errors.New("disk on fire")
	xs, err := scanAll(t, &watchedReader{r: bytes.NewReader(doc), failAt: int64(len(doc) / 2), err: broken})
	if !errors.Is(err, broken) || len(xs) == 0 || len(xs) == 2000 {
		t.Errorf("%d entries, then %v", len(xs), err)
	}
}

// largeDoc is a HAR of n small entries.
func largeDoc(t *testing.T, n int) []byte {
	t.Helper()
	xs := make([]record.Exchange, n)
	for i := range xs {
		xs[i] = record.Exchange{
			ID: uint64(i + 1), State: record.Done, Start: fixtureStart, End: fixtureStart,
			Request:  record.Request{Method: "GET", URL: fmt.Sprintf("http://x/%d", i)},
			Response: &record.Response{Status: 200, Body: completeBody([]byte(usersJSON))},
			Timings:  record.NoTimings,
		}
	}
	var b bytes.Buffer
	if err := Write(&b, xs, Options{Redact: "none"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// watchedReader notes how far it was read, and fails from failAt on
// when err is set.
type watchedReader struct {
	r        io.ReaderAt
	furthest int64
	failAt   int64
	err      error
}

func (w *watchedReader) ReadAt(p []byte, off int64) (int, error) {
	if w.err != nil && off+int64(len(p)) > w.failAt {
		return 0, w.err
	}
	n, err := w.r.ReadAt(p, off)
	w.furthest = max(w.furthest, off+int64(n))
	return n, err
}
