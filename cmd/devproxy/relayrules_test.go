package main

import (
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/invert"
)

// TestConfigBackendRules: a backend's rules: in the config file are its
// rules; one that does not parse stops the relay at start-up, naming the
// backend, the rule and the column; a breakpoint needs the relay's UI.
func TestConfigBackendRules(t *testing.T) {
	load := func(t *testing.T, rules string) (*invert.Registry, error) {
		t.Helper()
		cfg := writeConfig(t, "backends:\n  - id: web\n    agentAuth: none\n    rules:\n"+rules)
		cmd, err := prepare(t, "relay", "--config", cfg)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := invert.OpenRegistry("")
		if err != nil {
			t.Fatal(err)
		}
		return reg, addConfigBackends(cmd, reg)
	}
	reg, err := load(t, "      - 'path:/x => status 418'\n")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := reg.Get("web"); len(b.Rules) != 1 || b.Rules[0] != "path:/x => status 418" {
		t.Errorf("web's rules %q", b.Rules)
	}

	_, err = load(t, "      - 'path:/x => status 418'\n      - 'path:/y => delay soon'\n")
	if err == nil || !strings.Contains(err.Error(), `backends[0]: backend "web": rules: rule 2: column`) {
		t.Errorf("a bad rule: %v; want an error naming the backend, the rule and the column", err)
	}

	reg, err = load(t, "      - 'method:POST => breakpoint request'\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = invert.NewRelay(invert.RelayOptions{Registry: reg})
	if err == nil || !strings.Contains(err.Error(), `backend "web"`) || !strings.Contains(err.Error(), "relay's terminal UI") {
		t.Errorf("a breakpoint without the UI: %v", err)
	}
}
