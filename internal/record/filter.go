package record

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Filter selects exchanges; see ParseFilter for the language. A Filter is
// immutable once parsed and safe for concurrent use.
type Filter struct {
	terms []term
}

// FilterError is a filter expression that does not parse. It names the bad
// token and where it starts.
type FilterError struct {
	Token string // the token as written, e.g. `status:abc`
	Pos   int    // byte offset of the token in the expression
	Msg   string // what is wrong and what would be right
}

// Error is "filter: TOKEN: what is wrong".
func (e *FilterError) Error() string {
	if e.Token == "" {
		return "filter: " + e.Msg
	}
	return fmt.Sprintf("filter: %s: %s", e.Token, e.Msg)
}

// FilterKeys are the keys a filter token may start with, in the order the
// help lists them.
var FilterKeys = []string{"method", "status", "host", "path", "header", "body", "dur", "size", "type"}

// ParseFilter compiles a filter expression. Errors are *FilterError and name
// the bad token.
//
// An expression is a list of tokens separated by spaces; an exchange must
// match every token (AND). A token starting with "-" is negated. Values may
// be quoted ("a b", with \" and \\ escapes); a token that starts with a quote
// is always free text.
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
//	error           the exchange failed (any error, including a client that
//	                went away)
//	replay          the exchange is a replay of another
//
// An empty expression matches everything.
func ParseFilter(s string) (*Filter, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	f := &Filter{terms: make([]term, 0, len(toks))}
	for _, tk := range toks {
		t, err := parseTerm(tk)
		if err != nil {
			return nil, err
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

// Match reports whether x passes the filter. A nil filter matches all.
func (f *Filter) Match(x *Exchange) bool {
	if f == nil {
		return true
	}
	for i := range f.terms {
		t := &f.terms[i]
		if t.match(x) == t.neg {
			return false
		}
	}
	return true
}

// Empty reports whether the filter has no terms (and so matches all).
func (f *Filter) Empty() bool { return f == nil || len(f.terms) == 0 }

// String returns the filter in canonical form: parsing it again yields an
// equivalent filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	for i, t := range f.terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.neg {
			b.WriteByte('-')
		}
		switch t.kind {
		case termText:
			b.WriteString(quote(t.raw, true))
		case termError:
			b.WriteString("error")
		case termReplay:
			b.WriteString("replay")
		default:
			b.WriteString(t.key)
			b.WriteByte(':')
			b.WriteString(quote(t.raw, false))
		}
	}
	return b.String()
}

// quote returns v as written in an expression: bare when it can be, quoted
// otherwise. always forces quotes on values a bare word would misread.
func quote(v string, text bool) string {
	bare := v != ""
	for _, r := range v {
		if r == '"' || r == '\\' || unicode.IsSpace(r) {
			bare = false
			break
		}
	}
	if bare && text {
		// A bare word must not read as a key, a keyword or a negation.
		if v == "error" || v == "replay" || strings.HasPrefix(v, "-") || strings.Contains(v, ":") {
			bare = false
		}
	}
	if bare {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// token is one space-separated word of an expression, quotes removed.
type token struct {
	raw    string // as written
	pos    int
	neg    bool
	key    string // before the first unquoted ':' ("" for a bare word)
	hasKey bool
	value  string
	quoted bool // the token began with a quote: free text
}

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return toks, nil
		}
		start := i
		tk := token{pos: start}
		if s[i] == '-' && i+1 < len(s) && !isSpace(s[i+1]) {
			tk.neg = true
			i++
		}
		tk.quoted = s[i] == '"'
		var cur strings.Builder
		for i < len(s) && !isSpace(s[i]) {
			c := s[i]
			switch {
			case c == '"':
				j := i + 1
				closed := false
				for j < len(s) {
					if s[j] == '\\' && j+1 < len(s) {
						cur.WriteByte(s[j+1])
						j += 2
						continue
					}
					if s[j] == '"' {
						closed = true
						break
					}
					cur.WriteByte(s[j])
					j++
				}
				if !closed {
					return nil, &FilterError{Token: s[start:], Pos: start, Msg: "unterminated quote"}
				}
				i = j + 1
			case c == ':' && !tk.hasKey && !tk.quoted:
				tk.key = cur.String()
				tk.hasKey = true
				cur.Reset()
				i++
			default:
				cur.WriteByte(c)
				i++
			}
		}
		tk.raw = s[start:i]
		tk.value = cur.String()
		if tk.raw == "-" {
			tk.neg = false
		}
		toks = append(toks, tk)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

type termKind uint8

const (
	termText termKind = iota
	termMethod
	termStatus
	termHost
	termPath
	termHeader
	termBody
	termDur
	termSize
	termType
	termError
	termReplay
)

var termKeys = map[string]termKind{
	"method": termMethod, "status": termStatus, "host": termHost, "path": termPath,
	"header": termHeader, "body": termBody, "dur": termDur, "size": termSize, "type": termType,
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

func (o cmpOp) cmp(a, b int64) bool {
	switch o {
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opLe:
		return a <= b
	case opGt:
		return a > b
	case opGe:
		return a >= b
	}
	return a == b
}

// span is an inclusive range of statuses.
type span struct{ lo, hi int }

type term struct {
	kind termKind
	neg  bool
	key  string // canonical key, lower case
	raw  string // the value as given, for String

	text    string   // lower-cased needle (text, body, type, host, header value)
	methods []string // upper-cased
	spans   []span   // status alternatives
	glob    string   // host or path glob; "" for a plain match
	name    string   // header name
	hasVal  bool     // header:name=value
	op      cmpOp
	n       int64 // size in bytes, duration in ns
}

func parseTerm(tk token) (term, error) {
	bad := func(msg string, args ...any) error {
		return &FilterError{Token: tk.raw, Pos: tk.pos, Msg: fmt.Sprintf(msg, args...)}
	}
	t := term{neg: tk.neg, raw: tk.value}
	if !tk.hasKey {
		switch {
		case !tk.quoted && tk.value == "error":
			t.kind = termError
		case !tk.quoted && tk.value == "replay":
			t.kind = termReplay
		default:
			t.kind = termText
			t.text = strings.ToLower(tk.value)
		}
		return t, nil
	}
	key := strings.ToLower(tk.key)
	kind, ok := termKeys[key]
	if !ok {
		// A colon in ordinary text ("http://x", "localhost:3000", "a:1") is
		// text; an unknown word key is most likely a typo.
		if tk.key == "" || !isWord(tk.key) || tk.value == "" || strings.HasPrefix(tk.value, "/") || isDigit(tk.value[0]) {
			t.kind = termText
			t.raw = tk.key + ":" + tk.value
			t.text = strings.ToLower(t.raw)
			return t, nil
		}
		return t, bad("unknown key %q; keys are %s (quote the token to search for it as text)", tk.key, strings.Join(FilterKeys, ", "))
	}
	t.kind, t.key = kind, key
	if tk.value == "" {
		return t, bad("%s: needs a value", key)
	}
	v := tk.value
	switch kind {
	case termMethod:
		for _, m := range strings.Split(v, ",") {
			if m == "" || !isWord(m) {
				return t, bad("want a method such as GET, or a list GET,POST")
			}
			t.methods = append(t.methods, strings.ToUpper(m))
		}
	case termStatus:
		for _, alt := range strings.Split(v, ",") {
			sp, err := parseStatus(alt)
			if err != "" {
				return t, bad("%s", err)
			}
			t.spans = append(t.spans, sp...)
		}
	case termHost, termPath:
		if strings.ContainsAny(v, "*?[") {
			// Check the syntax once, with a name that cannot match.
			if _, err := path.Match(strings.ToLower(v), ""); err != nil {
				return t, bad("bad glob: %v", err)
			}
			t.glob = v
			if kind == termHost {
				t.glob = strings.ToLower(v)
			}
		}
		t.text = v
		if kind == termHost {
			t.text = strings.ToLower(v)
		}
	case termHeader:
		name, val, hasVal := strings.Cut(v, "=")
		if name == "" {
			return t, bad("want header:name or header:name=value")
		}
		t.name, t.text, t.hasVal = name, strings.ToLower(val), hasVal
	case termBody, termType:
		t.text = strings.ToLower(v)
	case termDur:
		op, rest := parseOp(v, opGe)
		d, err := parseDur(rest)
		if err != "" {
			return t, bad("%s", err)
		}
		t.op, t.n = op, int64(d)
	case termSize:
		op, rest := parseOp(v, opGe)
		n, err := parseSize(rest)
		if err != "" {
			return t, bad("%s", err)
		}
		t.op, t.n = op, n
	}
	return t, nil
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseOp splits a leading comparison operator from v.
func parseOp(v string, def cmpOp) (cmpOp, string) {
	for _, p := range []struct {
		s  string
		op cmpOp
	}{{">=", opGe}, {"<=", opLe}, {"!=", opNe}, {">", opGt}, {"<", opLt}, {"=", opEq}} {
		if strings.HasPrefix(v, p.s) {
			return p.op, v[len(p.s):]
		}
	}
	return def, v
}

func parseStatus(v string) ([]span, string) {
	const want = "want a code (404), a class (5xx), a comparison (>=400) or a range (200-299)"
	if len(v) == 3 && v[0] >= '1' && v[0] <= '5' && (v[1] == 'x' || v[1] == 'X') && (v[2] == 'x' || v[2] == 'X') {
		lo := int(v[0]-'0') * 100
		return []span{{lo, lo + 99}}, ""
	}
	if a, b, ok := strings.Cut(v, "-"); ok && a != "" {
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo > hi || lo < 0 {
			return nil, want
		}
		return []span{{lo, hi}}, ""
	}
	op, rest := parseOp(v, opEq)
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n > 999 || rest[0] == '+' || rest[0] == '-' {
		return nil, want
	}
	if op == opEq && len(rest) < 3 {
		// Statuses have three digits: a shorter number is a prefix, so
		// status:4 is 4xx and status:50 is 500-509.
		lo, hi := n, n
		for i := len(rest); i < 3; i++ {
			lo, hi = lo*10, hi*10+9
		}
		return []span{{lo, hi}}, ""
	}
	switch op {
	case opLt:
		return []span{{0, n - 1}}, ""
	case opLe:
		return []span{{0, n}}, ""
	case opGt:
		return []span{{n + 1, 999}}, ""
	case opGe:
		return []span{{n, 999}}, ""
	case opNe:
		return []span{{0, n - 1}, {n + 1, 999}}, ""
	}
	return []span{{n, n}}, ""
}

func parseDur(v string) (time.Duration, string) {
	const want = "want a duration such as 200ms, 1.5s or 2m (a bare number is milliseconds)"
	if v == "" {
		return 0, want
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f > 1e9 {
			return 0, want
		}
		return time.Duration(f * float64(time.Millisecond)), ""
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, want
	}
	return d, ""
}

func parseSize(v string) (int64, string) {
	const want = "want a size such as 512, 10kb or 1.5mb"
	s := strings.ToLower(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 || s == "" {
		return 0, want
	}
	return int64(f * float64(mult)), ""
}

func (t *term) match(x *Exchange) bool {
	switch t.kind {
	case termText:
		return matchText(x, t.text)
	case termMethod:
		for _, m := range t.methods {
			if strings.EqualFold(x.Request.Method, m) {
				return true
			}
		}
		return false
	case termStatus:
		st := x.Status()
		if st == 0 {
			return false
		}
		for _, sp := range t.spans {
			if st >= sp.lo && st <= sp.hi {
				return true
			}
		}
		return false
	case termHost:
		h := exchangeHost(x)
		if t.glob != "" {
			h = strings.ToLower(h)
			if ok, _ := path.Match(t.glob, h); ok {
				return true
			}
			if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
				ok, _ := path.Match(t.glob, h[:i])
				return ok
			}
			return false
		}
		return containsFold(h, t.text)
	case termPath:
		p := urlPath(x.Request.URL)
		if t.glob != "" {
			return globMatch(t.glob, p)
		}
		return strings.HasPrefix(p, t.text)
	case termHeader:
		if t.matchFields(x.Request.Header) || t.matchFields(x.Request.Trailer) {
			return true
		}
		if x.Response != nil {
			return t.matchFields(x.Response.Header) || t.matchFields(x.Response.Trailer)
		}
		return false
	case termBody:
		return bodyContains(x, t.text)
	case termDur:
		return t.op.cmp(int64(x.Duration(time.Now())), t.n)
	case termSize:
		var n int64
		if x.Response != nil {
			n = x.Response.Body.Size
		}
		if x.Upgraded {
			n = x.UpgradeUp + x.UpgradeDn
		}
		return t.op.cmp(n, t.n)
	case termType:
		if x.Response == nil {
			return false
		}
		if x.Upgraded {
			// An upgraded exchange's type is its new protocol.
			up := x.Response.Header.Get("Upgrade")
			if up == "" {
				up = "websocket"
			}
			if containsFold(up, t.text) {
				return true
			}
		}
		return containsFold(x.Response.Header.Get("Content-Type"), t.text)
	case termError:
		return x.Err != nil
	case termReplay:
		return x.ReplayOf != 0
	}
	return false
}

func (t *term) matchFields(fs Fields) bool {
	for _, f := range fs {
		if strings.EqualFold(f.Name, t.name) && (!t.hasVal || containsFold(f.Value, t.text)) {
			return true
		}
	}
	return false
}

func matchText(x *Exchange, needle string) bool {
	if containsFold(x.Request.URL, needle) {
		return true
	}
	if fieldsContain(x.Request.Header, needle) {
		return true
	}
	if x.Response != nil && fieldsContain(x.Response.Header, needle) {
		return true
	}
	return bodyContains(x, needle)
}

func fieldsContain(fs Fields, needle string) bool {
	colon := strings.IndexByte(needle, ':') >= 0
	for _, f := range fs {
		if containsFold(f.Name, needle) || containsFold(f.Value, needle) {
			return true
		}
		if colon && containsFold(f.Name+": "+f.Value, needle) {
			return true
		}
	}
	return false
}

func bodyContains(x *Exchange, needle string) bool {
	if len(x.Request.Body.Bytes) > 0 && decodedContains(x.RequestBodyDecoded, x.Request.Body.Bytes, needle) {
		return true
	}
	return x.Response != nil && len(x.Response.Body.Bytes) > 0 &&
		decodedContains(x.ResponseBodyDecoded, x.Response.Body.Bytes, needle)
}

// decodedContains searches a body with its Content-Encoding undone; bytes
// that do not decode are searched as captured.
func decodedContains(decode func() ([]byte, string, error), raw []byte, needle string) bool {
	b, _, err := decode()
	if err != nil && len(b) == 0 {
		b = raw
	}
	return bytesContainsFold(b, needle)
}

// exchangeHost is the host (with port, if any) the client asked for.
func exchangeHost(x *Exchange) string {
	if x.Request.Host != "" {
		return x.Request.Host
	}
	u := x.Request.URL
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	return u
}

// urlPath is the path of an absolute or origin-form URL, without query.
func urlPath(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
		j := strings.IndexByte(u, '/')
		if j < 0 {
			return "/"
		}
		u = u[j:]
	}
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if u == "" {
		return "/"
	}
	return u
}

// globMatch is path.Match in which * and ? also match "/". It runs in
// O(len(pattern)*len(name)): a star only ever backtracks to the latest star.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	star, starN := -1, 0
	for {
		if px < len(pattern) && pattern[px] == '*' {
			star, starN = px, nx
			px++
			continue
		}
		if px < len(pattern) && nx < len(name) {
			n := globElemLen(pattern[px:])
			_, size := utf8.DecodeRuneInString(name[nx:])
			if globElemMatch(pattern[px:px+n], name[nx:nx+size]) {
				px, nx = px+n, nx+size
				continue
			}
		} else if px == len(pattern) && nx == len(name) {
			return true
		}
		if star < 0 || starN >= len(name) {
			return false
		}
		_, size := utf8.DecodeRuneInString(name[starN:])
		starN += size
		px, nx = star+1, starN
	}
}

// globElemMatch matches one pattern element (a rune, an escaped rune, ? or a
// class) against one rune, with path.Match for escapes and classes.
func globElemMatch(elem, r string) bool {
	if elem == "?" {
		return true // path.Match's ? does not match "/"; ours does.
	}
	ok, err := path.Match(elem, r)
	return err == nil && ok
}

// globElemLen is the length of the first element of a glob pattern that is
// not a star: one rune, an escaped rune, or a [...] class.
func globElemLen(p string) int {
	switch p[0] {
	case '\\':
		if len(p) > 1 {
			_, size := utf8.DecodeRuneInString(p[1:])
			return 1 + size
		}
		return 1
	case '[':
		i := 1
		if i < len(p) && p[i] == '^' {
			i++
		}
		if i < len(p) && p[i] == ']' {
			i++
		}
		for i < len(p) && p[i] != ']' {
			if p[i] == '\\' {
				i++
			}
			i++
		}
		if i < len(p) {
			return i + 1
		}
		return len(p)
	}
	_, size := utf8.DecodeRuneInString(p)
	return size
}

// containsFold reports whether s contains the lower-case needle, ignoring
// case.
func containsFold(s, needle string) bool {
	if needle == "" {
		return true
	}
	if len(s) < len(needle) {
		return false
	}
	if !isASCII(needle) {
		return strings.Contains(strings.ToLower(s), needle)
	}
	c0 := needle[0]
	up := c0
	if c0 >= 'a' && c0 <= 'z' {
		up = c0 - 'a' + 'A'
	}
	for i := 0; i+len(needle) <= len(s); i++ {
		c := s[i]
		if c != c0 && c != up {
			continue
		}
		if asciiEqualFold(s[i:i+len(needle)], needle) {
			return true
		}
	}
	return false
}

// bytesContainsFold is containsFold for a byte slice, without copying it.
func bytesContainsFold(b []byte, needle string) bool {
	if needle == "" {
		return true
	}
	if len(b) < len(needle) {
		return false
	}
	if !isASCII(needle) {
		return bytes.Contains(bytes.ToLower(b), []byte(needle))
	}
	c0 := needle[0]
	up := c0
	if c0 >= 'a' && c0 <= 'z' {
		up = c0 - 'a' + 'A'
	}
	last := len(b) - len(needle) // the last index a match may start at
	// Candidates are the next occurrences of the first byte in either case,
	// each found once with IndexByte.
	lo, hi := nextByte(b, 0, last, c0), -1
	if up != c0 {
		hi = nextByte(b, 0, last, up)
	}
	for lo >= 0 || hi >= 0 {
		i := lo
		if i < 0 || (hi >= 0 && hi < i) {
			i = hi
		}
		if bytesEqualFold(b[i:i+len(needle)], needle) {
			return true
		}
		if i == lo {
			lo = nextByte(b, i+1, last, c0)
		} else {
			hi = nextByte(b, i+1, last, up)
		}
	}
	return false
}

// nextByte is the index of c in b[from:last+1], or -1.
func nextByte(b []byte, from, last int, c byte) int {
	if from > last {
		return -1
	}
	if j := bytes.IndexByte(b[from:last+1], c); j >= 0 {
		return from + j
	}
	return -1
}

// bytesEqualFold compares b with the lower-case ASCII needle.
func bytesEqualFold(b []byte, needle string) bool {
	for i := 0; i < len(needle); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != needle[i] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiEqualFold compares s with the lower-case ASCII needle.
func asciiEqualFold(s, needle string) bool {
	for i := 0; i < len(needle); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != needle[i] {
			return false
		}
	}
	return true
}
