package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBreakpointEndToEnd holds POSTs with a breakpoint rule in the real
// binary's UI in tmux: the held request is badged; e edits it in $EDITOR
// and resumes it, so the upstream and the client see the edit; a resumes the
// next one as it was.
func TestBreakpointEndToEnd(t *testing.T) {
	e := newE2E(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(b))
	}))
	defer up.Close()
	// The editor: a script that changes x=1 to x=2 in the file it is given.
	editor := filepath.Join(t.TempDir(), "edit.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/x=1/x=2/' \"$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.env = []string{"EDITOR=" + editor}
	addr := freeAddr(t)
	e.start("bp", 100, 30, "serve", "--target", up.URL, "--listen", addr, "--no-session", "--rule", "method:POST => breakpoint request")
	e.waitFor("bp", "the UI header", contains("devproxy", addr))

	post := func() <-chan string {
		got := make(chan string, 1)
		go func() {
			client := &http.Client{Timeout: 20 * time.Second}
			res, err := client.PostForm("http://"+addr+"/post", url.Values{"x": {"1"}})
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			got <- string(b)
		}()
		return got
	}
	wait := func(got <-chan string) string {
		select {
		case s := <-got:
			return s
		case <-time.After(20 * time.Second):
			t.Fatalf("the client got no answer; the screen shows:\n%s", e.screen("bp"))
			return ""
		}
	}

	first := post()
	e.waitFor("bp", "the held POST", contains("⏸ held", "1 held"))
	e.keys("bp", "e")
	if got := wait(first); got != "got x=2" {
		t.Errorf("after e, the client got %q, want the edited body's answer %q", got, "got x=2")
	}

	second := post()
	e.waitFor("bp", "the second held POST", func(s string) bool { return strings.Contains(s, "1 held") && strings.Count(s, "POST") >= 2 })
	e.keys("bp", "G", "a")
	if got := wait(second); got != "got x=1" {
		t.Errorf("after a, the client got %q, want the unchanged %q", got, "got x=1")
	}
}
