package tui

import (
	"net/url"

	"github.com/devproxy/devproxy/internal/record"
)

// The list's upstream column: when the exchanges came from more than one
// upstream of the routes (serve with several targets, a pool that retried
// elsewhere), a row names the one that answered it, as its "upstream"
// mark says.

// upstreamMark is the upstream that answered x, as the engine marked it,
// or "".
func upstreamMark(x *record.Exchange) string {
	for i := len(x.Marks) - 1; i >= 0; i-- {
		if m := &x.Marks[i]; m.Stage == "route" && m.Name == "upstream" {
			return m.Value
		}
	}
	return ""
}

// isHealthCheck reports whether x is a route's active health check,
// recorded by serve --show-health.
func isHealthCheck(x *record.Exchange) bool {
	for i := range x.Marks {
		if m := &x.Marks[i]; m.Stage == "route" && m.Name == "health" {
			return true
		}
	}
	return false
}

// upstreamCounts counts exchanges by the upstream that answered them;
// exchanges without one are not counted.
type upstreamCounts map[string]int

// add counts n more (or, negative, fewer) exchanges answered by name.
func (u upstreamCounts) add(name string, n int) {
	if name == "" {
		return
	}
	if u[name] += n; u[name] <= 0 {
		delete(u, name)
	}
}

// upstreamLayout is how the list shows upstreams: width is the column's
// (0: hidden), host the host name every upstream shares, left out so that
// a row shows ":3001" rather than "127.0.0.1:3001". raw shows names whole,
// for upstreams that are not plain URLs or that only their paths tell
// apart.
type upstreamLayout struct {
	width int
	host  string
	raw   bool
}

// Limits of the upstream column's width.
const (
	colUpMin = len("UPSTREAM")
	colUpMax = 22
)

// layout is the column for the upstreams counted: hidden unless there are
// two or more.
func (u upstreamCounts) layout() upstreamLayout {
	if len(u) < 2 {
		return upstreamLayout{}
	}
	var l upstreamLayout
	for name := range u {
		p, err := url.Parse(name)
		if err != nil || p.Port() == "" || (l.host != "" && p.Hostname() != l.host) {
			l.host = ""
			break
		}
		l.host = p.Hostname()
	}
	seen := make(map[string]bool, len(u))
	for name := range u {
		s := l.label(name)
		if seen[s] {
			l.raw, l.host = true, ""
			break
		}
		seen[s] = true
	}
	l.width = colUpMin
	for name := range u {
		l.width = max(l.width, min(cellWidth(l.label(name)), colUpMax))
	}
	return l
}

// label is how the column shows upstream name: host:port of a URL, or
// ":port" when every upstream is on host; anything else whole.
func (l upstreamLayout) label(name string) string {
	if l.raw {
		return sanitizeLine(name)
	}
	p, err := url.Parse(name)
	if err != nil || p.Host == "" {
		return sanitizeLine(name)
	}
	if l.host != "" && p.Hostname() == l.host && p.Port() != "" {
		return ":" + p.Port()
	}
	return sanitizeLine(p.Host)
}
