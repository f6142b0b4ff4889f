package har

// Streaming import: a HAR document read one entry at a time, so that a
// file of any size is imported in memory proportional to its largest
// entry. The document's skeleton (the top-level object, "log", the
// "entries" array) is walked here byte by byte; each entry, and every
// other value, is cut out whole and handed to encoding/json, whose errors
// are then placed in the file. Errors about the skeleton itself come from
// encoding/json too, by showing it a document that leaves its scanner
// where the walk was (see unexpected), so every message reads as Read's.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// Scan reads the HAR document in r (a file, usually; read from offset 0,
// a UTF-8 byte order mark skipped) entry by entry. It
// yields each entry converted exactly as Read converts it, in file order
// (the same exchanges Read returns, with the same IDs), and ends with a
// zero exchange and an error when the document is not one Read accepts.
// Memory stays proportional to the largest entry (and to the largest
// other value in the document, such as "pages"), not to the file.
//
// Errors read as Read's do, naming the line and column or the entry's
// index. Because it reads as it goes, Scan reports the first problem in
// file order, after yielding the entries before it (Read checks the whole
// document's syntax first, and then its types); and it refuses a key
// that appears twice in the top-level object or in "log", which Read
// takes the last of, as what it already yielded cannot be taken back.
//
// The keys of "log" may come in any order: when "entries" comes before
// "creator" or "version", which say how to read the entries, Scan first
// skips over the entries to find them (a second pass over that part of
// r).
func Scan(r io.ReaderAt) iter.Seq2[record.Exchange, error] {
	return func(yield func(record.Exchange, error) bool) {
		s := &scanner{src: r, in: input{r: r, buf: make([]byte, scanBuffer)}}
		s.yield = func(x record.Exchange) bool { return yield(x, nil) }
		if err := s.document(); err != nil && err != errStopped {
			yield(record.Exchange{}, err)
		}
	}
}

// scanBuffer is how much of the file is read at a time.
const scanBuffer = 64 << 10

// errStopped unwinds the walk when the caller of Scan stops early.
var errStopped = errors.New("har: scan stopped")

// errDuplicateKey says why a document with a key twice is refused.
var errDuplicateKey = errors.New("a HAR has one, and a file read as it streams cannot tell which one counts")

// Documents that leave encoding/json's scanner where the walk is, for
// unexpected: in an object before its first key, before a key after a
// comma, after a key, before a value, after a value; in an array before
// its first element, after an element, after a comma; after the
// top-level value.
const (
	inObjectStart = `{`
	inObjectKey   = `{"":"",`
	afterKey      = `{""`
	beforeValue   = `{"":`
	afterValue    = `{"":""` // a string: a number would take a '.' after it
	inArrayStart  = `[`
	afterElement  = `[""`
	inArrayNext   = `["",`
	afterDocument = `{}`
)

// scanner walks one document.
type scanner struct {
	src   io.ReaderAt
	in    input
	base  int64 // where the document starts in src: after a byte order mark
	yield func(record.Exchange) bool

	// What the document said so far. The keys seen are for refusing
	// duplicates; version and mitm may also come from lookAhead.
	sawLog, sawVersion, sawCreator, sawEntries bool
	logObject                                  bool // "log" is an object (not null)
	entries                                    bool // an "entries" array was read
	version                                    string
	versionKnown, creatorKnown                 bool
	mitm                                       bool
	n                                          int    // entries yielded
	raw                                        []byte // an entry's bytes, reused
}

// document walks the whole document and returns what ends it: nil for a
// HAR, errStopped when the caller stopped, else the first problem.
func (s *scanner) document() error {
	var bom [3]byte
	if k, _ := s.src.ReadAt(bom[:], 0); k == len(bom) && string(bom[:]) == "\xef\xbb\xbf" {
		s.base = int64(len(bom))
	}
	s.in.off = s.base
	c, ok := s.in.peek()
	if !ok || c >= utf8.RuneSelf || c == '\v' || c == '\f' {
		if err := s.readErr(); err != nil {
			return err
		}
		if s.blank(s.in.pos()) {
			return errors.New("read HAR: empty input")
		}
	}
	if c == '[' {
		return errors.New("read HAR: not a HAR file: the top level is a JSON array, not an object")
	}
	if c != '{' {
		var doc harInDoc
		if err := s.decode("", &doc, "", nil); err != nil {
			return err
		}
		if err := s.end(); err != nil {
			return err
		}
		return errors.New(`read HAR: not a HAR file: no "log" object`)
	}
	if err := s.object(s.topMember); err != nil {
		return err
	}
	if err := s.end(); err != nil {
		return err
	}
	switch {
	case !s.logObject:
		return errors.New(`read HAR: not a HAR file: no "log" object`)
	case !supportedVersion(s.version):
		return versionError(s.version)
	case !s.entries:
		return errors.New(`read HAR: not a HAR file: "log" has no "entries" array`)
	}
	return nil
}

// blank reports whether src holds nothing but white space from offset at
// (as bytes.TrimSpace sees it: Read calls an input of only that empty).
func (s *scanner) blank(at int64) bool {
	r := bufio.NewReader(io.NewSectionReader(s.src, at, math.MaxInt64-at))
	for {
		c, _, err := r.ReadRune()
		if err != nil {
			return err == io.EOF
		}
		if !unicode.IsSpace(c) {
			return false
		}
	}
}

// supportedVersion reports whether Read reads HAR version v ("" when the
// document does not say).
func supportedVersion(v string) bool {
	return v == "" || strings.HasPrefix(v, "1.") || v == "1"
}

func versionError(v string) error {
	return fmt.Errorf("read HAR: HAR version %q is not supported (this reader handles 1.x)", v)
}

// end checks that nothing but white space follows the document.
func (s *scanner) end() error {
	if c, ok := s.in.peek(); ok {
		return s.unexpected(afterDocument, s.in.pos(), c)
	}
	return s.readErr()
}

// object walks the object that starts at the current byte, calling member
// for each key with the input at the key's value, which member must read.
func (s *scanner) object(member func(key string, at int64) error) error {
	s.in.i++ // {
	c, ok := s.in.peek()
	if !ok {
		return s.eof(inObjectStart)
	}
	if c == '}' {
		s.in.i++
		return nil
	}
	where := inObjectStart
	for {
		at := s.in.pos()
		if c != '"' {
			return s.unexpected(where, at, c)
		}
		var key string
		if err := s.decode(where, &key, "", nil); err != nil {
			return err
		}
		if c, ok = s.in.peek(); !ok {
			return s.eof(afterKey)
		}
		if c != ':' {
			return s.unexpected(afterKey, s.in.pos(), c)
		}
		s.in.i++
		if _, ok = s.in.peek(); !ok {
			return s.eof(beforeValue)
		}
		if err := member(key, at); err != nil {
			return err
		}
		if c, ok = s.in.peek(); !ok {
			return s.eof(afterValue)
		}
		switch c {
		case '}':
			s.in.i++
			return nil
		case ',':
			s.in.i++
		default:
			return s.unexpected(afterValue, s.in.pos(), c)
		}
		if c, ok = s.in.peek(); !ok {
			return s.eof(inObjectKey)
		}
		where = inObjectKey
	}
}

// topMember reads a value of the top-level object.
func (s *scanner) topMember(key string, at int64) error {
	if !strings.EqualFold(key, "log") {
		return s.decode(beforeValue, nil, "", nil)
	}
	if s.sawLog {
		return s.duplicate("the document", key, at)
	}
	s.sawLog = true
	if c, _ := s.in.peek(); c == '{' {
		s.logObject = true
		return s.object(s.logMember)
	}
	var lg *harInLog // null, or not an object: an error
	return s.decode(beforeValue, &lg, "log", nil)
}

// logMember reads a value of the "log" object.
func (s *scanner) logMember(key string, at int64) error {
	seen := func(b *bool) error {
		if *b {
			return s.duplicate(`"log"`, key, at)
		}
		*b = true
		return nil
	}
	switch {
	case strings.EqualFold(key, "version"):
		if err := seen(&s.sawVersion); err != nil {
			return err
		}
		var v string
		if err := s.decode(beforeValue, &v, "log.version", nil); err != nil {
			return err
		}
		s.version, s.versionKnown = v, true
		if s.entries && !supportedVersion(v) {
			return versionError(v)
		}
		return nil
	case strings.EqualFold(key, "creator"):
		if err := seen(&s.sawCreator); err != nil {
			return err
		}
		var cr harInCreator
		if err := s.decode(beforeValue, &cr, "log.creator", nil); err != nil {
			return err
		}
		s.mitm, s.creatorKnown = cr.mitm(), true
		return nil
	case strings.EqualFold(key, "entries"):
		if err := seen(&s.sawEntries); err != nil {
			return err
		}
		if c, _ := s.in.peek(); c == '[' {
			return s.entryArray()
		}
		var es *[]harInEntry // null, or not an array: an error
		return s.decode(beforeValue, &es, "log.entries", nil)
	}
	return s.decode(beforeValue, nil, "", nil)
}

// harInCreator is harInLog's creator, the part that says how to read the
// entries.
type harInCreator struct {
	Name string `json:"name"`
}

func (c harInCreator) mitm() bool { return strings.HasPrefix(strings.ToLower(c.Name), "mitmproxy") }

// entryArray reads the entries, yielding each.
func (s *scanner) entryArray() error {
	s.entries = true
	if !s.versionKnown || !s.creatorKnown {
		s.lookAhead(s.in.pos())
	}
	if !supportedVersion(s.version) {
		return versionError(s.version)
	}
	s.in.i++ // [
	c, ok := s.in.peek()
	if !ok {
		return s.eof(inArrayStart)
	}
	if c == ']' {
		s.in.i++
		return nil
	}
	where := inArrayStart
	for {
		var e harInEntry
		if err := s.decode(where, &e, "log.entries", &s.raw); err != nil {
			return err
		}
		if cap(s.raw) > 8<<20 {
			s.raw = nil // an outsized entry's buffer is not kept for the rest
		}
		x, err := e.exchange(s.n, s.mitm)
		if err != nil {
			return fmt.Errorf("read HAR: entries[%d]: %w", s.n, err)
		}
		s.n++
		if !s.yield(x) {
			return errStopped
		}
		if c, ok = s.in.peek(); !ok {
			return s.eof(afterElement)
		}
		switch c {
		case ']':
			s.in.i++
			return nil
		case ',':
			s.in.i++
		default:
			return s.unexpected(afterElement, s.in.pos(), c)
		}
		if _, ok = s.in.peek(); !ok {
			return s.eof(inArrayNext)
		}
		where = inArrayNext
	}
}

// lookAhead reads the "version" and "creator" that follow the entries
// array at offset at, skipping the array. Problems are left for the walk
// to meet and report in their place: lookAhead stops at the first.
func (s *scanner) lookAhead(at int64) {
	la := input{r: s.src, buf: make([]byte, scanBuffer), off: at}
	if c, ok := la.peek(); !ok || c != '[' {
		return
	}
	la.value(false, nil) // the entries
	for {
		if c, ok := la.peek(); !ok || c != ',' {
			return
		}
		la.i++
		if c, ok := la.peek(); !ok || c != '"' {
			return
		}
		raw, _ := la.value(true, nil)
		var key string
		if json.Unmarshal(raw, &key) != nil {
			return
		}
		if c, ok := la.peek(); !ok || c != ':' {
			return
		}
		la.i++
		if _, ok := la.peek(); !ok {
			return
		}
		switch {
		case strings.EqualFold(key, "version"):
			raw, _ := la.value(true, nil)
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return
			}
			s.version, s.versionKnown = v, true
		case strings.EqualFold(key, "creator"):
			raw, _ := la.value(true, nil)
			var cr harInCreator
			if json.Unmarshal(raw, &cr) != nil {
				return
			}
			s.mitm, s.creatorKnown = cr.mitm(), true
		default:
			la.value(false, nil)
		}
	}
}

// decode reads the value at the current byte and unmarshals it into v
// (nil: only checks it), reporting errors as Read does: where is the
// walk's state there (see unexpected), field the value's path for type
// errors ("log.entries"; "" at the top). buf, when given, is reused for
// the value's bytes.
func (s *scanner) decode(where string, v any, field string, buf *[]byte) error {
	c, _ := s.in.peek()
	at := s.in.pos()
	var raw []byte
	if buf != nil {
		raw = (*buf)[:0]
	}
	raw, err := s.in.value(true, raw)
	if buf != nil {
		*buf = raw[:0]
	}
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return s.unexpected(where, at, c)
	}
	if v == nil {
		if json.Valid(raw) {
			return nil
		}
		v = new(any) // for the error: the syntax is checked before anything is built
	}
	err = json.Unmarshal(raw, v)
	var se *json.SyntaxError
	if errors.As(err, &se) && raw[0] != '{' && raw[0] != '[' && raw[0] != '"' {
		// A number or literal ends where its context says: show it to
		// encoding/json in place, with the byte that follows.
		doc := append([]byte(where), raw...)
		if next, ok := s.in.next(); ok {
			doc = append(doc, next)
		}
		if cerr := json.Unmarshal(doc, new(any)); errors.As(cerr, new(*json.SyntaxError)) {
			return s.jsonError(cerr, raw, at-int64(len(where)), field)
		}
	}
	if err != nil {
		return s.jsonError(err, raw, at, field)
	}
	return nil
}

// unexpected is the error for byte c at offset at, where the document so
// far leaves encoding/json's scanner as the document where does: the
// scanner's own message, placed at the byte.
func (s *scanner) unexpected(where string, at int64, c byte) error {
	if err := s.readErr(); err != nil {
		return err
	}
	err := json.Unmarshal(append([]byte(where), c), new(any))
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		// where does not leave the scanner where c is wrong: a bug here.
		line, col := s.lineCol(at - s.base)
		return fmt.Errorf("read HAR: line %d, column %d: unexpected %q", line, col, c)
	}
	return s.jsonError(err, nil, at-int64(len(where)), "")
}

// eof is the error for the document ending (or failing to be read) in
// the state where says.
func (s *scanner) eof(where string) error {
	if err := s.readErr(); err != nil {
		return err
	}
	err := json.Unmarshal([]byte(where), new(any))
	return s.jsonError(err, nil, s.in.pos()-int64(len(where)), "")
}

// readErr is the error that stopped reading src, unless it is the end.
func (s *scanner) readErr() error {
	if err := s.in.err; err != nil && err != io.EOF {
		return fmt.Errorf("read HAR: %w", err)
	}
	return nil
}

// duplicate refuses a key seen before.
func (s *scanner) duplicate(in, key string, at int64) error {
	line, col := s.lineCol(at - s.base)
	return fmt.Errorf("read HAR: line %d, column %d: %s has a second %q: %w", line, col, in, key, errDuplicateKey)
}

// jsonError is Read's jsonError for an error from unmarshaling raw, which
// starts at offset at of src; field is where raw is in the document, for
// type errors. Offsets in the error become the document's.
func (s *scanner) jsonError(err error, raw []byte, at int64, field string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		se.Offset += at - s.base
		line, col := s.lineCol(max(se.Offset, 1) - 1)
		return fmt.Errorf("read HAR: line %d, column %d: %w", line, col, err)
	case errors.As(err, &te):
		i := at - s.base
		if len(raw) > 0 {
			i += int64(valueIndex(raw, te.Offset))
		}
		te.Offset += at - s.base
		name := field
		if te.Field != "" {
			name = strings.TrimPrefix(name+"."+te.Field, ".")
		}
		if name == "" {
			return fmt.Errorf("read HAR: not a HAR file: the top level is a JSON %s, not an object", te.Value)
		}
		line, col := s.lineCol(i)
		if name == "log" {
			return fmt.Errorf(`read HAR: not a HAR file: "log" is a JSON %s, not an object (line %d, column %d)`, te.Value, line, col)
		}
		return fmt.Errorf("read HAR: line %d, column %d: %s: expected %s, found a JSON %s", line, col, name, kindName(te.Type), te.Value)
	}
	return fmt.Errorf("read HAR: %w", err)
}

// lineCol is the 1-based line and column (in characters) of the byte at
// index i of the document, as lineCol in read.go counts them. It reads
// the document again up to there: it is for errors only.
func (s *scanner) lineCol(i int64) (line, col int) {
	line = 1
	var lineStart int64
	buf := make([]byte, scanBuffer)
	for off := int64(0); off < i; {
		k, err := s.src.ReadAt(buf[:min(int64(len(buf)), i-off)], s.base+off)
		chunk := buf[:k]
		if n := bytes.Count(chunk, []byte("\n")); n > 0 {
			line += n
			lineStart = off + int64(bytes.LastIndexByte(chunk, '\n')) + 1
		}
		off += int64(k)
		if k == 0 || err != nil && off < i {
			break
		}
	}
	col = 1
	r := bufio.NewReader(io.NewSectionReader(s.src, s.base+lineStart, max(i-lineStart, 0)))
	for {
		if _, _, err := r.ReadRune(); err != nil {
			return line, col
		}
		col++
	}
}

// input reads src sequentially through a buffer.
type input struct {
	r    io.ReaderAt
	buf  []byte
	i, n int   // buf[i:n] is read and not consumed
	off  int64 // the offset in r of buf[0]
	err  error // what ended reading: io.EOF at the end
}

// pos is the offset in r of the next byte.
func (in *input) pos() int64 { return in.off + int64(in.i) }

// fill reads more into the buffer, after dropping what was consumed, and
// reports whether it read anything.
func (in *input) fill() bool {
	if in.err != nil {
		return false
	}
	if in.i > 0 {
		in.n = copy(in.buf, in.buf[in.i:in.n])
		in.off += int64(in.i)
		in.i = 0
	}
	k, err := in.r.ReadAt(in.buf[in.n:], in.off+int64(in.n))
	in.n += k
	if err == nil && k == 0 {
		err = io.ErrNoProgress
	}
	in.err = err
	return k > 0
}

// peek skips white space and returns the next byte, unconsumed; ok is
// false at the end of the input or after a read error.
func (in *input) peek() (c byte, ok bool) {
	for {
		for ; in.i < in.n; in.i++ {
			if c := in.buf[in.i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return c, true
			}
		}
		if !in.fill() {
			return 0, false
		}
	}
}

// next returns the next byte, white space or not, unconsumed.
func (in *input) next() (byte, bool) {
	if in.i == in.n && !in.fill() {
		return 0, false
	}
	return in.buf[in.i], true
}

// value consumes the JSON value that starts at the current byte and, when
// keep is set, appends its bytes to raw. It finds where the value ends,
// without checking it: an object or array at its matching (or first
// mismatched) closing bracket, a string at its closing quote, anything
// else before the next white space or punctuation (nothing, when the
// current byte is punctuation). At the end of the input it returns what
// there was. err is a read error other than the end.
func (in *input) value(keep bool, raw []byte) (_ []byte, err error) {
	var nest [32]byte
	open := nest[:0] // the closing brackets expected, innermost last
	seg := in.i      // the start of the bytes not yet appended to raw
	inString, escaped := false, false
	literal := in.i < in.n && !strings.ContainsRune(`{["`, rune(in.buf[in.i]))
	done := false
	for !done {
		if in.i == in.n {
			if keep {
				raw = append(raw, in.buf[seg:in.i]...)
			}
			if !in.fill() {
				if in.err != io.EOF {
					return raw, fmt.Errorf("read HAR: %w", in.err)
				}
				return raw, nil
			}
			seg = in.i
		}
		switch {
		case literal:
			if isDelimiter(in.buf[in.i]) {
				done = true
				continue
			}
			in.i++
		case escaped:
			in.i++
			escaped = false
		case inString:
			rest := in.buf[in.i:in.n]
			q := bytes.IndexByte(rest, '"')
			if q < 0 {
				q = len(rest)
			}
			if b := bytes.IndexByte(rest[:q], '\\'); b >= 0 {
				in.i += b + 1
				escaped = true
				continue
			}
			in.i += q
			if q < len(rest) {
				in.i++
				inString = false
				done = len(open) == 0
			}
		default:
			c := in.buf[in.i]
			in.i++
			switch c {
			case '"':
				inString = true
			case '{':
				open = append(open, '}')
			case '[':
				open = append(open, ']')
			case '}', ']':
				if len(open) == 0 || open[len(open)-1] != c {
					done = true // mismatched: the check reports it here
					break
				}
				open = open[:len(open)-1]
				done = len(open) == 0
			}
		}
	}
	if keep {
		raw = append(raw, in.buf[seg:in.i]...)
	}
	return raw, nil
}

// isDelimiter reports whether c ends a number or literal.
func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ':', '[', ']', '{', '}', '"':
		return true
	}
	return false
}
