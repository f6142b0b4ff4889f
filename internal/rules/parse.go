package rules

import (
	"errors"
	"fmt"
	"github.com/devproxy/devproxy/internal/suggest"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/match"
)

// Error is a rule that does not parse or cannot be used. It names the rule
// (when the caller knows which), where in its text the problem starts, and
// what to do.
type Error struct {
	// Rule names the rule: "rule 2", `rule "flaky"` or "rules[1].do"; empty
	// from Parse, which sees one rule.
	Rule string
	// Pos is the byte offset in the rule's text the problem starts at, or
	// -1 when it is about the rule as a whole.
	Pos int
	// Col is Pos as a 1-based column in characters (0 with Pos -1).
	Col int
	// Msg says what is wrong and what would be right.
	Msg string
}

// Error is "RULE: column N: what is wrong", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Rule != "" {
		b.WriteString(e.Rule)
		b.WriteString(": ")
	}
	if e.Pos >= 0 {
		fmt.Fprintf(&b, "column %d: ", e.Col)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// errAt is an Error at byte offset pos of text.
func errAt(text string, pos int, format string, args ...any) *Error {
	pos = min(max(pos, 0), len(text))
	return &Error{Pos: pos, Col: utf8.RuneCountInString(text[:pos]) + 1, Msg: fmt.Sprintf(format, args...)}
}

// label sets the error's rule name when err is an *Error without one, and
// otherwise prefixes the message with it.
func label(err error, rule string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Rule == "" {
			c.Rule = rule
		} else {
			c.Rule = rule + ": " + c.Rule
		}
		return &c
	}
	return fmt.Errorf("%s: %w", rule, err)
}

// Parse parses one rule written as
//
//	MATCHER => ACTION [ARGS…] [p=P] [; ACTION [ARGS…] [p=P]]…
//
// MATCHER is the filter language (see match.Parse); "*" or nothing selects
// every exchange. Actions are separated by ";"; an argument with spaces, a
// ";" or a quote is quoted ("…", with \" and \\ inside), whole or after
// its "key=" (body="not found"). p=P (0 < P ≤ 1) makes the action fire on
// that share of the exchanges the matcher selects, drawn once per exchange.
// A matcher that needs the response (status:, dur:, response headers…)
// may only trigger response-phase actions. Errors are *Error, with the
// column of the problem. The rule is enabled and has no Name.
func Parse(s string) (Rule, error) {
	sep := findArrow(s)
	if sep < 0 {
		return Rule{}, errAt(s, len(s), `no "=>": a rule is MATCHER => ACTION, e.g. path:/api/* => delay 300ms`)
	}
	r := Rule{Match: strings.TrimSpace(s[:sep]), Enabled: true}
	mpos := sep - len(strings.TrimLeftFunc(s[:sep], unicode.IsSpace))
	m, err := compileMatcher(r.Match)
	if err != nil {
		var me *match.Error
		if errors.As(err, &me) {
			return Rule{}, errAt(s, mpos+me.Pos, "%s", strings.TrimPrefix(me.Error(), "filter: "))
		}
		return Rule{}, errAt(s, mpos, "%s", err.Error())
	}
	r.m = m
	segs, err := splitActions(s, sep+2)
	if err != nil {
		return Rule{}, err
	}
	for _, seg := range segs {
		a, err := parseAction(s, seg)
		if err != nil {
			return Rule{}, err
		}
		r.Actions = append(r.Actions, a)
	}
	if err := r.checkPhases(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// ParseAll parses rules given one per text (repeated --rule flags), naming
// a failing one "rule N".
func ParseAll(texts []string) ([]Rule, error) {
	rules := make([]Rule, 0, len(texts))
	for i, t := range texts {
		r, err := Parse(t)
		if err != nil {
			return nil, label(err, fmt.Sprintf("rule %d", i+1))
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// compileMatcher parses a rule's matcher; "*" and "" select everything.
func compileMatcher(expr string) (*match.Matcher, error) {
	expr = strings.TrimSpace(expr)
	if expr == "*" {
		expr = ""
	}
	m, err := match.Parse(expr)
	if err != nil {
		return nil, err
	}
	if m.NeedsBodies() {
		return nil, errors.New("rules cannot search bodies (free text or body:): they decide before the body has arrived; select with method:, host:, path:, header: or status: (quote text that is not a key)")
	}
	if k, ok := m.Uses(unseenKeys...); ok {
		if strings.Contains(keyedWords, " "+k+" ") {
			k += ":"
		}
		return nil, fmt.Errorf("rules cannot select with %s: what it reads (what other stages or rules did, or the failure) is not known when rules run; select with method, host, path, header or status", k)
	}
	return m, nil
}

// unseenKeys are the filter keys that read what a rule's view of the
// exchange lacks: the marks other stages and rules make, and the error.
var unseenKeys = []string{"route", "upstream", "cache", "rule", "limited", "retried", "error", "modified", "mocked", "faulted"}

// keyedWords are those of unseenKeys written key:value.
const keyedWords = " route upstream cache rule "

// checkPhases refuses request-phase actions under a matcher that needs the
// response.
func (r Rule) checkPhases() error {
	if r.m.Phase() != match.PhaseResponse {
		return nil
	}
	for _, a := range r.Actions {
		if a.Phase() == match.PhaseRequest {
			return &Error{Pos: -1, Msg: fmt.Sprintf("%s needs the response, so it cannot trigger %s (a request-phase action); use a response-phase action (first-byte, truncate, set-header response …) or match on the request", r.m.String(), a.Name())}
		}
	}
	return nil
}

// findArrow returns the offset of the first "=>" outside quotes, or -1.
func findArrow(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '=' && i+1 < len(s) && s[i+1] == '>':
			return i
		}
	}
	return -1
}

// segment is one action's text: s[from:to].
type segment struct{ from, to int }

// splitActions splits s[from:] on ";" outside quotes.
func splitActions(s string, from int) ([]segment, error) {
	var segs []segment
	quoted, qpos, start := false, 0, from
	end := func(i int) error {
		if strings.TrimSpace(s[start:i]) == "" {
			if i == len(s) && len(segs) > 0 {
				return nil // a trailing ";"
			}
			if i == len(s) {
				return errAt(s, i, "no action after \"=>\"; actions are %s", strings.Join(Actions(), ", "))
			}
			return errAt(s, i, `empty action; separate actions with ";", as in "delay 1s; status 503"`)
		}
		segs = append(segs, segment{start, i})
		start = i + 1
		return nil
	}
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted, qpos = !quoted, i
		case !quoted && c == ';':
			if err := end(i); err != nil {
				return nil, err
			}
		}
	}
	if quoted {
		return nil, errAt(s, qpos, `quote not closed; end the value with "`)
	}
	if err := end(len(s)); err != nil {
		return nil, err
	}
	return segs, nil
}

// word is one argument: its text with quotes undone, where it starts, and
// whether it was written starting with p= outside quotes.
type word struct {
	text string
	pos  int
	prob bool
}

// splitWords splits s[seg] into words on spaces outside quotes. Inside
// quotes, \" and \\ are escapes; any other backslash is kept.
func splitWords(s string, seg segment) []word {
	var words []word
	var b strings.Builder
	in, quoted := false, false
	var w word
	for i := seg.from; i < seg.to; i++ {
		c := s[i]
		if !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if in {
				w.text = b.String()
				words = append(words, w)
				b.Reset()
				in = false
			}
			continue
		}
		if !in {
			in, w = true, word{pos: i, prob: strings.HasPrefix(s[i:seg.to], "p=")}
		}
		switch {
		case c == '"':
			quoted = !quoted
		case quoted && c == '\\' && i+1 < seg.to && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	if in {
		w.text = b.String()
		words = append(words, w)
	}
	return words
}

// parseAction parses one action's words through the registry and applies
// its p=.
func parseAction(s string, seg segment) (Action, error) {
	words := splitWords(s, seg)
	name := strings.ToLower(words[0].text)
	parse := lookupAction(name)
	if parse == nil {
		hint := ""
		if best, ok := suggest.Nearest(name, Actions()); ok {
			hint = fmt.Sprintf(" (did you mean %q?)", best)
		}
		return nil, errAt(s, words[0].pos, "unknown action %q%s; actions are %s", words[0].text, hint, strings.Join(Actions(), ", "))
	}
	prob, probPos := 1.0, -1
	var args []string
	for _, w := range words[1:] {
		if !w.prob {
			args = append(args, w.text)
			continue
		}
		if probPos >= 0 {
			return nil, errAt(s, w.pos, "%s: p= given twice; give one probability per action", name)
		}
		p, err := strconv.ParseFloat(strings.TrimPrefix(w.text, "p="), 64)
		if err != nil || !(p > 0 && p <= 1) {
			return nil, errAt(s, w.pos, "%s: %s: a probability is a number above 0 and at most 1, e.g. p=0.3", name, w.text)
		}
		prob, probPos = p, w.pos
	}
	a, err := parse(args)
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, name) {
			msg = name + ": " + msg
		}
		return nil, errAt(s, words[0].pos, "%s", msg)
	}
	if prob < 1 {
		a = &chance{Action: a, p: prob}
	}
	return a, nil
}

// chance is an action with a p= below 1: the Set draws whether it fires.
type chance struct {
	Action
	p float64
}

func (c *chance) Prob() float64 { return c.p }
func (c *chance) String() string {
	return c.Action.String() + " p=" + strconv.FormatFloat(c.p, 'g', -1, 64)
}

// unwrap returns the action without its p=.
func unwrap(a Action) Action {
	if c, ok := a.(*chance); ok {
		return c.Action
	}
	return a
}

// quoteArg writes an action argument so that Parse reads it back as the
// same word: bare when it can be, else quoted whole or, for key=value,
// after the "key=" (body="a b").
func quoteArg(s string) string {
	if k, v, ok := strings.Cut(s, "="); ok && k != "p" && isKey(k) {
		if !needsQuotes(v) || v == "" {
			return s
		}
		return k + "=" + quoteAll(v)
	}
	if s == "" || needsQuotes(s) || strings.HasPrefix(s, "p=") {
		return quoteAll(s)
	}
	return s
}

// isKey reports whether k is a lower-case word (with hyphens) such as
// "body" or "header".
func isKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return true
}

func needsQuotes(s string) bool {
	return strings.ContainsAny(s, " \t\n\r\";")
}

func quoteAll(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// trimFilter is a matcher error's message without match's "filter: ".
func trimFilter(err error) string { return strings.TrimPrefix(err.Error(), "filter: ") }

// joinActions lists the known actions, for messages.
func joinActions() string { return strings.Join(Actions(), ", ") }
