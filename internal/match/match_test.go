package match

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// sampleNow is the clock the samples are matched at.
var sampleNow = time.Date(2026, 3, 4, 10, 5, 0, 0, time.UTC)

// env is how the tests evaluate: at sampleNow, bodies decoded.
var env = Env{Now: sampleNow, Bodies: body.Decoder{}}

// filterSamples are the exchanges the filter tests match against.
func filterSamples() map[string]*record.Exchange {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	return map[string]*record.Exchange{
		"getUsers": {
			ID: 1, State: record.Done, Start: t0, End: t0.Add(120 * time.Millisecond),
			Request: record.Request{
				Method: "GET", URL: "http://localhost:3000/api/users?page=2", Host: "localhost:3000",
				Header: record.Fields{{Name: "Accept", Value: "application/json"}, {Name: "X-Trace", Value: "abc123"}, {Name: "X-Trace", Value: "def456"}},
			},
			Response: &record.Response{
				Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "application/json; charset=utf-8"}},
				Body: record.Body{Bytes: []byte(`{"users":[{"name":"Ada Lovelace"}]}`), Size: 35, Complete: true},
			},
		},
		"postLogin": {
			ID: 2, State: record.Done, Start: t0, End: t0.Add(2 * time.Second),
			Request: record.Request{
				Method: "POST", URL: "https://api.example.com/v1/login", Host: "api.example.com",
				Header: record.Fields{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
				Body:   record.Body{Bytes: []byte("user=grace&password=Hopper"), Size: 26, Complete: true},
			},
			Response: &record.Response{
				Status: 404, Header: record.Fields{{Name: "Content-Type", Value: "text/html"}},
				Body: record.Body{Bytes: make([]byte, 2048), Size: 3 << 20, Truncated: true},
			},
		},
		"refused": {
			ID: 3, State: record.Done, Start: t0, End: t0.Add(5 * time.Millisecond), ReplayOf: 1,
			Request: record.Request{Method: "DELETE", URL: "http://localhost:3000/api/users/7", Host: "localhost:3000"},
			Err:     &record.Error{Kind: record.ErrUnreachable, Message: "localhost:3000 refused the connection", Status: 502},
		},
		"websocket": {
			ID: 5, State: record.Done, Start: t0, End: t0.Add(time.Minute), Upgraded: true, UpgradeUp: 10, UpgradeDn: 20,
			Request:  record.Request{Method: "GET", URL: "http://localhost:3000/ws", Host: "localhost:3000"},
			Response: &record.Response{Status: 101, Header: record.Fields{{Name: "Upgrade", Value: "websocket"}, {Name: "Connection", Value: "Upgrade"}}},
		},
		"inflight": {
			ID: 4, State: record.InFlight, Start: sampleNow.Add(-time.Minute),
			Request: record.Request{Method: "GET", URL: "http://localhost:3000/events", Host: "localhost:3000"},
		},
	}
}

func TestFilterMatch(t *testing.T) {
	xs := filterSamples()
	tests := []struct {
		expr string
		want string // names of the matching samples, sorted, space-separated
	}{
		{"", "getUsers inflight postLogin refused"},
		{"   ", "getUsers inflight postLogin refused"},
		{"users", "getUsers refused"},
		{"USERS", "getUsers refused"},
		{"lovelace", "getUsers"},      // response body
		{"hopper", "postLogin"},       // request body
		{"abc123", "getUsers"},        // header value
		{"x-trace", "getUsers"},       // header name
		{"accept: app", "getUsers"},   // two tokens: "accept:" (text) and "app"
		{`"accept: app"`, "getUsers"}, // quoted phrase across name and value
		{"method:GET", "getUsers inflight"},
		{"method:get,post", "getUsers inflight postLogin"},
		{"-method:GET", "postLogin refused"},
		{"status:404", "postLogin"},
		{"status:4xx", "postLogin"},
		{"status:5XX", "refused"},
		{"status:>=400", "postLogin refused"},
		{"status:<400", "getUsers"},
		{"status:200-299", "getUsers"},
		{"status:200,502", "getUsers refused"},
		{"status:4", "postLogin"},
		{"status:50", "refused"},
		{"status:20", "getUsers"},
		{"status:40", "postLogin"},
		{"status:41", ""},
		{"status:!=200", "postLogin refused"},
		{"-status:200", "inflight postLogin refused"},
		{"host:example", "postLogin"},
		{"host:*.example.com", "postLogin"},
		{"host:localhost", "getUsers inflight refused"},
		{"host:localhost:*", "getUsers inflight refused"},
		{"path:/api", "getUsers refused"},
		{"path:/api/*/7", "refused"},
		{"path:/api/*", "getUsers refused"},
		{"path:/events", "inflight"},
		{"path:*login", "postLogin"},
		{"path:/api/user?", "getUsers"},
		{"header:x-trace", "getUsers"},
		{"header:X-Trace=DEF", "getUsers"},
		{"header:x-trace=zzz", ""},
		{`header:"content-type=text/html"`, "postLogin"},
		{"body:ada", "getUsers"},
		{"body:grace", "postLogin"},
		{`body:"ada lovelace"`, "getUsers"},
		{"dur:>200ms", "inflight postLogin"},
		{"dur:>1s dur:<3s", "postLogin"},
		{"dur:<100", "refused"},
		{"size:>1mb", "postLogin"},
		{"size:<=35", "getUsers inflight refused"},
		{"size:35b", "getUsers postLogin"},
		{"type:json", "getUsers"},
		{"type:html", "postLogin"},
		{"error", "refused"},
		{"-error", "getUsers inflight postLogin"},
		{"replay", "refused"},
		{`"error"`, ""}, // quoted: free text, not the keyword
		{"localhost:3000", "getUsers inflight refused"},
		{"http://localhost", "getUsers inflight refused"},
		{"method:GET status:200", "getUsers"},
		{"method:GET -status:200", "inflight"},
		{`-"users"`, "inflight postLogin"},
		{"status:404 | status:5xx", "postLogin refused"},
		{"method:GET or method:POST", "getUsers inflight postLogin"},
		{"method:GET OR method:POST", "getUsers inflight postLogin"},
		{"(status:404 | status:500) host:api", "postLogin"},
		{"host:api (status:404 | status:500)", "postLogin"},
		{"method:GET status:200 or error", "getUsers refused"}, // AND binds tighter
		{"method:GET (status:200 or error)", "getUsers"},
		{"error or method:GET status:200", "getUsers refused"},
		{"-(method:GET or error)", "postLogin"},
		{"-(method:GET status:200)", "inflight postLogin refused"},
		{"-(-error)", "refused"},
		{"((replay))", "refused"},
		{`"or"`, "postLogin"}, // quoted: text (passw-or-d), not the operator
		{"f(x)y", ""},         // a parenthesis inside a word is text
		{`"users)"`, ""},      // quoted: text
		{"(users)", "getUsers refused"},
	}
	for _, tt := range tests {
		f, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		var got []string
		for _, name := range []string{"getUsers", "inflight", "postLogin", "refused"} {
			if f.Match(xs[name], env) {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%q matched [%s], want [%s]", tt.expr, g, tt.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		expr, token, msg string
	}{
		{"status:abc", "status:abc", "want a code"},
		{"method:GET status:9xx", "status:9xx", "want a code"},
		{"status:", "status:", "needs a value"},
		{"dur:fast", "dur:fast", "want a duration"},
		{"size:>lots", "size:>lots", "want a size"},
		{"stauts:404", "", ""}, // digits after the colon: text, not an error
		{"stauts:ok", "stauts:ok", "unknown key"},
		{`body:"unterminated`, `body:"unterminated`, "unterminated quote"},
		{"path:[a-", "path:[a-", "bad glob"},
		{"header:=x", "header:=x", "header:name"},
		{"method:G/T", "method:G/T", "want a method"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		if tt.token == "" {
			if err != nil {
				t.Errorf("Parse(%q): unexpected error %v", tt.expr, err)
			}
			continue
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %v, want a *Error", tt.expr, err)
			continue
		}
		if fe.Token != tt.token || !strings.Contains(fe.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %q (token %q), want token %q and %q", tt.expr, err, fe.Token, tt.token, tt.msg)
		}
		if !strings.Contains(err.Error(), tt.token) {
			t.Errorf("error %q does not name the token %q", err, tt.token)
		}
	}
}

func TestFilterString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  method:get   status:5xx ", "method:get status:5xx"},
		{`"a b" -x`, `"a b" -x`},
		{`header:"x-a=b c"`, `header:"x-a=b c"`},
		{`localhost:3000`, `"localhost:3000"`},
		{`"error" error`, `"error" error`},
		{`"say \"hi\""`, `"say \"hi\""`},
		{`--x`, `-"-x"`},
		{`-`, `"-"`},
	}
	for _, tt := range tests {
		f, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFilterGroupErrors covers parentheses and ors that do not parse: each
// error names the token and its column, and says what to do.
func TestFilterGroupErrors(t *testing.T) {
	deep := strings.Repeat("(", maxDepth+1) + "a" + strings.Repeat(")", maxDepth+1)
	tests := []struct {
		expr, token, msg string
		col              int
	}{
		{"(status:404", "(", `unbalanced "(" at column 1: add a ")"`, 1},
		{"a (b (c)", "(", "unbalanced", 3},
		{"-(a", "-(", "unbalanced", 1},
		{"ä (b", "(", "unbalanced", 3},
		{"status:404)", ")", `unbalanced ")" at column 11: no "(" opens it`, 11},
		{"a) b", ")", "unbalanced", 2},
		{"(a)) b", ")", "unbalanced", 4},
		{"()", "()", "empty group", 1},
		{"a -( ) b", "-( )", "empty group", 3},
		{"a (()) b", "()", "empty group", 4},
		{"or a", "or", "nothing on its left", 1},
		{"| a", "|", "nothing on its left", 1},
		{"a |", "|", "nothing on its right", 3},
		{"a OR", "OR", "nothing on its right", 3},
		{"a or or b", "or", "nothing on its left", 6},
		{"(a or) b", "or", "nothing on its right", 4},
		{"(| a)", "|", "nothing on its left", 2},
		{"or", "or", "nothing on its left", 1},
		{deep, "(", "nest more than", maxDepth + 1},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %v, want a *Error", tt.expr, err)
			continue
		}
		col := fmt.Sprintf("column %d", tt.col)
		if fe.Token != tt.token || !strings.Contains(fe.Msg, tt.msg) || !strings.Contains(fe.Msg, col) {
			t.Errorf("Parse(%q) = %q (token %q), want token %q, %q and %q", tt.expr, err, fe.Token, tt.token, tt.msg, col)
		}
		if fe.Pos < 0 || fe.Pos > len(tt.expr) || !strings.HasPrefix(tt.expr[fe.Pos:], fe.Token) {
			t.Errorf("Parse(%q): position %d is not where %q starts", tt.expr, fe.Pos, fe.Token)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.token)) || strings.HasPrefix(err.Error(), "filter: "+tt.token+":") {
			t.Errorf("error %q should name %q once, quoted", err, tt.token)
		}
	}
}

// An | inside a keyed term that does not parse is most likely a missing
// space: the error says so.
func TestFilterPipeHint(t *testing.T) {
	_, err := Parse("status:404|status:500")
	if err == nil || !strings.Contains(err.Error(), `put spaces around "|"`) {
		t.Fatalf("Parse(status:404|status:500) = %v, want a hint to put spaces around |", err)
	}
}

// TestFilterPrecedence checks how the canonical form groups: AND binds
// tighter than or, and grouping that changes nothing is dropped.
func TestFilterPrecedence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a b or c", "a b or c"},
		{"(a b) or c", "a b or c"},
		{"a (b or c)", "a (b or c)"},
		{"a b | c d", "a b or c d"},
		{"a | b", "a or b"},
		{"a OR b", "a or b"},
		{"(a or b) (c or d)", "(a or b) (c or d)"},
		{"a or (b or c)", "a or b or c"},
		{"(a or b) or c", "a or b or c"},
		{"a (b c)", "a b c"},
		{"a -(b c)", "a -(b c)"},
		{"-(a b) or c", "-(a b) or c"},
		{"-(a or b) c", "-(a or b) c"},
		{"-(a or b)", "-(a or b)"},
		{"-(a)", "-a"},
		{"-(-a)", "a"},
		{"(-a)", "-a"},
		{"((a))", "a"},
		{"-(-(a b)) c", "a b c"},
		{"-(-(a or b)) or c", "a or b or c"},
		{"( a  or  b )", "a or b"},
		{`"or" "|" "OR"`, `"or" "|" "OR"`},
		{`"(a" "a)" f(x)y`, `"(a" "a)" f(x)y`},
		{`path:"/a)" path:(b`, `path:"/a)" path:(b`},
		{"(a -)", `a "-"`},
		{"-or", `-"or"`},
	}
	for _, tt := range tests {
		f, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFilterNil(t *testing.T) {
	var f *Matcher
	if !f.Match(&record.Exchange{}, env) || !f.Empty() || f.String() != "" {
		t.Fatal("a nil filter must match everything and print empty")
	}
}

func TestContainsFold(t *testing.T) {
	tests := []struct {
		hay, needle string
		want        bool
	}{
		{"Hello World", "world", true},
		{"Hello World", "o w", true},
		{"Hello", "hello!", false},
		{"aAaAb", "aab", true},
		{"xxAxxa", "ab", false},
		{"ÄRGER", "ärger", true},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := containsFold(tt.hay, tt.needle); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v", tt.hay, tt.needle, got)
		}
		if got := bytesContainsFold([]byte(tt.hay), tt.needle); got != tt.want {
			t.Errorf("bytesContainsFold(%q, %q) = %v", tt.hay, tt.needle, got)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"/api/*", "/api/a/b/c", true},
		{"/api/*/c", "/api/a/b/c", true},
		{"/api/?", "/api/x", true},
		{"/a?b", "/a/b", true},
		{"/[abc]x", "/bx", true},
		{"/[^abc]x", "/bx", false},
		{`/a\*`, "/a*", true},
		{`/a\*`, "/ab", false},
		{"*.json", "/x/y.json", true},
		{"/x", "/x/", false},
		{"/r0/*", "/small", false},
		{"/é*", "/éa", true},
		{"/é*", "/ea", false},
		{"/[é]x", "/éx", true},
		{"/\xff*", "/\xff", true},
		{"/\xff*", "/\xfe", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

// FuzzGlobMatch checks globMatch against path.Match where the two languages
// agree: patterns without * and ?, which in ours also cross "/".
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"/r0/x", "/small"}, {"/[a-c]x", "/bx"}, {`/a\*`, "/a*"}, {"/é", "/é"}, {"/[^é]", "/e"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if strings.ContainsAny(pattern, "*?") {
			return
		}
		want, err := path.Match(pattern, name)
		if err != nil {
			return
		}
		if got := globMatch(pattern, name); got != want {
			t.Errorf("globMatch(%q, %q) = %v, path.Match says %v", pattern, name, got, want)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "users", "method:GET status:5xx", `-header:"x-a=b c"`, "path:/api/*", "host:*.example.com",
		"dur:>200ms size:<1mb", "type:json -error replay", `"a \" b"`, "status:>=400,200-299", "body:ada",
		"status:", `body:"x`, "stauts:ok", "path:[", "localhost:3000", "--x", "-",
		"(status:404 | status:500) host:api", "method:GET or method:POST", "-(a b) or c", "a (b or c)",
		"((a", "a)", "()", "a or", "or a", `"or" | "|"`, "f(x)y", "-(-(a))", "-)", "--(a)",
		"grpc", "-grpc rpc:*/Get*", "grpc-status:NOT_FOUND,5", "rpc:echo/unary", `"grpc" grpc-status:nope`,
	} {
		f.Add(s)
	}
	xs := filterSamples()
	for name, x := range grpcSamples() {
		xs["grpc "+name] = x
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := Parse(s)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Msg == "" {
				t.Fatalf("Parse(%q): error %v is not a *Error with a message", s, err)
			}
			if fe.Pos < 0 || fe.Pos > len(s) {
				t.Fatalf("Parse(%q): position %d out of range", s, fe.Pos)
			}
			return
		}
		for _, x := range xs {
			flt.Match(x, env)
		}
		canon := flt.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form is not stable: %q -> %q -> %q", s, canon, again.String())
		}
		for name, x := range xs {
			if flt.Match(x, env) != again.Match(x, env) {
				t.Fatalf("%q and its canonical form %q disagree on %s", s, canon, name)
			}
		}
	})
}

func TestFilterUpgraded(t *testing.T) {
	ws := filterSamples()["websocket"]
	for expr, want := range map[string]bool{
		"type:websocket": true, "type:json": false, "status:101": true, "size:>0": true, "size:>30b": false, "path:/ws": true,
	} {
		f, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(ws, env); got != want {
			t.Errorf("%q on a WebSocket exchange = %v, want %v", expr, got, want)
		}
	}
}

func TestPhaseAndBodies(t *testing.T) {
	for _, tt := range []struct {
		expr   string
		phase  Phase
		bodies bool
	}{
		{"", PhaseRequest, false},
		{"method:GET host:api path:/x replay -replay", PhaseRequest, false},
		{"method:GET status:200", PhaseResponse, false},
		{"header:x-a", PhaseResponse, false},
		{"dur:>1s", PhaseResponse, false},
		{"error", PhaseResponse, false},
		{"body:ada", PhaseResponse, true},
		{"method:GET users", PhaseResponse, true},
		{`-"x"`, PhaseResponse, true},
		{"method:GET or replay", PhaseRequest, false},
		{"method:GET or status:200", PhaseResponse, false},
		{"-(host:api or path:/x) method:GET", PhaseRequest, false},
		{"method:GET (path:/x or -body:ada)", PhaseResponse, true},
	} {
		m, err := Parse(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if m.Phase() != tt.phase || m.NeedsBodies() != tt.bodies {
			t.Errorf("%q: phase %v, bodies %v; want %v, %v", tt.expr, m.Phase(), m.NeedsBodies(), tt.phase, tt.bodies)
		}
	}
	var none *Matcher
	if none.Phase() != PhaseRequest || none.NeedsBodies() {
		t.Error("a nil matcher needs nothing")
	}
}

// The duration of an exchange in flight runs to Env.Now, not to a clock
// the matcher reads itself.
func TestDurUsesEnvNow(t *testing.T) {
	x := filterSamples()["inflight"] // started a minute before sampleNow
	m, err := Parse("dur:>90s")
	if err != nil {
		t.Fatal(err)
	}
	if m.Match(x, Env{Now: sampleNow}) {
		t.Error("a minute in flight matched dur:>90s")
	}
	if !m.Match(x, Env{Now: sampleNow.Add(time.Minute)}) {
		t.Error("two minutes in flight did not match dur:>90s")
	}
}

// Bodies are searched decoded through Env.Bodies, and as captured without.
func TestBodiesDecoder(t *testing.T) {
	x := &record.Exchange{Response: &record.Response{
		Header: record.Fields{{Name: "Content-Encoding", Value: "x-upper"}},
		Body:   record.Body{Bytes: []byte("ADA"), Size: 3, Complete: true},
	}}
	m, err := Parse("body:ada")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(x, Env{}) {
		t.Error("captured bytes not searched without a decoder")
	}
	// The standard decoder does not know x-upper: the body is searched as
	// captured.
	if !m.Match(x, Env{Bodies: body.Decoder{}}) {
		t.Error("an undecodable body is not searched as captured")
	}
	if m.Match(x, Env{Bodies: blankDecoder{}}) {
		t.Error("the decoder's output was not what was searched")
	}
}

// blankDecoder decodes every body to text that matches nothing.
type blankDecoder struct{}

func (blankDecoder) Body(record.Body, record.Fields, bool) ([]byte, string, bool, error) {
	return []byte("zzz"), "", false, nil
}

// TestRoutingKeys: route:, upstream:, cache:, retried and limited read the
// marks serve's routes put on an exchange.
func TestRoutingKeys(t *testing.T) {
	routed := &record.Exchange{
		Request: record.Request{Method: "GET", URL: "http://api.localhost/v1/x", UpstreamURL: "http://127.0.0.1:3002/x"},
		Marks: []record.Mark{
			{Stage: "route", Name: "route", Value: "api.localhost/v1/"},
			{Stage: "retry", Name: "attempt", Value: "1 http://127.0.0.1:3001 → dial tcp: connection refused (0.3 ms)"},
			{Stage: "retry", Name: "attempt", Value: "2 http://127.0.0.1:3002 → 200 (1.0 ms)"},
			{Stage: "retry", Name: "retried", Value: "1"},
			{Stage: "route", Name: "upstream", Value: "http://127.0.0.1:3002"},
			{Stage: "cache", Name: "cache", Value: "hit"},
		},
	}
	limited := &record.Exchange{
		Request: record.Request{Method: "GET", URL: "http://localhost/x"},
		Marks:   []record.Mark{{Stage: "rate limit", Name: "limit", Value: "limited"}},
	}
	plain := &record.Exchange{Request: record.Request{Method: "GET", URL: "http://localhost/x", UpstreamURL: "http://localhost:3000/x"}}
	for _, tc := range []struct {
		expr                   string
		routed, limited, plain bool
	}{
		{"route:api", true, false, false},
		{"route:api.*", true, false, false},
		{"upstream:3002", true, false, false},
		{"upstream:3001", false, false, false},  // tried, but did not answer
		{"upstream:*:3000", false, false, true}, // no mark: the URL it went to
		{"cache:hit", true, false, false},
		{"cache:miss", false, false, false},
		{"retried", true, false, false},
		{"limited", false, true, false},
		{"-limited -retried", false, false, true},
	} {
		m, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		for _, c := range []struct {
			name string
			x    *record.Exchange
			want bool
		}{{"routed", routed, tc.routed}, {"limited", limited, tc.limited}, {"plain", plain, tc.plain}} {
			if got := m.Match(c.x, env); got != c.want {
				t.Errorf("%q on %s: %v, want %v", tc.expr, c.name, got, c.want)
			}
		}
	}
	if _, err := Parse("cache:warm"); err == nil || !strings.Contains(err.Error(), "cache:hit") {
		t.Errorf("cache:warm: %v, want an error listing the verdicts", err)
	}
}

// TestRuleKeys: rule:, modified, mocked and faulted read the marks the
// rules stage puts on an exchange.
func TestRuleKeys(t *testing.T) {
	x := &record.Exchange{
		Request: record.Request{Method: "GET", URL: "http://localhost/flaky"},
		Marks: []record.Mark{
			{Stage: "rules", Name: "rule", Value: "slow"},
			{Stage: "rules", Name: "rule", Value: "flaky"},
			{Stage: "rules", Name: "status", Value: "503"},
			{Stage: "rules", Name: "faulted", Value: "1"},
		},
	}
	for expr, want := range map[string]bool{
		"rule:flaky": true, "rule:slow": true, "rule:fl*": true, "rule:other": false,
		"faulted": true, "mocked": false, "modified": false, "-mocked faulted": true,
	} {
		m, err := Parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if got := m.Match(x, env); got != want {
			t.Errorf("%q: %v, want %v", expr, got, want)
		}
	}
}

// TestMatchDoesNotAllocate guards the Env escape: a rules stage calls Match
// for every rule on every request, so a Match that moved its Env to the
// heap cost an allocation per rule per request.
func TestMatchDoesNotAllocate(t *testing.T) {
	x := filterSamples()["getUsers"]
	for _, expr := range []string{"path:/r1/*", "dur:>100ms", "method:GET -header:x-none or host:api"} {
		m, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { m.Match(x, Env{Now: sampleNow}) }); n != 0 {
			t.Errorf("%s: Match allocates %v times, want 0", expr, n)
		}
	}
}
