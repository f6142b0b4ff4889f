package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseSizeUnits(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "10b": 10, "10 B": 10,
		"64KiB": 64 << 10, "64kib": 64 << 10, "64 KiB": 64 << 10, "64KB": 64 << 10, "64k": 64 << 10, "64Ki": 64 << 10,
		"10MiB": 10 << 20, "1mb": 1 << 20, "2g": 2 << 30, "1GiB": 1 << 30,
		"1.5MiB": 3 << 19, "0.5KiB": 512, " 7 ": 7,
		"9223372036854775807":  math.MaxInt64,
		"8589934591GiB":        8589934591 << 30, // the largest whole number of GiB
		"00000000000000000064": 64,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseSizeRejects(t *testing.T) {
	for in, reason := range map[string]string{
		"":                     "not a size",
		"nan":                  "not a size",
		"NaN":                  "not a size",
		"inf":                  "not a size",
		"+Inf":                 "not a size",
		"1e99":                 "not a size",
		"1e3":                  "not a size",
		"1E3KiB":               "not a size",
		"0x10":                 "not a size",
		"1_000":                "not a size",
		"-1":                   "not a size",
		"-0":                   "not a size",
		"+5":                   "not a size",
		"1.5":                  "not a whole number of bytes",
		"0.1KiB":               "not a whole number of bytes",
		"1.":                   "not a size",
		".5MiB":                "not a size",
		"1 TB":                 "not a size",
		"KiB":                  "not a size",
		"5 5":                  "not a size",
		"9223372036854775808":  "too large",
		"8589934592GiB":        "too large",
		"99999999999999999999": "too large",
	} {
		n, err := parseSize(in)
		if err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
			continue
		}
		if !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), "64KiB") {
			t.Errorf("parseSize(%q): %v; want %q and the accepted forms", in, err, reason)
		}
	}
}

// TestBadSizeNamesFlagValueAndForms checks every way a size reaches the
// command: flag, environment and config file all use parseSize.
func TestBadSizeNamesFlagValueAndForms(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		env    string
		config string
		want   []string
	}{
		{name: "flag nan", args: []string{"--max-body-capture", "nan"}, want: []string{"--max-body-capture", `"nan"`, "not a size", "64KiB"}},
		{name: "flag 1e99", args: []string{"--max-body-capture", "1e99"}, want: []string{"--max-body-capture", `"1e99"`, "not a size"}},
		{name: "flag overflow", args: []string{"--max-capture-total", "9999999999GiB"}, want: []string{"--max-capture-total", "too large"}},
		{name: "flag negative", args: []string{"--max-header-bytes=-1"}, want: []string{"--max-header-bytes", `"-1"`, "not a size"}},
		{name: "env nan", env: "nan", want: []string{"$DEVPROXY_MAX_BODY_CAPTURE", `"nan"`, "not a size", "64KiB"}},
		{name: "env inf", env: "Inf", want: []string{"$DEVPROXY_MAX_BODY_CAPTURE", `"Inf"`, "not a size"}},
		{name: "file 1e99", config: "max-body-capture: 1e99\n", want: []string{"config file", "max-body-capture", "not a size"}},
		{name: "file nan", config: "max-body-capture: .nan\n", want: []string{"config file", "max-body-capture", "not a size"}},
		{name: "file fraction", config: "max-body-capture: 1.5\n", want: []string{"config file", "max-body-capture", `"1.5"`, "not a whole number of bytes"}},
		{name: "file overflow", config: "serve:\n  max-body-capture: 9223372036854775808\n", want: []string{"config file", "max-body-capture"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--target", "http://127.0.0.1:1"}, tc.args...)
			if tc.config != "" {
				args = append(args, "--config", writeConfig(t, tc.config))
			}
			if tc.env != "" {
				t.Setenv("DEVPROXY_MAX_BODY_CAPTURE", tc.env)
			}
			cmd, err := prepare(t, args...)
			if err == nil {
				_, err = serveOptionsFrom(cmd, true)
			}
			if err == nil {
				t.Fatalf("accepted; max-body-capture = %d", getSize(cmd, "max-body-capture"))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestGoodSizeFromEnvAndFile(t *testing.T) {
	t.Setenv("DEVPROXY_MAX_BODY_CAPTURE", "10 mib")
	cmd, err := prepare(t, "serve", "--config", writeConfig(t, "max-capture-total: 1GiB\nmax-header-bytes: 2048\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"max-body-capture": 10 << 20, "max-capture-total": 1 << 30, "max-header-bytes": 2048} {
		if got := getSize(cmd, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "512", "64KiB", "64 kb", "10MiB", "1GiB", "1.5MiB", "nan", "1e99", "-1", "9223372036854775807", "8589934591GiB", "0.0001GiB", " 3 b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			if n != 0 {
				t.Errorf("parseSize(%q) = %d with error %v", s, n, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "64KiB") {
				t.Errorf("parseSize(%q): %q does not say what is accepted", s, msg)
			}
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d, negative", s, n)
		}
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Fatalf("parseSize(%q) = %d; formatSize gives %q, which parses to %d, %v", s, n, formatSize(n), back, err)
		}
		// A plain number of bytes means exactly that.
		if i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && i != n {
			t.Fatalf("parseSize(%q) = %d, want %d", s, n, i)
		}
	})
}
