package rules

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
)

// The basic actions: answering (mock, status), sending elsewhere (map) and
// changing the request or response (set-header, remove-header,
// rewrite-path).
func init() {
	register("mock", parseMock)
	register("status", parseStatus)
	register("map", parseMap)
	register("set-header", parseSetHeader)
	register("remove-header", parseRemoveHeader)
	register("rewrite-path", parseRewritePath)
}

// maxMockFile bounds a mock's file, which is kept in memory.
const maxMockFile = 64 << 20

// mockAction answers without calling the upstream:
// mock STATUS [header=NAME:VALUE]… [body=TEXT | file=PATH].
type mockAction struct {
	status int
	header http.Header
	args   []string // the header=, body= and file= arguments, for String
	body   []byte
	file   string
}

func parseMock(args []string) (Action, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("mock needs a status, e.g. mock 200 body=ok or mock 200 file=users.json")
	}
	m := &mockAction{header: http.Header{}}
	var err error
	if m.status, err = parseCode(args[0]); err != nil {
		return nil, err
	}
	hasBody := false
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "header":
			name, value, err := parseHeaderArg(v)
			if err != nil {
				return nil, err
			}
			m.header.Add(name, value)
		case "body", "file":
			if hasBody {
				return nil, fmt.Errorf("give one of body= and file=, once")
			}
			hasBody = true
			if k == "body" {
				m.body = []byte(v)
				break
			}
			if m.body, err = readMockFile(v); err != nil {
				return nil, err
			}
			m.file = v
		default:
			return nil, fmt.Errorf("%q: arguments after the status are header=NAME:VALUE, body=TEXT or file=PATH", a)
		}
		m.args = append(m.args, a)
	}
	if m.header.Get("Content-Type") == "" && len(m.body) > 0 {
		m.header.Set("Content-Type", guessType(m.file, m.body))
	}
	return m, nil
}

// readMockFile reads a mock's body file when the rule is parsed, so a
// missing file is an error at start-up rather than on the first request.
func readMockFile(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("file= needs a path, e.g. file=users.json")
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("file=%s: %v; give the path of a file to answer with (relative paths start in the directory devproxy runs in)", path, unwrapPathError(err))
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("file=%s is not a regular file; give the path of a file to answer with", path)
	case fi.Size() > maxMockFile:
		return nil, fmt.Errorf("file=%s is %d MiB; mock files are kept in memory and may be at most %d MiB", path, fi.Size()>>20, maxMockFile>>20)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("file=%s: %v", path, unwrapPathError(err))
	}
	return b, nil
}

// unwrapPathError leaves out the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// guessType is the Content-Type of a mock body: from the file's extension,
// else sniffed.
func guessType(file string, body []byte) string {
	if t := mime.TypeByExtension(filepath.Ext(file)); file != "" && t != "" {
		return t
	}
	return http.DetectContentType(body)
}

func (m *mockAction) Name() string                                    { return "mock" }
func (m *mockAction) Phase() match.Phase                              { return match.PhaseRequest }
func (m *mockAction) Prob() float64                                   { return 1 }
func (m *mockAction) String() string                                  { return joinArgs("mock", strconv.Itoa(m.status), m.args...) }
func (m *mockAction) Response(*proxy.Flow, *http.Response, Env) error { return nil }

func (m *mockAction) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	what := strconv.Itoa(m.status)
	if m.file != "" {
		what += " from " + m.file
	}
	note(f, "mock", what, kindMocked)
	return respond(m.status, m.header.Clone(), m.body), nil
}

// respond is a response of status with body.
func respond(status int, h http.Header, body []byte) *http.Response {
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		StatusCode:    status,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

// parseCode reads a response status, 200–599.
func parseCode(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 200 || n > 599 {
		return 0, fmt.Errorf("%q is not a status; give a number from 200 to 599, e.g. 503", s)
	}
	return n, nil
}

// parseHeaderArg reads NAME:VALUE.
func parseHeaderArg(v string) (string, string, error) {
	name, value, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || !validHeaderName(name) {
		return "", "", fmt.Errorf("header=%s: write header=NAME:VALUE, e.g. header=Content-Type:application/json (quote it when the value has spaces)", v)
	}
	value = strings.TrimSpace(value)
	if strings.ContainsAny(value, "\r\n") {
		return "", "", fmt.Errorf("header=%s: a header value cannot contain a line break", name)
	}
	return name, value, nil
}

// validHeaderName reports whether s is a header field name (an RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// joinArgs writes an action's normal form: its name and arguments, quoted
// where they need it.
func joinArgs(name string, first string, rest ...string) string {
	var b strings.Builder
	b.WriteString(name)
	for _, a := range append([]string{first}, rest...) {
		b.WriteByte(' ')
		b.WriteString(quoteArg(a))
	}
	return b.String()
}

// statusAction answers with a status code: a fault (replays skip it).
// status CODE [body=TEXT].
type statusAction struct {
	code int
	body []byte
	arg  string // the body= argument, for String
}

func parseStatus(args []string) (Action, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, fmt.Errorf("write status CODE [body=TEXT], e.g. status 503")
	}
	code, err := parseCode(args[0])
	if err != nil {
		return nil, err
	}
	s := &statusAction{code: code}
	if len(args) == 2 {
		body, ok := strings.CutPrefix(args[1], "body=")
		if !ok {
			return nil, fmt.Errorf("%q: the argument after the code is body=TEXT", args[1])
		}
		s.body, s.arg = []byte(body), args[1]
	}
	return s, nil
}

func (s *statusAction) Name() string                                    { return "status" }
func (s *statusAction) Phase() match.Phase                              { return match.PhaseRequest }
func (s *statusAction) Prob() float64                                   { return 1 }
func (s *statusAction) Response(*proxy.Flow, *http.Response, Env) error { return nil }
func (s *statusAction) String() string {
	if s.arg == "" {
		return "status " + strconv.Itoa(s.code)
	}
	return joinArgs("status", strconv.Itoa(s.code), s.arg)
}

func (s *statusAction) Request(f *proxy.Flow, env Env) (*http.Response, error) {
	body := s.body
	if s.arg == "" {
		body = fmt.Appendf(nil, "%d %s (from devproxy rule %s)\n", s.code, http.StatusText(s.code), ruleName(env))
	}
	note(f, "status", strconv.Itoa(s.code), kindFaulted)
	h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	return respond(s.code, h, body), nil
}

// mapAction sends the exchange to another upstream: map URL.
type mapAction struct {
	u *url.URL
}

func parseMap(args []string) (Action, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("write map URL, e.g. map http://localhost:4000 or map https://staging.example.com/v2")
	}
	u, err := url.Parse(args[0])
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL: %v", args[0], err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: the URL needs http:// or https://, e.g. http://localhost:4000", args[0])
	case u.Host == "":
		return nil, fmt.Errorf("%q has no host; write map http://HOST[:PORT][/BASE]", args[0])
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: the URL is scheme, host and an optional base path only", args[0])
	}
	return &mapAction{u: u}, nil
}

func (m *mapAction) Name() string                                    { return "map" }
func (m *mapAction) Phase() match.Phase                              { return match.PhaseRequest }
func (m *mapAction) Prob() float64                                   { return 1 }
func (m *mapAction) String() string                                  { return joinArgs("map", m.u.String()) }
func (m *mapAction) Response(*proxy.Flow, *http.Response, Env) error { return nil }

// Request sends f to the URL, unless an earlier map did already: the first
// map that fires wins.
func (m *mapAction) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	if f.MapTo == nil {
		f.MapTo = m.u
		note(f, "map", m.u.String(), kindModified)
	}
	return nil, nil
}

// headerSide is the message a header action works on.
type headerSide bool

const (
	onRequest  headerSide = false
	onResponse headerSide = true
)

func (s headerSide) String() string {
	if s == onResponse {
		return "response"
	}
	return "request"
}

// cutSide removes a leading "request" or "response" from args.
func cutSide(args []string, n int) (headerSide, []string) {
	if len(args) == n+1 {
		switch strings.ToLower(args[0]) {
		case "request":
			return onRequest, args[1:]
		case "response":
			return onResponse, args[1:]
		}
	}
	return onRequest, args
}

// checkHeaderName refuses names a header action cannot change.
func checkHeaderName(name string) error {
	switch {
	case !validHeaderName(name):
		return fmt.Errorf("%q is not a header name", name)
	case strings.EqualFold(name, "Host"):
		return fmt.Errorf("the Host header follows the upstream; keep the client's with --preserve-host, or send elsewhere with map URL")
	}
	return nil
}

// setHeader sets a header: set-header [request|response] NAME VALUE.
type setHeader struct {
	side        headerSide
	name, value string
}

func parseSetHeader(args []string) (Action, error) {
	sd, args := cutSide(args, 2)
	if len(args) != 2 {
		return nil, fmt.Errorf("write set-header [request|response] NAME VALUE, e.g. set-header response Cache-Control no-store")
	}
	if err := checkHeaderName(args[0]); err != nil {
		return nil, err
	}
	if strings.ContainsAny(args[1], "\r\n") {
		return nil, fmt.Errorf("a header value cannot contain a line break")
	}
	return &setHeader{side: sd, name: http.CanonicalHeaderKey(args[0]), value: args[1]}, nil
}

func (a *setHeader) Name() string  { return "set-header" }
func (a *setHeader) Prob() float64 { return 1 }
func (a *setHeader) Phase() match.Phase {
	if a.side == onResponse {
		return match.PhaseResponse
	}
	return match.PhaseRequest
}

func (a *setHeader) String() string {
	if a.side == onResponse {
		return joinArgs("set-header", "response", a.name, a.value)
	}
	return joinArgs("set-header", a.name, a.value)
}

func (a *setHeader) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	if a.side == onRequest {
		f.Out.Header.Set(a.name, a.value)
		note(f, "set-header", "request "+a.name+": "+a.value, kindModified)
	}
	return nil, nil
}

func (a *setHeader) Response(f *proxy.Flow, res *http.Response, _ Env) error {
	if a.side == onResponse {
		res.Header.Set(a.name, a.value)
		note(f, "set-header", "response "+a.name+": "+a.value, kindModified)
	}
	return nil
}

// removeHeader removes a header: remove-header [request|response] NAME.
type removeHeader struct {
	side headerSide
	name string
}

func parseRemoveHeader(args []string) (Action, error) {
	sd, args := cutSide(args, 1)
	if len(args) != 1 {
		return nil, fmt.Errorf("write remove-header [request|response] NAME, e.g. remove-header request Authorization")
	}
	if err := checkHeaderName(args[0]); err != nil {
		return nil, err
	}
	return &removeHeader{side: sd, name: http.CanonicalHeaderKey(args[0])}, nil
}

func (a *removeHeader) Name() string  { return "remove-header" }
func (a *removeHeader) Prob() float64 { return 1 }
func (a *removeHeader) Phase() match.Phase {
	if a.side == onResponse {
		return match.PhaseResponse
	}
	return match.PhaseRequest
}

func (a *removeHeader) String() string {
	if a.side == onResponse {
		return joinArgs("remove-header", "response", a.name)
	}
	return joinArgs("remove-header", a.name)
}

func (a *removeHeader) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	if a.side == onRequest {
		a.remove(f, f.Out.Header)
	}
	return nil, nil
}

func (a *removeHeader) Response(f *proxy.Flow, res *http.Response, _ Env) error {
	if a.side == onResponse {
		a.remove(f, res.Header)
	}
	return nil
}

// remove deletes the header from h, marking the exchange modified when it
// was there.
func (a *removeHeader) remove(f *proxy.Flow, h http.Header) {
	if _, ok := h[a.name]; !ok {
		note(f, "remove-header", a.side.String()+" "+a.name+" (not present)", 0)
		return
	}
	h.Del(a.name)
	note(f, "remove-header", a.side.String()+" "+a.name, kindModified)
}

// rewritePath replaces what a regular expression matches in the request's
// path: rewrite-path FROM TO ($1… in TO are FROM's groups).
type rewritePath struct {
	re       *regexp.Regexp
	from, to string
}

func parseRewritePath(args []string) (Action, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf(`write rewrite-path FROM TO (FROM a regular expression on the path, TO with $1 for its groups), e.g. rewrite-path ^/v1/ /v2/`)
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression: %v", args[0], strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return &rewritePath{re: re, from: args[0], to: args[1]}, nil
}

func (a *rewritePath) Name() string                                    { return "rewrite-path" }
func (a *rewritePath) Phase() match.Phase                              { return match.PhaseRequest }
func (a *rewritePath) Prob() float64                                   { return 1 }
func (a *rewritePath) String() string                                  { return joinArgs("rewrite-path", a.from, a.to) }
func (a *rewritePath) Response(*proxy.Flow, *http.Response, Env) error { return nil }

func (a *rewritePath) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	old := f.Out.URL.Path
	p := a.re.ReplaceAllString(old, a.to)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if p == old {
		note(f, "rewrite-path", old+" (no match)", 0)
		return nil, nil
	}
	f.Out.URL.Path, f.Out.URL.RawPath = p, ""
	note(f, "rewrite-path", old+" → "+p, kindModified)
	return nil, nil
}
