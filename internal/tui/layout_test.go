package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// lines is the screen as plain lines, trailing spaces removed.
func lines(m *Model) []string {
	ls := strings.Split(screen(m), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " ")
	}
	return ls
}

// words is s with every run of white space made one space, so that text
// wrapped at spaces compares equal to the text unwrapped.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestHelpKeyAlwaysInFooter(t *testing.T) {
	for w := minWidth; w <= 240; w++ {
		for _, setup := range [][]string{nil, {"enter"}} {
			m := newModel(t, newRecorder(t, fixtures()...), w, 24, func(c *Config) { c.Replayer = &fakeReplayer{} })
			press(t, m, setup...)
			ls := lines(m)
			if last := ls[len(ls)-1]; !strings.HasSuffix(last, "? help") {
				t.Fatalf("%d columns, after %v: the footer lost ? help: %q", w, setup, last)
			}
			checkFrame(t, m, w, 24)
		}
	}
}

func TestHeaderKeepsRole(t *testing.T) {
	for _, role := range []string{"serve", "demo", "relay", "agent", "view"} {
		for w := minWidth; w <= 240; w++ {
			m := newModel(t, newRecorder(t, fixtures()...), w, 24, func(c *Config) { c.Role = role })
			press(t, m, "/", "error", "enter", "p")
			head := strings.TrimPrefix(lines(m)[0], " devproxy")
			if !strings.HasPrefix(head, " "+role+" ") {
				t.Fatalf("%s at %d columns: %q", role, w, head)
			}
		}
	}
}

func TestHeaderDropsLabelsBeforeNumbers(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 56, 24, func(c *Config) { c.Listen = "https://127.0.0.1:8443" })
	press(t, m, "/", "error", "enter", "p")
	head := lines(m)[0]
	if !strings.Contains(head, " serve │ 5 · 1 fail · 1 4xx ") || !strings.Contains(head, "PAUSED") {
		t.Fatalf("56 columns: %q", head)
	}
}

func TestViewHeaderHasNoLiveCounters(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 120, 24, func(c *Config) { c.Role, c.Listen, c.Target = "view", "", "session.har" })
	head := lines(m)[0]
	if !strings.Contains(head, "view session.har │ 5 total · 1 failed · 1 4xx · 0 5xx") || strings.Contains(head, "flight") || strings.Contains(head, "FOLLOW") {
		t.Fatalf("view header: %q", head)
	}
}

func TestEmptyListWrapsHints(t *testing.T) {
	fp := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	register := `  curl -s -H "Authorization: Bearer dpa_0123456789abcdef0123456789abcdef" -d '{"id":"web","pathPrefixes":["/"]}' http://127.0.0.1:9000/api/backends`
	for _, w := range []int{80, 100, 120} {
		m := newModel(t, newRecorder(t), w, 24, func(c *Config) {
			c.Role, c.Target = "relay", "agents"
			c.Hints = []string{"TLS certificate SHA-256: " + fp, "no backends yet; register one:", register}
		})
		checkFrame(t, m, w, 24)
		// The fingerprint may break anywhere; the command only at spaces.
		if !strings.Contains(strings.Join(strings.Fields(screen(m)), ""), fp) || !strings.Contains(words(screen(m)), words(register)) {
			t.Fatalf("%d columns: a hint was cut:\n%s", w, screen(m))
		}
	}
}

func TestLongStatusWraps(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	msg := "replay of #3 failed: replay #3: the request body was captured only in part (1048576 of 5242880 bytes); raise --max-body-capture to replay it"
	m.setStatus(msg, true)
	send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	checkFrame(t, m, 80, 24)
	if !strings.Contains(words(screen(m)), msg) {
		t.Fatalf("the message was cut:\n%s", screen(m))
	}
	if m.listRows() != 24-2-2-1 {
		t.Fatalf("the list did not make room: %d rows", m.listRows())
	}
}

func TestRedraw(t *testing.T) {
	for _, setup := range [][]string{nil, {"enter"}, {"/"}, {"?"}} {
		m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
		press(t, m, setup...)
		_, cmd := m.Update(tea.KeyPressMsg{Code: 'l', Mod: tea.ModCtrl})
		if cmd == nil || fmt.Sprintf("%T", cmd()) != fmt.Sprintf("%T", tea.ClearScreen()) {
			t.Fatalf("after %v: ctrl+l did not clear the screen", setup)
		}
	}
}
