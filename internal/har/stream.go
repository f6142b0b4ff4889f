package har

// Streaming export: a HAR document written one entry at a time, so that a
// session file of any size can be exported without holding it in memory.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// Stream writes a HAR 1.2 document entry by entry, byte for byte as Write
// writes the same exchanges in the same order. Redaction follows secrets
// across the whole document, so every exchange is first shown to Learn
// (a first pass over the source), and only then written with Add (a
// second pass); with redact.None there is nothing to learn and the first
// pass can be skipped. Entries are written in the order they are added.
// Close ends the document. A Stream is not safe for concurrent use.
type Stream struct {
	w       io.Writer
	r       *redact.Redactor
	level   redact.Level
	version string
	decode  func(*record.Exchange, record.Message) (string, bool)
	sealed  bool
	n       int // entries written
	err     error
}

// NewStream starts a HAR document on w, redacted as o says (see Write).
// Nothing is written until the first Add or Close.
func NewStream(w io.Writer, o Options) (*Stream, error) {
	level, err := redact.ParseLevel(string(o.Redact))
	if err != nil {
		return nil, fmt.Errorf("write HAR: %w", err)
	}
	version := o.Version
	if version == "" {
		version = "devel"
	}
	return &Stream{w: w, r: redact.New(level, body.Decoder{}), level: level, version: version, decode: o.DecodeMessage}, nil
}

// Learn shows x to the redactor, so that its secrets are hidden wherever
// they appear in the document. Call it for every exchange before the first
// Add; after that it panics, as a secret learned then would already have
// been written out in an earlier entry.
func (s *Stream) Learn(x *record.Exchange) {
	if s.sealed {
		panic("har: Stream.Learn after Add")
	}
	s.r.Learn(x)
	learnMessages(s.r, x)
}

// LearnsBodies reports whether Learn reads body bytes and message payloads
// (strict redaction learns secrets from them); when it does not, Learn may
// be given exchanges without them, so that a first pass over a large
// source reads only headers.
func (s *Stream) LearnsBodies() bool { return s.r.Level() == redact.Strict }

// Add writes x as the next entry. x is only read. The first error stops
// the stream: later calls return it.
func (s *Stream) Add(x *record.Exchange) error {
	if s.err != nil {
		return s.err
	}
	if err := s.start(); err != nil {
		return err
	}
	e := newHAREntry(x, s.r, s.decode)
	redactEntry(s.r, &e)
	sep := ",\n      "
	if s.n == 0 {
		sep = "\n      "
	}
	var buf bytes.Buffer
	buf.WriteString(sep)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("      ", "  ")
	if err := enc.Encode(e); err != nil {
		return s.fail(err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return s.fail(err)
	}
	s.n++
	return nil
}

// Len is how many entries were written.
func (s *Stream) Len() int { return s.n }

// Close ends the document (the entries array and the log's comment). It
// does not close the underlying writer.
func (s *Stream) Close() error {
	if s.err != nil {
		return s.err
	}
	if err := s.start(); err != nil {
		return err
	}
	end := "\n    ],\n"
	if s.n == 0 {
		end = "],\n"
	}
	tail := end + `    "comment": ` + jsonString("devproxy export; redaction: "+s.level.Describe()) + "\n  }\n}\n"
	if _, err := io.WriteString(s.w, tail); err != nil {
		return s.fail(err)
	}
	s.err = errors.New("write HAR: stream is closed")
	return nil
}

// start seals the redactor and writes the document's head, once.
func (s *Stream) start() error {
	if s.sealed {
		return nil
	}
	s.sealed = true
	s.r.Seal()
	head := "{\n" +
		`  "log": {` + "\n" +
		`    "version": "1.2",` + "\n" +
		`    "creator": {` + "\n" +
		`      "name": "devproxy",` + "\n" +
		`      "version": ` + jsonString(s.version) + "\n" +
		"    },\n" +
		`    "entries": [`
	if _, err := io.WriteString(s.w, head); err != nil {
		return s.fail(err)
	}
	return nil
}

func (s *Stream) fail(err error) error {
	s.err = fmt.Errorf("write HAR: %w", err)
	return s.err
}

// jsonString is v as a JSON string, HTML characters unescaped as Write
// writes them.
func jsonString(v string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
