package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/rules"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

func init() { extraConfigKeys["rules"] = true }

// addRuleFlags adds the flags that shape traffic, to every role that
// proxies.
func addRuleFlags(fs *pflag.FlagSet) {
	fs.StringArray("rule", nil, "shape matching traffic: 'MATCHER => ACTION [ARGS] [p=P]', e.g. 'path:/api/* => delay 300ms±100ms' (repeatable; see Shaping traffic in the README; `devproxy rules check` validates a file)")
	fs.Duration("breakpoint-timeout", 5*time.Minute, "a held exchange is resumed unchanged after this long")
}

// rulesFrom reads --rule and the config file's rules:, the command line's
// first.
func rulesFrom(cmd *cobra.Command) ([]rules.Rule, error) {
	texts, _ := cmd.Flags().GetStringArray("rule")
	rs, err := rules.ParseAll(texts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagSource(cmd, "rule"), err)
	}
	if v := configViper(cmd); v != nil && v.IsSet("rules") {
		more, err := rules.Decode(v.Get("rules"))
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", v.ConfigFileUsed(), err)
		}
		rs = append(rs, more...)
	}
	return rs, nil
}

// hasBreakpoint reports whether any rule holds exchanges.
func hasBreakpoint(rs []rules.Rule) bool {
	for _, r := range rs {
		for _, a := range r.Actions {
			if a.Name() == "breakpoint" {
				return true
			}
		}
	}
	return false
}

// rulesStages is the role's rules as engine stages. With the UI there is
// always a rule Set, empty if need be (it costs little), and holds for
// breakpoints, kept on s: the UI adds rules and intercepts while the role
// runs. Headless there is no stage without rules, and a breakpoint, which
// holds exchanges for the UI to resume, is an error.
func (s *roleRun) rulesStages(cmd *cobra.Command) ([]proxy.Stage, error) {
	rs, err := rulesFrom(cmd)
	if err != nil {
		return nil, err
	}
	return s.rulesStagesOf(cmd, rs)
}

// rulesStagesOf is rulesStages for rules rs already read from cmd.
func (s *roleRun) rulesStagesOf(cmd *cobra.Command, rs []rules.Rule) ([]proxy.Stage, error) {
	timeout, _ := cmd.Flags().GetDuration("breakpoint-timeout")
	return s.newRules(rs, s.useTUI(), timeout, flagSource(cmd, "breakpoint-timeout"))
}

// newRules builds the rules stage of rs, for a run with the UI (ui) or
// without; timeout is --breakpoint-timeout, which source names.
func (s *roleRun) newRules(rs []rules.Rule, ui bool, timeout time.Duration, source string) ([]proxy.Stage, error) {
	if !ui && len(rs) == 0 {
		return nil, nil
	}
	o := rules.Options{Logger: s.logger}
	if !ui && hasBreakpoint(rs) {
		return nil, errors.New("a breakpoint rule holds exchanges until you resume them in the UI, and there is no UI (--no-tui, or no terminal): remove the breakpoint rule, or run in a terminal")
	}
	if ui {
		if timeout <= 0 {
			return nil, fmt.Errorf("%s %s: must be positive", source, timeout)
		}
		o.Holds = rules.NewHolds(timeout, s.logger)
		o.Holds.SetBodyCap(s.rec.Limits().MaxBodyCapture)
	}
	set, err := rules.New(rs, o)
	if err != nil {
		return nil, err
	}
	for _, r := range set.Rules() {
		s.logger.Info("rule: " + r.String())
	}
	if ui {
		s.rules, s.holds = set, o.Holds
	}
	return []proxy.Stage{set}, nil
}

// newRulesCmd is `devproxy rules`: tools for rule files.
func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check rule files",
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a rules file (YAML or JSON with a rules: list) and print each rule in normal form",
		Example: `  devproxy rules check rules.yaml
  devproxy rules check ~/.config/devproxy/config.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("%s: %w", path, unwrapPathError(err))
			}
			v := viper.New()
			v.SetConfigFile(path)
			if ext := path[max(0, len(path)-5):]; ext != ".json" && ext != ".toml" && ext != ".yaml" && path[max(0, len(path)-4):] != ".yml" {
				v.SetConfigType("yaml")
			}
			if err := v.ReadInConfig(); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			if !v.IsSet("rules") {
				return fmt.Errorf("%s has no rules: key; write rules: as a list of rules, e.g.\n  rules:\n    - 'path:/api/* => delay 300ms'", path)
			}
			rs, err := rules.Decode(v.Get("rules"))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, r := range rs {
				fmt.Fprintln(cmd.OutOrStdout(), r.String())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d %s, all valid\n", path, len(rs), plural(len(rs), "rule", "rules"))
			return nil
		},
	}
	cmd.AddCommand(check)
	return cmd
}
