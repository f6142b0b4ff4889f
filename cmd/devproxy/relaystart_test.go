package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelayChecksInputBeforeMakingAToken checks that a relay started for
// the first time with a .proto file or a rule that does not load stops
// before it makes its admin token: a token made then would be stored, and
// never shown.
func TestRelayChecksInputBeforeMakingAToken(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.proto")
	if err := os.WriteFile(bad, []byte("syntax = \"proto3\";\nmessage A { strin x = 1; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"proto", []string{"--proto", bad}, "unknown type strin"},
		{"rule", []string{"--rule", "bogus =>"}, "--rule: rule 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			args := append([]string{"relay", "--no-tui", "--listen", "127.0.0.1:0", "--state-dir", state}, tc.args...)
			out, err := runCmd(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("relay %v: %v\n%s", tc.args, err, out)
			}
			if b, err := os.ReadFile(filepath.Join(state, "backends.json")); err == nil && strings.Contains(string(b), "adminTokenSha256") {
				t.Errorf("an admin token was made and stored, never to be shown:\n%s", b)
			}
		})
	}
}
