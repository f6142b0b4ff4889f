package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/devproxy/devproxy/internal/session"
)

// BenchmarkHARView opens a 200 MB HAR file with `devproxy view` in a real
// terminal (tmux, 200×50), as a user does, and reports the peak RSS of
// the devproxy process and the time to the first frame with rows. A HAR
// that big is imported into a temporary session entry by entry, then
// viewed as a session is. The target: peak RSS ≤ 128 MiB.
//
// To tell the import's share from the UI's, the same run measures two
// more: the same exchanges as a session file viewed in the same terminal
// (the UI alone, the baseline), and the HAR viewed with --no-tui, its
// output thrown away (the import, then a headless listing).
//
//	go test ./bench -run '^$' -bench HARView -benchtime 1x
//
// The HAR (and the session made from it) are kept in
// $TMPDIR/devproxy-bench; delete them to make them again.
func BenchmarkHARView(b *testing.B) {
	if _, err := exec.LookPath("tmux"); err != nil {
		b.Skip("tmux is not installed")
	}
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		b.Skip("GNU time (/usr/bin/time) is not installed")
	}
	bin := harViewBuild(b)
	harPath, entries := harViewFile(b, 200<<20)
	sessionPath := harViewSession(b, harPath)
	b.Logf("%s: %d entries", harPath, entries)

	view := func(b *testing.B, path string) {
		var peak int64
		var first time.Duration
		for i := 0; i < b.N; i++ {
			p, f := harViewInTerminal(b, timeBin, bin, path)
			peak, first = max(peak, p), first+f
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		b.ReportMetric(first.Seconds()/float64(b.N), "first-frame-s")
	}
	b.Run("session", func(b *testing.B) { view(b, sessionPath) })
	b.Run("har", func(b *testing.B) { view(b, harPath) })
	b.Run("har-no-tui", func(b *testing.B) {
		var peak int64
		var took time.Duration
		for i := 0; i < b.N; i++ {
			home := b.TempDir()
			cmd := exec.Command(bin, "view", harPath, "--no-tui")
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+home, "XDG_CONFIG_HOME="+home)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatalf("view --no-tui: %v\n%s", err, stderr.Bytes())
			}
			took += time.Since(start)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				peak = max(peak, ru.Maxrss<<10) // KiB on Linux
			}
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		b.ReportMetric(took.Seconds()/float64(b.N), "run-s")
	})
}

// harViewInTerminal runs `devproxy view path` in tmux under GNU time,
// waits for the first row (the exchange /item/1), quits with q, and
// returns the peak RSS in bytes and the time to that first frame.
func harViewInTerminal(b *testing.B, timeBin, bin, path string) (peak int64, first time.Duration) {
	b.Helper()
	name := fmt.Sprintf("devproxy-harview-%d-%d", os.Getpid(), time.Now().UnixNano()) // a server of its own each run
	tm := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", name}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	home := b.TempDir()
	report := filepath.Join(home, "time.txt")
	start := time.Now()
	tm("new-session", "-d", "-s", "v", "-x", "200", "-y", "50",
		"env", "XDG_STATE_HOME="+home, "XDG_CONFIG_HOME="+home, timeBin, "-v", "-o", report, bin, "view", path)
	defer exec.Command("tmux", "-L", name, "kill-server").Run()
	tm("set-option", "-t", "v", "remain-on-exit", "on") // keep the pane, and what it says, after devproxy ends
	deadline := time.Now().Add(5 * time.Minute)
	for s := ""; !strings.Contains(s, "/item/1 "); s = tm("capture-pane", "-p", "-t", "v") {
		if report, _ := os.ReadFile(report); time.Now().After(deadline) || bytes.Contains(report, []byte("Exit status")) {
			b.Fatalf("no first frame; the screen is:\n%s\n%s", s, report)
		}
		time.Sleep(10 * time.Millisecond)
	}
	first = time.Since(start)
	tm("send-keys", "-t", "v", "q")
	for {
		if data, err := os.ReadFile(report); err == nil && bytes.Contains(data, []byte("Exit status")) {
			return maxRSS(b, data), first
		}
		if time.Now().After(deadline) {
			b.Fatalf("devproxy did not quit; the screen is:\n%s", tm("capture-pane", "-p", "-t", "v"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxRSS reads the peak RSS, in bytes, from GNU time's -v report.
func maxRSS(b *testing.B, report []byte) int64 {
	m := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindSubmatch(report)
	if m == nil {
		b.Fatalf("no peak RSS in:\n%s", report)
	}
	kib, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kib << 10
}

// harViewBuild builds the devproxy binary into a temporary directory.
func harViewBuild(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "devproxy")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/devproxy").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// harViewFile returns a HAR file of about size bytes, and its entry
// count: mostly small JSON API calls (/item/1, /item/2, …), and every
// 700th a body of 1 MiB, by turns random bytes (base64 in the file) and
// text.
func harViewFile(b *testing.B, size int64) (string, int) {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "devproxy-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("harview-%dMiB-v1.har", size>>20))
	if n, ok := harViewEntries(path); ok {
		return path, n
	}
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}
	s, err := har.NewStream(w, har.Options{Redact: redact.None, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	n := 0
	for w.n < size {
		n++
		x := harViewExchange(n, start, rng)
		if err := s.Add(&x); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := w.w.(*bufio.Writer).Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".count", []byte(strconv.Itoa(n)), 0o600); err != nil {
		b.Fatal(err)
	}
	return path, n
}

// harViewEntries is the entry count kept beside a HAR made before.
func harViewEntries(path string) (int, bool) {
	if _, err := os.Stat(path); err != nil {
		return 0, false
	}
	data, err := os.ReadFile(path + ".count")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(data))
	return n, err == nil
}

// harViewExchange is entry n of the bench HAR.
func harViewExchange(n int, start time.Time, rng *rand.Rand) record.Exchange {
	t := start.Add(time.Duration(n) * 7 * time.Millisecond)
	var body []byte
	ct := "application/json"
	switch {
	case n%1400 == 700:
		body = make([]byte, 1<<20)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		ct = "application/octet-stream"
	case n%1400 == 0:
		var sb strings.Builder
		for sb.Len() < 1<<20 {
			fmt.Fprintf(&sb, "2026-11-30T09:00:%02d.%06dZ INFO request id=%d path=/item/%d took=%dms\n", n%60, rng.IntN(1e6), rng.IntN(1e9), n, rng.IntN(500))
		}
		body = []byte(sb.String()[:1<<20])
		ct = "text/plain; charset=utf-8"
	default:
		body = fmt.Appendf(nil, `{"item":%d,"name":"item %d","price":%d.%02d,"tags":["a","b","c"],"owner":{"id":%d,"email":"user%d@example.test"},"note":"%s"}`,
			n, n, rng.IntN(1000), rng.IntN(100), rng.IntN(1e6), rng.IntN(1e6), strings.Repeat("lorem ipsum ", 1+rng.IntN(30)))
	}
	method, reqBody := "GET", []byte(nil)
	if n%5 == 0 {
		method, reqBody = "POST", fmt.Appendf(nil, `{"item":%d,"quantity":%d}`, n, 1+rng.IntN(9))
	}
	return record.Exchange{
		ID: uint64(n), Role: record.RoleServe, State: record.Done, Start: t, End: t.Add(time.Duration(1+rng.IntN(300)) * time.Millisecond),
		Request: record.Request{Method: method, URL: fmt.Sprintf("http://127.0.0.1:8080/item/%d", n), Proto: "HTTP/1.1", Host: "127.0.0.1:8080",
			Header: record.Fields{{Name: "Accept", Value: "application/json"}, {Name: "User-Agent", Value: "bench/1"}},
			Body:   record.Body{Bytes: reqBody, Size: int64(len(reqBody)), Complete: true}},
		Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
			Header: record.Fields{{Name: "Content-Type", Value: ct}, {Name: "Content-Length", Value: strconv.Itoa(len(body))}},
			Body:   record.Body{Bytes: body, Size: int64(len(body)), Complete: true}},
		Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 0, Wait: time.Millisecond, Receive: time.Millisecond},
	}
}

// harViewSession returns a session file holding the exchanges of the HAR
// at path, as `devproxy view` imports them.
func harViewSession(b *testing.B, path string) string {
	b.Helper()
	out := strings.TrimSuffix(path, ".har") + ".db"
	if _, err := os.Stat(out); err == nil {
		return out
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tmp := out + ".new"
	_ = os.Remove(tmp)
	store, err := session.Open(tmp, session.Options{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for x, err := range har.Scan(f) {
		if err != nil {
			b.Fatal(err)
		}
		n++
		x.ID, x.Version = uint64(n), 1
		if n%200 == 0 {
			if err := store.Flush(); err != nil { // keep the queue from leaving bodies out
				b.Fatal(err)
			}
		}
		if !store.Offer(x) {
			b.Fatalf("the session refused entry %d", n)
		}
	}
	if err := store.Flush(); err != nil {
		b.Fatal(err)
	}
	if st := store.Stats(); st.BodiesDropped+st.Dropped > 0 {
		b.Fatalf("the session left out %d bodies and %d exchanges", st.BodiesDropped, st.Dropped)
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		b.Fatal(err)
	}
	return out
}

// countingWriter counts what it writes.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
