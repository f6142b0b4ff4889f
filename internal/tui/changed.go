package tui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
)

// The detail shows what rules changed as a diff under the request line
// (what went upstream, Request.Sent, against what the client sent) and
// under the status line (what the upstream answered, Response.Upstream,
// against what the client got): "−" lines are the old, "+" lines the new.
// Bodies are not kept twice; the rules' marks say when one changed.

// changedRequest adds the "Changed before sending" section, when rules
// changed the request.
func (b *builder) changedRequest(x *record.Exchange) {
	r := &x.Request
	bodies := bodyChanges(x, "request")
	if r.Sent == nil && len(bodies) == 0 {
		return
	}
	b.blank()
	b.section("Changed before sending (rules)")
	if s := r.Sent; s != nil {
		if old := requestTarget(r.URL); s.Method != r.Method || s.URL != old {
			b.diffLine(false, r.Method+" "+old)
			b.diffLine(true, s.Method+" "+s.URL)
		}
		b.headerDiff(withoutHop(r.Header), withoutHop(s.Header))
	}
	b.bodyChanges(bodies, x)
	b.ind = 0
}

// changedResponse adds the "Changed before the client got it" section,
// when rules changed the response.
func (b *builder) changedResponse(x *record.Exchange) {
	resp := x.Response
	bodies := bodyChanges(x, "response")
	if resp.Upstream == nil && len(bodies) == 0 {
		return
	}
	b.blank()
	b.section("Changed before the client got it (rules)")
	if up := resp.Upstream; up != nil {
		if up.Status != resp.Status {
			b.diffLine(false, statusText(up.Status))
			b.diffLine(true, statusText(resp.Status))
		}
		b.headerDiff(up.Header, resp.Header)
	}
	b.bodyChanges(bodies, x)
	b.ind = 0
}

// statusText is "404 Not Found".
func statusText(code int) string {
	return strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code))
}

// requestTarget is the path and query of an absolute URL, as a request
// line has them.
func requestTarget(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return raw
	}
	return u.RequestURI()
}

// withoutHop leaves out the headers of one hop (record.HopHeader), which
// devproxy sets or drops for its own hop whatever the rules do.
func withoutHop(fs record.Fields) record.Fields {
	out := make(record.Fields, 0, len(fs))
	for _, f := range fs {
		if !record.HopHeader(f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// headerDiff adds a name's old lines ("−") and new lines ("+") for every
// name whose values differ between old and new, in the order the names
// first appear.
func (b *builder) headerDiff(old, new record.Fields) {
	var names []string
	seen := map[string]bool{}
	for _, f := range slices.Concat(old, new) {
		if k := http.CanonicalHeaderKey(f.Name); !seen[k] {
			seen[k] = true
			names = append(names, k)
		}
	}
	for _, k := range names {
		ov, nv := old.Values(k), new.Values(k)
		if slices.Equal(ov, nv) {
			continue
		}
		for _, v := range ov {
			b.diffLine(false, k+": "+v)
		}
		for _, v := range nv {
			b.diffLine(true, k+": "+v)
		}
	}
}

// diffLine adds one line of a diff: "− text" in the error colour, or
// "+ text" in the success colour, wrapped to the width.
func (b *builder) diffLine(added bool, text string) {
	sign, style := "− ", b.st.err.Bold(false)
	if added {
		sign, style = "+ ", b.st.ok
	}
	pre, suf := affixes(style)
	for _, l := range wrapPlain(sign+sanitizeLine(text), b.w(), 2) {
		b.add(pre+l+suf, l)
	}
}

// bodyChanges are the values of the marks of the replace rules that
// changed a body on side ("request" or "response").
func bodyChanges(x *record.Exchange, side string) []string {
	var out []string
	for _, m := range x.Marks {
		if m.Stage == "rules" && m.Name == "replace" && strings.HasPrefix(m.Value, side+" body: ") && !strings.Contains(m.Value, ": 0 replacements") {
			out = append(out, m.Value)
		}
	}
	return out
}

// bodyChanges says a body changed, and by which rules: the marks hold the
// rules that fired, not which of them changed the body, so more than one
// are named together.
func (b *builder) bodyChanges(changes []string, x *record.Exchange) {
	if len(changes) == 0 {
		return
	}
	var rules []string
	for _, m := range x.Marks {
		if m.Stage == "rules" && m.Name == "rule" && !slices.Contains(rules, m.Value) {
			rules = append(rules, m.Value)
		}
	}
	by := "by rule " + strings.Join(rules, ", ")
	if len(rules) > 1 {
		by = "by one of rules " + strings.Join(rules, ", ")
	}
	if len(rules) == 0 {
		by = "by a rule"
	}
	b.note("± body changed " + by + " (" + strings.Join(changes, "; ") + ")")
}
