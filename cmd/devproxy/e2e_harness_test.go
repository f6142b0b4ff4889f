package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2e drives the real binary in tmux: each role runs in a session of its own
// on a private tmux server, and capture-pane reads its screen.
type e2e struct {
	t    *testing.T
	bin  string
	sock string
	dir  string   // scratch: pid files, state, config
	env  []string // more NAME=value for the processes it starts (EDITOR)
}

// newE2E builds the binary and starts a private tmux server, or skips the
// test where that cannot be done.
func newE2E(t *testing.T) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and drives it in tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	e := &e2e{t: t, bin: filepath.Join(dir, "devproxy"), dir: dir, sock: "devproxy-e2e-" + filepath.Base(filepath.Dir(dir))}
	if bin := os.Getenv("DEVPROXY_E2E_BINARY"); bin != "" {
		e.bin = bin // a binary built elsewhere, e.g. an older one to compare with
	} else if out, err := exec.Command("go", "build", "-o", e.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", e.sock, "kill-server").Run() })
	return e
}

// tmux runs a tmux command on the test's server.
func (e *e2e) tmux(args ...string) string {
	e.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", e.sock}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// command is the shell command that runs devproxy with args in a session
// named name: it writes the process id to a file (see pid), execs the
// binary, and says how it exited.
func (e *e2e) command(name string, args ...string) []string {
	// The inner sh writes its pid, then becomes devproxy.
	script := `sh -c 'echo $$ > "$0"; exec "$@"' "$0" "$@"; echo "EXITED $?"; sleep 600`
	cmd := []string{"env", "XDG_CONFIG_HOME=" + filepath.Join(e.dir, "config"), "XDG_STATE_HOME=" + filepath.Join(e.dir, "state"), "TERM=xterm-256color"}
	cmd = append(cmd, e.env...)
	cmd = append(cmd, "sh", "-c", script, filepath.Join(e.dir, name+".pid"), e.bin)
	return append(cmd, args...)
}

// start runs devproxy with args in a new session, width×height.
func (e *e2e) start(name string, width, height int, args ...string) {
	e.t.Helper()
	// -f /dev/null: the developer's tmux.conf must not change the screen.
	e.tmux(append([]string{"-f", "/dev/null", "new-session", "-d", "-s", name, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height)}, e.command(name, args...)...)...)
}

// restart runs devproxy with args again in session name, whose process
// has ended.
func (e *e2e) restart(name string, args ...string) {
	e.t.Helper()
	e.tmux(append([]string{"respawn-window", "-k", "-t", name}, e.command(name, args...)...)...)
}

// signal sends sig to the devproxy process of session name.
func (e *e2e) signal(name string, sig syscall.Signal) {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name+".pid"))
	if err != nil {
		e.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		e.t.Fatalf("kill %d: %v", pid, err)
	}
}

func (e *e2e) screen(name string) string { return e.tmux("capture-pane", "-p", "-t", name) }

func (e *e2e) keys(name string, k ...string) {
	e.tmux(append([]string{"send-keys", "-t", name}, k...)...)
}

// waitFor polls the screen of session name until ok accepts it, for up to
// 20 seconds, and returns it.
func (e *e2e) waitFor(name, what string, ok func(string) bool) string {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := e.screen(name)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: waiting for %s; the screen shows:\n%s", name, what, s)
		}
		time.Sleep(50 * time.Millisecond) // polling tmux: there is nothing to wait on
	}
}

// contains accepts a screen that shows every one of subs.
func contains(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	}
}
