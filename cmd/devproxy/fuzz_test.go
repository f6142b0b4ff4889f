package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/viper"
)

// FuzzConfig feeds arbitrary text through the path `serve --config FILE`
// takes: viper reads the file, loadConfig checks its keys and sets the
// flags, and serveOptionsFrom validates the typed options. Nothing may
// panic, and an error must say where the problem is: the file, or the flag
// or key it set.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"target: http://localhost:3000\nlisten: 127.0.0.1:7000\n",
		"idle-timeout: 30s\nread-header-timeout: 3s\nmax-exchanges: 50\n",
		"serve:\n  listen: 127.0.0.1:7001\n  target: http://localhost:3000\n",
		"target: http://x\nmax-body-capture: 10MiB\nmax-capture-total: 1GiB\n",
		"target: http://x\nmax-body-capture: 1e99\n",
		"target: http://x\nmax-body-capture: .nan\n",
		"target: http://x\nmax-capture-total: 1KiB\n",
		"taget: http://x\n",
		"serve:\n  lisen: x\n",
		"serve: 3\n",
		"listen: [\n",
		"tls: perhaps\n",
		"target: [a, b]\n",
		"target: {a: 1}\n",
		"backends:\n  - id: app\n    pathPrefixes: [/]\n",
		"address: 127.0.0.1:1\ntarget: http://x\n",
		"a: &x [*x]\n",
		"max-exchanges: 99999999999999999999999\ntarget: http://x\n",
		"target: http://x\nlog-format: xml\nhar-redact: some\n",
		"\"\": 1\n",
		"serve.listen: 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, rest, err := newRootCmd().Find([]string{"serve", "--config", path})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatal(err)
		}
		err = loadConfig(viper.New(), cmd)
		if err == nil {
			// Certificate files would be read; a fuzzer must not name
			// /dev/zero and hang.
			for _, name := range []string{"cert", "key"} {
				if v, _ := cmd.Flags().GetString(name); v != "" {
					return
				}
			}
			_, err = serveOptionsFrom(cmd, true)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.Contains(msg, path) && !strings.Contains(msg, "--") {
			t.Errorf("error %q names neither the file nor a flag", msg)
		}
		if !utf8.ValidString(data) {
			return
		}
		if strings.TrimSpace(msg) == "" || strings.HasSuffix(msg, ": ") {
			t.Errorf("error %q does not say what is wrong", msg)
		}
	})
}
