package tui

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// quitAfterFirstFrame runs the model until its first window size, then
// quits, so the program renders once.
type quitAfterFirstFrame struct{ *Model }

func (q quitAfterFirstFrame) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := q.Model.Update(msg)
	if _, ok := msg.(tea.WindowSizeMsg); ok {
		return q, tea.Sequence(cmd, tea.Quit)
	}
	return q, cmd
}

var sgr = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// colourCodes returns the SGR colour parameters (foreground or background
// colours other than the defaults) found in out.
func colourCodes(out string) []string {
	var found []string
	for _, m := range sgr.FindAllStringSubmatch(out, -1) {
		params := strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' })
		for i := 0; i < len(params); i++ {
			n, _ := strconv.Atoi(params[i])
			switch {
			case n == 38 || n == 48 || n == 58:
				found = append(found, m[0])
				i = len(params)
			case n >= 30 && n <= 37, n >= 40 && n <= 47, n >= 90 && n <= 97, n >= 100 && n <= 107:
				found = append(found, m[0])
			}
		}
	}
	return found
}

func runOnce(t *testing.T, env []string) string {
	t.Helper()
	m := New(Config{Source: RecorderSource(newRecorder(t, fixtures()...)), Role: "serve", Listen: "http://127.0.0.1:8080", Target: "http://localhost:3000", Now: clock})
	var out bytes.Buffer
	p := tea.NewProgram(quitAfterFirstFrame{m}, tea.WithInput(nil), tea.WithOutput(&out),
		tea.WithEnvironment(env), tea.WithWindowSize(100, 24), tea.WithoutSignals())
	if _, err := p.Run(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestNoColorHonoured(t *testing.T) {
	// TTY_FORCE makes the buffer count as a terminal for colour detection.
	base := []string{"TERM=xterm-256color", "TTY_FORCE=1"}
	coloured := runOnce(t, base)
	if len(colourCodes(coloured)) == 0 {
		t.Fatal("without NO_COLOR the output has no colours: the test cannot tell")
	}
	plain := runOnce(t, append(base, "NO_COLOR=1"))
	if !strings.Contains(plain, "FOLLOW") {
		t.Fatalf("nothing rendered:\n%q", plain)
	}
	if codes := colourCodes(plain); len(codes) > 0 {
		t.Fatalf("NO_COLOR output has colour codes: %q", codes[:min(len(codes), 10)])
	}
}
