package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// complete runs cobra's __complete, as the shells' scripts do, and returns
// the candidates (without descriptions) and the directive line.
func complete(t *testing.T, args ...string) (values []string, directive string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %v: %v\n%s", args, err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		values = append(values, v)
	}
	return values, lines[len(lines)-1]
}

func TestShellCompletionOfFlagValues(t *testing.T) {
	const (
		noFiles   = ":4" // ShellCompDirectiveNoFileComp
		anyFile   = ":0" // ShellCompDirectiveDefault
		filterExt = ":8" // ShellCompDirectiveFilterFileExt
		dirs      = ":16"
	)
	for _, tt := range []struct {
		args      []string
		want      string // the candidates, joined with spaces
		directive string
	}{
		{[]string{"serve", "--har-redact", ""}, "default strict none", noFiles},
		{[]string{"export", "x.db", "--har-redact", ""}, "default strict none", noFiles},
		{[]string{"demo", "--session-redact", ""}, "default strict none", noFiles},
		{[]string{"view", "--log-format", ""}, "text json", noFiles},
		{[]string{"agent", "--transport", ""}, "tunnel websocket poll auto", noFiles},
		{[]string{"serve", "--grpc-reflection", ""}, "on off", noFiles},
		{[]string{"serve", "--har", ""}, "har", filterExt},
		{[]string{"relay", "--session", ""}, "db", filterExt},
		{[]string{"--config", ""}, "yaml yml json toml", filterExt},
		{[]string{"replay", "--config", ""}, "yaml yml json toml", filterExt},
		{[]string{"serve", "--proto", ""}, "proto", filterExt},
		{[]string{"serve", "--descriptor-set", ""}, "", anyFile},
		{[]string{"serve", "--cert", ""}, "", anyFile},
		{[]string{"relay", "--key", ""}, "", anyFile},
		{[]string{"serve", "--ca", ""}, "", anyFile},
		{[]string{"agent", "--proxy-ca", ""}, "", anyFile},
		{[]string{"relay", "--state-dir", ""}, "", dirs},
		// A URL or an address is not a file name.
		{[]string{"serve", "--target", ""}, "", noFiles},
		{[]string{"serve", "--listen", ""}, "", noFiles},
		{[]string{"replay", "x.har", "--filter", ""}, "", noFiles},
	} {
		values, directive := complete(t, tt.args...)
		if got := strings.Join(values, " "); got != tt.want || directive != tt.directive {
			t.Errorf("devproxy %s<TAB> offers %q %s; want %q %s", strings.Join(tt.args, " "), got, directive, tt.want, tt.directive)
		}
	}
}

// TestCompletedValuesAreAccepted: what completion offers, the flag takes.
func TestCompletedValuesAreAccepted(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	serve, _, err := newRootCmd().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(flag string, read func(*cobra.Command) error) {
		for _, v := range flagValues[flag] {
			v, _, _ := strings.Cut(v, "\t")
			err := serve.Flags().Set(flag, v)
			if err == nil {
				err = read(serve)
			}
			if err != nil {
				t.Errorf("--%s %s: %v", flag, v, err)
			}
		}
	}
	output := func(c *cobra.Command) error { _, err := outputFrom(c); return err }
	check("har-redact", output)
	check("log-format", output)
	check("session-redact", func(c *cobra.Command) error { _, err := sessionFrom(c); return err })
	check("grpc-reflection", func(*cobra.Command) error { return nil }) // Set parses it
}
