package har

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzScan feeds Scan arbitrary bytes, and holds it to Read: what Read
// accepts, Scan yields the same (unless a key appears twice, which Scan
// refuses), and what Read refuses, Scan refuses, with the same message
// when Scan's is about syntax. Seeds: the goldens, the
// import fixtures and FuzzRead's corpus; new crashers land in
// testdata/fuzz/FuzzScan.
func FuzzScan(f *testing.F) {
	for _, dir := range []string{"har", "import"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.har"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzRead", "*"))
	for _, file := range corpus {
		if b, ok := corpusBytes(file); ok {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, readErr := Read(bytes.NewReader(data))
		got, scanErr := scanAll(t, bytes.NewReader(data))
		switch {
		case readErr != nil && scanErr == nil:
			t.Fatalf("Read refuses it (%v); Scan yielded %d exchanges", readErr, len(got))
		case readErr != nil:
			// A syntax error is the first problem in the file to both:
			// Scan met nothing before it, and Read looks at syntax first.
			if errors.As(scanErr, new(*json.SyntaxError)) && scanErr.Error() != readErr.Error() {
				t.Fatalf("Scan: %v\nRead: %v", scanErr, readErr)
			}
			return
		case errors.Is(scanErr, errDuplicateKey):
			return
		case scanErr != nil:
			t.Fatalf("Read accepts it; Scan: %v", scanErr)
		case len(got) != len(want):
			t.Fatalf("Scan yielded %d exchanges, Read returned %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("entry %d: Scan\n%+v\nRead\n%+v", i, got[i], want[i])
			}
		}
	})
}

// corpusBytes reads a one-[]byte file of the fuzzing corpus format.
func corpusBytes(file string) ([]byte, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, false
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	return []byte(s), err == nil
}
