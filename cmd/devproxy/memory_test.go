package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/record"
)

// budgetFrom parses args as the command line and returns the recorder
// limits and the memory budget the role would run with.
func budgetFrom(t *testing.T, args ...string) (record.Limits, memoryBudget, error) {
	t.Helper()
	cmd, err := prepare(t, args...)
	if err != nil {
		return record.Limits{}, memoryBudget{}, err
	}
	l, _, err := recordingFrom(cmd)
	if err != nil {
		return l, memoryBudget{}, err
	}
	return memoryFrom(cmd, l)
}

func TestMemoryBudgetDerivesTheLimits(t *testing.T) {
	cases := []struct {
		name             string
		args             []string
		env              map[string]string
		config           string
		total, capture   int64
		queue, bodyLimit int64
		exchanges        int
	}{
		{name: "defaults", args: []string{"serve"},
			total: 128 << 20, capture: 32 << 20, queue: 16 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "no session: the same split", args: []string{"serve", "--no-session"},
			total: 128 << 20, capture: 32 << 20, queue: 16 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "larger budget", args: []string{"serve", "--max-memory", "1GiB"},
			total: 1 << 30, capture: 256 << 20, queue: 128 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "smallest budget", args: []string{"serve", "--max-memory", "32MiB"},
			total: 32 << 20, capture: 8 << 20, queue: 4 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "explicit capture total wins", args: []string{"serve", "--max-capture-total", "10MiB", "--max-exchanges", "50"},
			total: 128 << 20, capture: 10 << 20, queue: 16 << 20, bodyLimit: 1 << 20, exchanges: 50},
		{name: "capture total up to half the budget", args: []string{"serve", "--max-capture-total", "64MiB"},
			total: 128 << 20, capture: 64 << 20, queue: 16 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "explicit auto", args: []string{"serve", "--max-capture-total", "auto", "--max-memory", "256MiB"},
			total: 256 << 20, capture: 64 << 20, queue: 32 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "window holds one body", args: []string{"serve", "--max-body-capture", "40MiB"},
			total: 128 << 20, capture: 40 << 20, queue: 16 << 20, bodyLimit: 40 << 20, exchanges: 1000},
		{name: "headers only", args: []string{"serve", "--max-body-capture", "0"},
			total: 128 << 20, capture: 32 << 20, queue: 16 << 20, bodyLimit: -1, exchanges: 1000},
		{name: "environment", args: []string{"agent"}, env: map[string]string{"DEVPROXY_MAX_MEMORY": "512MiB"},
			total: 512 << 20, capture: 128 << 20, queue: 64 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "config file", args: []string{"relay"}, config: "max-memory: 64MiB\nmax-capture-total: auto\n",
			total: 64 << 20, capture: 16 << 20, queue: 8 << 20, bodyLimit: 1 << 20, exchanges: 1000},
		{name: "demo", args: []string{"demo", "--max-memory", "96MiB"},
			total: 96 << 20, capture: 24 << 20, queue: 12 << 20, bodyLimit: 1 << 20, exchanges: 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := c.args
			if c.config != "" {
				args = append(args, "--config", writeConfig(t, c.config))
			}
			l, b, err := budgetFrom(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			want := memoryBudget{total: c.total, capture: c.capture, queue: c.queue, window: budgetFor(c.total).window}
			if b != want {
				t.Errorf("budget = %+v, want %+v", b, want)
			}
			wantL := record.Limits{MaxExchanges: c.exchanges, MaxBodyCapture: c.bodyLimit, MaxCaptureTotal: c.capture}
			if l != wantL {
				t.Errorf("limits = %+v, want %+v", l, wantL)
			}
		})
	}
}

func TestMemoryBudgetRefuses(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "too small", args: []string{"serve", "--max-memory", "16MiB"},
			want: []string{"--max-memory 16MiB", "too small", "at least 32MiB"}},
		{name: "zero", args: []string{"relay", "--max-memory", "0"},
			want: []string{"--max-memory 0", "too small", "at least 32MiB"}},
		{name: "not a size", args: []string{"serve", "--max-memory", "lots"},
			want: []string{"--max-memory", `"lots"`, "not a size"}},
		{name: "capture total over half", args: []string{"serve", "--max-capture-total", "100MiB"},
			want: []string{"--max-capture-total 100MiB", "--max-memory 128MiB", "at most half of it (64MiB)", "raise --max-memory to at least 200MiB", "or lower --max-capture-total"}},
		{name: "capture total from the environment", args: []string{"agent"}, env: map[string]string{"DEVPROXY_MAX_CAPTURE_TOTAL": "1GiB", "DEVPROXY_MAX_MEMORY": "1GiB"},
			want: []string{"$DEVPROXY_MAX_CAPTURE_TOTAL 1GiB", "$DEVPROXY_MAX_MEMORY 1GiB", "at least 2GiB"}},
		{name: "body capture over half", args: []string{"demo", "--max-body-capture", "100MiB"},
			want: []string{"--max-body-capture 100MiB", "--max-memory 128MiB", "raise --max-memory to at least 200MiB", "or lower --max-body-capture"}},
		{name: "body capture over the budget", args: []string{"serve", "--max-body-capture", "1GiB", "--max-memory", "512MiB"},
			want: []string{"--max-body-capture 1GiB", "--max-memory 512MiB", "at least 2GiB"}},
		{name: "capture total not a size", args: []string{"serve", "--max-capture-total", "most"},
			want: []string{"--max-capture-total", `"most"`, "not a size", "or auto"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, _, err := budgetFrom(t, c.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestMemoryBudgetLeavesViewAlone: view shows what a file holds and
// records nothing live, so --max-memory changes neither its limits nor
// the process's memory limit.
func TestMemoryBudgetLeavesViewAlone(t *testing.T) {
	cmd, err := prepare(t, "view", "some.har", "--max-memory", "64MiB")
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := recordingFrom(cmd)
	if err != nil {
		t.Fatal(err)
	}
	got, b, err := memoryFrom(cmd, l)
	if err != nil || got != l || b != (memoryBudget{}) {
		t.Fatalf("view: memoryFrom = %+v, %+v, %v; want the limits unchanged and no budget", got, b, err)
	}
	before := debug.SetMemoryLimit(-1)
	b.setLimit()()
	if now := debug.SetMemoryLimit(-1); now != before {
		t.Fatalf("no budget changed the memory limit from %d to %d", before, now)
	}
}

// TestRoleRunAppliesMemoryBudget: a recording role's recorder gets the
// derived limits, Go's soft memory limit is the budget while the role
// runs, and close puts the limit back; with or without a session.
func TestRoleRunAppliesMemoryBudget(t *testing.T) {
	for _, noSession := range []bool{false, true} {
		name := "session"
		if noSession {
			name = "no session"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"serve", "--target", "http://127.0.0.1:1", "--no-tui", "--max-memory", "200MiB"}
			if noSession {
				args = append(args, "--no-session")
			}
			cmd, err := prepare(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			l, out, err := recordingFrom(cmd)
			if err != nil {
				t.Fatal(err)
			}
			before := debug.SetMemoryLimit(-1)
			s, err := newRoleRun(cmd, record.RoleServe, l, out)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.rec.Limits().MaxCaptureTotal; got != 50<<20 {
				t.Errorf("recorder MaxCaptureTotal = %d, want 50MiB (a quarter of 200MiB)", got)
			}
			if s.memory.queue != 25<<20 {
				t.Errorf("session queue budget = %d, want 25MiB (an eighth of 200MiB)", s.memory.queue)
			}
			if (s.session == nil) != noSession {
				t.Errorf("session open = %v, want %v", s.session != nil, !noSession)
			}
			if got := debug.SetMemoryLimit(-1); got != 200<<20 {
				t.Errorf("memory limit while running = %d, want 200MiB", got)
			}
			s.close()
			if got := debug.SetMemoryLimit(-1); got != before {
				t.Errorf("memory limit after close = %d, want %d as before", got, before)
			}
		})
	}
}

// TestRelayChecksMemoryBeforeMakingAToken: a bad --max-memory stops the
// relay before it makes (and would then never show) a new admin token.
func TestRelayChecksMemoryBeforeMakingAToken(t *testing.T) {
	state := t.TempDir()
	_, err := runCmd(t, "relay", "--no-tui", "--listen", "127.0.0.1:0", "--state-dir", state, "--max-memory", "8MiB")
	if err == nil || !strings.Contains(err.Error(), "--max-memory 8MiB: too small") {
		t.Fatalf("relay --max-memory 8MiB: %v; want too small", err)
	}
	if _, err := os.Stat(filepath.Join(state, invert.StateFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the relay wrote its state before refusing --max-memory: %v", err)
	}
}

func TestAutoSizeFlag(t *testing.T) {
	cmd, err := prepare(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags().Lookup("max-capture-total")
	if f.DefValue != "auto" || !isAuto(cmd, "max-capture-total") {
		t.Fatalf("--max-capture-total default = %q, auto %v; want auto", f.DefValue, isAuto(cmd, "max-capture-total"))
	}
	for _, c := range []struct {
		in   string
		auto bool
		size int64
	}{{"64MiB", false, 64 << 20}, {" AUTO ", true, 0}, {"1KiB", false, 1 << 10}} {
		if err := f.Value.Set(c.in); err != nil {
			t.Fatalf("Set(%q): %v", c.in, err)
		}
		if isAuto(cmd, "max-capture-total") != c.auto || !c.auto && getSize(cmd, "max-capture-total") != c.size {
			t.Errorf("Set(%q): auto %v, size %d; want auto %v, size %d", c.in, isAuto(cmd, "max-capture-total"), getSize(cmd, "max-capture-total"), c.auto, c.size)
		}
	}
	if got := f.Value.String(); got != "1KiB" {
		t.Errorf("String() = %q, want 1KiB", got)
	}
}

// The tunnel's window per stream comes from the budget, within yamux's
// default and the 4 MiB that keeps long round trips fast.
func TestBudgetTunnelWindow(t *testing.T) {
	for _, tc := range []struct {
		total int64
		want  uint32
	}{{32 << 20, 256 << 10}, {128 << 20, 512 << 10}, {1 << 30, 4 << 20}, {8 << 30, 4 << 20}} {
		if got := budgetFor(tc.total).window; got != tc.want {
			t.Errorf("budgetFor(%d).window = %d, want %d", tc.total, got, tc.want)
		}
	}
}
