package tui

import (
	"errors"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Rules is what the UI needs of the role's rules, the ordered list of
// "MATCHER => ACTION …" that shape traffic: to list them, add one, switch
// one on or off, delete and reorder them, and set the intercept.
// cmd/devproxy implements it over the rule engine's Set. A change applies
// at once to the exchanges that start afterwards. Indexes are positions in
// List. The methods are called on the UI's event loop: each parses one
// rule at most and swaps the rule list, which is quick and never waits on
// traffic.
type Rules interface {
	// List returns the rules in the order they are tried.
	List() []RuleInfo
	// Check parses text as Add would, without adding it. A text that does
	// not parse is an error, a *RuleError when it knows the column.
	Check(text string) error
	// Add parses text, written as MATCHER => ACTION [ARGS] [p=P] [;
	// ACTION …], and appends the rule it describes; errors as Check's.
	Add(text string) error
	// Toggle switches rule i on or off.
	Toggle(i int) error
	// Delete removes rule i.
	Delete(i int) error
	// Move moves rule i delta places (negative: earlier), stopping at
	// either end.
	Move(i, delta int) error
	// CheckIntercept parses expr as SetIntercept would, without setting
	// it; errors as Check's, with columns in expr.
	CheckIntercept(expr string) error
	// SetIntercept makes expr, a filter expression, the intercept: the
	// rule named InterceptRule, "EXPR => breakpoint request" (or
	// "breakpoint response" when expr needs the response), switched on.
	// It replaces the intercept in its place, or is added last.
	SetIntercept(expr string) error
	// ClearIntercept removes the intercept rule, if there is one.
	ClearIntercept() error
}

// InterceptRule is the name of the rule that i sets: it holds what its
// filter expression matches at a breakpoint, as mitmproxy's intercept
// does.
const InterceptRule = "intercept"

// RuleInfo is one rule as the rules pane shows it.
type RuleInfo struct {
	// Text is the rule in normal form, "MATCHER => ACTION …; ACTION …".
	Text string
	// Name is the rule's name, or "" (the engine then names it by its
	// position from 1, in marks such as rule:2).
	Name string
	// Match is the matcher as written ("*" matches everything).
	Match string
	// Enabled rules apply; a disabled one is kept but skipped.
	Enabled bool
}

// RuleError is a rule (or intercept expression) that does not parse or
// cannot be used, as the rules pane shows it.
type RuleError struct {
	// Col is the 1-based column, in characters, where the problem starts
	// in the text typed, or 0 when it is about the rule as a whole.
	Col int
	// Msg says what is wrong and what would be right.
	Msg string
}

// Error is "column N: what is wrong", or the message alone without a
// column.
func (e *RuleError) Error() string {
	if e.Col > 0 {
		return "column " + strconv.Itoa(e.Col) + ": " + e.Msg
	}
	return e.Msg
}

// ruleSyntax is the rule syntax, as the add prompt and the pane show it.
const ruleSyntax = "MATCHER => ACTION [ARGS] [p=P] [; ACTION …]"

// ruleExamples are rules to copy, shown under the add prompt.
const ruleExamples = "e.g. path:/api/* => delay 300ms±100ms · path:/flaky => status 503 p=0.3 · " +
	"method:POST => breakpoint request · status:5xx => set-header response X-Seen yes"

// ruleMatcherNote says what the matcher may use.
const ruleMatcherNote = "MATCHER is the filter language without free text or body: (method:, host:, path:, header:, status:; * for every exchange)"

// rulesView is the rules pane (R): the rules in the order they are tried,
// whether each is on, and the cursor the pane's keys act on.
type rulesView struct {
	ctx   *uiContext
	rules []RuleInfo
	// cursor is the selected rule; offset the first row shown.
	cursor, offset int
}

// clamp keeps the cursor on a rule.
func (v *rulesView) clamp() {
	v.cursor = min(max(v.cursor, 0), max(len(v.rules)-1, 0))
}

// move moves the cursor by delta rules.
func (v *rulesView) move(delta int) {
	v.cursor += delta
	v.clamp()
}

// enabled counts the rules that are on.
func (v *rulesView) enabled() int {
	n := 0
	for _, r := range v.rules {
		if r.Enabled {
			n++
		}
	}
	return n
}

// footer is what the pane says under the rules: the selected rule in full
// when its row cuts it, and the syntax.
func (v *rulesView) footer(width, nameW int) []string {
	st := v.ctx.st
	var out []string
	if v.cursor < len(v.rules) {
		r := v.rules[v.cursor]
		if cellWidth(v.rowPlain(v.cursor, nameW)) > width {
			out = append(out, "")
			for _, l := range wrapProse("Rule "+strconv.Itoa(v.cursor+1)+": "+sanitizeLine(r.Text), width-2, 2) {
				out = append(out, st.text.Render(" "+l))
			}
		}
	}
	out = append(out, "")
	for _, s := range []string{"Syntax: " + ruleSyntax, ruleMatcherNote} {
		for _, l := range wrapProse(s, width-2, 2) {
			out = append(out, st.muted.Render(" "+l))
		}
	}
	return out
}

// nameWidth is the width of the name column: 0 when no rule has a name.
func (v *rulesView) nameWidth() int {
	w := 0
	for _, r := range v.rules {
		w = max(w, cellWidth(sanitizeLine(r.Name)))
	}
	if w == 0 {
		return 0
	}
	return min(max(w, len("NAME")), 20)
}

// numWidth is the width of the number column.
func (v *rulesView) numWidth() int { return max(len(strconv.Itoa(len(v.rules))), 1) }

// rowPlain is rule i's row without styles.
func (v *rulesView) rowPlain(i, nameW int) string {
	r := v.rules[i]
	state := "on "
	if !r.Enabled {
		state = "off"
	}
	s := " " + fitRight(strconv.Itoa(i+1), v.numWidth()) + "  " + state + "  "
	if nameW > 0 {
		s += fit(sanitizeLine(r.Name), nameW) + "  "
	}
	return s + sanitizeLine(r.Text)
}

// row is rule i's row, width cells: the selected one highlighted, a
// disabled one muted.
func (v *rulesView) row(i, nameW, width int) string {
	st := v.ctx.st
	if i == v.cursor {
		return st.sel.Render(fit(v.rowPlain(i, nameW), width))
	}
	r := v.rules[i]
	text, state := st.text, st.ok.Render("on ")
	if !r.Enabled {
		text, state = st.muted, st.muted.Render("off")
	}
	s := " " + st.muted.Render(fitRight(strconv.Itoa(i+1), v.numWidth())) + "  " + state + "  "
	if nameW > 0 {
		s += st.accent.Render(fit(sanitizeLine(r.Name), nameW)) + "  "
	}
	return fit(s+text.Render(sanitizeLine(r.Text)), width)
}

// Render draws the pane, width×height: a title line, the column header,
// the rules, and the syntax at the bottom.
func (v *rulesView) Render(width, height int) string {
	st := v.ctx.st
	out := make([]string, 0, height)
	title := " Rules · " + plural(len(v.rules), "rule")
	if len(v.rules) > 0 {
		title += ", " + strconv.Itoa(v.enabled()) + " on · tried in order on each new exchange"
	}
	out = append(out, st.colHeader.Render(fit(title, width)))
	nameW := v.nameWidth()
	foot := v.footer(width, nameW)
	rows := height - 2 - len(foot)
	if rows < 3 {
		foot, rows = nil, height-2
	}
	if len(v.rules) == 0 {
		for _, l := range wrapProse("No rules yet. n adds one, e.g. path:/api/* => delay 300ms; i holds the exchanges a filter matches, as an intercept rule.", width-2, 0) {
			out = append(out, fit(st.muted.Render("  "+l), width))
		}
	} else {
		hdr := " " + fitRight("#", v.numWidth()) + "  ON   "
		if nameW > 0 {
			hdr += fit("NAME", nameW) + "  "
		}
		out = append(out, st.colHeader.Render(fit(hdr+"RULE", width)))
		if v.cursor < v.offset {
			v.offset = v.cursor
		}
		if rows > 0 && v.cursor >= v.offset+rows {
			v.offset = v.cursor - rows + 1
		}
		v.offset = min(max(v.offset, 0), max(len(v.rules)-rows, 0))
		for i := v.offset; i < len(v.rules) && i < v.offset+rows; i++ {
			out = append(out, v.row(i, nameW, width))
		}
	}
	for len(out) < height-len(foot) {
		out = append(out, strings.Repeat(" ", width))
	}
	for _, l := range foot {
		out = append(out, fit(l, width))
	}
	if len(out) > height {
		out = out[:height]
	}
	return strings.Join(out, "\n")
}

// position is "rule 2 of 5" for the status line.
func (v *rulesView) position() string {
	if len(v.rules) == 0 {
		return ""
	}
	return "rule " + strconv.Itoa(v.cursor+1) + " of " + strconv.Itoa(len(v.rules))
}

// rulesHelp is the footer help of the rules pane.
func (k KeyMap) rulesHelp() []key.Binding {
	r := k.Rules
	return []key.Binding{r.Add, r.Toggle, r.Delete, r.MoveUp, r.MoveDown, r.Intercept, k.Detail.Back}
}

// refreshRules reads the rules again after a change, and the intercept
// the header shows.
func (m *Model) refreshRules() {
	if m.cfg.Rules == nil {
		return
	}
	m.rulesPane.rules = m.cfg.Rules.List()
	m.rulesPane.clamp()
	m.intercept = ""
	if r := m.interceptRule(); r != nil && r.Enabled {
		m.intercept = r.Match
	}
}

// interceptRule is the intercept rule, or nil.
func (m *Model) interceptRule() *RuleInfo {
	for i := range m.rulesPane.rules {
		if r := &m.rulesPane.rules[i]; r.Name == InterceptRule {
			return r
		}
	}
	return nil
}

// openRules shows the rules pane.
func (m *Model) openRules() {
	if m.mode == modeRules {
		return
	}
	m.rulesBack = m.mode
	m.mode = modeRules
	m.refreshRules()
}

// closeRules goes back to where R was pressed.
func (m *Model) closeRules() { m.mode = m.rulesBack }

// rulesKey handles a key in the rules pane.
func (m *Model) rulesKey(msg tea.KeyPressMsg) tea.Cmd {
	nav, k, v := &m.keys.Nav, &m.keys.Rules, &m.rulesPane
	page := max(m.listRows()-1, 1)
	switch {
	case matches(msg, m.keys.Detail.Back), matches(msg, k.Open):
		m.closeRules()
	case matches(msg, nav.Up):
		v.move(-1)
	case matches(msg, nav.Down):
		v.move(1)
	case matches(msg, nav.PageUp):
		v.move(-page)
	case matches(msg, nav.PageDown):
		v.move(page)
	case matches(msg, nav.Top):
		v.cursor = 0
	case matches(msg, nav.Bottom):
		v.cursor = len(v.rules) - 1
		v.clamp()
	case matches(msg, k.Add):
		m.openAddRule()
	case matches(msg, k.Toggle):
		m.changeRule(func(rs Rules, i int) (string, error) {
			on := !v.rules[i].Enabled
			if err := rs.Toggle(i); err != nil {
				return "", err
			}
			if on {
				return "rule " + strconv.Itoa(i+1) + " is on: it applies to new exchanges", nil
			}
			return "rule " + strconv.Itoa(i+1) + " is off: new exchanges skip it", nil
		})
	case matches(msg, k.Delete):
		m.changeRule(func(rs Rules, i int) (string, error) {
			text := v.rules[i].Text
			if err := rs.Delete(i); err != nil {
				return "", err
			}
			return "deleted rule " + strconv.Itoa(i+1) + ": " + text, nil
		})
	case matches(msg, k.MoveUp), matches(msg, k.MoveDown):
		delta := 1
		if matches(msg, k.MoveUp) {
			delta = -1
		}
		m.changeRule(func(rs Rules, i int) (string, error) {
			to := i + delta
			if to < 0 || to >= len(v.rules) {
				return "", nil // at the end already
			}
			if err := rs.Move(i, delta); err != nil {
				return "", err
			}
			v.cursor = to
			return "moved rule " + strconv.Itoa(i+1) + " to " + strconv.Itoa(to+1) + ": rules are tried in order", nil
		})
	case matches(msg, k.Intercept):
		m.openIntercept()
	case matches(msg, m.keys.Help):
		m.openHelp()
	}
	return nil
}

// changeRule runs change on the selected rule, then reads the rules again
// and says what changed (or what went wrong).
func (m *Model) changeRule(change func(rs Rules, i int) (string, error)) {
	if len(m.rulesPane.rules) == 0 {
		m.setStatus("there are no rules yet: "+m.keys.Rules.Add.Help().Key+" adds one", false)
		return
	}
	said, err := change(m.cfg.Rules, m.rulesPane.cursor)
	m.refreshRules()
	switch {
	case err != nil:
		m.setStatus("rules: "+err.Error(), true)
	case said != "":
		m.setStatus(said, false)
	}
}

// openAddRule asks for a rule, checked as it is typed; enter adds it last.
func (m *Model) openAddRule() {
	rs := m.cfg.Rules
	k := &m.keys.Input
	in := newInput("", &m.keys.Edit)
	in.Focus()
	m.pushDialog(&ruleDialog{ctx: &m.ctx, keys: &m.keys, title: "Add a rule", label: ruleSyntax, input: in,
		notes:  []string{ruleExamples, ruleMatcherNote},
		footer: k.Accept.Help().Key + " add · " + k.Cancel.Help().Key + " cancel",
		check:  rs.Check,
		apply: func(text string) error {
			if strings.TrimSpace(text) == "" {
				return nil
			}
			if err := rs.Add(text); err != nil {
				return err
			}
			m.refreshRules()
			n := len(m.rulesPane.rules)
			m.rulesPane.cursor = n - 1
			m.setStatus("added rule "+strconv.Itoa(n)+": "+m.rulesPane.rules[n-1].Text+" (it applies to new exchanges)", false)
			return nil
		}})
}

// openIntercept asks for the intercept's filter expression, the current
// one to start from; enter sets it, or clears it when empty.
func (m *Model) openIntercept() {
	rs := m.cfg.Rules
	k := &m.keys.Input
	in := newInput("", &m.keys.Edit)
	if r := m.interceptRule(); r != nil {
		in.SetValue(r.Match)
	}
	in.Focus()
	h := m.keys.Holds
	m.pushDialog(&ruleDialog{ctx: &m.ctx, keys: &m.keys, title: "Intercept",
		label: "Hold the exchanges that match this filter (empty: stop intercepting)", input: in,
		notes: []string{
			"e.g. method:POST holds requests before the upstream is called; status:5xx holds responses before the client gets them",
			"Held exchanges show ⏸ in the list: " + h.Resume.Help().Key + " resumes, " + h.Edit.Help().Key + " edits, " + h.Abort.Help().Key + " aborts. The rule is named " + InterceptRule + " in the rules pane (R).",
		},
		footer: k.Accept.Help().Key + " set · " + k.Cancel.Help().Key + " cancel",
		check: func(expr string) error {
			if strings.TrimSpace(expr) == "" {
				return nil
			}
			return rs.CheckIntercept(expr)
		},
		apply: func(expr string) error {
			if strings.TrimSpace(expr) == "" {
				if m.interceptRule() == nil {
					m.setStatus("no intercept is set", false)
					return nil
				}
				if err := rs.ClearIntercept(); err != nil {
					return err
				}
				m.refreshRules()
				m.setStatus("intercept cleared: exchanges are no longer held by it", false)
				return nil
			}
			if err := rs.SetIntercept(expr); err != nil {
				return err
			}
			m.refreshRules()
			text := ""
			if r := m.interceptRule(); r != nil {
				text = r.Text
			}
			m.setStatus("intercepting: "+text+" · "+h.Resume.Help().Key+" resumes a held exchange", false)
			return nil
		}})
}

// ruleDialog asks for a rule or an intercept expression. check runs as
// the text changes and its error shows under the input, with a caret at
// its column, as the filter shows its errors; enter runs apply, and an
// error from it keeps the dialog open with the error shown.
type ruleDialog struct {
	ctx          *uiContext
	keys         *KeyMap
	title, label string
	notes        []string
	footer       string
	input        lineInput
	check        func(string) error
	apply        func(string) error
	err          error
}

func (d *ruleDialog) Update(msg tea.Msg) (tea.Cmd, bool) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, d.keys.Input.Accept):
			if err := d.apply(d.input.Value()); err != nil {
				d.err = err
				return nil, false
			}
			d.input.Blur()
			return nil, true
		case matches(k, d.keys.Input.Cancel):
			d.input.Blur()
			return nil, true
		}
	}
	switch msg.(type) {
	case tea.KeyPressMsg, tea.PasteMsg:
		if d.input.Update(msg) {
			d.err = nil
			if v := d.input.Value(); d.check != nil && strings.TrimSpace(v) != "" {
				d.err = d.check(v)
			}
		}
	}
	return nil, false
}

func (d *ruleDialog) Render(width, _ int) string {
	st := d.ctx.st
	inner := boxWidth(96, width)
	st.styleInput(&d.input)
	d.input.SetWidth(inner)
	body := []string{st.bold.Render(truncate(d.label, inner)), d.input.View()}
	switch {
	case d.err != nil:
		var re *RuleError
		if errors.As(d.err, &re) && re.Col > 0 {
			if x, ok := d.input.cellOf(re.Col - 1); ok {
				body = append(body, strings.Repeat(" ", x)+st.inputErr.Render("^"))
			}
		}
		for _, l := range wrapProse("✗ "+sanitizeLine(d.err.Error()), inner, 2) {
			body = append(body, st.inputErr.Render(l))
		}
	case strings.TrimSpace(d.input.Value()) != "" && d.check != nil:
		body = append(body, st.ok.Render("✓ "+d.keys.Input.Accept.Help().Key+" applies it"))
	default:
		body = append(body, "")
	}
	for _, n := range d.notes {
		body = append(body, "")
		for _, l := range wrapProse(n, inner, 2) {
			body = append(body, st.muted.Render(l))
		}
	}
	return frame(st, d.title, body, d.footer, inner)
}
