package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUIEndToEnd runs the real binary's terminal UI in tmux, sends requests
// with an HTTP client, and reads the screen with tmux capture-pane: rows
// appear, Enter opens the detail, a status filter narrows the list, and r adds
// a replay row.
func TestUIEndToEnd(t *testing.T) {
	e := newE2E(t)
	addr := freeAddr(t)
	e.start("demo", 120, 30, "demo", "--listen", addr)
	waitFor := func(what string, ok func(string) bool) string { t.Helper(); return e.waitFor("demo", what, ok) }
	keys := func(k ...string) { e.keys("demo", k...) }

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
	waitFor("the filtered list", func(s string) bool {
		return strings.Contains(s, "/status/503") && !strings.Contains(s, "/get?first=1") && !strings.Contains(s, "/json")
	})

	keys("r")
	waitFor("a replay row", contains("↻#2"))

	keys("q")
	// The exchanges were never exported: q asks first.
	asked := func(s string) bool { return strings.Contains(s, "Quit?") || strings.Contains(s, "EXITED") }
	if s := waitFor("the quit question, or an exit", asked); strings.Contains(s, "Quit?") {
		keys("y")
	}
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

// TestDemoHintsShowTheRealPort runs demo on --listen 127.0.0.1:0: the
// example commands name the port the listener got, not 0.
func TestDemoHintsShowTheRealPort(t *testing.T) {
	e := newE2E(t)
	e.start("demo0", 100, 30, "demo", "--listen", "127.0.0.1:0")
	screen := e.waitFor("demo0", "the example commands", contains("curl http://127.0.0.1:", "/anything"))
	if strings.Contains(screen, "127.0.0.1:0/") {
		t.Fatalf("a hint names port 0:\n%s", screen)
	}
}
