package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFleetEndToEnd runs two relays of a static fleet and an agent that
// knows only the first in tmux: the agent learns the fleet and serves both
// (its header says 2/2 relays), each relay's header shows the fleet and
// the agent; when one relay dies the agent says 1/2, and 2/2 again once it
// is back.
func TestFleetEndToEnd(t *testing.T) {
	e := newE2E(t)
	a, b := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(e.dir, "fleet.yaml")
	const token = "dpt_e2e-fleet-agent-token-0123456789"
	if err := os.WriteFile(cfg, []byte("backends:\n  - id: web\n    pathPrefixes: [\"/\"]\n    access: public\n    agentToken: "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet := "http://" + a + ",http://" + b
	relay := func(addr, name string) []string {
		return []string{"relay", "--config", cfg, "--listen", addr, "--public-url", "http://" + addr, "--fleet", fleet,
			"--admin-token", "e2e-admin-token-0123456789", "--state-dir", filepath.Join(e.dir, name)}
	}
	e.start("relayA", 160, 40, relay(a, "relayA")...)
	e.start("relayB", 160, 40, relay(b, "relayB")...)
	e.waitFor("relayA", "relay A's UI", contains("fleet: 2 relays", "web: no agent"))

	e.start("agent", 160, 40, "agent", "--proxy", "http://"+a, "--backend", "web", "--token", token, "--target", "http://127.0.0.1:9")
	e.waitFor("agent", "the agent on both relays", contains("2/2 relays connected"))
	e.waitFor("relayA", "the agent on relay A", contains("fleet: 2 relays", "web: 1 agent(s) tunnel"))
	e.waitFor("relayB", "the agent on relay B", contains("fleet: 2 relays", "web: 1 agent(s) tunnel"))

	e.signal("relayB", syscall.SIGKILL)
	e.waitFor("agent", "the agent on one relay", contains("1/2 relays connected"))
	e.restart("relayB", relay(b, "relayB")...)
	e.waitFor("agent", "the agent on both relays again", contains("2/2 relays connected"))
	cleanScreen(t, "agent", e.screen("agent"))
	cleanScreen(t, "relay", e.waitFor("relayB", "the agent back on relay B", contains("web: 1 agent(s) tunnel")))
}
