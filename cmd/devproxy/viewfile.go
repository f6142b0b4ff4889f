package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// viewReads says what view opens, in the errors about files it cannot.
const viewReads = "view reads HAR 1.2 files (JSON, as devproxy, browsers' developer tools and mitmproxy export them) and devproxy session files"

// notViewableError says that view cannot read a file: what the file looks
// like, what view reads, and how to get a HAR from it when there is a way.
type notViewableError struct {
	path  string
	looks string // "is a mitmproxy flow file", "is empty"
	hint  string // "" or what to do
}

func (e *notViewableError) Error() string {
	s := e.path + " " + e.looks + ". " + viewReads
	if e.hint != "" {
		s += "; " + e.hint
	}
	return s
}

// sniffHead is how much of a file checkNotHAR reads to tell formats apart.
const sniffHead = 512

// checkNotHAR looks at the start of the file at path (which is not an
// SQLite file: isSessionFile said so) and returns a notViewableError when it
// is certainly not HAR: empty, compressed, an archive, a mitmproxy flow
// file, JSON that is not an object with "log", text that is not JSON,
// binary data. It returns nil when the file may be HAR, for the HAR
// reader, whose errors say what is wrong inside one, or when the file
// cannot be read, for the reader to say why.
func checkNotHAR(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return &notViewableError{path, "is a directory", "give a file in it"}
	}
	head := make([]byte, sniffHead)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil
	}
	head = head[:n]
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(text) == 0 {
		if n < sniffHead {
			return &notViewableError{path, "is empty", ""}
		}
		return nil // a lot of white space: the reader looks further
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x1f\x8b")):
		return &notViewableError{path, "is gzip-compressed", "decompress it first: gunzip -k " + path}
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return &notViewableError{path, "is a zip archive (Fiddler's .saz is one)", "export HAR from the tool that made it, or unzip it if it holds one"}
	case isPcap(head):
		return &notViewableError{path, "is a packet capture (pcap), not HAR", ""}
	case isTNetString(f, head):
		out := strings.TrimSuffix(path, filepath.Ext(path)) + ".har"
		return &notViewableError{path, "is a mitmproxy flow file (what mitmdump -w and mitmproxy's save write), not HAR",
			fmt.Sprintf("make a HAR of it with mitmproxy: mitmdump -nr %s --set hardump=%s, then devproxy view %s", path, out, out)}
	case text[0] == '[':
		return &notViewableError{path, "is a JSON array, not HAR (a JSON object with a \"log\" object)", ""}
	case text[0] == '{':
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil
		}
		return jsonNotHAR(path, f)
	case !utf8.Valid(head[:n-utf8Tail(head)]) || bytes.IndexByte(head, 0) >= 0:
		return &notViewableError{path, "is binary data, not HAR (JSON text)", ""}
	}
	first, _, _ := strings.Cut(string(text), "\n")
	return &notViewableError{path, fmt.Sprintf("is text that is not a JSON object: it starts %s", quoteStart(first)), ""}
}

// jsonNotHAR reads the top-level keys of the JSON object in r: nil as soon
// as one is "log" (a HAR, or a broken one, for the HAR reader), or when the
// JSON is malformed (the HAR reader names the line and column); else an
// error naming the keys found.
func jsonNotHAR(path string, r io.Reader) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		if k == "log" {
			return nil
		}
		keys = append(keys, strconv.Quote(k))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil
	}
	what := "is an empty JSON object"
	switch {
	case len(keys) > 6:
		what = fmt.Sprintf("is a JSON object with keys %s, … (%d in all) but no \"log\"", strings.Join(keys[:6], ", "), len(keys))
	case len(keys) > 0:
		what = fmt.Sprintf("is a JSON object with keys %s but no \"log\"", strings.Join(keys, ", "))
	}
	return &notViewableError{path, what + ", so not HAR", ""}
}

// isTNetString reports whether the file starts as mitmproxy's flow format
// does: a tnetstring, "LENGTH:DATA" followed by a type character, a
// dictionary ("}") for a flow. head is the file's start; f is read for the
// type character when it lies further.
func isTNetString(f *os.File, head []byte) bool {
	i := bytes.IndexByte(head, ':')
	if i < 1 || i > 9 || strings.TrimLeft(string(head[:i]), "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(string(head[:i]))
	if err != nil {
		return false
	}
	at := int64(i + 1 + n)
	var c [1]byte
	if at < int64(len(head)) {
		c[0] = head[at]
	} else if _, err := f.ReadAt(c[:], at); err != nil {
		return false
	}
	return c[0] == '}'
}

// isPcap reports whether head starts with a pcap or pcapng magic number.
func isPcap(head []byte) bool {
	for _, magic := range []string{"\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x0a\x0d\x0d\x0a"} {
		if bytes.HasPrefix(head, []byte(magic)) {
			return true
		}
	}
	return false
}

// utf8Tail is the number of bytes at the end of b that may be a UTF-8
// sequence cut by the end of the read, to be left out of the check.
func utf8Tail(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}

// quoteStart quotes the start of a line, shortened to 40 characters.
func quoteStart(s string) string {
	s = strings.TrimRight(s, "\r")
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}
