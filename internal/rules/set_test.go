package rules

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
)

// coreTimeout bounds every network wait in these tests.
const coreTimeout = 20 * time.Second

// upstreamLog is what a test backend saw.
type upstreamLog struct {
	mu   sync.Mutex
	reqs []*http.Request // clones, without bodies
}

func (l *upstreamLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r.Clone(context.Background()))
}

func (l *upstreamLog) all() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.reqs...)
}

// last is the last request the backend saw; the test fails without one.
func (l *upstreamLog) last(t *testing.T) *http.Request {
	t.Helper()
	all := l.all()
	if len(all) == 0 {
		t.Fatal("the upstream was not called")
	}
	return all[len(all)-1]
}

// newUpstream is a backend named name: it answers "NAME PATH?QUERY" with
// X-Upstream: NAME, and 500 for paths under /fail.
func newUpstream(t *testing.T, name string) (*httptest.Server, *upstreamLog) {
	t.Helper()
	log := &upstreamLog{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		w.Header().Set("X-Upstream", name)
		if strings.HasPrefix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, name+" "+r.URL.RequestURI())
	}))
	t.Cleanup(s.Close)
	return s, log
}

// ruleRig is a proxy.Handler with a rule Set as its stage, in front of a
// backend, with a recorder.
type ruleRig struct {
	t        *testing.T
	set      *Set
	handler  *proxy.Handler
	rec      *record.Recorder
	proxy    *httptest.Server
	upstream *upstreamLog
	client   *http.Client
}

func newRuleRig(t *testing.T, rules []string, o Options) *ruleRig {
	t.Helper()
	parsed, err := ParseAll(rules)
	if err != nil {
		t.Fatal(err)
	}
	set, err := New(parsed, o)
	if err != nil {
		t.Fatal(err)
	}
	backend, log := newUpstream(t, "a")
	target, _ := url.Parse(backend.URL)
	rec := record.NewRecorder(record.Limits{})
	tr, err := proxy.NewTransport(proxy.TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	h, err := proxy.New(proxy.Options{Target: target, Tap: rec, Transport: tr, Stages: []proxy.Stage{set}})
	if err != nil {
		t.Fatal(err)
	}
	p := httptest.NewServer(h)
	t.Cleanup(p.Close)
	client := &http.Client{Timeout: coreTimeout, Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	return &ruleRig{t: t, set: set, handler: h, rec: rec, proxy: p, upstream: log, client: client}
}

// do sends a request through the proxy; hdr are name, value pairs. It
// returns the response with its body read.
func (r *ruleRig) do(method, path string, hdr ...string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.proxy.URL+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return res, string(b)
}

func (r *ruleRig) get(path string, hdr ...string) (*http.Response, string) {
	r.t.Helper()
	return r.do("GET", path, hdr...)
}

// exchange waits until exchange number n (from 1) is done and returns it.
func (r *ruleRig) exchange(n int) record.Exchange {
	return recordtest.WaitExchange(r.t, r.rec, n, coreTimeout)
}

// rulesMarks lists the exchange's marks of stage "rules" as name=value.
func rulesMarks(x record.Exchange) []string {
	var out []string
	for _, m := range x.Marks {
		if m.Stage == "rules" {
			out = append(out, m.Name+"="+m.Value)
		}
	}
	return out
}

// hasMarks reports whether want appear in got in order (not necessarily
// next to each other).
func hasMarks(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestMockAnswersWithoutUpstream(t *testing.T) {
	r := newRuleRig(t, []string{`path:/m => mock 201 header=X-M:1 body="hello world"`}, Options{})
	res, body := r.get("/m")
	if res.StatusCode != 201 || body != "hello world" || res.Header.Get("X-M") != "1" {
		t.Fatalf("got %d %q X-M=%q", res.StatusCode, body, res.Header.Get("X-M"))
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q: want the sniffed text/plain", ct)
	}
	if n := len(r.upstream.all()); n != 0 {
		t.Errorf("the upstream was called %d times for a mocked request", n)
	}
	x := r.exchange(1)
	if got := rulesMarks(x); !hasMarks(got, "rule=1", "mock=201", "mocked=1") {
		t.Errorf("marks %v", got)
	}
	if x.Response == nil || x.Response.Status != 201 || string(x.Response.Body.Bytes) != "hello world" {
		t.Errorf("recorded %+v", x.Response)
	}
	// Other paths still reach the upstream.
	if _, body := r.get("/other"); body != "a /other" {
		t.Errorf("unmatched request: %q", body)
	}
}

func TestMockFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, []byte(`[{"id":1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	rule := "path:/users => mock 200 " + quoteArg("file="+path)
	r := newRuleRig(t, []string{rule}, Options{})
	res, body := r.get("/users")
	if res.StatusCode != 200 || body != `[{"id":1}]` || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q Content-Type %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	// The file was read when the rule was parsed: changing it now does
	// not change the answer.
	if err := os.WriteFile(path, []byte(`changed`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, body := r.get("/users"); body != `[{"id":1}]` {
		t.Errorf("second answer %q", body)
	}
	if got := rulesMarks(r.exchange(1)); !hasMarks(got, "rule=1", "mock=200 from "+path, "mocked=1") {
		t.Errorf("marks %v", got)
	}
	// A header= Content-Type wins over the guess.
	rr, err := Parse("* => mock 200 header=Content-Type:text/csv " + quoteArg("file="+path))
	if err != nil {
		t.Fatal(err)
	}
	if ct := unwrap(rr.Actions[0]).(*mockAction).header.Get("Content-Type"); ct != "text/csv" {
		t.Errorf("Content-Type %q with header=", ct)
	}
}

func TestStatusIsAFault(t *testing.T) {
	r := newRuleRig(t, []string{
		`path:/down => status 503`,
		`path:/teapot => status 418 body="short and stout"`,
	}, Options{})
	res, body := r.get("/down")
	if res.StatusCode != 503 || !strings.Contains(body, "rule 1") {
		t.Fatalf("got %d %q: want 503 naming the rule", res.StatusCode, body)
	}
	if got := rulesMarks(r.exchange(1)); !hasMarks(got, "rule=1", "status=503", "faulted=1") {
		t.Errorf("marks %v", got)
	}
	res, body = r.get("/teapot")
	if res.StatusCode != 418 || body != "short and stout" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}
	if n := len(r.upstream.all()); n != 0 {
		t.Errorf("the upstream was called %d times", n)
	}
}

func TestMapSendsToAnotherUpstream(t *testing.T) {
	other, otherLog := newUpstream(t, "b")
	r := newRuleRig(t, []string{`path:/api/* => map ` + other.URL + `/base`}, Options{})
	res, body := r.get("/api/users?x=1")
	if body != "b /base/api/users?x=1" || res.Header.Get("X-Upstream") != "b" {
		t.Fatalf("got %q from %q: want the mapped upstream with its base path", body, res.Header.Get("X-Upstream"))
	}
	if host := otherLog.last(t).Host; host != strings.TrimPrefix(other.URL, "http://") {
		t.Errorf("Host %q: want the mapped upstream's", host)
	}
	x := r.exchange(1)
	if !strings.HasPrefix(x.Request.UpstreamURL, other.URL+"/base/api/users") {
		t.Errorf("recorded upstream URL %q", x.Request.UpstreamURL)
	}
	if got := rulesMarks(x); !hasMarks(got, "rule=1", "map="+other.URL+"/base", "modified=1") {
		t.Errorf("marks %v", got)
	}
	if _, body := r.get("/web"); body != "a /web" {
		t.Errorf("unmatched request went to %q", body)
	}
}

func TestFirstMapWins(t *testing.T) {
	b, _ := newUpstream(t, "b")
	c, _ := newUpstream(t, "c")
	r := newRuleRig(t, []string{`* => map ` + b.URL, `* => map ` + c.URL}, Options{})
	if _, body := r.get("/x"); body != "b /x" {
		t.Fatalf("got %q: want the first map", body)
	}
}

func TestHeaderActions(t *testing.T) {
	r := newRuleRig(t, []string{
		`path:/h => set-header X-Added "a b"; remove-header X-Secret`,
		`path:/h => set-header response Cache-Control no-store; remove-header response X-Upstream`,
		`path:/h => remove-header X-Absent`,
	}, Options{})
	res, _ := r.get("/h", "X-Secret", "s3cret")
	up := r.upstream.last(t)
	if up.Header.Get("X-Added") != "a b" || up.Header.Get("X-Secret") != "" {
		t.Errorf("upstream got X-Added %q X-Secret %q", up.Header.Get("X-Added"), up.Header.Get("X-Secret"))
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Upstream") != "" {
		t.Errorf("client got Cache-Control %q X-Upstream %q", res.Header.Get("Cache-Control"), res.Header.Get("X-Upstream"))
	}
	x := r.exchange(1)
	want := []string{"rule=1", "set-header=request X-Added: a b", "modified=1", "remove-header=request X-Secret",
		"rule=3", "remove-header=request X-Absent (not present)",
		"rule=2", "set-header=response Cache-Control: no-store", "remove-header=response X-Upstream"}
	if got := rulesMarks(x); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("marks\n got %v\nwant %v", got, want)
	}
	// The recorded request is the client's; the client's header is kept.
	if x.Request.Header.Get("X-Secret") != "s3cret" {
		t.Errorf("recorded request lost the client's header: %v", x.Request.Header)
	}
}

func TestRewritePath(t *testing.T) {
	r := newRuleRig(t, []string{`path:/v1/* => rewrite-path ^/v1/(.*) /v2/$1`}, Options{})
	if _, body := r.get("/v1/users/7?full=1"); body != "a /v2/users/7?full=1" {
		t.Fatalf("got %q", body)
	}
	x := r.exchange(1)
	if got := rulesMarks(x); !hasMarks(got, "rule=1", "rewrite-path=/v1/users/7 → /v2/users/7", "modified=1") {
		t.Errorf("marks %v", got)
	}
	if !strings.HasSuffix(x.Request.URL, "/v1/users/7?full=1") {
		t.Errorf("recorded URL %q: want the client's", x.Request.URL)
	}
}

func TestResponsePhaseRule(t *testing.T) {
	r := newRuleRig(t, []string{
		`status:5xx => set-header response X-Debug yes`,
		`header:X-Upstream=a path:/ok => set-header response X-Seen a`,
	}, Options{})
	res, _ := r.get("/fail")
	if res.StatusCode != 500 || res.Header.Get("X-Debug") != "yes" {
		t.Errorf("/fail: %d X-Debug %q", res.StatusCode, res.Header.Get("X-Debug"))
	}
	res, _ = r.get("/ok")
	if res.Header.Get("X-Debug") != "" || res.Header.Get("X-Seen") != "a" {
		t.Errorf("/ok: X-Debug %q X-Seen %q", res.Header.Get("X-Debug"), res.Header.Get("X-Seen"))
	}
	if got := rulesMarks(r.exchange(1)); !hasMarks(got, "rule=1", "set-header=response X-Debug: yes", "modified=1") {
		t.Errorf("marks %v", got)
	}
	if got := rulesMarks(r.exchange(2)); !hasMarks(got, "rule=2") || hasMarks(got, "rule=1") {
		t.Errorf("marks %v", got)
	}
}

func TestRulesStackInOrder(t *testing.T) {
	r := newRuleRig(t, []string{
		`path:/s => set-header X-A one`,
		`path:/s => set-header X-A two; set-header X-B b`,
		`path:/other => set-header X-A other`,
	}, Options{})
	r.get("/s")
	up := r.upstream.last(t)
	if up.Header.Get("X-A") != "two" || up.Header.Get("X-B") != "b" {
		t.Errorf("upstream got X-A %q X-B %q: want the later rule to win and both to apply", up.Header.Get("X-A"), up.Header.Get("X-B"))
	}
	got := rulesMarks(r.exchange(1))
	if !hasMarks(got, "rule=1", "rule=2") || hasMarks(got, "rule=3") {
		t.Errorf("marks %v", got)
	}
	if n := strings.Count(strings.Join(got, "|"), "modified=1"); n != 1 {
		t.Errorf("%d modified marks in %v: want one", n, got)
	}
}

func TestAnswerStopsLaterRequestActions(t *testing.T) {
	r := newRuleRig(t, []string{
		`path:/t => set-header X-Before b`,
		`path:/t => status 503; set-header X-Same s`,
		`path:/t => status 500`,
		`path:/t => set-header X-After a; set-header response X-Later l`,
	}, Options{})
	res, _ := r.get("/t")
	if res.StatusCode != 503 {
		t.Fatalf("status %d: want the first answer", res.StatusCode)
	}
	if res.Header.Get("X-Later") != "l" {
		t.Errorf("a later rule's response action did not run on the answer")
	}
	got := rulesMarks(r.exchange(1))
	want := []string{"rule=1", "set-header=request X-Before: b", "modified=1", "rule=2", "status=503", "faulted=1",
		"answered=by rules", "rule=4", "set-header=response X-Later: l"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("marks\n got %v\nwant %v", got, want)
	}
}

func TestProbabilityWithSeededSource(t *testing.T) {
	const n = 40
	r := newRuleRig(t, []string{`* => set-header X-P yes p=0.5`}, Options{Rand: rand.New(rand.NewPCG(1, 2))})
	want := rand.New(rand.NewPCG(1, 2))
	fired := 0
	for i := range n {
		r.get("/p")
		expect := want.Float64() < 0.5
		got := r.upstream.last(t).Header.Get("X-P") == "yes"
		if got != expect {
			t.Fatalf("request %d: fired %v, want %v", i+1, got, expect)
		}
		x := r.exchange(i + 1)
		marks := strings.Join(rulesMarks(x), "|")
		if !strings.Contains(marks, "draw=rule 1: set-header X-P yes p=0.5: drew ") {
			t.Errorf("request %d: no draw recorded: %s", i+1, marks)
		}
		if strings.Contains(marks, "rule=1") != expect {
			t.Errorf("request %d: marks %s with fired %v", i+1, marks, expect)
		}
		if expect {
			fired++
		}
	}
	if fired == 0 || fired == n {
		t.Errorf("fired %d of %d: the seed should give a mix", fired, n)
	}
}

func TestProbabilityDrawnOncePerExchange(t *testing.T) {
	// The response part of an action that acted on the request is not
	// drawn again: a request-matched rule's response action follows its
	// one draw.
	r := newRuleRig(t, []string{`* => set-header response X-P yes p=0.5`}, Options{Rand: rand.New(rand.NewPCG(3, 4))})
	want := rand.New(rand.NewPCG(3, 4))
	for i := range 10 {
		res, _ := r.get("/p")
		if got, expect := res.Header.Get("X-P") == "yes", want.Float64() < 0.5; got != expect {
			t.Fatalf("request %d: fired %v, want %v", i+1, got, expect)
		}
		if n := strings.Count(strings.Join(rulesMarks(r.exchange(i+1)), "|"), "draw="); n != 1 {
			t.Fatalf("request %d: %d draws", i+1, n)
		}
	}
}

func TestReplaySkipsStatusKeepsModifiers(t *testing.T) {
	r := newRuleRig(t, []string{`path:/r => status 503; set-header X-A a`, `path:/r => set-header X-B b`}, Options{})
	if res, _ := r.get("/r"); res.StatusCode != 503 {
		t.Fatalf("status %d", res.StatusCode)
	}
	rp := proxy.NewReplayer(r.handler, r.rec)
	ctx, cancel := context.WithTimeout(context.Background(), coreTimeout)
	defer cancel()
	id, err := rp.Replay(ctx, r.exchange(1).ID)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := r.rec.Get(id)
	if !ok || x.Response == nil || x.Response.Status != 200 {
		t.Fatalf("replay: %+v", x.Response)
	}
	up := r.upstream.last(t)
	if up.Header.Get("X-A") != "a" || up.Header.Get("X-B") != "b" {
		t.Errorf("replay reached the upstream with X-A %q X-B %q: want the other actions applied", up.Header.Get("X-A"), up.Header.Get("X-B"))
	}
	if got := rulesMarks(x); hasMarks(got, "status=503") {
		t.Errorf("replay marks %v", got)
	}
}

func TestDisabledRuleAndReplace(t *testing.T) {
	rules, err := Decode([]any{
		map[string]any{"name": "off", "match": "path:/x", "do": "status 503", "enabled": false},
		"path:/y => status 418",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newRuleRig(t, nil, Options{})
	if err := r.set.Replace(rules); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.get("/x"); res.StatusCode != 200 {
		t.Errorf("disabled rule applied: %d", res.StatusCode)
	}
	if res, _ := r.get("/y"); res.StatusCode != 418 {
		t.Errorf("enabled rule: %d", res.StatusCode)
	}
	if got := r.set.Rules(); len(got) != 2 || got[0].Name != "off" || got[0].Enabled || got[1].Name != "" {
		t.Errorf("Rules() = %+v", got)
	}
	rules[0].Enabled = true
	if err := r.set.Replace(rules); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.get("/x"); res.StatusCode != 503 {
		t.Errorf("after Replace: %d", res.StatusCode)
	}
	if got := rulesMarks(r.exchange(3)); !hasMarks(got, "rule=off") {
		t.Errorf("marks %v: want the rule's name", got)
	}
	// A failed Replace keeps the rules.
	bad := append([]Rule(nil), rules...)
	bad = append(bad, Rule{Name: "off", Match: "path:/z", Actions: rules[1].Actions, Enabled: true})
	if err := r.set.Replace(bad); err == nil || !strings.Contains(err.Error(), `rule "off": rule 1 has this name too`) {
		t.Errorf("duplicate names: %v", err)
	}
	if len(r.set.Rules()) != 2 {
		t.Errorf("a failed Replace changed the rules")
	}
}

func TestNewRefuses(t *testing.T) {
	bp, err := Parse("method:POST => breakpoint request")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New([]Rule{bp}, Options{}); err == nil || !strings.HasPrefix(err.Error(), "rule 1: a breakpoint needs the terminal UI") {
		t.Errorf("breakpoint without Holds: %v", err)
	}
	st, err := Parse("* => status 503")
	if err != nil {
		t.Fatal(err)
	}
	hand := Rule{Match: "status:5xx", Actions: st.Actions, Enabled: true}
	want := "rule 1: status:5xx needs the response, so it cannot trigger status (a request-phase action); use a response-phase action (first-byte, truncate, set-header response …) or match on the request"
	if _, err := New([]Rule{hand}, Options{}); err == nil || err.Error() != want {
		t.Errorf("hand-made rule with a response matcher:\n got %v\nwant %s", err, want)
	}
	if _, err := New([]Rule{{Match: "foo:bar", Actions: st.Actions}}, Options{}); err == nil || !strings.HasPrefix(err.Error(), `rule 1: foo:bar: unknown key "foo"`) {
		t.Errorf("bad matcher: %v", err)
	}
}
