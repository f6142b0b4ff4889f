package tui

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"
)

// plain is the view as a terminal without colour support would get it:
// written through a NoTTY colour profile, which drops every style.
func plain(t *testing.T, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.NoTTY}
	if _, err := w.WriteString(m.View().Content); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden compares whole screens with testdata/TestGolden/*.golden.
// Regenerate with: go test ./internal/tui -run TestGolden -update
func TestGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"list", nil},
		{"request", []string{"g", "enter"}},
		{"response", []string{"g", "enter", "2"}},
		{"timing", []string{"g", "enter", "3"}},
		{"error", []string{"g", "j", "j", "enter", "2"}},
		{"help", []string{"?"}},
		// #1 and #2 marked, slowest first.
		{"marked_sorted", []string{"g", "space", "space", "s"}},
		{"quit", []string{"q"}},
	}
	for _, sz := range [][2]int{{80, 24}, {120, 35}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := newModel(t, newRecorder(t, fixtures()...), sz[0], sz[1], func(c *Config) { c.Replayer = &fakeReplayer{} })
				press(t, m, v.keys...)
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}
