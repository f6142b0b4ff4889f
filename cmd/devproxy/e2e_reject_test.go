package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentWithARejectedTokenExits runs a relay and, in its UI, an agent
// whose token the relay rejects: once the grace for a fleet's relays to
// learn of a new backend has passed, the agent stops retrying and exits
// with status 2, and the last lines on its terminal say which backend,
// that the token is wrong, and how to get one.
func TestAgentWithARejectedTokenExits(t *testing.T) {
	e := newE2E(t)
	addr := freeAddr(t)
	cfg := filepath.Join(e.dir, "relay.yaml")
	if err := os.WriteFile(cfg, []byte("backends:\n  - id: web\n    pathPrefixes: [\"/\"]\n    access: public\n    agentToken: dpt_e2e-right-agent-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start("relay", 160, 40, "relay", "--config", cfg, "--listen", addr, "--admin-token", "e2e-admin-token-0123456789", "--state-dir", filepath.Join(e.dir, "relay"))
	e.waitFor("relay", "the relay's UI", contains("relay", addr, "web: no agent"))

	e.start("agent", 160, 40, "agent", "--proxy", "http://"+addr, "--backend", "web", "--token", "dpt_e2e-wrong-token", "--target", "http://127.0.0.1:9")
	e.waitFor("agent", "the rejection in the agent's UI", contains("? help", "the relay rejected the agent"))
	s := e.waitFor("agent", "the agent exited", contains("EXITED 2"))
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var tail []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			tail = append(tail, l)
		}
	}
	end := strings.Join(tail[max(0, len(tail)-10):], "\n")
	for _, want := range []string{
		`devproxy: the relay at http://` + addr + `/ rejects the agent token of backend "web": the token is wrong`,
		"/api/backends/web",
		"--token",
		"config file",
		"EXITED 2",
	} {
		if !strings.Contains(end, want) {
			t.Errorf("the agent's last lines do not say %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "? help") {
		t.Errorf("the UI is still on the agent's screen:\n%s", s)
	}
}
