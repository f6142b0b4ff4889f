package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestHeldLogKeepsLinesWhileTheUIRuns(t *testing.T) {
	var out bytes.Buffer
	l := &heldLog{out: &out}
	fmt.Fprintln(l, "before")
	l.hold()
	fmt.Fprintln(l, "during")
	if strings.Contains(out.String(), "during") {
		t.Fatalf("a log line reached the terminal while the UI held it: %q", out.String())
	}
	l.release()
	fmt.Fprintln(l, "after")
	if got := out.String(); got != "before\nduring\nafter\n" {
		t.Errorf("got %q", got)
	}
}

func TestHeldLogIsBounded(t *testing.T) {
	var out bytes.Buffer
	l := &heldLog{out: &out}
	l.hold()
	for i := range 10000 {
		fmt.Fprintf(l, "line %05d %s\n", i, strings.Repeat("x", 40))
	}
	if l.held.Len() > heldLogMax {
		t.Fatalf("held %d bytes, more than %d", l.held.Len(), heldLogMax)
	}
	l.release()
	got := out.String()
	if !strings.HasPrefix(got, "devproxy: (older log lines") || !strings.HasSuffix(got, "line 09999 "+strings.Repeat("x", 40)+"\n") {
		t.Errorf("want a note, whole lines, and the newest kept; got %q…%q", got[:80], got[len(got)-60:])
	}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n")[1:] {
		if !strings.HasPrefix(line, "line ") {
			t.Fatalf("a line was cut: %q", line)
		}
	}
}
