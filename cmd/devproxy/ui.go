package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/rules"
	"github.com/devproxy/devproxy/internal/tui"
)

func init() {
	runUI = func(ctx context.Context, s *roleRun) error {
		// The banner and the hints are the UI's (its header bar, the empty
		// list, the event log): printed before it, they would still be on
		// the terminal after it, about a proxy that is gone. What stays is
		// one line on what the run recorded; where it was saved follows
		// (the session's and --har's lines).
		t, err := runTUI(ctx, uiConfig(s))
		if line := uiSummary(s, t); line != "" {
			fmt.Fprintln(s.stderr, line)
		}
		for _, h := range s.hints {
			// A new admin token is shown once: the terminal keeps it.
			if strings.HasPrefix(h, adminTokenHint) {
				fmt.Fprintln(s.stderr, "devproxy: "+h)
			}
		}
		return err
	}
}

// runTUI runs the terminal UI; tests stand in for it.
var runTUI = tui.Run

// adminTokenHint begins the relay's hint with the admin token it made.
const adminTokenHint = "admin token (shown once"

// uiSummary is the line printed when the UI of s ends, having listed t:
// "devproxy demo: stopped; 9 exchanges recorded (0 failed · 1 4xx · 2
// 5xx)", and where they are when nothing else says so. view records
// nothing: it has no line.
func uiSummary(s *roleRun, t tui.Tally) string {
	if s.role == record.RoleView {
		return ""
	}
	n := t.Exchanges
	if s.rec != nil {
		n = int(s.rec.Stats().Total)
	}
	line := fmt.Sprintf("devproxy %s: stopped; %d %s recorded", uiRole(s), n, plural(n, "exchange", "exchanges"))
	if n > 0 {
		line += " (" + t.Classes() + ")"
	}
	if n > 0 && s.session == nil && s.out.har == "" {
		line += "; not saved (--har FILE or --session FILE keeps them)"
	}
	return line
}

// uiConfig is what the UI is told about the run s.
func uiConfig(s *roleRun) tui.Config {
	var rp tui.Replayer
	if r, ok := s.replayer.(tui.Replayer); ok && r != nil {
		rp = r
	}
	src := tui.RecorderSource(s.rec)
	if rs := s.session; rs != nil {
		// Every exchange the session holds is listed, the recorder's
		// memory holding the recent ones.
		live := newLiveSource(s.rec, rs.store)
		evicted := live.evicted
		rs.onEvict.Store(&evicted)
		src = live
	}
	if v, ok := s.source.(tui.Source); ok && v != nil {
		src = v
	}
	cfg := tui.Config{
		Source:    src,
		Role:      uiRole(s),
		Listen:    s.listen,
		ListenNow: s.listenNow,
		Target:    s.target,
		Replayer:  rp,
		Version:   version,
		Redact:    s.out.redact,
		ExportDir: ".",
		Status:    s.uiStatus,
		Hints:     s.hints,
		HintsNow:  s.hintsNow,
		// With --har the exchanges are written on exit, with a named or
		// kept session they are in it; view's are in its file already.
		SavedOnExit:   s.out.har != "" || s.role == record.RoleView,
		SelfSignedTLS: s.selfSignedTLS,
		Events:        s.events,
		Schemas:       s.grpc.schemas,
		SchemaFiles:   s.grpc.files,
	}
	if s.grpc.changed != nil {
		cfg.SchemaChanged = s.grpc.changed
	}
	if s.holds != nil {
		cfg.Holds = uiHolds{s.holds}
	}
	if s.rules != nil {
		cfg.Rules = &uiRules{set: s.rules}
	}
	if rs := s.session; rs != nil {
		if !rs.temp || rs.keep.Load() {
			cfg.SavedOnExit = true
		} else {
			cfg.TempSession = rs.path
			cfg.KeepSession = func() { rs.keep.Store(true) }
		}
	}
	return cfg
}

// uiStatus is the extra text of the UI header: the role's own (agents,
// tunnel state) and the session's, when it has something to say.
func (s *roleRun) uiStatus() string {
	var parts []string
	if s.status != nil {
		if t := s.status(); t != "" {
			parts = append(parts, t)
		}
	}
	if t := s.sessionStatus(); t != "" {
		parts = append(parts, t)
	}
	return strings.Join(parts, " · ")
}

// uiRole is what the UI header calls the run: the command's name for the
// demo (which runs the serve role), else the role.
func uiRole(s *roleRun) string {
	if s.name == "demo" {
		return s.name
	}
	return string(s.role)
}

// uiHolds is the rule engine's holds as the UI sees them.
type uiHolds struct{ h *rules.Holds }

// List is the held exchanges, oldest first.
func (u uiHolds) List() []tui.Held {
	list := u.h.List()
	out := make([]tui.Held, len(list))
	for i, h := range list {
		out[i] = tui.Held{ID: h.ID, Phase: h.Phase, Rule: h.Rule, Since: h.Since, Deadline: h.Deadline,
			Method: h.Method, URL: h.URL, Status: h.Status, BodyEditable: h.BodyEditable, Note: h.Note, Text: h.Text}
	}
	return out
}

// Changed receives a value when the held exchanges change.
func (u uiHolds) Changed() <-chan struct{} { return u.h.Changed() }

// Resume lets held exchange id go on, as raw when it is not "".
func (u uiHolds) Resume(id uint64, raw string) error { return u.h.Resume(id, raw) }

// ResumeAll lets every held exchange go on unchanged.
func (u uiHolds) ResumeAll() { u.h.ResumeAll() }

// Abort ends held exchange id with a 502.
func (u uiHolds) Abort(id uint64) error { return u.h.Abort(id) }

// uiRules is the role's rule Set as the UI edits it: each change reads
// the rules, changes the copy and swaps it in (Set.Replace), under mu so
// that two changes do not lose one another.
type uiRules struct {
	mu  sync.Mutex
	set *rules.Set
}

// List is the rules in the order they are tried.
func (u *uiRules) List() []tui.RuleInfo {
	rs := u.set.Rules()
	out := make([]tui.RuleInfo, len(rs))
	for i, r := range rs {
		m := r.Match
		if strings.TrimSpace(m) == "" {
			m = "*"
		}
		out[i] = tui.RuleInfo{Text: r.String(), Name: r.Name, Match: m, Enabled: r.Enabled}
	}
	return out
}

// Check parses text as a rule.
func (u *uiRules) Check(text string) error {
	_, err := rules.Parse(text)
	return uiRuleError(err)
}

// Add parses text and appends the rule.
func (u *uiRules) Add(text string) error {
	r, err := rules.Parse(text)
	if err != nil {
		return uiRuleError(err)
	}
	return u.change(func(rs []rules.Rule) ([]rules.Rule, error) { return append(rs, r), nil })
}

// Toggle switches rule i on or off.
func (u *uiRules) Toggle(i int) error {
	return u.change(func(rs []rules.Rule) ([]rules.Rule, error) {
		if err := checkIndex(i, len(rs)); err != nil {
			return nil, err
		}
		rs[i].Enabled = !rs[i].Enabled
		return rs, nil
	})
}

// Delete removes rule i.
func (u *uiRules) Delete(i int) error {
	return u.change(func(rs []rules.Rule) ([]rules.Rule, error) {
		if err := checkIndex(i, len(rs)); err != nil {
			return nil, err
		}
		return slices.Delete(rs, i, i+1), nil
	})
}

// Move moves rule i delta places, stopping at either end.
func (u *uiRules) Move(i, delta int) error {
	return u.change(func(rs []rules.Rule) ([]rules.Rule, error) {
		if err := checkIndex(i, len(rs)); err != nil {
			return nil, err
		}
		to := min(max(i+delta, 0), len(rs)-1)
		r := rs[i]
		rs = slices.Delete(rs, i, i+1)
		return slices.Insert(rs, to, r), nil
	})
}

// CheckIntercept parses expr as the intercept's matcher.
func (u *uiRules) CheckIntercept(expr string) error {
	_, err := interceptRule(expr)
	return uiRuleError(err)
}

// SetIntercept makes expr the intercept rule's matcher, switched on: in
// the intercept's place, or last (so it holds what the rules before it
// made of the exchange, as mitmproxy's intercept sees what its other
// addons did).
func (u *uiRules) SetIntercept(expr string) error {
	r, err := interceptRule(expr)
	if err != nil {
		return uiRuleError(err)
	}
	return u.change(func(rs []rules.Rule) ([]rules.Rule, error) {
		if i := slices.IndexFunc(rs, isIntercept); i >= 0 {
			rs[i] = r
			return rs, nil
		}
		return append(rs, r), nil
	})
}

// ClearIntercept removes the intercept rule, if any.
func (u *uiRules) ClearIntercept() error {
	return u.change(func(rs []rules.Rule) ([]rules.Rule, error) {
		return slices.DeleteFunc(rs, isIntercept), nil
	})
}

// change applies edit to a copy of the rules and swaps the result in.
func (u *uiRules) change(edit func([]rules.Rule) ([]rules.Rule, error)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	rs, err := edit(u.set.Rules())
	if err != nil {
		return err
	}
	return uiRuleError(u.set.Replace(rs))
}

// isIntercept reports whether r is the rule the UI's intercept sets.
func isIntercept(r rules.Rule) bool { return r.Name == tui.InterceptRule }

// interceptRule is the intercept for filter expression expr: "EXPR =>
// breakpoint request", or "breakpoint response" when expr needs the
// response (status:, dur: …), named tui.InterceptRule. Errors are
// *rules.Error with columns in expr.
func interceptRule(expr string) (rules.Rule, error) {
	if strings.TrimSpace(expr) == "" {
		return rules.Rule{}, &rules.Error{Pos: -1, Msg: "the intercept is empty: write a filter expression, e.g. method:POST (* holds every exchange)"}
	}
	if i := strings.Index(expr, "=>"); i >= 0 {
		return rules.Rule{}, &rules.Error{Pos: i, Col: len([]rune(expr[:i])) + 1,
			Msg: `the intercept is a filter expression only, e.g. method:POST; to add a rule with actions, use the rules pane (R)`}
	}
	if t := strings.TrimSpace(expr); t != "*" {
		// The filter's own errors first: a rule's would be about the
		// rule around it (an unclosed quote hides its "=>").
		var me *match.Error
		if _, err := match.Parse(expr); errors.As(err, &me) {
			pos := min(max(me.Pos, 0), len(expr))
			return rules.Rule{}, &rules.Error{Pos: pos, Col: len([]rune(expr[:pos])) + 1, Msg: strings.TrimPrefix(me.Error(), "filter: ")}
		}
	}
	// A response breakpoint may follow any matcher, so this parse judges
	// the matcher alone; a matcher the request decides holds the request.
	r, err := rules.Parse(expr + " => breakpoint response")
	if err != nil {
		return rules.Rule{}, err
	}
	if r.Matcher().Phase() == match.PhaseRequest {
		if r, err = rules.Parse(expr + " => breakpoint request"); err != nil {
			return rules.Rule{}, err
		}
	}
	r.Name = tui.InterceptRule
	return r, nil
}

// checkIndex says when i is not a rule of n.
func checkIndex(i, n int) error {
	if i < 0 || i >= n {
		return fmt.Errorf("there is no rule %d (there are %d)", i+1, n)
	}
	return nil
}

// uiRuleError is err as the UI shows it: a *rules.Error becomes a
// *tui.RuleError with its column.
func uiRuleError(err error) error {
	var e *rules.Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Pos < 0 {
		return &tui.RuleError{Msg: e.Error()}
	}
	msg := e.Msg
	if e.Rule != "" {
		msg = e.Rule + ": " + msg
	}
	return &tui.RuleError{Col: e.Col, Msg: msg}
}
