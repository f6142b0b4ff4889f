package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
)

// BenchmarkSessionView opens sessions of 1,000 (the baseline) and 100,000
// exchanges with `devproxy view` in a real terminal (tmux, 200×50) and
// measures what a user waits for: the first frame with rows on it, a
// body:needle search over the whole session (the index answers it; 100
// exchanges hold the needle), and `devproxy export` of the whole session
// to HAR with its peak RSS. The targets: first frame ≤ 1 s and
// search ≤ 1 s at 100k, export RSS ≤ 64 MiB.
//
//	go test ./bench -run '^$' -bench SessionView -benchtime 1x
//
// Making the 100k session (writing and indexing it) takes about a minute;
// it is kept in $TMPDIR/devproxy-bench (delete it to make it again).
func BenchmarkSessionView(b *testing.B) {
	if _, err := exec.LookPath("tmux"); err != nil {
		b.Skip("tmux is not installed")
	}
	bin := buildDevproxy(b)
	for _, n := range []int{1000, 100_000} {
		path := benchSession(b, n)
		b.Run(fmt.Sprintf("exchanges=%d", n), func(b *testing.B) {
			var first, search time.Duration
			var exportRSS int64
			for i := 0; i < b.N; i++ {
				f, s := viewAndSearch(b, bin, path)
				first += f
				search += s
				exportRSS = max(exportRSS, exportPeak(b, bin, path))
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-frame-ms")
			b.ReportMetric(float64(search.Milliseconds())/float64(b.N), "search-ms")
			b.ReportMetric(float64(exportRSS)/(1<<20), "export-peak-MiB")
		})
	}
}

// benchSession returns a session of n exchanges, fully indexed: each a GET
// of /item/I with a JSON response of about 500 bytes, and "needle" in the
// response of every 1000th.
func benchSession(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "devproxy-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("view-%d-v1.db", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".new"
	_ = os.Remove(tmp)
	store, err := session.Open(tmp, session.Options{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		note := "plain"
		if i%1000 == 0 {
			note = "needle"
		}
		body := fmt.Sprintf(`{"item":%d,"note":%q,"filler":"%s"}`, i, note, strings.Repeat("abcdefghij", 45))
		t := start.Add(time.Duration(i) * time.Millisecond)
		x := record.Exchange{
			ID: uint64(i), Version: 1, Role: record.RoleServe, State: record.Done, Start: t, End: t.Add(2 * time.Millisecond),
			Request: record.Request{Method: "GET", URL: fmt.Sprintf("http://127.0.0.1:8080/item/%d", i), Proto: "HTTP/1.1", Host: "127.0.0.1:8080",
				Header: record.Fields{{Name: "Accept", Value: "application/json"}, {Name: "User-Agent", Value: "bench/1"}}, Body: record.Body{Complete: true}},
			Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Length", Value: fmt.Sprint(len(body))}},
				Body:   record.Body{Bytes: []byte(body), Size: int64(len(body)), Complete: true}},
			Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 0, Wait: time.Millisecond, Receive: time.Millisecond},
		}
		for !store.Offer(x) {
			if err := store.Flush(); err != nil { // the queue is full: wait for the writer
				b.Fatal(err)
			}
		}
	}
	if err := store.Flush(); err != nil {
		b.Fatal(err)
	}
	// The writer indexes when idle; wait until it has indexed everything.
	deadline := time.Now().Add(5 * time.Minute)
	for store.Stats().Indexed < uint64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("indexing %d exchanges: %d done after 5 minutes", n, store.Stats().Indexed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// viewAndSearch runs `devproxy view path` in tmux and returns how long
// the first frame with a row took, and how long a pasted body:needle
// filter took to show its last match with the filter settled.
func viewAndSearch(b *testing.B, bin, path string) (first, search time.Duration) {
	b.Helper()
	name := fmt.Sprintf("devproxy-bench-%d", os.Getpid())
	tm := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", name}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	screen := func() string { return tm("capture-pane", "-p", "-t", "v") }
	waitFor := func(what string, ok func(string) bool) {
		deadline := time.Now().Add(60 * time.Second)
		for s := screen(); !ok(s); s = screen() {
			if time.Now().After(deadline) {
				b.Fatalf("waiting for %s; the screen is:\n%s", what, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	home := b.TempDir()
	start := time.Now()
	tm("new-session", "-d", "-s", "v", "-x", "200", "-y", "50",
		"env", "XDG_STATE_HOME="+home, "XDG_CONFIG_HOME="+home, bin, "view", path)
	defer exec.Command("tmux", "-L", name, "kill-server").Run()
	waitFor("the first frame", func(s string) bool { return strings.Contains(s, "/item/1 ") })
	first = time.Since(start)

	tm("send-keys", "-t", "v", "/")
	waitFor("the filter input", func(s string) bool { return strings.Contains(s, "enter keep") })
	tm("set-buffer", "body:needle")
	start = time.Now()
	tm("paste-buffer", "-p", "-t", "v")
	all := fmt.Sprintf("/%d (%d recorded)", countOf(path)/1000, countOf(path))
	waitFor("the search", func(s string) bool { return strings.Contains(s, all) && !strings.Contains(s, "filtering") })
	search = time.Since(start)
	return first, search
}

// countOf is the exchange count in a bench session's name.
func countOf(path string) int {
	var n int
	fmt.Sscanf(filepath.Base(path), "view-%d-", &n)
	return n
}

// exportPeak runs `devproxy export path --har OUT` and returns its peak
// RSS in bytes.
func exportPeak(b *testing.B, bin, path string) int64 {
	b.Helper()
	out := filepath.Join(b.TempDir(), "out.har")
	cmd := exec.Command(bin, "export", path, "--har", out, "--har-redact", "none")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("export: %v\n%s", err, msg)
	}
	return peakRSS(cmd)
}

// peakRSS is the peak resident memory of a finished command, in bytes.
func peakRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // KiB on Linux
	}
	return 0
}
