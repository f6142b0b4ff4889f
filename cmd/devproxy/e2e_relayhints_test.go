package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRelayHintsFollowBackendsEndToEnd: the relay's empty list says how to
// register a backend while there is none; once one is registered through
// the admin API it shows that backend's agent command instead, and when it
// is deleted, the registration hint again.
func TestRelayHintsFollowBackendsEndToEnd(t *testing.T) {
	e := newE2E(t)
	addr := freeAddr(t)
	const admin = "e2e-admin-token-0123456789"
	e.start("relay", 200, 40, "relay", "--listen", addr, "--admin-token", admin)
	e.waitFor("relay", "the registration hint", contains("no backends yet; register one:"))

	call := func(method, path, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, res.StatusCode, want)
		}
	}
	call("POST", "/api/backends", `{"id":"web","pathPrefixes":["/"]}`, http.StatusCreated)
	s := e.waitFor("relay", "the backend's agent command", contains("backend web (/):", "--backend web --token <TOKEN>", "<TOKEN> of web"))
	if strings.Contains(s, "no backends yet") {
		t.Fatalf("the stale hint is still on the screen:\n%s", s)
	}
	call("DELETE", "/api/backends/web", "", http.StatusNoContent)
	e.waitFor("relay", "the registration hint again", func(s string) bool {
		return strings.Contains(s, "no backends yet; register one:") && !strings.Contains(s, "backend web (/):")
	})
}
