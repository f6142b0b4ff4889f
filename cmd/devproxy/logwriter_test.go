package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
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

func TestUILogGoesToTheEventLogAndTheFile(t *testing.T) {
	for _, withFile := range []bool{false, true} {
		t.Run(fmt.Sprintf("file=%v", withFile), func(t *testing.T) {
			var stdout, file bytes.Buffer
			s := &roleRun{role: record.RoleAgent, stdout: &stdout}
			var w io.Writer
			if withFile {
				s.out.logFile, w = "agent.log", &file
			}
			s.setupLog(true, w)
			s.log.hold()
			s.logger.Warn("agent: retrying", "retry_in", "400ms", "reason", "cannot reach the relay: connection refused")
			if stdout.Len() != 0 {
				t.Fatalf("a log line reached the terminal while the UI ran: %q", stdout.String())
			}
			evs := s.events.Since(0)
			if len(evs) != 1 || evs[0].Source != "agent" || evs[0].Level != slog.LevelWarn || evs[0].Message != "agent: retrying" ||
				evs[0].Attrs != `retry_in=400ms reason="cannot reach the relay: connection refused"` {
				t.Fatalf("event log %+v", evs)
			}
			s.log.release()
			if withFile {
				if !strings.Contains(file.String(), `level=WARN msg="agent: retrying" retry_in=400ms`) {
					t.Errorf("the file got %q", file.String())
				}
				if got := stdout.String(); got != "devproxy: 1 log lines from while the UI ran are in agent.log\n" {
					t.Errorf("after the UI, the terminal got %q; want only where the lines are", got)
				}
				return
			}
			if got := stdout.String(); !strings.Contains(got, `msg="agent: retrying"`) || strings.Count(got, "\n") != 1 {
				t.Errorf("after the UI, the terminal got %q; want the held line", got)
			}
		})
	}
}

func TestHeadlessLogGoesToStdoutAndTheFile(t *testing.T) {
	var stdout, file bytes.Buffer
	s := &roleRun{role: record.RoleRelay, stdout: &stdout, out: outputOptions{logFormat: "json", logFile: "relay.log"}}
	s.setupLog(false, &file)
	s.logger.Info("agent connected", "backend", "web")
	if s.events != nil {
		t.Error("a headless run keeps an event log no one reads")
	}
	for name, b := range map[string]*bytes.Buffer{"stdout": &stdout, "file": &file} {
		if !strings.Contains(b.String(), `"msg":"agent connected","backend":"web"`) {
			t.Errorf("%s got %q", name, b.String())
		}
	}
}

func TestStandardLoggerIsRouted(t *testing.T) {
	var stdout bytes.Buffer
	s := &roleRun{role: record.RoleServe, stdout: &stdout}
	s.setupLog(true, nil)
	s.log.hold()
	restore := routeStdLog(s.logger)
	log.Printf("websocket: %v", "bad pattern")
	slog.Info("from the default slog logger")
	restore()
	if stdout.Len() != 0 {
		t.Fatalf("the standard logger reached the terminal: %q", stdout.String())
	}
	evs := s.events.Since(0)
	if len(evs) != 2 || evs[0].Message != "websocket: bad pattern" || evs[0].Level != slog.LevelWarn || !strings.Contains(evs[1].Message, "from the default slog logger") {
		t.Fatalf("event log %+v", evs)
	}
	if log.Writer() != os.Stderr {
		t.Error("the standard logger was not put back")
	}
}

func TestLogFileFlag(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "x.log")
	_, err := runCmd(t, "serve", "--target", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--no-tui", "--log-file", bad)
	if want := "--log-file " + bad + ": no such file or directory"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err %v, want %q…", err, want)
	}
	p := filepath.Join(t.TempDir(), "devproxy.log")
	f, err := openLogFile(p, "--log-file")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestOverlappingRunsPutTheLoggerBack checks that runs routing the log
// package at once (a relay and an agent in one test process), ending in
// either order, leave it as it was, and that in between it goes to a run
// still routing.
func TestOverlappingRunsPutTheLoggerBack(t *testing.T) {
	for _, firstEndsFirst := range []bool{true, false} {
		var a, b bytes.Buffer
		restoreA := routeStdLog(slog.New(slog.NewTextHandler(&a, nil)))
		restoreB := routeStdLog(slog.New(slog.NewTextHandler(&b, nil)))
		if firstEndsFirst {
			restoreA()
			log.Print("to b")
			restoreB()
		} else {
			restoreB()
			log.Print("to a")
			restoreA()
		}
		if log.Writer() != os.Stderr {
			t.Errorf("firstEndsFirst=%v: the standard logger was not put back", firstEndsFirst)
		}
		if want, got := map[bool]*bytes.Buffer{true: &b, false: &a}[firstEndsFirst], map[bool]string{true: "to b", false: "to a"}[firstEndsFirst]; !strings.Contains(want.String(), got) {
			t.Errorf("firstEndsFirst=%v: %q went nowhere (a %q, b %q)", firstEndsFirst, got, a.String(), b.String())
		}
	}
}
