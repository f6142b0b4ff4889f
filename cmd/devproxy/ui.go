package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
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
