package main

// The sections of devproxy(1) after the commands: the UI's keys, the filter
// language, the environment, the files and the exit status. Each is built
// from what the program uses (the UI's key map, the filter's keys, the
// flags, the paths the code computes) so that the page cannot drift from
// the binary; the prose around them is here.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/regstore"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// writeManSections writes the sections that follow the commands, in the
// order man pages put them.
func writeManSections(m *manRoff, root *cobra.Command) {
	manKeys(m, tui.DefaultKeyMap().Markdown())
	manFilter(m)
	manEnvironment(m, root)
	manFiles(m)
	manExitStatus(m)
}

// manKeys writes the UI's keys from the key table the README and the ?
// help share (tui.KeyMap.Markdown): a subsection per place, a tagged
// paragraph per binding.
func manKeys(m *manRoff, table string) {
	m.Section("Keys")
	m.Text("The terminal UI's keys, as its help (?) lists them. The footer shows the most useful ones for where you are.")
	where := ""
	for _, r := range keyRows(table) {
		if r.where != where {
			where = r.where
			m.subsection(where)
		}
		m.item(strings.Join(r.keys, ", "), r.action)
	}
}

// keyRow is one row of the key table.
type keyRow struct {
	where  string
	keys   []string
	action string
}

var keyCode = regexp.MustCompile("`((?:[^`\\\\]|\\\\.)*)`")

// keyRows reads the rows of tui.KeyMap.Markdown's table: "| Where |
// `k` `up` | action |", a "|" inside a key escaped as "\|".
func keyRows(table string) []keyRow {
	var rows []keyRow
	for _, l := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if len(cells) != 3 || !strings.HasPrefix(cells[1], "`") {
			continue // the header, its rule, the end
		}
		r := keyRow{where: cells[0], action: cells[2]}
		for _, k := range keyCode.FindAllStringSubmatch(cells[1], -1) {
			r.keys = append(r.keys, strings.ReplaceAll(k[1], `\|`, "|"))
		}
		rows = append(rows, r)
	}
	return rows
}

// filterKeys say what each key of the filter language matches, with
// examples; a key match.Keys lists and this map lacks fails TestManPage.
var filterKeys = map[string]string{
	"method":      "method:POST, method:get,post \u2014 the method; a comma list means any of them",
	"status":      "status:404, status:5xx, status:4, status:>=400, status:400-499, status:404,5xx \u2014 the status: a shorter number is a prefix, an operator (> >= < <= = !=) compares, a-b is a range, a comma list means any of them",
	"host":        "host:api, host:*.example.com \u2014 the host contains the text, or the glob (* ? [...]) matches it with or without the port",
	"path":        "path:/v1, path:/v1/*/items \u2014 the path starts with the text, or the glob matches it (* crosses /)",
	"header":      "header:x-request-id, header:content-type=json \u2014 a request or response header is present, or its value contains the text",
	"body":        "body:needle \u2014 the request or response body, decoded, contains the text",
	"dur":         "dur:>200ms, dur:<1.5s, dur:500 \u2014 the duration compares (no operator means >=; a bare number is milliseconds)",
	"size":        "size:>1MB, size:<=512, size:10kb \u2014 the response body size compares (b kb mb gb, 1024-based; no operator means >=)",
	"type":        "type:json, type:websocket \u2014 the response content type, or the protocol upgraded to, contains the text",
	"rpc":         "rpc:Echo/Unary, rpc:*/Get* \u2014 a gRPC call whose package.Service/Method contains the text, or the glob matches it or Service/Method",
	"grpc-status": "grpc-status:NOT_FOUND, grpc-status:5, grpc-status:unavailable,internal \u2014 the call's gRPC status, by name (any case) or number; a comma list means any of them",
	"route":       "route:api \u2014 the route that took the exchange (text it contains, or a glob)",
	"upstream":    "upstream:3001, upstream:*:300? \u2014 the upstream that answered (text it contains, or a glob)",
	"rule":        "rule:flaky \u2014 a rule of that name fired",
	"cache":       "cache:hit \u2014 the cache's verdict: hit, miss, stale, revalidated or bypass",
}

// filterWords are the terms that are a word alone; TestManPage checks that
// each parses as itself, not as text to search for.
var filterWords = [][2]string{
	{"error", "the exchange failed: no response"},
	{"replay", "a replay"},
	{"retried", "took more than one attempt"},
	{"limited", "refused by a rate limit"},
	{"modified", "a rule changed it"},
	{"mocked", "a rule answered it"},
	{"faulted", "a rule injected a fault"},
	{"grpc", "a gRPC, gRPC-Web or Connect call"},
}

// manFilter writes the filter language: the syntax, every key of
// match.Keys, the words, and examples.
func manFilter(m *manRoff) {
	m.Section("Filter language")
	m.Text(`The UI's filter (/) and intercept (i), --rule matchers, and the --filter of replay and export take one language.

Words match the URL, headers and bodies, case-insensitively. Terms side by side must all match (AND); "or" or "|" between terms means either, and AND binds tighter ("a b or c" is "(a b) or c"); parentheses group; "-" negates a term or a group. Values with spaces go in quotes, and so does text that would read as syntax ("or", "fn()").`)
	for _, k := range match.Keys() {
		m.item(k+":", filterKeys[k])
	}
	for _, w := range filterWords {
		m.item(w[0], w[1])
	}
	m.Paragraph()
	m.Text(`For a range of durations or sizes use two terms. Examples:

  status:5xx -path:/health
  method:POST host:api or error
  (status:404 | status:500) path:/v1/*
  size:>=1kb size:<1mb type:json`)
}

// manEnvironment writes the variables devproxy reads: one per flag
// (listed from the command tree), the config and state locations, and
// the few others.
func manEnvironment(m *manRoff, root *cobra.Command) {
	m.Section("Environment")
	m.item("DEVPROXY_FLAG", fmt.Sprintf(
		"Every flag, in capitals with _ for -: %s for --target. A flag beats the environment, which beats the config file, which beats the default. The variables: %s.",
		envName("target"), strings.Join(flagEnvNames(root), ", ")))
	for _, v := range [][2]string{
		{"DEVPROXY_CONFIG", "The config file, as --config."},
		{envName("token") + ", " + envName("admin-token"), "The agent's token and the relay's admin token: set them here rather than on the command line, where other users can read them."},
		{"XDG_CONFIG_HOME", "Where the config file is looked for (see FILES); ~/.config when unset."},
		{"XDG_STATE_HOME", "Where temporary sessions and the relay's state go (see FILES); ~/.local/state when unset."},
		{"EDITOR", "The editor of e (edit and replay) and of breakpoints; vi when unset."},
		{"PAGER", "The pager the UI opens a body in; less when unset."},
		{"NO_COLOR", "When set, the UI draws without colours (bold, faint, underline and reverse video only)."},
		{"HTTPS_PROXY, HTTP_PROXY, NO_PROXY", "agent: the proxy to reach the relay through. Requests to --target never go through one."},
		{"password_env, tokens_env, agentTokenEnv", "Not variables but config keys: route auth and relay backends name the variables their secrets are read from."},
		{"SOURCE_DATE_EPOCH", "The date in this page's header (devproxy man, for reproducible builds)."},
		{"DEVPROXY_CPUPROFILE", "Write a CPU profile of the whole run to this file (for devproxy's developers)."},
	} {
		m.item(v[0], v[1])
	}
}

// flagEnvNames are the DEVPROXY_* names of every flag in the tree, sorted,
// each once: those of hidden flags and of --help, --version and --config
// left out.
func flagEnvNames(root *cobra.Command) []string {
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			switch {
			case f.Hidden, f.Name == "help", f.Name == "version", f.Name == "config":
			default:
				seen[envName(f.Name)] = true
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// manFiles writes where devproxy keeps things, from the paths the code
// uses.
func manFiles(m *manRoff) {
	m.Section("Files")
	m.item("$XDG_CONFIG_HOME/devproxy/config.yaml, else ~/.config/devproxy/config.yaml",
		"The config file, read when present (--config or $DEVPROXY_CONFIG name another; .json and .toml are read as such). Top-level keys are flags for every command that has them; a section named after a command (serve:) applies to it alone; "+configSections()+" are keys of their own.")
	m.item("$XDG_STATE_HOME/devproxy/sessions/ROLE-DATE-TIME-PID.db, else under ~/.local/state",
		fmt.Sprintf("Temporary sessions: each recording role (serve, demo, relay, agent) records into one unless given --session FILE or --no-session, and deletes it on exit unless kept (--keep-session, or k when the UI asks). Those left by a process that did not exit are deleted after %s.", manDays(leftoverMaxAge)))
	m.item("FILE (--session FILE), with FILE-wal, FILE-shm and FILE.lock beside it while in use",
		"A session: SQLite, every exchange with its bodies, kept on exit and continued by the next run. devproxy view, replay and export read it, while another process records into it too.")
	m.item("$XDG_STATE_HOME/devproxy/relay/"+regstore.FileName+" (--state-dir)",
		"The relay's backend registry and the SHA-256 of its admin token; with --registry postgres://… the registry is in PostgreSQL instead.")
	m.item("FILE.har (--har FILE)", "A HAR 1.2 file written on exit, secrets redacted as --har-redact says.")
}

// configSections names the config keys that are not flags ("backends:,
// routes: and rules:").
func configSections() string {
	keys := make([]string, 0, len(extraConfigKeys))
	for k := range extraConfigKeys {
		keys = append(keys, k+":")
	}
	sort.Strings(keys)
	if len(keys) < 2 {
		return strings.Join(keys, "")
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
}

// manDays says d in days ("7 days").
func manDays(d time.Duration) string {
	if n := int(d / (24 * time.Hour)); n > 1 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", n)
	}
	return d.String()
}

// manExitStatus writes the exit codes: exitCode's, replay's exitError
// codes, and the second signal's.
func manExitStatus(m *manRoff) {
	m.Section("Exit status")
	for _, v := range [][2]string{
		{"0", "Done: a command finished, or a role (serve, demo, relay, agent, view) was stopped by q, Ctrl-C or SIGTERM and shut down cleanly. replay: every request sent got the recorded status."},
		{"1", "replay: a status differs from the recording."},
		{"2", "Something went wrong, and the message on standard error says what: a bad flag, config key or value, an address in use, a file that cannot be read, an agent token the relay refuses. replay: a request could not be sent."},
		{"130", "A second Ctrl-C or SIGTERM during the graceful shutdown: devproxy exits at once."},
	} {
		m.item(v[0], v[1])
	}
}
