package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/tui"
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

	// The sections after the commands, in order.
	at := 0
	for _, sec := range []string{"KEYS", "FILTER LANGUAGE", "ENVIRONMENT", "FILES", "EXIT STATUS"} {
		i := strings.Index(page, "\n.SH "+sec+"\n")
		if i < at {
			t.Errorf("man page lacks section %s after the commands (or has it out of order)", sec)
			continue
		}
		at = i
	}
	// Every key of the UI's key table, under its heading.
	rows := keyRows(tui.DefaultKeyMap().Markdown())
	if len(rows) < 30 {
		t.Fatalf("read %d rows of the UI's key table; the table's format changed?", len(rows))
	}
	keys := manSection(page, "KEYS")
	for _, r := range rows {
		want := ".SS " + manEscape(r.where) + "\n"
		if !strings.Contains(keys, want) {
			t.Errorf("KEYS lacks the heading %q", want)
		}
		want = ".TP\n\\fB" + manEscape(strings.Join(r.keys, ", ")) + "\\fP\n" + manEscape(r.action) + "\n"
		if !strings.Contains(keys, want) {
			t.Errorf("KEYS lacks %q", want)
		}
	}
	// Every filter key and word.
	filter := manSection(page, "FILTER LANGUAGE")
	for _, k := range match.Keys() {
		if !strings.Contains(filter, ".TP\n\\fB"+manEscape(k)+":\\fP\n") || filterKeys[k] == "" {
			t.Errorf("FILTER LANGUAGE lacks key %s: add it to filterKeys", k)
		}
	}
	for _, w := range filterWords {
		if !strings.Contains(filter, ".TP\n\\fB"+w[0]+"\\fP\n") {
			t.Errorf("FILTER LANGUAGE lacks word %s", w[0])
		}
	}
	env := manSection(page, "ENVIRONMENT")
	for _, v := range []string{"DEVPROXY_TARGET", "DEVPROXY_TOKEN", "DEVPROXY_ADMIN_TOKEN", "DEVPROXY_LISTEN", "DEVPROXY_CONFIG", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "EDITOR", "PAGER", "NO_COLOR"} {
		if !strings.Contains(env, manEscape(v)) {
			t.Errorf("ENVIRONMENT lacks %s", v)
		}
	}
	files := manSection(page, "FILES")
	for _, f := range []string{"config.yaml", "sessions/", "backends.json", "after 7 days"} {
		if !strings.Contains(files, f) {
			t.Errorf("FILES lacks %s", f)
		}
	}
	exit := manSection(page, "EXIT STATUS")
	for _, code := range []string{"0", "1", "2", "130"} {
		if !strings.Contains(exit, ".TP\n\\fB"+code+"\\fP\n") {
			t.Errorf("EXIT STATUS lacks %s", code)
		}
	}

	// Hidden flags (replay's --no-tui and --log-format, accepted and
	// unused) are not on the page.
	replay := page[strings.Index(page, "\\fBreplay\\fP"):strings.Index(page, "\\fBrules\\fP")]
	for _, hidden := range []string{"no\\-tui", "log\\-format"} {
		if strings.Contains(replay, "\\fB\\-\\-"+hidden+"\\fP") {
			t.Errorf("replay's part of the page lists its hidden --%s", strings.ReplaceAll(hidden, "\\", ""))
		}
	}
}

// manSection is the text of section name of page, up to the next.
func manSection(page, name string) string {
	_, s, ok := strings.Cut(page, "\n.SH "+name+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(s, "\n.SH "); i >= 0 {
		s = s[:i+1]
	}
	return s
}

// TestFilterHelpParses: the man page's filter examples parse, each as a
// term of its key, and its words are words, not text to search for.
func TestFilterHelpParses(t *testing.T) {
	for k, help := range filterKeys {
		examples, _, ok := strings.Cut(help, " \u2014 ")
		if !ok {
			t.Errorf("filterKeys[%s] = %q: want examples \u2014 meaning", k, help)
			continue
		}
		for _, ex := range strings.Split(examples, ", ") {
			m, err := match.Parse(ex)
			if err != nil {
				t.Errorf("%s: %v", ex, err)
				continue
			}
			if _, ok := m.Uses(k); !ok {
				t.Errorf("%s does not parse as a %s: term", ex, k)
			}
		}
	}
	for _, w := range filterWords {
		m, err := match.Parse(w[0])
		if err != nil {
			t.Errorf("%s: %v", w[0], err)
			continue
		}
		if _, ok := m.Uses(w[0]); !ok {
			t.Errorf("%s parses as text to search for, not as the word", w[0])
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
