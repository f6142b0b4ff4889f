package main

import (
	"context"
	"fmt"

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
			Role:      string(s.role),
			Listen:    s.listen,
			Target:    s.target,
			Replayer:  rp,
			Version:   version,
			Redact:    s.out.redact,
			ExportDir: ".",
			Status:    s.status,
			Hints:     s.hints,
		})
	}
}
