package tui

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEKeyTable keeps the README's key table generated from the
// KeyMap: change a binding, then paste the table this test prints.
func TestREADMEKeyTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found")
	}
	table := strings.TrimSpace(DefaultKeyMap().Markdown())
	if !strings.Contains(string(readme), table) {
		t.Errorf("README.md's key table is out of date; replace it with:\n%s", table)
	}
}
