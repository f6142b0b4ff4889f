package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// fakeRules is a Rules over a plain list. A text without "=>" does not
// parse (the column is its end), nor one holding "BAD" (the column is
// BAD's), as the engine's parser would say; an intercept expression with
// "status:" needs the response.
type fakeRules struct {
	rules []RuleInfo
	// calls are "add TEXT", "toggle I", "delete I", "move I DELTA",
	// "intercept EXPR", "clear intercept".
	calls []string
}

// newFakeRules holds three rules: the second named "flaky" and off.
func newFakeRules() *fakeRules {
	return &fakeRules{rules: []RuleInfo{
		{Text: "path:/api/* => delay 300ms±100ms", Match: "path:/api/*", Enabled: true},
		{Text: "path:/flaky => status 503 p=0.3", Name: "flaky", Match: "path:/flaky"},
		{Text: "status:5xx => set-header response X-Seen yes", Match: "status:5xx", Enabled: true},
	}}
}

func (f *fakeRules) List() []RuleInfo { return slices.Clone(f.rules) }

func (f *fakeRules) parse(text string) (RuleInfo, error) {
	if i := strings.Index(text, "BAD"); i >= 0 {
		return RuleInfo{}, &RuleError{Col: len([]rune(text[:i])) + 1, Msg: `unknown action "BAD"; actions are delay, status`}
	}
	m, _, ok := strings.Cut(text, "=>")
	if !ok {
		return RuleInfo{}, &RuleError{Col: len([]rune(text)) + 1, Msg: `no "=>": a rule is MATCHER => ACTION`}
	}
	return RuleInfo{Text: strings.TrimSpace(text), Match: strings.TrimSpace(m), Enabled: true}, nil
}

func (f *fakeRules) Check(text string) error {
	_, err := f.parse(text)
	return err
}

func (f *fakeRules) Add(text string) error {
	r, err := f.parse(text)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, "add "+text)
	f.rules = append(f.rules, r)
	return nil
}

func (f *fakeRules) index(i int) error {
	if i < 0 || i >= len(f.rules) {
		return fmt.Errorf("there is no rule %d", i+1)
	}
	return nil
}

func (f *fakeRules) Toggle(i int) error {
	if err := f.index(i); err != nil {
		return err
	}
	f.calls = append(f.calls, fmt.Sprintf("toggle %d", i))
	f.rules[i].Enabled = !f.rules[i].Enabled
	return nil
}

func (f *fakeRules) Delete(i int) error {
	if err := f.index(i); err != nil {
		return err
	}
	f.calls = append(f.calls, fmt.Sprintf("delete %d", i))
	f.rules = slices.Delete(f.rules, i, i+1)
	return nil
}

func (f *fakeRules) Move(i, delta int) error {
	if err := f.index(i); err != nil {
		return err
	}
	f.calls = append(f.calls, fmt.Sprintf("move %d %d", i, delta))
	to := min(max(i+delta, 0), len(f.rules)-1)
	r := f.rules[i]
	f.rules = slices.Insert(slices.Delete(f.rules, i, i+1), to, r)
	return nil
}

func (f *fakeRules) CheckIntercept(expr string) error {
	if i := strings.Index(expr, "BAD"); i >= 0 {
		return &RuleError{Col: i + 1, Msg: `unknown filter key "BAD"`}
	}
	return nil
}

func (f *fakeRules) SetIntercept(expr string) error {
	if err := f.CheckIntercept(expr); err != nil {
		return err
	}
	f.calls = append(f.calls, "intercept "+expr)
	phase := "request"
	if strings.Contains(expr, "status:") {
		phase = "response"
	}
	r := RuleInfo{Text: expr + " => breakpoint " + phase, Name: InterceptRule, Match: expr, Enabled: true}
	if i := slices.IndexFunc(f.rules, func(r RuleInfo) bool { return r.Name == InterceptRule }); i >= 0 {
		f.rules[i] = r
	} else {
		f.rules = append(f.rules, r)
	}
	return nil
}

func (f *fakeRules) ClearIntercept() error {
	f.calls = append(f.calls, "clear intercept")
	f.rules = slices.DeleteFunc(f.rules, func(r RuleInfo) bool { return r.Name == InterceptRule })
	return nil
}

// rulesModel is a model over the fixtures with the fake rules (and holds,
// as the UI has them whenever it has rules).
func rulesModel(t *testing.T, w, h int) (*Model, *fakeRules) {
	t.Helper()
	rs := newFakeRules()
	m := newModel(t, newRecorder(t, fixtures()...), w, h, func(c *Config) {
		c.Replayer = &fakeReplayer{}
		c.Holds = newFakeHolds()
		c.Rules = rs
	})
	return m, rs
}

// header is the screen's first line.
func header(m *Model) string { return strings.SplitN(screen(m), "\n", 2)[0] }

// caretUnder reports whether the screen has a line with needle and, on
// the next line, a caret under needle's first cell.
func caretUnder(m *Model, needle string) bool {
	lines := strings.Split(screen(m), "\n")
	for i := 0; i+1 < len(lines); i++ {
		j := strings.Index(lines[i], needle)
		if j < 0 {
			continue
		}
		x := ansi.StringWidth(lines[i][:j])
		w := 0
		for _, r := range lines[i+1] {
			if w == x {
				return r == '^'
			}
			w += ansi.StringWidth(string(r))
		}
	}
	return false
}

func TestRulesPaneAdd(t *testing.T) {
	m, rs := rulesModel(t, 120, 30)
	press(t, m, "R")
	s := screen(m)
	for _, want := range []string{"Rules · 3 rules, 2 on · tried in order", "1  on          path:/api/* => delay 300ms±100ms", "2  off  flaky  path:/flaky => status 503 p=0.3"} {
		if !strings.Contains(s, want) {
			t.Fatalf("the pane does not show %q:\n%s", want, s)
		}
	}
	// esc cancels an add.
	press(t, m, "a")
	if _, ok := topDialog[*ruleDialog](m); !ok {
		t.Fatalf("a did not ask for a rule:\n%s", screen(m))
	}
	press(t, m, "path", "esc")
	if m.topDialog() != nil || len(rs.calls) != 0 {
		t.Fatalf("esc: calls %q", rs.calls)
	}
	// A rule that does not parse: the error, with a caret at its column,
	// shows as it is typed, and enter keeps the prompt open.
	press(t, m, "n", "path:/x => BAD")
	s = screen(m)
	if !strings.Contains(s, `✗ column 12: unknown action "BAD"`) || !caretUnder(m, "BAD") {
		t.Fatalf("no inline error under BAD:\n%s", s)
	}
	press(t, m, "enter")
	if _, ok := topDialog[*ruleDialog](m); !ok || len(rs.calls) != 0 || !strings.Contains(screen(m), "✗ column 12") {
		t.Fatalf("enter on a bad rule: calls %q\n%s", rs.calls, screen(m))
	}
	press(t, m, "backspace", "backspace", "backspace", "status 418")
	if s := screen(m); strings.Contains(s, "✗") || !strings.Contains(s, "✓ enter applies it") {
		t.Fatalf("after the fix:\n%s", s)
	}
	press(t, m, "enter")
	if m.topDialog() != nil || !slices.Equal(rs.calls, []string{"add path:/x => status 418"}) {
		t.Fatalf("enter: calls %q\n%s", rs.calls, screen(m))
	}
	s = screen(m)
	for _, want := range []string{"4  on          path:/x => status 418", "added rule 4: path:/x => status 418", "rule 4 of 4"} {
		if !strings.Contains(s, want) {
			t.Fatalf("after adding, the pane does not show %q:\n%s", want, s)
		}
	}
	press(t, m, "esc")
	if m.mode != modeList {
		t.Fatalf("esc left the pane in mode %d", m.mode)
	}
}

func TestRulesPaneEdit(t *testing.T) {
	m, rs := rulesModel(t, 120, 30)
	press(t, m, "R", "j", "space")
	if !strings.Contains(screen(m), "2  on   flaky") || !strings.Contains(screen(m), "rule 2 is on") {
		t.Fatalf("space did not switch rule 2 on:\n%s", screen(m))
	}
	press(t, m, "t")
	if !strings.Contains(screen(m), "2  off  flaky") {
		t.Fatalf("t did not switch rule 2 off:\n%s", screen(m))
	}
	// Up to the top, down past the end: the last is a no-op.
	press(t, m, "K", "shift+down", "J", "J")
	want := []string{"toggle 1", "toggle 1", "move 1 -1", "move 0 1", "move 1 1"}
	if !slices.Equal(rs.calls, want) {
		t.Fatalf("calls %q, want %q", rs.calls, want)
	}
	if s := screen(m); !strings.Contains(s, "3  off  flaky") || !strings.Contains(s, "rule 3 of 3") || !strings.Contains(s, "moved rule 2 to 3") {
		t.Fatalf("flaky is not last and selected:\n%s", s)
	}
	press(t, m, "shift+up", "d")
	if s := screen(m); !strings.Contains(s, "deleted rule 2: path:/flaky => status 503 p=0.3") || strings.Contains(s, "flaky  path") ||
		!strings.Contains(s, "2 rules, 2 on") {
		t.Fatalf("d:\n%s", s)
	}
	press(t, m, "d", "d", "d")
	if s := screen(m); !strings.Contains(s, "No rules yet") || !strings.Contains(s, "there are no rules yet: n/a adds one") {
		t.Fatalf("deleting every rule:\n%s", s)
	}
	// The pane's keys are its own: a adds a rule there, it resumes
	// nothing.
	press(t, m, "a")
	if _, ok := topDialog[*ruleDialog](m); !ok {
		t.Fatalf("a in the pane:\n%s", screen(m))
	}
}

func TestIntercept(t *testing.T) {
	m, rs := rulesModel(t, 120, 30)
	press(t, m, "i")
	if d, ok := topDialog[*ruleDialog](m); !ok || d.title != "Intercept" || d.input.Value() != "" {
		t.Fatalf("i did not ask for the intercept:\n%s", screen(m))
	}
	press(t, m, "BAD:x")
	if !strings.Contains(screen(m), `✗ column 1: unknown filter key "BAD"`) || !caretUnder(m, "BAD:x") {
		t.Fatalf("no inline error:\n%s", screen(m))
	}
	press(t, m, "enter")
	if _, ok := topDialog[*ruleDialog](m); !ok || len(rs.calls) != 0 {
		t.Fatalf("enter on a bad intercept: calls %q", rs.calls)
	}
	press(t, m, "ctrl+u", "method:POST", "enter")
	if !slices.Equal(rs.calls, []string{"intercept method:POST"}) || m.topDialog() != nil {
		t.Fatalf("calls %q\n%s", rs.calls, screen(m))
	}
	if h := header(m); !strings.Contains(h, "intercept: method:POST") {
		t.Fatalf("the header does not show the intercept: %q", h)
	}
	if !strings.Contains(screen(m), "intercepting: method:POST => breakpoint request") {
		t.Fatalf("status:\n%s", screen(m))
	}
	// It is a rule in the pane; switched off there, the header drops it.
	press(t, m, "R", "G")
	if !strings.Contains(screen(m), "4  on   intercept  method:POST => breakpoint request") {
		t.Fatalf("the pane does not list the intercept:\n%s", screen(m))
	}
	press(t, m, "t")
	if strings.Contains(header(m), "intercept") {
		t.Fatalf("a disabled intercept in the header: %q", header(m))
	}
	// i starts from the current expression; setting it again replaces it,
	// on.
	press(t, m, "esc", "i")
	if d, ok := topDialog[*ruleDialog](m); !ok || d.input.Value() != "method:POST" {
		t.Fatalf("i does not start from the intercept:\n%s", screen(m))
	}
	press(t, m, "ctrl+u", "status:5xx", "enter")
	if h := header(m); !strings.Contains(h, "intercept: status:5xx") {
		t.Fatalf("header: %q", h)
	}
	if n := len(rs.rules); n != 4 || rs.rules[3].Text != "status:5xx => breakpoint response" {
		t.Fatalf("rules: %+v", rs.rules)
	}
	// Empty clears it.
	press(t, m, "i", "ctrl+u", "enter")
	if rs.calls[len(rs.calls)-1] != "clear intercept" || strings.Contains(header(m), "intercept") || !strings.Contains(screen(m), "intercept cleared") {
		t.Fatalf("clearing: calls %q\n%s", rs.calls, screen(m))
	}
	press(t, m, "i", "enter")
	if !strings.Contains(screen(m), "no intercept is set") {
		t.Fatalf("clearing nothing:\n%s", screen(m))
	}
}

// TestRulesFromDetail: R and i work from the detail view too, and esc
// goes back there.
func TestRulesFromDetail(t *testing.T) {
	m, _ := rulesModel(t, 120, 30)
	press(t, m, "g", "enter", "R")
	if m.mode != modeRules {
		t.Fatalf("R from the detail view: mode %d", m.mode)
	}
	press(t, m, "esc")
	if m.mode != modeDetail {
		t.Fatalf("esc from the pane: mode %d, want the detail view", m.mode)
	}
	press(t, m, "i")
	if _, ok := topDialog[*ruleDialog](m); !ok {
		t.Fatal("i from the detail view did not ask")
	}
}

// TestRulesKeysOff: without rules (view), R and i say why they do nothing,
// and the help leaves them out.
func TestRulesKeysOff(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 120, 40)
	press(t, m, "R")
	if m.mode != modeList || !strings.Contains(screen(m), "rules are not available here: nothing is proxied") {
		t.Fatalf("R without rules:\n%s", screen(m))
	}
	press(t, m, "i")
	if m.topDialog() != nil || !strings.Contains(screen(m), "intercept is not available here") {
		t.Fatalf("i without rules:\n%s", screen(m))
	}
	press(t, m, "?")
	if strings.Contains(screen(m), "Rules (R, i") {
		t.Fatalf("help without rules:\n%s", screen(m))
	}
}

// TestRulesGolden compares the rules pane, the add prompt with an error
// and the intercept in the header with testdata/TestRulesGolden/*.golden
// (-update regenerates them).
func TestRulesGolden(t *testing.T) {
	views := []struct {
		name  string
		keys  []string
		empty bool
	}{
		{name: "pane", keys: []string{"R", "j"}},
		{name: "empty", keys: []string{"R"}, empty: true},
		{name: "add_error", keys: []string{"R", "n", "path:/x => BAD"}},
		// A rule too long for its row is shown in full under the rules.
		{name: "long", keys: []string{"R", "n", `host:api.example.com path:/v2/orders/* => set-header X-Debug "on; verbose" ; delay 1s±200ms p=0.5 ; status 503 body="try again later" p=0.1`, "enter"}},
		{name: "intercept_prompt", keys: []string{"i", "method:POST"}},
		{name: "intercept", keys: []string{"i", "method:POST", "enter"}},
	}
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m, rs := rulesModel(t, sz[0], sz[1])
				if v.empty {
					rs.rules = nil
				}
				press(t, m, v.keys...)
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}
