package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
)

func TestPruneTempSessions(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	day := 24 * time.Hour
	// newSession writes a closed session named name, last written age ago;
	// left makes it look left by a process that was killed: its lock file
	// (unlocked) and write-ahead log are still there.
	newSession := func(name string, age time.Duration, left bool) string {
		t.Helper()
		path := filepath.Join(dir, name)
		s, err := session.Open(path, session.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Offer(record.Exchange{ID: 1, Version: 1, State: record.Done, Request: record.Request{Method: "GET", URL: "http://x.test/"}})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if left {
			for _, p := range []string{path + ".lock", path + "-wal"} {
				if err := os.WriteFile(p, fmt.Appendf(nil, "pid: 1\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, p := range []string{path, path + "-wal"} {
			if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil && left {
				t.Fatal(err)
			}
		}
		return path
	}
	oldLeft := newSession("serve-20260101-120000-4242.db", 8*day, true)
	oldLeft2 := newSession("agent-20260101-120000-4242-1.db", 30*day, true)
	newSession("serve-20261120-120000-77.db", 2*day, true)
	youngest := newSession("relay-20261101-120000-78.db", day, true) // started earlier, written later
	kept := newSession("serve-20260102-120000-99.db", 9*day, false)
	other := newSession("notes.db", 9*day, true)
	self := newSession("serve-20260103-120000-5.db", 9*day, true)
	// A session written now, last written long ago: its lock is held.
	held := newSession("demo-20260104-120000-6.db", 9*day, false)
	s, err := session.Open(held, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Chtimes(held, now.Add(-9*day), now.Add(-9*day))
	os.WriteFile(filepath.Join(dir, "serve-20260105-120000-7.db.bak"), []byte("x"), 0o600)

	var logged, hint bytes.Buffer
	pruneTempSessions(dir, self, now, slog.New(slog.NewTextHandler(&logged, nil)), &hint)

	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	for _, gone := range []string{oldLeft, oldLeft2} {
		for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
			if slices.Contains(left, filepath.Base(gone+suffix)) {
				t.Errorf("%s is still there", filepath.Base(gone+suffix))
			}
		}
	}
	for _, stays := range []string{kept, other, self, held, youngest, held + ".lock", other + ".lock", self + ".lock"} {
		if !slices.Contains(left, filepath.Base(stays)) {
			t.Errorf("%s was deleted", filepath.Base(stays))
		}
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(logged.String(), "deleted a temporary session left by a devproxy that did not exit") ||
		!strings.Contains(logged.String(), oldLeft) || !strings.Contains(logged.String(), oldLeft2) {
		t.Errorf("log:\n%s", logged.String())
	}
	want := "devproxy: 2 temporary sessions were left by devproxy processes that did not exit (deleted after 7 days); the newest: devproxy view " + shellQuote(youngest) + "\n"
	if hint.String() != want {
		t.Errorf("hint:\n%q\nwant\n%q", hint.String(), want)
	}

	// Nothing left over: nothing said.
	logged.Reset()
	hint.Reset()
	pruneTempSessions(t.TempDir(), "", now, slog.New(slog.NewTextHandler(&logged, nil)), &hint)
	if logged.Len()+hint.Len() > 0 {
		t.Errorf("said %q, %q", logged.String(), hint.String())
	}
}

func TestTempSessionNamesArePruneCandidates(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for range 2 {
		path, err := createTempSession("serve", time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if !tempSessionName.MatchString(filepath.Base(path)) {
			t.Errorf("%s does not match the pattern", filepath.Base(path))
		}
	}
}
