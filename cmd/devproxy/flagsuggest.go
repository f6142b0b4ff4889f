package main

import (
	"fmt"
	"strings"

	"github.com/devproxy/devproxy/internal/suggest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// suggestFlag is every command's flag error handler: an unknown flag gets
// the closest flag the command has, as unknown commands and config keys
// get theirs, and the pointer to --help.
func suggestFlag(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return fmt.Errorf("%w; '%s --help' lists its flags", err, cmd.CommandPath())
	}
	name, _, _ = strings.Cut(name, "=")
	var known []string
	seen := map[string]bool{}
	add := func(f *pflag.Flag) {
		if !f.Hidden && !seen[f.Name] {
			seen[f.Name] = true
			known = append(known, f.Name)
		}
	}
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	if best, ok := suggest.Nearest(name, known); ok {
		return fmt.Errorf("%s (did you mean --%s?); '%s --help' lists its flags", msg, best, cmd.CommandPath())
	}
	return fmt.Errorf("%w; '%s --help' lists its flags", err, cmd.CommandPath())
}
