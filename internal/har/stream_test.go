package har

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// encodeDoc is the document for xs (in order) encoded whole with
// encoding/json, as Write did before it streamed: the reference the
// Stream's hand-written envelope must match byte for byte.
func encodeDoc(t *testing.T, xs []record.Exchange, level redact.Level) []byte {
	t.Helper()
	r := redact.New(level, body.Decoder{})
	for i := range xs {
		r.Learn(&xs[i])
		learnMessages(r, &xs[i])
	}
	r.Seal()
	doc := harDoc{Log: harLog{
		Version: "1.2",
		Creator: harCreator{Name: "devproxy", Version: goldenVersion},
		Entries: []harEntry{},
		Comment: "devproxy export; redaction: " + level.Describe(),
	}}
	for i := range xs {
		e := newHAREntry(&xs[i], r, nil)
		redactEntry(r, &e)
		doc.Log.Entries = append(doc.Log.Entries, e)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestStreamMatchesWholeDocument(t *testing.T) {
	cases := goldenCases()
	cases = append(cases, struct {
		name   string
		redact redact.Level
		xs     []record.Exchange
	}{"empty", redact.Default, nil})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bytes.Buffer
			s, err := NewStream(&got, Options{Redact: c.redact, Version: goldenVersion})
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.xs {
				s.Learn(&c.xs[i])
			}
			for i := range c.xs {
				if err := s.Add(&c.xs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s.Len() != len(c.xs) {
				t.Errorf("Len %d, want %d", s.Len(), len(c.xs))
			}
			want := encodeDoc(t, c.xs, c.redact)
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("stream differs from the whole document:\n%s", firstDiff(got.Bytes(), want))
			}
			if _, err := Read(bytes.NewReader(got.Bytes())); err != nil {
				t.Errorf("the stream does not read back: %v", err)
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestStreamStopsAtFirstError(t *testing.T) {
	xs := goldenCases()[0].xs
	s, err := NewStream(failingWriter{}, Options{Redact: redact.None})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(&xs[0]); !errors.Is(err, errDiskFull) {
		t.Fatalf("Add: %v, want the writer's error", err)
	}
	if err := s.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close after a failed Add: %v, want the same error", err)
	}
	if s.Len() != 0 {
		t.Errorf("Len %d after a failed write", s.Len())
	}
}

func TestStreamUnknownLevel(t *testing.T) {
	if _, err := NewStream(&bytes.Buffer{}, Options{Redact: "loose"}); err == nil {
		t.Fatal("NewStream accepted an unknown redaction level")
	}
}

func TestStreamFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.har")
	xs := goldenCases()[0].xs
	err := StreamFile(path, Options{Redact: redact.None, Version: goldenVersion}, func(s *Stream) error {
		for i := range xs {
			if err := s.Add(&xs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := exportHAR(t, xs, redact.None); !bytes.Equal(got, want) {
		t.Errorf("StreamFile differs from Write:\n%s", firstDiff(got, want))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}

	// A failure in fill leaves the file as it was, and no temp file.
	stop := errors.New("the source failed")
	err = StreamFile(path, Options{}, func(s *Stream) error { return stop })
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v, want the fill's error naming %s", err, path)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, got) {
		t.Error("a failed StreamFile changed the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the directory, want only out.har", len(ents))
	}
}

// TestStreamLearnsBodies: unless LearnsBodies, learning from exchanges
// without their bytes exports the same document.
func TestStreamLearnsBodies(t *testing.T) {
	for _, c := range goldenCases() {
		s, err := NewStream(&bytes.Buffer{}, Options{Redact: c.redact})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.LearnsBodies(), c.redact == redact.Strict; got != want {
			t.Errorf("%s: LearnsBodies %v at %s", c.name, got, c.redact)
		}
		if s.LearnsBodies() {
			continue
		}
		var got bytes.Buffer
		s, _ = NewStream(&got, Options{Redact: c.redact, Version: goldenVersion})
		for i := range c.xs {
			x := c.xs[i]
			x.Request.Body.Bytes, x.Messages = nil, nil
			if x.Response != nil {
				r := *x.Response
				r.Body.Bytes = nil
				x.Response = &r
			}
			s.Learn(&x)
		}
		for i := range c.xs {
			if err := s.Add(&c.xs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if want := encodeDoc(t, c.xs, c.redact); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: learning without bodies changed the export:\n%s", c.name, firstDiff(got.Bytes(), want))
		}
	}
}
