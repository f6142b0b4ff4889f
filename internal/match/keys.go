package match

// The table of keys: every kind of term the language knows, each with how
// its value parses, the phase it needs and how it evaluates. A new key is a
// new row here.

import (
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// form is how a key is written.
type form uint8

const (
	formKeyed form = iota // name:value
	formWord              // a bare word: error, replay
	formText              // free text, quoted or not
)

// key is one row of the table.
type key struct {
	name  string // as written: before the ":" of a keyed term, or the word
	form  form
	phase Phase
	// bodies is set when evaluating reads the bodies.
	bodies bool
	// parse fills t from a keyed term's value, or says what is wrong.
	parse func(t *term, v string) (msg string)
	// eval reports whether x passes t. It takes Env by value: the
	// compiler cannot see through a call of a func value, so a *Env
	// given to one would move every Match's Env to the heap.
	eval func(t *term, x *record.Exchange, env Env) bool
}

// keys lists the keyed terms in the order the help and error messages
// name them, then the words, then free text.
var keys = []key{
	{name: "method", phase: PhaseRequest, parse: parseMethod, eval: evalMethod},
	{name: "status", phase: PhaseResponse, parse: parseStatusList, eval: evalStatus},
	{name: "host", phase: PhaseRequest, parse: parseHost, eval: evalHost},
	{name: "path", phase: PhaseRequest, parse: parsePath, eval: evalPath},
	{name: "header", phase: PhaseResponse, parse: parseHeader, eval: evalHeader},
	{name: "body", phase: PhaseResponse, bodies: true, parse: parseText, eval: evalBody},
	{name: "dur", phase: PhaseResponse, parse: parseDurTerm, eval: evalDur},
	{name: "size", phase: PhaseResponse, parse: parseSizeTerm, eval: evalSize},
	{name: "type", phase: PhaseResponse, parse: parseText, eval: evalType},
	{name: "rpc", phase: PhaseRequest, parse: parseRPC, eval: evalRPC},
	{name: "grpc-status", phase: PhaseResponse, parse: parseGRPCStatus, eval: evalGRPCStatus},
	{name: "route", phase: PhaseRequest, parse: parseMarkGlob, eval: evalMark("route")},
	{name: "upstream", phase: PhaseRequest, parse: parseMarkGlob, eval: evalUpstream},
	{name: "rule", phase: PhaseRequest, parse: parseMarkGlob, eval: evalRule},
	{name: "cache", phase: PhaseResponse, parse: parseCache, eval: func(t *term, x *record.Exchange, _ Env) bool { v, _ := x.Mark("cache"); return v == t.text }},
	{name: "error", form: formWord, phase: PhaseResponse, eval: func(_ *term, x *record.Exchange, _ Env) bool { return x.Err != nil }},
	{name: "replay", form: formWord, phase: PhaseRequest, eval: func(_ *term, x *record.Exchange, _ Env) bool { return x.ReplayOf != 0 }},
	{name: "retried", form: formWord, phase: PhaseResponse, eval: func(_ *term, x *record.Exchange, _ Env) bool { _, ok := x.Mark("retried"); return ok }},
	{name: "modified", form: formWord, phase: PhaseResponse, eval: hasMark("modified")},
	{name: "mocked", form: formWord, phase: PhaseRequest, eval: hasMark("mocked")},
	{name: "faulted", form: formWord, phase: PhaseResponse, eval: hasMark("faulted")},
	{name: "limited", form: formWord, phase: PhaseRequest, eval: func(_ *term, x *record.Exchange, _ Env) bool { v, _ := x.Mark("limit"); return v == "limited" }},
	{name: "grpc", form: formWord, phase: PhaseRequest, eval: func(_ *term, x *record.Exchange, _ Env) bool { return isGRPCCall(x) }},
	{form: formText, phase: PhaseResponse, bodies: true, eval: evalText},
}

// textKey is the row for free text.
var textKey = &keys[len(keys)-1]

// lookup finds the row of form f named name (lower case), or nil.
func lookup(f form, name string) *key {
	for i := range keys {
		if keys[i].form == f && keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

// Keys are the keys a term may start with ("method", "status", …), in the
// order the help lists them.
func Keys() []string {
	var out []string
	for _, k := range keys {
		if k.form == formKeyed {
			out = append(out, k.name)
		}
	}
	return out
}

func parseMethod(t *term, v string) string {
	for _, m := range strings.Split(v, ",") {
		if m == "" || !isWord(m) {
			return "want a method such as GET, or a list GET,POST"
		}
		t.methods = append(t.methods, strings.ToUpper(m))
	}
	return ""
}

func parseStatusList(t *term, v string) string {
	for _, alt := range strings.Split(v, ",") {
		sp, err := parseStatus(alt)
		if err != "" {
			return err
		}
		t.spans = append(t.spans, sp...)
	}
	return ""
}

// parseGlob sets t.glob when v is a glob (holds * ? or [), checking its
// syntax once with a name that cannot match.
func parseGlob(t *term, v string) string {
	if strings.ContainsAny(v, "*?[") {
		if _, err := path.Match(strings.ToLower(v), ""); err != nil {
			return "bad glob: " + err.Error()
		}
		t.glob = v
	}
	return ""
}

func parseHost(t *term, v string) string {
	t.text = strings.ToLower(v)
	return parseGlob(t, t.text)
}

func parsePath(t *term, v string) string {
	t.text = v
	return parseGlob(t, v)
}

func parseHeader(t *term, v string) string {
	name, val, hasVal := strings.Cut(v, "=")
	if name == "" {
		return "want header:name or header:name=value"
	}
	t.name, t.text, t.hasVal = name, strings.ToLower(val), hasVal
	return ""
}

func parseText(t *term, v string) string {
	t.text = strings.ToLower(v)
	return ""
}

func parseDurTerm(t *term, v string) string {
	op, rest := parseOp(v, opGe)
	d, err := parseDur(rest)
	t.op, t.n = op, int64(d)
	return err
}

func parseSizeTerm(t *term, v string) string {
	op, rest := parseOp(v, opGe)
	n, err := parseSize(rest)
	t.op, t.n = op, n
	return err
}

func evalMethod(t *term, x *record.Exchange, _ Env) bool {
	for _, m := range t.methods {
		if strings.EqualFold(x.Request.Method, m) {
			return true
		}
	}
	return false
}

func evalStatus(t *term, x *record.Exchange, _ Env) bool {
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
}

func evalHost(t *term, x *record.Exchange, _ Env) bool {
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
}

func evalPath(t *term, x *record.Exchange, _ Env) bool {
	p := urlPath(x.Request.URL)
	if t.glob != "" {
		return globMatch(t.glob, p)
	}
	return strings.HasPrefix(p, t.text)
}

func evalHeader(t *term, x *record.Exchange, _ Env) bool {
	if t.matchFields(x.Request.Header) || t.matchFields(x.Request.Trailer) {
		return true
	}
	if x.Response != nil {
		return t.matchFields(x.Response.Header) || t.matchFields(x.Response.Trailer)
	}
	return false
}

func evalBody(t *term, x *record.Exchange, env Env) bool { return bodyContains(x, &env, t.text) }

func evalDur(t *term, x *record.Exchange, env Env) bool {
	return t.op.cmp(int64(x.Duration(env.Now)), t.n)
}

func evalSize(t *term, x *record.Exchange, _ Env) bool {
	var n int64
	if x.Response != nil {
		n = x.Response.Body.Size
	}
	if x.Upgraded {
		n = x.UpgradeUp + x.UpgradeDn
	}
	return t.op.cmp(n, t.n)
}

func evalType(t *term, x *record.Exchange, _ Env) bool {
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
}

func evalText(t *term, x *record.Exchange, env Env) bool {
	if containsFold(x.Request.URL, t.text) {
		return true
	}
	if fieldsContain(x.Request.Header, t.text) {
		return true
	}
	if x.Response != nil && fieldsContain(x.Response.Header, t.text) {
		return true
	}
	return bodyContains(x, &env, t.text)
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

func (t *term) matchFields(fs record.Fields) bool {
	for _, f := range fs {
		if strings.EqualFold(f.Name, t.name) && (!t.hasVal || containsFold(f.Value, t.text)) {
			return true
		}
	}
	return false
}

func fieldsContain(fs record.Fields, needle string) bool {
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

func bodyContains(x *record.Exchange, env *Env, needle string) bool {
	if len(x.Request.Body.Bytes) > 0 && decodedContains(env, x.Request.Body, x.Request.Header, x.BodiesDecoded, needle) {
		return true
	}
	return x.Response != nil && len(x.Response.Body.Bytes) > 0 &&
		decodedContains(env, x.Response.Body, x.Response.Header, x.BodiesDecoded, needle)
}

// decodedContains searches a body with its Content-Encoding undone; bytes
// that do not decode are searched as captured.
func decodedContains(env *Env, b record.Body, h record.Fields, alreadyDecoded bool, needle string) bool {
	data := b.Bytes
	if env.Bodies != nil {
		d, _, _, err := env.Bodies.Body(b, h, alreadyDecoded)
		if err == nil || len(d) > 0 {
			data = d
		}
	}
	return bytesContainsFold(data, needle)
}

// exchangeHost is the host (with port, if any) the client asked for.
func exchangeHost(x *record.Exchange) string {
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
	// A loop rather than strings.IndexAny, which builds its set on every
	// call: path: runs this for every rule on every request.
	for i := 0; i < len(u); i++ {
		if u[i] == '?' || u[i] == '#' {
			u = u[:i]
			break
		}
	}
	if u == "" {
		return "/"
	}
	return u
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

// parseMarkGlob reads the value of a term on a mark (route:, upstream:):
// text the mark contains, or a glob it matches whole (case-insensitive; *
// crosses "/", as in path:).
func parseMarkGlob(t *term, v string) string {
	t.text = strings.ToLower(v)
	return parseGlob(t, t.text)
}

// cacheVerdicts are the cache marks a cache: term may name.
var cacheVerdicts = []string{"hit", "miss", "stale", "revalidated", "bypass"}

func parseCache(t *term, v string) string {
	t.text = strings.ToLower(v)
	for _, c := range cacheVerdicts {
		if t.text == c {
			return ""
		}
	}
	return "want cache:" + strings.Join(cacheVerdicts, ", cache:")
}

// evalMark evaluates a term against the last mark named name.
func evalMark(name string) func(t *term, x *record.Exchange, _ Env) bool {
	return func(t *term, x *record.Exchange, _ Env) bool {
		v, ok := x.Mark(name)
		return ok && matchMark(t, v)
	}
}

// evalUpstream matches the upstream that answered (its mark, e.g.
// "http://127.0.0.1:3001"), else the scheme and host of the URL the request
// was sent to.
func evalUpstream(t *term, x *record.Exchange, _ Env) bool {
	if v, ok := x.Mark("upstream"); ok {
		return matchMark(t, v)
	}
	u, err := url.Parse(x.Request.UpstreamURL)
	if err != nil || u.Host == "" {
		return false
	}
	return matchMark(t, u.Scheme+"://"+u.Host)
}

func matchMark(t *term, v string) bool {
	v = strings.ToLower(v)
	if t.glob != "" {
		return globMatch(t.glob, v)
	}
	return strings.Contains(v, t.text)
}

// evalRule matches when any rule that fired on the exchange (its "rule"
// marks) has a name the term matches.
func evalRule(t *term, x *record.Exchange, _ Env) bool {
	for _, m := range x.Marks {
		if m.Stage == "rules" && m.Name == "rule" && matchMark(t, m.Value) {
			return true
		}
	}
	return false
}

// hasMark is the evaluation of a word that is true when a rule marked the
// exchange so (modified, mocked, faulted).
func hasMark(name string) func(*term, *record.Exchange, Env) bool {
	return func(_ *term, x *record.Exchange, _ Env) bool {
		for _, m := range x.Marks {
			if m.Stage == "rules" && m.Name == name {
				return true
			}
		}
		return false
	}
}
