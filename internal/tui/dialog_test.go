package tui

import (
	"strings"
	"testing"
)

// TestHelpClearsTheScreen: the help is drawn on a cleared screen: no line
// under the header bar shows anything of the list beside the box.
func TestHelpClearsTheScreen(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 35}, {200, 50}} {
		m := newModel(t, newRecorder(t, fixtures()...), sz[0], sz[1])
		press(t, m, "?")
		checkFrame(t, m, sz[0], sz[1])
		ls := lines(m)
		for i, l := range ls[1:] {
			r := []rune(strings.TrimSpace(l))
			if len(r) == 0 {
				continue
			}
			if !strings.ContainsRune("│╭╰", r[0]) || !strings.ContainsRune("│╮╯", r[len(r)-1]) {
				t.Fatalf("%dx%d, line %d shows what is under the help: %q", sz[0], sz[1], i+1, l)
			}
		}
		if !strings.Contains(ls[0], "serve") {
			t.Fatalf("%dx%d: the header bar is gone: %q", sz[0], sz[1], ls[0])
		}
	}
}

// TestPopUpHasAMargin: what is under a pop-up never touches its border.
func TestPopUpHasAMargin(t *testing.T) {
	xs := fixtures()
	for range 30 {
		xs = append(xs, fixtures()[0])
	}
	m := newModel(t, newRecorder(t, xs...), 90, 30)
	press(t, m, "q")
	for i, l := range lines(m) {
		for _, edge := range []string{"│", "╭", "╰"} {
			if j := strings.Index(l, edge); j > 0 && l[j-1] != ' ' {
				t.Fatalf("line %d: the list runs into the box: %q", i, l)
			}
		}
	}
}

// TestFootersBreakBetweenPhrases: a footer too long for its box breaks
// between its phrases, never inside one that fits a line; the curl
// pop-up's fits one line at 80 columns.
func TestFootersBreakBetweenPhrases(t *testing.T) {
	footer := "y quit · n/esc stay · x export first · k keep the session"
	for width := 20; width <= 60; width++ {
		got := wrapPhrases(footer, width)
		for _, l := range got {
			if cellWidth(l) > width {
				t.Fatalf("%d cells: %q is too wide", width, l)
			}
			for _, p := range strings.Split(l, phraseSep) {
				if !strings.Contains(footer, p) || strings.HasPrefix(p, " ") {
					t.Fatalf("%d cells: %q breaks a phrase (%q)", width, l, got)
				}
			}
		}
		if strings.Join(got, phraseSep) != footer {
			t.Fatalf("%d cells: %q lost text", width, got)
		}
	}
	// A phrase wider than a line is wrapped at its spaces.
	if got := wrapPhrases("one two three four five six · esc close", 12); strings.Join(got, "|") != "one two|  three four|  five six|esc close" {
		t.Fatalf("long phrase: %q", got)
	}

	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	press(t, m, "g", "c")
	if curlText(m) == "" {
		t.Fatal("no curl pop-up")
	}
	var footer1 string
	for _, l := range lines(m) {
		if strings.Contains(l, "Copied to the clipboard") {
			footer1 = l
		}
	}
	if !strings.Contains(footer1, "Copied to the clipboard (OSC 52) · else select the text above · esc close") {
		t.Fatalf("the curl footer does not fit a line at 80 columns:\n%s", screen(m))
	}
}
