package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseListen(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"8091", "127.0.0.1:8091"},
		{":8091", "127.0.0.1:8091"},
		{" 8091 ", "127.0.0.1:8091"},
		{"0", "127.0.0.1:0"},
		{"127.0.0.1:8091", "127.0.0.1:8091"},
		{"localhost:8091", "localhost:8091"},
		{"0.0.0.0:8091", "0.0.0.0:8091"},
		{"[::]:8091", "[::]:8091"},
		{"[::1]:0", "[::1]:0"},
	} {
		got, err := parseListen(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseListen(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ in, says string }{
		{"", "is empty"},
		{"127.0.0.1", `has no port, e.g. 127.0.0.1:8080`},
		{"localhost:", `has no port, e.g. localhost:8080`},
		{"http://127.0.0.1:8080/", "without http://, e.g. 127.0.0.1:8080"},
		{"::1:8080", "in brackets, e.g. [::1]:8080"},
		{"127.0.0.1:65536", "not a number from 0 to 65535"},
		{"127.0.0.1:http", "not a number from 0 to 65535"},
		{"99999", "port 99999 is not a number from 0 to 65535"},
		{"a:b:c", "in brackets"},
	} {
		_, err := parseListen(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("parseListen(%q): %v; want an error saying %q", tt.in, err, tt.says)
		}
	}
}

// TestBarePortListensOnLoopback runs the roles with a port alone, from the
// flag and from the config file: each listens on 127.0.0.1 and says so.
func TestBarePortListensOnLoopback(t *testing.T) {
	isolate(t)
	loopback := regexp.MustCompile(`^http://127\.0\.0\.1:[1-9][0-9]*$`)
	for name, args := range map[string][]string{
		"serve --listen 0":   {"serve", "--target", "http://127.0.0.1:1", "--no-tui", "--no-session", "--listen", "0"},
		"demo --listen :0":   {"demo", "--no-tui", "--no-session", "--listen", ":0"},
		"relay, listen: 0":   {"relay", "--config", writeConfig(t, "listen: 0\n"), "--state-dir", t.TempDir(), "--no-tui", "--no-session"},
		"$DEVPROXY_LISTEN":   {"serve", "--target", "http://127.0.0.1:1", "--no-tui", "--no-session"},
		"--address alias :0": {"serve", "--target", "http://127.0.0.1:1", "--no-tui", "--no-session", "--address", ":0"},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "$DEVPROXY_LISTEN" {
				t.Setenv("DEVPROXY_LISTEN", "0")
			}
			r := runRole(t, args...)
			url := r.out.waitMatch(t, listeningRE)
			if !loopback.MatchString(url) {
				t.Errorf("listens on %s; want http://127.0.0.1:PORT", url)
			}
		})
	}
}

func TestBadListenNamesItsSource(t *testing.T) {
	isolate(t)
	_, err := runCmd(t, "serve", "--target", "http://127.0.0.1:1", "--no-tui", "--no-session", "--listen", "127.0.0.1")
	if err == nil || !strings.HasPrefix(err.Error(), `--listen "127.0.0.1" has no port`) {
		t.Errorf("--listen 127.0.0.1: %v", err)
	}
	t.Setenv("DEVPROXY_LISTEN", "http://localhost:9090")
	_, err = runCmd(t, "serve", "--target", "http://127.0.0.1:1", "--no-tui", "--no-session")
	if err == nil || !strings.HasPrefix(err.Error(), `$DEVPROXY_LISTEN "http://localhost:9090": give host:port without http://, e.g. localhost:9090`) {
		t.Errorf("$DEVPROXY_LISTEN: %v", err)
	}
}
