package main

import (
	"context"
	"fmt"
	"strings"

	_ "github.com/devproxy/devproxy/internal/codec" // br and zstd bodies in the UI and HAR
	"github.com/devproxy/devproxy/internal/tui"
)

// uiHints are the banner lines the UI header does not already show.
func (s *session) uiHints() []string {
	var out []string
	for i, l := range s.banner {
		if i == 0 && (strings.HasPrefix(l, "devproxy serve:") || strings.HasPrefix(l, "devproxy relay:") || strings.HasPrefix(l, "devproxy agent:")) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func init() {
	runUI = func(ctx context.Context, s *session) error {
		// What the headless log would say goes to stderr; the UI's alternate
		// screen hides it while running and it is there again after quitting.
		for _, line := range s.banner {
			fmt.Fprintln(s.stderr, line)
		}
		var rp tui.Replayer
		if r, ok := s.replayer.(tui.Replayer); ok && r != nil {
			rp = r
		}
		return tui.Run(ctx, tui.Config{
			Recorder:  s.rec,
			Role:      string(s.role),
			Listen:    s.listen,
			Target:    s.target,
			Replayer:  rp,
			Version:   version,
			Redact:    s.out.redact,
			ExportDir: ".",
			Status:    s.status,
			Hints:     s.uiHints(),
		})
	}
}
