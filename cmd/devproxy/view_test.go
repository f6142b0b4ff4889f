package main

import (
	"bytes"
	"fmt"
	"path/filepath"
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
