package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logText matches what a log line printed over the UI would leave on the
// screen: slog's text format and its JSON format.
var logText = regexp.MustCompile(`time=|level=|msg=|"msg":|"level":`)

// cleanScreen fails when the screen of session name is not the UI alone:
// log text on it, or the header bar or the help line out of place (a log
// line in raw mode pushes the frame into a staircase).
func cleanScreen(t *testing.T, name, s string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	switch {
	case logText.MatchString(s):
		t.Fatalf("%s: log text on the UI's screen:\n%s", name, s)
	case !strings.Contains(lines[0], name+" ") || !strings.Contains(lines[0], "│"):
		t.Fatalf("%s: the first line is not the header bar:\n%s", name, s)
	case !strings.Contains(lines[len(lines)-1], "? help"):
		t.Fatalf("%s: the last line is not the help line:\n%s", name, s)
	}
}

// TestRelayAndAgentScreensEndToEnd runs a relay and an agent in tmux and
// takes the relay away under the agent: while the agent retries and after
// it reconnects to a restarted relay, neither screen shows anything but
// the UI; the agent's event log (E) tells the story: disconnected, each
// retry, connected again. The relay's screen stays clean as the agent
// comes and goes, and its event log lists both.
func TestRelayAndAgentScreensEndToEnd(t *testing.T) {
	e := newE2E(t)
	addr := freeAddr(t)
	const admin = "e2e-admin-token-0123456789"
	relayArgs := []string{"relay", "--listen", addr, "--admin-token", admin}
	e.start("relay", 160, 40, relayArgs...)
	e.waitFor("relay", "the relay's UI", contains("relay", addr, "no backends"))

	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/backends", strings.NewReader(`{"id":"web","pathPrefixes":["/"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ AgentToken string }
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated || created.AgentToken == "" {
		t.Fatalf("registering a backend: %d %v %+v", res.StatusCode, err, created)
	}

	e.start("agent", 160, 40, "agent", "--proxy", "http://"+addr, "--backend", "web", "--token", created.AgentToken, "--target", "http://127.0.0.1:9")
	e.waitFor("agent", "the agent connected", contains("connected to relay (tunnel)"))
	e.waitFor("relay", "the agent on the relay", contains("web: 1 agent(s) tunnel"))

	// The relay dies: the agent retries with growing waits.
	e.signal("relay", syscall.SIGKILL)
	waits := map[string]bool{}
	retrying := regexp.MustCompile(`retrying in ([0-9.]+m?s)`)
	e.waitFor("agent", "two retries", func(s string) bool {
		if logText.MatchString(s) {
			t.Fatalf("agent: log text on the UI's screen while retrying:\n%s", s)
		}
		if m := retrying.FindStringSubmatch(s); m != nil {
			waits[m[1]] = true
		}
		return len(waits) >= 2
	})
	cleanScreen(t, "agent", e.screen("agent"))

	// The relay is back on the same address, with the same state.
	e.restart("relay", relayArgs...)
	cleanScreen(t, "agent", e.waitFor("agent", "the agent connected again", contains("connected to relay (tunnel)")))
	cleanScreen(t, "relay", e.waitFor("relay", "the agent on the restarted relay", contains("web: 1 agent(s) tunnel")))

	e.keys("agent", "E")
	e.waitFor("agent", "the agent's event log", contains("Event log",
		"agent: disconnected from the relay", "agent: retrying", "retry_in=", "reason=", "agent: connected to the relay"))
	s := e.screen("agent")
	if strings.Count(s, "agent: retrying") < 2 || strings.Index(s, "disconnected from the relay") > strings.LastIndex(s, "connected to the relay") {
		t.Fatalf("agent: the event log does not show the disconnect, the retries, then the reconnect:\n%s", s)
	}
	e.keys("agent", "Escape")
	e.waitFor("agent", "the agent's list again", contains("Waiting for traffic"))

	// The agent leaves: the relay notices, and its screen stays clean.
	e.signal("agent", syscall.SIGTERM)
	e.waitFor("agent", "the agent exited", contains("EXITED 0"))
	cleanScreen(t, "relay", e.waitFor("relay", "the agent gone", contains("web: no agent")))
	e.keys("relay", "E")
	e.waitFor("relay", "the relay's event log", contains("Event log", "agent connected", "agent disconnected", "backend=web"))
}
