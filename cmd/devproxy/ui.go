package main

import (
	"context"
	"fmt"

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
		var rp tui.Replayer
		if r, ok := s.replayer.(tui.Replayer); ok && r != nil {
			rp = r
		}
		return tui.Run(ctx, tui.Config{
			Source:    tui.RecorderSource(s.rec),
			Role:      uiRole(s),
			Listen:    s.listen,
			Target:    s.target,
			Replayer:  rp,
			Version:   version,
			Redact:    s.out.redact,
			ExportDir: ".",
			Status:    s.status,
			Hints:     s.hints,
			// With --har the exchanges are written on exit; view's are in
			// its file already.
			SavedOnExit:   s.out.har != "" || s.role == record.RoleView,
			SelfSignedTLS: s.selfSignedTLS,
			Events:        s.events,
		})
	}
}

// uiRole is what the UI header calls the run: the command's name for the
// demo (which runs the serve role), else the role.
func uiRole(s *roleRun) string {
	if s.name == "demo" {
		return s.name
	}
	return string(s.role)
}
