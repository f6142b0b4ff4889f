package session

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// open opens a store for the test and closes it at the end.
func open(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newPath is a session file path in a new temporary directory.
func newPath(t testing.TB) string { return filepath.Join(t.TempDir(), "s.db") }

// exchange is a finished GET with a response body; every one built here
// has the same size besides its body.
func exchange(id uint64, respBody []byte) record.Exchange {
	start := time.Unix(1_800_000_000, int64(id))
	return record.Exchange{
		ID: id, Version: 3, Role: record.RoleServe, State: record.Done,
		Start: start, End: start.Add(time.Millisecond),
		Request: record.Request{Method: "GET", URL: "http://example.test/item", Proto: "HTTP/1.1", Host: "example.test",
			Header: record.Fields{{Name: "Accept", Value: "*/*"}}, Body: record.Body{Complete: true}},
		Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
			Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}},
			Body:   record.Body{Bytes: respBody, Size: int64(len(respBody)), Complete: true}},
		Timings: record.NoTimings,
	}
}

// pattern is n bytes of a repeating pattern (nil for 0).
func pattern(n int) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// rich is an exchange with every field of record.Exchange set.
func rich(id uint64, reqSize, respSize int) record.Exchange {
	t0 := time.Unix(1_800_000_000, 123_456_789)
	return record.Exchange{
		ID: id, Version: 9, Role: record.RoleRelay, State: record.Done,
		Start: t0, End: t0.Add(1500 * time.Millisecond),
		ClientAddr: "127.0.0.1:50000", ServerAddr: "10.0.0.2:443", ReplayOf: 3,
		Request: record.Request{
			Method: "POST", URL: "https://api.example/items?q=1", UpstreamURL: "http://backend:8080/items?q=1",
			Proto: "HTTP/1.1", Host: "api.example",
			Header: record.Fields{{Name: "Host", Value: "api.example"}, {Name: "X-B", Value: "2"},
				{Name: "X-A", Value: "1"}, {Name: "X-A", Value: "again"}, {Name: "X-Bytes", Value: "\xff\xfe<&>"}},
			Trailer: record.Fields{{Name: "X-Checksum", Value: "abc"}},
			Body:    record.Body{Bytes: pattern(reqSize), Size: int64(reqSize), Complete: true},
		},
		Response: &record.Response{
			Status: 207, Reason: "Multi-Status", Proto: "HTTP/2.0",
			Header:  record.Fields{{Name: "Content-Type", Value: "application/octet-stream"}, {Name: "Set-Cookie", Value: "a=1"}, {Name: "Set-Cookie", Value: "b=2"}},
			Trailer: record.Fields{{Name: "Grpc-Status", Value: "0"}},
			Body:    record.Body{Bytes: pattern(respSize), Size: 10 << 20, Truncated: true},
		},
		Timings: record.Timings{Blocked: 1, DNS: -1, Connect: 3 * time.Millisecond, TLS: 2 * time.Millisecond,
			Send: 4, Wait: 5 * time.Second, Receive: 6},
		Err:      &record.Error{Kind: record.ErrAborted, Message: "upstream closed the connection", Status: 502},
		Upgraded: true, UpgradeUp: 10, UpgradeDn: 20,
		Marks: []record.Mark{{Stage: "relay", Name: "backend", Value: "web"}, {Stage: "retry", Name: "attempt", Value: "2"},
			{Name: "bare"}},
		Messages: []record.Message{
			{Time: t0.Add(time.Second), Dir: record.ToServer, Opcode: 1, Size: 5, Payload: []byte("hello")},
			{Time: t0.Add(2 * time.Second), Dir: record.ToClient, Opcode: 2, Size: 1 << 20, Payload: pattern(100), Truncated: true, Compressed: true},
			{Time: t0.Add(3 * time.Second), Dir: record.ToClient, Opcode: 8, Size: 6, Payload: []byte("\x03\xe8done"), CloseCode: 1000, CloseReason: "done"},
			{Time: t0.Add(4 * time.Second), Dir: record.ToServer, Opcode: 9},
		},
		MessagesDropped: 4,
	}
}

// withoutBytes is x as Get returns it: no body bytes, no messages.
func withoutBytes(x record.Exchange) record.Exchange {
	x.Request.Body.Bytes = nil
	if x.Response != nil {
		r := *x.Response
		r.Body.Bytes = nil
		x.Response = &r
	}
	x.Messages = nil
	return x
}

func TestDriverHasFTS5Trigram(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA compile_options")
	if err != nil {
		t.Fatal(err)
	}
	var opts []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			t.Fatal(err)
		}
		opts = append(opts, o)
	}
	rows.Close()
	if !strings.Contains(strings.Join(opts, " "), "ENABLE_FTS5") {
		t.Fatalf("the driver's SQLite lacks FTS5: %v", opts)
	}
	if _, err := db.Exec("CREATE VIRTUAL TABLE t USING fts5(x, content='', contentless_delete=1, tokenize='trigram')"); err != nil {
		t.Fatalf("no trigram tokenizer or contentless_delete: %v", err)
	}
}

func TestRoundTripEveryField(t *testing.T) {
	s := open(t, newPath(t), Options{})
	sizes := []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + ChunkSize/2}
	for i, n := range sizes {
		x := rich(uint64(i+1), n, sizes[len(sizes)-1-i])
		if !s.Offer(x) {
			t.Fatal("Offer refused")
		}
	}
	noResponse := exchange(100, nil)
	noResponse.Response, noResponse.Err = nil, &record.Error{Kind: record.ErrUnreachable, Message: "connection refused", Status: 502}
	s.Offer(noResponse)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		want := rich(uint64(i+1), n, sizes[len(sizes)-1-i])
		got, err := s.Load(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("bodies %d/%d: Load\n got %+v\nwant %+v", n, sizes[len(sizes)-1-i], got, want)
		}
		meta, err := s.Get(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w := withoutBytes(want); !reflect.DeepEqual(meta, w) {
			t.Errorf("Get\n got %+v\nwant %+v", meta, w)
		}
		for part, wb := range []record.Body{want.Request.Body, want.Response.Body} {
			b, err := s.Body(want.ID, Part(part))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b, wb) {
				t.Errorf("Body(%d, %d): %d bytes, size %d, want %d, %d", want.ID, part, len(b.Bytes), b.Size, len(wb.Bytes), wb.Size)
			}
		}
		ms, err := s.Messages(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ms, want.Messages) {
			t.Errorf("Messages\n got %+v\nwant %+v", ms, want.Messages)
		}
	}
	got, err := s.Load(100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, noResponse) {
		t.Errorf("no response: Load\n got %+v\nwant %+v", got, noResponse)
	}
	if b, err := s.Body(100, ResponseBody); err != nil || !reflect.DeepEqual(b, record.Body{}) {
		t.Errorf("no response: Body = %+v, %v", b, err)
	}
	if _, err := s.Get(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(99) = %v, want ErrNotFound", err)
	}
	if _, err := s.Body(99, RequestBody); !errors.Is(err, ErrNotFound) {
		t.Errorf("Body(99) = %v, want ErrNotFound", err)
	}
}

func TestReopenContinuesIDs(t *testing.T) {
	path := newPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.MaxID(); err != nil || id != 0 {
		t.Fatalf("new file: MaxID = %d, %v", id, err)
	}
	for id := uint64(1); id <= 12; id++ {
		s.Offer(exchange(id, []byte("first run")))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Offer(exchange(13, nil)) {
		t.Error("Offer after Close accepted")
	}
	if _, err := s.Count(); !errors.Is(err, ErrClosed) {
		t.Errorf("Count after Close = %v, want ErrClosed", err)
	}

	s = open(t, path, Options{})
	next, err := s.MaxID()
	if err != nil || next != 12 {
		t.Fatalf("reopened: MaxID = %d, %v; want 12", next, err)
	}
	for id := next + 1; id <= 25; id++ {
		s.Offer(exchange(id, []byte("second run")))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(); err != nil || n != 25 {
		t.Fatalf("Count = %d, %v; want 25", n, err)
	}
	// Paging by ID: 10, 10, 5.
	var all []uint64
	for after := uint64(0); ; {
		page, err := s.Range(after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, x := range page {
			all = append(all, x.ID)
			if x.Response.Body.Bytes != nil || x.Response.Body.Size == 0 {
				t.Fatalf("Range: #%d body %+v, want sizes without bytes", x.ID, x.Response.Body)
			}
		}
		after = page[len(page)-1].ID
	}
	ids, err := s.IDs(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 25 || !reflect.DeepEqual(all, ids) || ids[0] != 1 || ids[24] != 25 {
		t.Fatalf("Range pages gave %v, IDs %v", all, ids)
	}
	if page, _ := s.IDs(20, 3); !reflect.DeepEqual(page, []uint64{21, 22, 23}) {
		t.Errorf("IDs(20, 3) = %v", page)
	}
	b, err := s.Body(13, ResponseBody)
	if err != nil || string(b.Bytes) != "second run" {
		t.Errorf("#13 body %q, %v", b.Bytes, err)
	}
}

func TestLaterVersionReplacesEarlier(t *testing.T) {
	s := open(t, newPath(t), Options{})
	put := func(version uint64, text string) {
		t.Helper()
		x := exchange(1, []byte(text+" body"))
		x.Version = version
		x.Messages = []record.Message{{Opcode: 1, Payload: []byte(text + " message"), Size: int64(len(text) + 8)}}
		s.Offer(x)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(text string) {
		t.Helper()
		x, err := s.Load(1)
		if err != nil {
			t.Fatal(err)
		}
		if string(x.Response.Body.Bytes) != text+" body" || len(x.Messages) != 1 || string(x.Messages[0].Payload) != text+" message" {
			t.Errorf("stored %q and %d messages, want %q", x.Response.Body.Bytes, len(x.Messages), text)
		}
		if ids, err := s.Search(text+" body", 0); err != nil || len(ids) != 1 {
			t.Errorf("Search(%q) = %v, %v", text, ids, err)
		}
	}
	put(3, "three")
	check("three")
	put(2, "two") // older: ignored
	check("three")
	put(5, "five")
	check("five")
	if ids, _ := s.Search("three", 0); len(ids) != 0 {
		t.Errorf("the replaced version is still indexed: %v", ids)
	}
	if n, _ := s.Count(); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
}

func TestFilesAreOwnerOnly(t *testing.T) {
	path := newPath(t)
	s := open(t, path, Options{})
	s.Offer(exchange(1, []byte("x")))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + ".lock"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), perm)
		}
	}
	s.Close()
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after Close: %v", err)
	}
}

func TestReadOnlyWhileWriting(t *testing.T) {
	path := newPath(t)
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open of a missing file = %v, want not exist", err)
	}
	w := open(t, path, Options{})
	for id := uint64(1); id <= 3; id++ {
		w.Offer(exchange(id, []byte("x")))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, Options{ReadOnly: true})
	if !r.ReadOnly() || r.Offer(exchange(9, nil)) {
		t.Fatal("read-only store accepts exchanges")
	}
	if n, err := r.Count(); err != nil || n != 3 {
		t.Fatalf("reader Count = %d, %v", n, err)
	}
	w.Offer(exchange(4, []byte("later")))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if b, err := r.Body(4, ResponseBody); err != nil || string(b.Bytes) != "later" {
		t.Fatalf("reader does not see the new exchange: %q, %v", b.Bytes, err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestFormatVersions(t *testing.T) {
	if len(migrations) != FormatVersion {
		t.Fatalf("%d migrations for format version %d", len(migrations), FormatVersion)
	}
	const v, next = FormatVersion, FormatVersion + 1
	path := newPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(exchange(1, []byte("kept")))
	s.Close()

	// An older file is upgraded (here: a next version that adds a table).
	cur := migrations
	t.Cleanup(func() { migrations = cur })
	migrations = append(cur[:len(cur):len(cur)], func(tx *sql.Tx) error {
		_, err := tx.Exec("CREATE TABLE notes (exchange_id INTEGER, text TEXT)")
		return err
	})
	// Read-only, it is read as it is.
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of an older file: %v", err)
	}
	if b, err := r.Body(1, ResponseBody); err != nil || string(b.Bytes) != "kept" {
		t.Errorf("read-only, before the upgrade: %q, %v", b.Bytes, err)
	}
	r.Close()
	if got := userVersion(t, path); got != v {
		t.Fatalf("a read-only open changed the file to version %d", got)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.Body(1, ResponseBody); err != nil || string(b.Bytes) != "kept" {
		t.Errorf("after the upgrade: %q, %v", b.Bytes, err)
	}
	s.Close()
	migrations = cur
	if got := userVersion(t, path); got != next {
		t.Fatalf("upgraded file has version %d, want %d", got, next)
	}

	// A newer file is refused, naming both versions, and left alone.
	for _, ro := range []bool{false, true} {
		_, err = Open(path, Options{ReadOnly: ro})
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Found != next || fe.Supported != v {
			t.Fatalf("read-only %v: newer file: %v", ro, err)
		}
		want := fmt.Sprintf("version %d is newer than this devproxy's (%d)", next, v)
		if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "use a newer devproxy") {
			t.Errorf("message: %s", msg)
		}
	}
	if got := userVersion(t, path); got != next {
		t.Errorf("refused file changed to version %d", got)
	}
}

// isFormat reports whether err is a *FormatError for version found.
func isFormat(err error, found int) bool {
	var fe *FormatError
	return errors.As(err, &fe) && fe.Found == found
}

// userVersion reads a file's PRAGMA user_version directly.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNotASession(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 100), 0o600)
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE things (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	for _, c := range []struct {
		path     string
		readOnly bool
		want     string
	}{
		{text, false, "not a devproxy session file: the file is not an SQLite database"},
		{text, true, "not a devproxy session file: the file is not an SQLite database"},
		{other, false, "not a devproxy session file: an SQLite database of another application"},
		{empty, true, "not a devproxy session file: the file is empty"},
	} {
		_, err := Open(c.path, Options{ReadOnly: c.readOnly})
		if !isFormat(err, -1) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Open(%s, read-only %v) = %v, want %q", filepath.Base(c.path), c.readOnly, err, c.want)
		}
	}
	// Another application's database is left as it was: not turned to WAL.
	db, err = sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "delete" {
		t.Errorf("the other application's database is in journal mode %q (%v)", mode, err)
	}
	db.Close()
	// An empty file becomes a session when opened for writing.
	s := open(t, empty, Options{})
	if n, err := s.Count(); err != nil || n != 0 {
		t.Errorf("empty file: Count = %d, %v", n, err)
	}
}

func TestRedactAtWrite(t *testing.T) {
	const token = "sekrit-token-1234567"
	x := exchange(1, gzipped(t, []byte(`{"echo":"Bearer `+token+`","ok":true}`)))
	x.Request.Header = append(x.Request.Header, record.Field{Name: "Authorization", Value: "Bearer " + token})
	x.Response.Header = record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Encoding", Value: "gzip"}}
	for _, level := range []redact.Level{redact.None, redact.Default} {
		s := open(t, newPath(t), Options{Redact: level})
		s.Offer(x)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(1)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := s.Search(token, 0)
		if err != nil {
			t.Fatal(err)
		}
		auth := got.Request.Header.Get("Authorization")
		if level == redact.None {
			if auth != "Bearer "+token || !bytes.Equal(got.Response.Body.Bytes, x.Response.Body.Bytes) || got.BodiesDecoded || len(ids) != 1 {
				t.Errorf("none: stored %q, body changed %v, decoded %v, search %v", auth, !bytes.Equal(got.Response.Body.Bytes, x.Response.Body.Bytes), got.BodiesDecoded, ids)
			}
			continue
		}
		if auth != redact.Marker {
			t.Errorf("default: Authorization stored as %q", auth)
		}
		if !got.BodiesDecoded || bytes.Contains(got.Response.Body.Bytes, []byte(token)) || !bytes.Contains(got.Response.Body.Bytes, []byte(`"ok":true`)) {
			t.Errorf("default: body stored as %q (decoded %v)", got.Response.Body.Bytes, got.BodiesDecoded)
		}
		if len(ids) != 0 {
			t.Errorf("default: the secret is in the search index: %v", ids)
		}
	}
}

func TestPathWithURLCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%e&f=g")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s%20.db")
	s := open(t, path, Options{})
	s.Offer(exchange(1, []byte("x")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file is not where asked: %v", err)
	}
	r := open(t, path, Options{ReadOnly: true})
	if n, err := r.Count(); err != nil || n != 1 {
		t.Errorf("Count = %d, %v", n, err)
	}
	missing := filepath.Join(dir, "missing", "s.db")
	if _, err := Open(missing, Options{}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Dir(missing)+":") {
		t.Errorf("Open in a missing directory: %v", err)
	}
}

func TestNewFileSettings(t *testing.T) {
	s := open(t, newPath(t), Options{})
	for _, c := range []struct{ pragma, want string }{
		{"page_size", strconv.Itoa(pageSize)}, {"auto_vacuum", "2"}, {"journal_mode", "wal"}, {"application_id", "1685483640"}, {"user_version", strconv.Itoa(FormatVersion)},
	} {
		var got string
		if err := s.rdb.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("PRAGMA %s = %q (%v), want %s", c.pragma, got, err, c.want)
		}
	}
}

// TestRoundTripChangedByRules: what rules changed (Request.Sent,
// Response.Upstream) reads back as written, and an exchange without them
// reads back without them.
func TestRoundTripChangedByRules(t *testing.T) {
	s := open(t, newPath(t), Options{})
	changed := rich(1, 10, 10)
	changed.Request.Sent = &record.SentRequest{Method: "PUT", URL: "/v2/items?q=1",
		Header: record.Fields{{Name: "X-A", Value: "1"}, {Name: "X-Rule", Value: "set \"quoted\" \xff"}}}
	changed.Response.Upstream = &record.UpstreamResponse{Status: 200,
		Header: record.Fields{{Name: "Cache-Control", Value: "max-age=60"}, {Name: "Content-Type", Value: "text/plain"}}}
	empty := rich(2, 0, 0)
	empty.Request.Sent = &record.SentRequest{Method: "GET"}
	empty.Response.Upstream = &record.UpstreamResponse{}
	plain := rich(3, 0, 0)
	for _, x := range []record.Exchange{changed, empty, plain} {
		s.Offer(x)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []record.Exchange{changed, empty, plain} {
		got, err := s.Get(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Request.Sent, want.Request.Sent) {
			t.Errorf("#%d: Sent = %+v, want %+v", want.ID, got.Request.Sent, want.Request.Sent)
		}
		if !reflect.DeepEqual(got.Response.Upstream, want.Response.Upstream) {
			t.Errorf("#%d: Upstream = %+v, want %+v", want.ID, got.Response.Upstream, want.Response.Upstream)
		}
	}
}

// TestRedactChangedByRules: a secret a rule put in what went upstream, or
// one the upstream answered before a rule removed it, is redacted too.
func TestRedactChangedByRules(t *testing.T) {
	x := exchange(1, nil)
	x.Request.Sent = &record.SentRequest{Method: "GET", URL: "/x", Header: record.Fields{{Name: "Authorization", Value: "Bearer rule-token"}}}
	x.Response.Upstream = &record.UpstreamResponse{Status: 200, Header: record.Fields{{Name: "Set-Cookie", Value: "session=upstream-secret"}}}
	s := open(t, newPath(t), Options{Redact: redact.Default})
	s.Offer(x)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Request.Sent.Header.Get("Authorization"); v != redact.Marker {
		t.Errorf("Sent Authorization stored as %q", v)
	}
	if v := got.Response.Upstream.Header.Get("Set-Cookie"); strings.Contains(v, "upstream-secret") {
		t.Errorf("Upstream Set-Cookie stored as %q", v)
	}
	if x.Request.Sent.Header.Get("Authorization") != "Bearer rule-token" {
		t.Errorf("redaction changed the recorded exchange")
	}
}
