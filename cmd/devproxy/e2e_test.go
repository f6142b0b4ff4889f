package main

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUIEndToEnd runs the real binary's terminal UI in tmux, sends requests
// with an HTTP client, and reads the screen with tmux capture-pane: rows
// appear, Enter opens the detail, a status filter narrows the list, and r adds
// a replay row.
func TestUIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives it in tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	bin := filepath.Join(t.TempDir(), "devproxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	sock := "devproxy-e2e-" + strings.ReplaceAll(addr, ":", "-")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// -f /dev/null: the developer's tmux.conf must not change the screen.
	if out, err := exec.Command("tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "30",
		"env", "XDG_CONFIG_HOME="+t.TempDir(), "TERM=xterm-256color", "sh", "-c", `"$0" demo --listen "$1"; echo "EXITED $?"; sleep 600`, bin, addr).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", sock, "kill-server").Run() })

	screen := func() string { return tmux("capture-pane", "-p", "-t", "e2e") }
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; the screen shows:\n%s", what, s)
			}
			time.Sleep(50 * time.Millisecond) // polling tmux: there is nothing to wait on
		}
	}
	contains := func(subs ...string) func(string) bool {
		return func(s string) bool {
			for _, sub := range subs {
				if !strings.Contains(s, sub) {
					return false
				}
			}
			return true
		}
	}
	keys := func(k ...string) { tmux(append([]string{"send-keys", "-t", "e2e"}, k...)...) }

	waitFor("the UI header", contains("devproxy", addr))
	client := &http.Client{Timeout: 10 * time.Second}
	for _, p := range []string{"/get?first=1", "/status/503", "/json"} {
		res, err := client.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	waitFor("three rows", contains("/get?first=1", "/status/503", "/json", "503"))

	keys("g", "Enter") // the first row, then its detail
	waitFor("the detail view", contains("Request", "Response", "Timing", "GET http://"+addr+"/get?first=1"))
	keys("Escape")
	waitFor("the list again", contains("/json"))

	keys("/", "status:5xx", "Enter")
	s := waitFor("the filtered list", func(s string) bool {
		return strings.Contains(s, "/status/503") && !strings.Contains(s, "/get?first=1") && !strings.Contains(s, "/json")
	})
	_ = s

	keys("r")
	waitFor("a replay row", contains("↻#2"))

	keys("q")
	waitFor("a clean exit with the screen restored", func(s string) bool {
		return strings.Contains(s, "EXITED 0") && !strings.Contains(s, "↻#2")
	})
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
