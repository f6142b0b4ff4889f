package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestManPage(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // never read the developer's own config
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"man"})
	if err := root.Execute(); err != nil {
		t.Fatalf("devproxy man: %v\n%s", err, out.String())
	}
	page := out.String()

	const header = `.TH DEVPROXY 1 "2023-11-14" "devproxy" `
	if !strings.HasPrefix(page, header) {
		first, _, _ := strings.Cut(page, "\n")
		t.Fatalf("first line = %q, want prefix %q (date from SOURCE_DATE_EPOCH)", first, header)
	}
	for _, want := range []string{
		".SH NAME\ndevproxy \\- See and shape HTTP traffic",
		".SH SYNOPSIS",
		".SH DESCRIPTION",
		".SH OPTIONS",
		".SH COMMANDS",
		"\\fBserve\\fP \\-\\-target URL\n", // the subcommand and its usage line
		"\\fB\\-\\-target\\fP\n",           // its flag, as ASCII minus signs
		"\\fBversion\\fP\n",
		"\\fBcompletion\\fP\n",
		"\\fBEXAMPLES\\fP",
		".nf\n  devproxy serve \\-\\-target http://localhost:3000\n", // examples kept verbatim
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	for _, hidden := range []string{"\\fBman\\fP", "\\fBhelp\\fP"} {
		if strings.Contains(page, hidden) {
			t.Errorf("man page lists %s", hidden)
		}
	}
	for i, l := range strings.Split(page, "\n") {
		if l == "" && i < strings.Count(page, "\n") {
			t.Errorf("line %d is empty; some roff renderers break on empty lines", i+1)
		}
	}
}

func TestManBlocks(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []manBlock
	}{
		{"one line", "Print the version", []manBlock{{lines: []string{"Print the version"}}}},
		{
			"wrapped paragraphs",
			"shows every\nrequest as it happens.\n\nReplay any request.",
			[]manBlock{{lines: []string{"shows every", "request as it happens."}}, {lines: []string{"Replay any request."}}},
		},
		{
			"prose then examples",
			"It proxies.\n\n  devproxy demo      try it\n  devproxy serve    use it\n",
			[]manBlock{
				{lines: []string{"It proxies."}},
				{lines: []string{"  devproxy demo      try it", "  devproxy serve    use it"}, verbatim: true},
			},
		},
		{
			"examples only, trailing spaces trimmed",
			"  devproxy demo  \n\tdevproxy serve",
			[]manBlock{{lines: []string{"  devproxy demo", "\tdevproxy serve"}, verbatim: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := manBlocks(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("manBlocks(%q) =\n%#v\nwant\n%#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestManEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"--target URL", `\-\-target URL`},
		{`C:\dir`, `C:\edir`},
		{".config is read", `\&.config is read`},
		{"'quoted'", `\&'quoted'`},
		{"~/.config/devproxy", "~/.config/devproxy"},
	}
	for _, tt := range tests {
		if got := manEscape(tt.in); got != tt.want {
			t.Errorf("manEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
