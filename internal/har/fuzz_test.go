package har

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// FuzzRead feeds Read arbitrary bytes. Checked-in seeds live in
// testdata/fuzz/FuzzRead; the goldens and import fixtures are added too.
// Besides never panicking: what it accepts is well-formed, exports, and
// exporting is stable (export → import → export gives the same bytes) at
// every redaction level.
func FuzzRead(f *testing.F) {
	for _, dir := range []string{"har", "import"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.har"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		xs, err := Read(bytes.NewReader(data))
		if err != nil {
			if xs != nil {
				t.Fatalf("error %v with %d exchanges", err, len(xs))
			}
			if !strings.HasPrefix(err.Error(), "read HAR: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for i, x := range xs {
			if x.State != record.Done || !x.BodiesDecoded || x.ID == 0 {
				t.Fatalf("#%d: state %v, decoded %v, id %d", i, x.State, x.BodiesDecoded, x.ID)
			}
			if x.Request.Method == "" || x.Request.URL == "" {
				t.Fatalf("#%d: request without method or URL", i)
			}
			bodies := []record.Body{x.Request.Body}
			if x.Response != nil {
				bodies = append(bodies, x.Response.Body)
				if x.Response.Status <= 0 {
					t.Fatalf("#%d: response with status %d", i, x.Response.Status)
				}
			}
			for _, b := range bodies {
				if b.Size < int64(len(b.Bytes)) || (b.Size > int64(len(b.Bytes)) && !b.Truncated) {
					t.Fatalf("#%d: body of %d bytes with size %d, truncated %v", i, len(b.Bytes), b.Size, b.Truncated)
				}
			}
			for j, m := range x.Messages {
				if m.Size < int64(len(m.Payload)) || (m.Size > int64(len(m.Payload)) && !m.Truncated) || (m.Opcode > 15 && x.Upgraded) {
					t.Fatalf("#%d: message %d: opcode %d, %d bytes with size %d, truncated %v", i, j, m.Opcode, len(m.Payload), m.Size, m.Truncated)
				}
			}
		}
		for _, level := range []redact.Level{redact.None, redact.Default, redact.Strict} {
			var first bytes.Buffer
			if err := Write(&first, xs, Options{Redact: level}); err != nil {
				t.Fatalf("Write(%s) of what Read accepted: %v", level, err)
			}
			again, err := Read(bytes.NewReader(first.Bytes()))
			if err != nil {
				t.Fatalf("Read of our own %s export: %v\n%s", level, err, first.Bytes())
			}
			if len(again) != len(xs) {
				t.Fatalf("%s export: %d exchanges read back, want %d", level, len(again), len(xs))
			}
			var second bytes.Buffer
			if err := Write(&second, again, Options{Redact: level}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatalf("%s export not stable:\n%s", level, firstDiff(second.Bytes(), first.Bytes()))
			}
		}
	})
}
