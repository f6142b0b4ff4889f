// Package match is devproxy's one matcher language: the filter the UI and
// `devproxy replay --filter` read, and what rules and searches will read.
// It lexes and parses an expression against one table of keys (each with
// how its value parses, the phase of an exchange it needs, and how it
// evaluates), and evaluates it against a recorded exchange. It has no
// clock of its own and decodes no bodies itself: the time an in-flight
// exchange's duration runs to, and the decoder for keys that search
// bodies, come in an Env.
package match

import (
	"fmt"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/suggest"
)

// Matcher selects exchanges; see Parse for the language. A Matcher is
// immutable once parsed and safe for concurrent use.
type Matcher struct {
	root node
}

// Error is an expression that does not parse. It names the bad token and
// where it starts.
type Error struct {
	Token string // the token as written, e.g. `status:abc`
	Pos   int    // byte offset of the token in the expression
	Msg   string // what is wrong and what would be right
	// inMsg is set when Msg names the token itself, as it does for a
	// parenthesis or an or.
	inMsg bool
}

// Error is "filter: TOKEN: what is wrong", or "filter: what is wrong" when
// that names the token.
func (e *Error) Error() string {
	if e.Token == "" || e.inMsg {
		return "filter: " + e.Msg
	}
	return fmt.Sprintf("filter: %s: %s", e.Token, e.Msg)
}

// Phase is how far an exchange must have got for a matcher to judge it.
type Phase uint8

// Phases, in order.
const (
	// PhaseRequest: the request line and headers are enough (method:,
	// host:, path:, replay).
	PhaseRequest Phase = iota + 1
	// PhaseResponse: the response, or the exchange's end, is needed too.
	PhaseResponse
)

func (p Phase) String() string {
	if p == PhaseRequest {
		return "request"
	}
	return "response"
}

// Decoder undoes a body's Content-Encoding for the keys that search
// bodies; body.Decoder implements it.
type Decoder interface {
	Body(b record.Body, h record.Fields, alreadyDecoded bool) (data []byte, note string, partial bool, err error)
}

// Env is what evaluation needs besides the exchange.
type Env struct {
	// Now is the time an in-flight exchange's duration runs to (dur:).
	Now time.Time
	// Bodies decodes bodies for free text and body: (see NeedsBodies);
	// nil searches them as captured. A body that does not decode is
	// searched as captured.
	Bodies Decoder
}

// Parse compiles an expression. Errors are *Error and name the bad token.
//
// An expression is a list of terms separated by spaces; an exchange must
// match every term (AND). "or" (or "|"), between terms, separates
// alternatives, of which an exchange must match one; AND binds tighter, so
// "a b or c" is "(a b) or c". Parentheses group: a "(" at the start of a
// word opens a group, a ")" at the end of one closes it. A term or a group
// starting with "-" is negated. Values may be quoted ("a b", with \" and
// \\ escapes); a term that starts with a quote is always free text, so
// "or", "(a" and "a)" are searched for as text when quoted.
//
//	text            URL, header names and values ("name: value" too), request and response
//	                bodies contain text (case-insensitive; bodies are decoded
//	                from their Content-Encoding)
//	method:GET      the method (case-insensitive); a list GET,POST means either
//	status:404      the status the client saw; also 5xx, >=400, <500, 200-299
//	                and lists (404,5xx); a shorter number is a prefix
//	                (status:4 is 4xx, status:50 is 500-509). Exchanges still
//	                waiting for a response have no status and never match.
//	host:api        the host contains api; with * ? or [..] a glob on the
//	                host (with or without its port)
//	path:/api       the URL path starts with /api; with * ? or [..] a glob in
//	                path.Match syntax whose * also crosses "/"
//	header:name     a request or response header (or trailer) is present
//	header:n=value  ... and its value contains value (case-insensitive)
//	body:text       the request or response body contains text
//	dur:>200ms      the duration (so far, when in flight) compares; a bare
//	                number is milliseconds, no operator means >=
//	size:>1mb       the response body size (b, kb, mb, gb; 1024-based)
//	                compares, or for an upgraded exchange the bytes both
//	                ways; no operator means >=
//	type:json       the response Content-Type contains json (for an upgraded
//	                exchange, also its Upgrade protocol: type:websocket)
//	rpc:Echo/Unary  a gRPC, gRPC-Web or Connect call whose "pkg.Service/Method"
//	                contains Echo/Unary (case-insensitive), or with * ? or [..]
//	                a glob matching it or "Service/Method" whole (rpc:*/Get*)
//	grpc-status:NOT_FOUND
//	                the call's gRPC status, by name (any case, NotFound too)
//	                or number, or a list (NOT_FOUND,INTERNAL); from trailers,
//	                a trailers-only response, a gRPC-Web trailer frame or a
//	                Connect end of stream. Calls without a status never match.
//	route:api       the route that took the request (serve's routes) contains
//	                api, or a glob matches it
//	upstream:3001   the upstream that answered (or the URL the request was
//	                sent to) contains 3001, or a glob matches it
//	cache:hit       the cache's verdict: hit, miss, stale, revalidated, bypass
//	rule:flaky      a rule of that name (text it contains, or a glob) fired
//	error           the exchange failed (any error, including a client that
//	                went away)
//	replay          the exchange is a replay of another
//	retried         the exchange took more than one attempt
//	limited         a rate limit refused the request
//	modified        a rule changed the request or the response
//	mocked          a rule answered without calling the upstream
//	faulted         a rule injected a fault (delay, status, reset, …)
//	grpc            the exchange is a gRPC, gRPC-Web or Connect call
//
// An empty expression matches everything.
func Parse(s string) (*Matcher, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := parser{s: s, toks: toks}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Matcher{root: root}, nil
}

// Match reports whether x passes. A nil Matcher matches all.
func (m *Matcher) Match(x *record.Exchange, env Env) bool {
	return m == nil || m.root.match(x, &env)
}

// Empty reports whether the matcher has no terms (and so matches all).
func (m *Matcher) Empty() bool {
	return m == nil || m.root.kind == nodeAnd && len(m.root.kids) == 0
}

// Phase is the latest phase any term needs: PhaseRequest when the request
// alone decides (and for an empty matcher), PhaseResponse otherwise. An
// or of a request term and a response term needs the response.
func (m *Matcher) Phase() Phase {
	if m != nil && m.root.any(func(t *term) bool { return t.key.phase == PhaseResponse }) {
		return PhaseResponse
	}
	return PhaseRequest
}

// NeedsBodies reports whether evaluating reads bodies (free text, body:),
// so a caller knows when Env.Bodies matters and when bodies must be at
// hand.
func (m *Matcher) NeedsBodies() bool {
	return m != nil && m.root.any(func(t *term) bool { return t.key.bodies })
}

// Uses reports whether the expression has a term with one of the keys
// named ("route", "error"; free text is ""), so that a caller that cannot
// evaluate some keys can refuse them.
func (m *Matcher) Uses(names ...string) (string, bool) {
	var found string
	ok := m != nil && m.root.any(func(t *term) bool {
		for _, n := range names {
			if t.key.name == n && (n != "" || t.key.form == formText) {
				found = n
				return true
			}
		}
		return false
	})
	return found, ok
}

// String returns the expression in canonical form: parsing it again yields
// an equivalent Matcher, and the same canonical form. Spellings of one
// expression share it as far as grouping goes: "(a) -(-b)" is "a b", and
// an or is written "or".
func (m *Matcher) String() string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	m.root.write(&b, false)
	return b.String()
}

// write appends the term in canonical form, without its negation.
func (t *term) write(b *strings.Builder) {
	switch t.key.form {
	case formText:
		b.WriteString(quote(t.raw, true))
	case formWord:
		b.WriteString(t.key.name)
	default:
		b.WriteString(t.key.name)
		b.WriteByte(':')
		b.WriteString(quote(t.raw, false))
	}
}

// term is one parsed token: its key, and the value as that key parsed it.
type term struct {
	key *key
	raw string // the value as given, for String

	text    string   // lower-cased needle (text, body, type, host, header value)
	methods []string // upper-cased
	spans   []span   // status alternatives
	glob    string   // host or path glob; "" for a plain match
	name    string   // header name
	hasVal  bool     // header:name=value
	op      cmpOp
	n       int64 // size in bytes, duration in ns
	codes   []int // gRPC status alternatives
}

func parseTerm(tk token) (term, error) {
	bad := func(msg string, args ...any) error {
		return &Error{Token: tk.raw, Pos: tk.pos, Msg: fmt.Sprintf(msg, args...)}
	}
	t := term{raw: tk.value}
	if !tk.hasKey {
		t.key = textKey
		if !tk.quoted {
			if k := lookup(formWord, tk.value); k != nil {
				t.key = k
				return t, nil
			}
		}
		t.text = strings.ToLower(tk.value)
		return t, nil
	}
	name := strings.ToLower(tk.key)
	k := lookup(formKeyed, name)
	if k == nil {
		// A colon in ordinary text ("http://x", "localhost:3000", "a:1") is
		// text; an unknown word key is most likely a typo.
		if tk.key == "" || !isWord(tk.key) || tk.value == "" || strings.HasPrefix(tk.value, "/") || isDigit(tk.value[0]) {
			t.key = textKey
			t.raw = tk.key + ":" + tk.value
			t.text = strings.ToLower(t.raw)
			return t, nil
		}
		hint := ""
		if best, ok := suggest.Nearest(strings.ToLower(tk.key), Keys()); ok {
			hint = "; did you mean " + best + ":?"
		}
		return t, bad("unknown key %q%s; keys are %s (quote the token to search for it as text)", tk.key, hint, strings.Join(Keys(), ", "))
	}
	t.key = k
	if tk.value == "" {
		return t, bad("%s: needs a value", name)
	}
	if msg := k.parse(&t, tk.value); msg != "" {
		if strings.Contains(tk.value, "|") {
			msg += `; put spaces around "|" to mean or`
		}
		return t, bad("%s", msg)
	}
	return t, nil
}
