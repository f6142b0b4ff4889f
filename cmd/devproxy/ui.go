package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/rules"
	"github.com/devproxy/devproxy/internal/tui"
)

func init() {
	runUI = func(ctx context.Context, s *roleRun) error {
		// What the headless log would say goes to stderr; the UI's alternate
		// screen hides it while running and it is there again after quitting.
		if s.banner != "" {
			fmt.Fprintln(s.stderr, s.banner)
		}
		for _, line := range s.hints {
			fmt.Fprintln(s.stderr, line)
		}
		return tui.Run(ctx, uiConfig(s))
	}
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
		// With --har the exchanges are written on exit, with a named or
		// kept session they are in it; view's are in its file already.
		SavedOnExit:   s.out.har != "" || s.role == record.RoleView,
		SelfSignedTLS: s.selfSignedTLS,
		Events:        s.events,
	}
	if s.holds != nil {
		cfg.Holds = uiHolds{s.holds}
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
