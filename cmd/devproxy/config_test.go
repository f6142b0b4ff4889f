package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// prepare parses args for a subcommand and runs the config loading that
// PersistentPreRunE does, without running the command.
func prepare(t *testing.T, args ...string) (*cobra.Command, error) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // never read the developer's own config
	t.Setenv("XDG_STATE_HOME", t.TempDir())  // temporary sessions go there
	root := newRootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return cmd, err
	}
	return cmd, loadConfig(viper.New(), cmd)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "idle-timeout: 30s\nread-header-timeout: 3s\nmax-exchanges: 50\nlisten: 127.0.0.1:7000\n")
	t.Setenv("DEVPROXY_READ_HEADER_TIMEOUT", "4s")
	t.Setenv("DEVPROXY_MAX_EXCHANGES", "60")
	cmd, err := prepare(t, "serve", "--config", file, "--max-exchanges", "70")
	if err != nil {
		t.Fatal(err)
	}
	fs := cmd.Flags()
	check := func(name, want, source string) {
		t.Helper()
		if got := fs.Lookup(name).Value.String(); got != want {
			t.Errorf("%s = %s, want %s (from %s)", name, got, want, source)
		}
	}
	check("max-exchanges", "70", "flag beats env and file")
	check("read-header-timeout", (4 * time.Second).String(), "env beats file")
	check("idle-timeout", (30 * time.Second).String(), "file beats default")
	check("shutdown-timeout", (5 * time.Second).String(), "default")
	check("listen", "127.0.0.1:7000", "file")
	if src := flagSource(cmd, "read-header-timeout"); src != "$DEVPROXY_READ_HEADER_TIMEOUT" {
		t.Errorf("source %q", src)
	}
}

func TestConfigSectionOverridesTopLevel(t *testing.T) {
	file := writeConfig(t, "listen: 127.0.0.1:7000\nserve:\n  listen: 127.0.0.1:7001\n  target: http://localhost:3000\n")
	cmd, err := prepare(t, "serve", "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("listen").Value.String(); got != "127.0.0.1:7001" {
		t.Errorf("listen = %s, want the serve section's value", got)
	}
	if got, _ := cmd.Flags().GetStringArray("target"); len(got) != 1 || got[0] != "http://localhost:3000" {
		t.Errorf("target = %q", got)
	}
}

func TestConfigXDGDefaultLocation(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "devproxy"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "devproxy", "config.yaml"), []byte("max-exchanges: 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	cmd, rest, _ := root.Find([]string{"serve"})
	_ = cmd.ParseFlags(rest)
	t.Setenv("XDG_CONFIG_HOME", dir)
	if err := loadConfig(viper.New(), cmd); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("max-exchanges").Value.String(); got != "42" {
		t.Errorf("max-exchanges = %s, want 42 from $XDG_CONFIG_HOME/devproxy/config.yaml", got)
	}
}

func TestAddressAlias(t *testing.T) {
	cmd, err := prepare(t, "serve", "--address", "127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("listen").Value.String(); got != "127.0.0.1:9999" {
		t.Errorf("listen = %s", got)
	}
}

func TestBadConfigErrors(t *testing.T) {
	cases := []struct {
		name   string
		config string
		env    map[string]string
		args   []string
		want   []string
	}{
		{name: "unknown key", config: "taget: http://x\n", want: []string{`unknown key "taget"`, `did you mean "target"?`}},
		{name: "unknown key in section", config: "serve:\n  lisen: x\n", want: []string{`unknown key "serve.lisen"`, `"listen"`}},
		{name: "bad duration in file", config: "idle-timeout: soon\n", want: []string{"config file", "idle-timeout", `"soon"`, "duration such as"}},
		{name: "bad number in env", env: map[string]string{"DEVPROXY_MAX_EXCHANGES": "lots"}, want: []string{"$DEVPROXY_MAX_EXCHANGES", `"lots"`, "whole number"}},
		{name: "bad size in env", env: map[string]string{"DEVPROXY_MAX_BODY_CAPTURE": "big"}, want: []string{"$DEVPROXY_MAX_BODY_CAPTURE", "size such as"}},
		{name: "bad bool", config: "tls: perhaps\n", want: []string{"tls", `"perhaps"`, "true or false"}},
		{name: "not yaml", config: "listen: [\n", want: []string{"config file"}},
		{name: "section not a map", config: "serve: 3\n", want: []string{`"serve" must be a map`}},
		{name: "missing explicit file", args: []string{"--config", "/nonexistent/devproxy.yaml"}, want: []string{"--config /nonexistent/devproxy.yaml", "no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"serve"}
			if tc.config != "" {
				args = append(args, "--config", writeConfig(t, tc.config))
			}
			args = append(args, tc.args...)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := prepare(t, args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--target", "localhost:3000"}, `"localhost:3000" has no scheme; did you mean http://localhost:3000?`},
		{[]string{"serve"}, "--target is required"},
		{[]string{"serve", "--target", "ftp://x"}, `scheme "ftp" is not supported`},
		{[]string{"serve", "--target", "http://"}, "has no host"},
		{[]string{"serve", "--target", "http://u:p@x"}, "contains credentials"},
		{[]string{"serve", "--target", "http://x", "--log-format", "xml"}, `--log-format "xml": must be text or json`},
		{[]string{"serve", "--target", "http://x", "--har-redact", "some"}, "must be default, strict or none"},
		{[]string{"serve", "--target", "http://x", "--listen", "127.0.0.1"}, `--listen "127.0.0.1" has no port, e.g. 127.0.0.1:8080`},
		{[]string{"serve", "--target", "http://x", "--cert", "a.pem"}, "--cert and --key go together"},
		{[]string{"serve", "--target", "http://x", "--max-capture-total", "1KiB"}, "is smaller than"},
		{[]string{"serve", "--target", "http://x", "--max-exchanges", "0"}, "keep at least 1"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, err := prepare(t, tc.args...)
			if err == nil {
				_, err = serveOptionsFrom(cmd, true)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTargetFromEnvNamesEnvInError(t *testing.T) {
	t.Setenv("DEVPROXY_TARGET", "localhost:3000")
	cmd, err := prepare(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = serveOptionsFrom(cmd, true)
	if err == nil || !strings.HasPrefix(err.Error(), `$DEVPROXY_TARGET "localhost:3000" has no scheme`) {
		t.Errorf("error %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "64KiB": 64 << 10, "1mb": 1 << 20, "1.5M": 3 << 19, "2g": 2 << 30, "0": 0, "10b": 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1 TB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func writeFile(p, body string) error { return os.WriteFile(p, []byte(body), 0o600) }

// TestDefaultConfigPathNotADirectory: a file where the default config
// directory would be is not an error (nothing was asked for).
func TestDefaultConfigPathNotADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "devproxy"), []byte("a binary, say"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	cmd, rest, _ := root.Find([]string{"serve"})
	_ = cmd.ParseFlags(rest)
	t.Setenv("XDG_CONFIG_HOME", dir)
	if err := loadConfig(viper.New(), cmd); err != nil {
		t.Fatalf("implicit config location: %v", err)
	}
	t.Setenv("DEVPROXY_CONFIG", filepath.Join(dir, "devproxy", "config.yaml"))
	if err := loadConfig(viper.New(), cmd); err == nil || !strings.HasPrefix(err.Error(), "$DEVPROXY_CONFIG") {
		t.Errorf("explicit $DEVPROXY_CONFIG: %v", err)
	}
}
