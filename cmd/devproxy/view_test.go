package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// TestViewLoadsEveryEntry: the view's capacity follows the file, not
// --max-exchanges (1,000 by default) or the body capture limits.
func TestViewLoadsEveryEntry(t *testing.T) {
	xs := make([]record.Exchange, 1500)
	for i := range xs {
		xs[i] = recorded(uint64(i+1), "GET", fmt.Sprintf("/n/%d", i+1), 200, "")
	}
	big := bytes.Repeat([]byte("b"), 3<<20)
	xs[0].Response.Body = record.Body{Bytes: big, Size: int64(len(big)), Complete: true}
	out := filepath.Join(t.TempDir(), "out.har")
	if _, err := runCmd(t, "view", harWith(t, xs...), "--no-tui", "--har", out, "--max-body-capture", "1mb", "--max-capture-total", "2mb"); err != nil {
		t.Fatal(err)
	}
	back, err := readHARFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(xs) {
		t.Fatalf("view kept %d of %d entries", len(back), len(xs))
	}
	if b := back[0].Response.Body; b.Truncated || len(b.Bytes) != len(big) {
		t.Errorf("the 3 MiB body came back as %d bytes (truncated %v)", len(b.Bytes), b.Truncated)
	}
}

func TestFileLimitsKeepNoBodies(t *testing.T) {
	xs := []record.Exchange{recorded(1, "POST", "/", 200, "body")}
	l := fileLimits(record.Limits{MaxExchanges: 1000, MaxBodyCapture: -1, MaxCaptureTotal: 1 << 20}, xs)
	if l.MaxExchanges != 1 || l.MaxBodyCapture != -1 {
		t.Errorf("limits %+v: want room for 1 exchange and still no bodies", l)
	}
}

// lowBigHAR makes every HAR file big enough for view to import it into a
// temporary session, for the test.
func lowBigHAR(t *testing.T) {
	t.Helper()
	old := bigHAR
	bigHAR = 1
	t.Cleanup(func() { bigHAR = old })
}

// A big HAR is viewed through a temporary session, deleted on exit: its
// entries are the exchanges 1, 2, … with their replay links, bodies whole
// however many there are.
func TestViewBigHARImportsIntoATemporarySession(t *testing.T) {
	lowBigHAR(t)
	var xs []record.Exchange
	for i := range 40 {
		x := recorded(uint64(101+i), "POST", fmt.Sprintf("/n/%d", i), 200, "")
		body := bytes.Repeat([]byte{byte('a' + i%26)}, 300<<10) // 12 MiB in all: more than importChunk
		x.Request.Body = record.Body{Bytes: body, Size: int64(len(body)), Complete: true}
		xs = append(xs, x)
	}
	xs[30].ReplayOf = 105 // the file's IDs: #5 once imported
	in := harWith(t, xs...)
	out := filepath.Join(t.TempDir(), "out.har")
	stderr, err := runCmd(t, "view", in, "--no-tui", "--har", out, "--har-redact", "none")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "importing in.har: 1 entry…") || !strings.Contains(stderr, "imported in.har: 40 entries in ") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	sessions := filepath.Join(os.Getenv("XDG_STATE_HOME"), "devproxy", "sessions")
	left, err := os.ReadDir(sessions)
	if err != nil {
		t.Fatalf("no temporary session was made: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("left behind in %s: %v", sessions, left)
	}
	back, err := readHARFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(xs) {
		t.Fatalf("%d entries written back, want %d", len(back), len(xs))
	}
	for i, x := range back {
		if x.ID != uint64(i+1) || !bytes.Equal(x.Request.Body.Bytes, xs[i].Request.Body.Bytes) || x.Request.URL != xs[i].Request.URL {
			t.Errorf("entry %d came back as #%d %s with %d body bytes", i, x.ID, x.Request.URL, len(x.Request.Body.Bytes))
		}
	}
	if back[30].ReplayOf != 5 {
		t.Errorf("the replay is of #%d, want #5", back[30].ReplayOf)
	}
}

// A broken big HAR fails with the file and the problem named, and leaves
// no session behind.
func TestViewBigHARBroken(t *testing.T) {
	lowBigHAR(t)
	in := harWith(t, recorded(1, "GET", "/a", 200, ""), recorded(2, "GET", "/b", 200, ""))
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, data[:len(data)-40], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "view", in, "--no-tui")
	if err == nil || !strings.Contains(err.Error(), in+": read HAR: line ") || !strings.Contains(err.Error(), "unexpected end of JSON input") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	left, _ := os.ReadDir(filepath.Join(os.Getenv("XDG_STATE_HOME"), "devproxy", "sessions"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// export and replay read a HAR file as it streams; a redacted export
// reads it twice (learn, then write) and comes out as from a whole read.
func TestExportHARFileStreams(t *testing.T) {
	xs := []record.Exchange{
		recorded(1, "GET", "/a", 200, ""),
		recorded(2, "POST", "/login", 200, `{"password":"hunter2"}`),
		recorded(3, "GET", "/b", 404, ""),
	}
	xs[1].Request.Header = record.Fields{{Name: "Authorization", Value: "Bearer s3cret-token"}}
	xs[2].Request.Header = record.Fields{{Name: "X-Echo", Value: "s3cret-token"}}
	in := harWith(t, xs...)
	out := filepath.Join(t.TempDir(), "out.har")
	if msg, err := runCmd(t, "export", in, "--har", out, "--filter", "status:200 or path:/b"); err != nil || !strings.Contains(msg, "wrote 3 of 3") {
		t.Fatalf("%v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("s3cret-token")) {
		t.Errorf("the token was learned from one entry but not hidden in another:\n%s", data)
	}
	f, err := openRecording(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, key := range []uint64{2, 0, 1} { // backwards too: the cursor starts over
		x, ok, err := f.load(key)
		if err != nil || !ok || x.ID != key+1 {
			t.Errorf("load(%d): #%d, %v, %v", key, x.ID, ok, err)
		}
	}
	if _, ok, err := f.load(3); ok || err == nil {
		t.Errorf("load past the end: %v, %v", ok, err)
	}
}

func TestFileIDs(t *testing.T) {
	var inOrder, shuffled fileIDs
	for i, id := range []uint64{5, 6, 7, 10, 11, 20} {
		inOrder.add(id, uint64(i+1))
	}
	for i, id := range []uint64{9, 3, 4, 9, 1} {
		shuffled.add(id, uint64(i+1))
	}
	for _, c := range []struct {
		m        *fileIDs
		file, id uint64
	}{
		{&inOrder, 5, 1}, {&inOrder, 7, 3}, {&inOrder, 10, 4}, {&inOrder, 11, 5}, {&inOrder, 20, 6},
		{&inOrder, 0, 0}, {&inOrder, 8, 0}, {&inOrder, 21, 0}, {&inOrder, 4, 0},
		{&shuffled, 9, 4}, {&shuffled, 3, 2}, {&shuffled, 4, 3}, {&shuffled, 1, 5}, {&shuffled, 2, 0},
	} {
		if got := c.m.lookup(c.file); got != c.id {
			t.Errorf("lookup(%d) = %d, want %d (sorted %v)", c.file, got, c.id, c.m.sorted)
		}
	}
	if !inOrder.sorted || shuffled.sorted || len(inOrder.runs) != 3 {
		t.Errorf("runs %v sorted %v; %v sorted %v", inOrder.runs, inOrder.sorted, shuffled.runs, shuffled.sorted)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 41000: "41,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
