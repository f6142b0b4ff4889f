package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
)

// testTimeout bounds every network wait in these tests.
const testTimeout = 20 * time.Second

// rig is a proxy.Handler with one auth stage in front of an upstream that
// keeps the Authorization headers it was sent, both on loopback.
type rig struct {
	t      *testing.T
	url    string
	rec    *record.Recorder
	client *http.Client

	mu   sync.Mutex
	seen []string // the Authorization of each request the upstream got ("" for none)
}

// newRig starts the rig. remote, when set, is the client address the
// proxy sees instead of the loopback one, to stand for a client on
// another machine.
func newRig(t *testing.T, a *Auth, remote string) *rig {
	t.Helper()
	r := &rig{t: t, rec: record.NewRecorder(record.Limits{})}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Header.Get("Authorization"))
		r.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	target, _ := url.Parse(up.URL)
	h, err := proxy.New(proxy.Options{Target: target, Tap: r.rec, Stages: []proxy.Stage{a}})
	if err != nil {
		t.Fatal(err)
	}
	var front http.Handler = h
	if remote != "" {
		front = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			req.RemoteAddr = remote
			h.ServeHTTP(w, req)
		})
	}
	p := httptest.NewServer(front)
	t.Cleanup(p.Close)
	r.url = p.URL
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	r.client = &http.Client{Transport: tr, Timeout: testTimeout}
	return r
}

// get sends GET / with the given Authorization ("" for none).
func (r *rig) get(authorization string) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.url+"/", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
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

func (r *rig) upstreamSaw() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// waitDone waits until n exchanges are recorded as done and returns them.
func (r *rig) waitDone(n int) []record.Exchange {
	return recordtest.WaitDone(r.t, r.rec, n, testTimeout)
}

func env(vars ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(vars); i += 2 {
			if vars[i] == k {
				return vars[i+1]
			}
		}
		return ""
	}
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func mustNew(t *testing.T, cfg Config, getenv func(string) string) *Auth {
	t.Helper()
	a, err := New(cfg, getenv)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// attempt is one request through the rig and what should become of it.
type attempt struct {
	authorization string
	status        int
	mark          string
	challenge     string // the WWW-Authenticate values of a 401, joined by " | "
}

// run sends each attempt; the upstream must get only the accepted ones,
// without their credentials.
func run(t *testing.T, r *rig, attempts []attempt) {
	t.Helper()
	passed := 0
	for i, at := range attempts {
		res, body := r.get(at.authorization)
		if res.StatusCode != at.status {
			t.Fatalf("attempt %d (%q): %d %q, want %d", i+1, at.authorization, res.StatusCode, body, at.status)
		}
		if at.status == 200 {
			passed++
			continue
		}
		if got := strings.Join(res.Header.Values("WWW-Authenticate"), " | "); got != at.challenge {
			t.Errorf("attempt %d: WWW-Authenticate %q, want %q", i+1, got, at.challenge)
		}
		if !strings.HasPrefix(body, "devproxy: ") {
			t.Errorf("attempt %d: body %q", i+1, body)
		}
	}
	saw := r.upstreamSaw()
	if len(saw) != passed {
		t.Errorf("the upstream got %d requests, want the %d accepted", len(saw), passed)
	}
	for i, a := range saw {
		if a != "" {
			t.Errorf("the upstream's request %d carried Authorization %q", i+1, a)
		}
	}
	xs := r.waitDone(len(attempts))
	for i, x := range xs {
		if got, _ := x.Mark("auth"); got != attempts[i].mark {
			t.Errorf("exchange %d: auth=%q, want %q (marks %v)", i+1, got, attempts[i].mark, x.Marks)
		}
		if x.Response == nil || x.Response.Status != attempts[i].status {
			t.Errorf("exchange %d recorded as %+v", i+1, x.Response)
		}
	}
}

const basicChallenge = `Basic realm="devproxy", charset="UTF-8"`

func TestBasicFromEnv(t *testing.T) {
	a := mustNew(t, Config{Basic: &Basic{User: "dev", PasswordEnv: "DEVPROXY_PASS"}}, env("DEVPROXY_PASS", "s3cret"))
	run(t, newRig(t, a, ""), []attempt{
		{basicAuth("dev", "s3cret"), 200, "ok", ""},
		{"", 401, "refused: no credentials", basicChallenge},
		{basicAuth("dev", "wrong"), 401, "refused: wrong password", basicChallenge},
		{basicAuth("eve", "s3cret"), 401, "refused: wrong password", basicChallenge},
		{basicAuth("dev", "s3cret2"), 401, "refused: wrong password", basicChallenge},
		{"Basic !!!", 401, "refused: wrong password", basicChallenge},
		{"Bearer s3cret", 401, "refused: no credentials", basicChallenge},
		{"basic " + strings.TrimPrefix(basicAuth("dev", "s3cret"), "Basic "), 200, "ok", ""},
	})
}

func TestBasicBcryptHash(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a := mustNew(t, Config{Basic: &Basic{User: "dev", PasswordHash: string(hash)}}, env())
	run(t, newRig(t, a, ""), []attempt{
		{basicAuth("dev", "hunter2"), 200, "ok", ""},
		{basicAuth("dev", "hunter2"), 200, "ok", ""}, // from the verified cache
		{basicAuth("dev", "hunter3"), 401, "refused: wrong password", basicChallenge},
		{basicAuth("root", "hunter2"), 401, "refused: wrong password", basicChallenge},
	})
}

func TestBearerTokens(t *testing.T) {
	a := mustNew(t, Config{Bearer: &Bearer{TokensEnv: "DEVPROXY_TOKENS"}}, env("DEVPROXY_TOKENS", " tok-a, tok-b ,,"))
	run(t, newRig(t, a, ""), []attempt{
		{"Bearer tok-a", 200, "ok", ""},
		{"Bearer tok-b", 200, "ok", ""},
		{"bearer tok-b", 200, "ok", ""},
		{"Bearer tok-c", 401, "refused: wrong token", `Bearer realm="devproxy", error="invalid_token"`},
		{"Bearer tok-a, tok-b", 401, "refused: wrong token", `Bearer realm="devproxy", error="invalid_token"`},
		{"Bearer ", 401, "refused: no credentials", `Bearer realm="devproxy"`},
		{basicAuth("dev", "tok-a"), 401, "refused: no credentials", `Bearer realm="devproxy"`},
	})
}

func TestBasicOrBearer(t *testing.T) {
	a := mustNew(t, Config{
		Basic:  &Basic{User: "dev", PasswordEnv: "P"},
		Bearer: &Bearer{TokensEnv: "T"},
	}, env("P", "pw", "T", "tok"))
	both := basicChallenge + ` | Bearer realm="devproxy"`
	run(t, newRig(t, a, ""), []attempt{
		{basicAuth("dev", "pw"), 200, "ok", ""},
		{"Bearer tok", 200, "ok", ""},
		{"", 401, "refused: no credentials", both},
		{"Bearer pw", 401, "refused: wrong token", basicChallenge + ` | Bearer realm="devproxy", error="invalid_token"`},
	})
}

func TestLoopbackBypass(t *testing.T) {
	cfg := Config{Basic: &Basic{User: "dev", PasswordEnv: "P"}, LoopbackBypass: true}
	getenv := env("P", "pw")

	t.Run("loopback", func(t *testing.T) {
		r := newRig(t, mustNew(t, cfg, getenv), "")
		for _, tc := range []struct{ authorization, mark, forwarded string }{
			{"", "bypass: loopback", ""},
			// Our own credential is still ours: checked and removed.
			{basicAuth("dev", "pw"), "ok", ""},
			// Anyone else's is the upstream's business.
			{basicAuth("app", "x"), "bypass: loopback", basicAuth("app", "x")},
			{"Bearer app-token", "bypass: loopback", "Bearer app-token"},
		} {
			res, body := r.get(tc.authorization)
			if res.StatusCode != 200 {
				t.Fatalf("%q: %d %q", tc.authorization, res.StatusCode, body)
			}
			saw := r.upstreamSaw()
			if got := saw[len(saw)-1]; got != tc.forwarded {
				t.Errorf("%q: the upstream got Authorization %q, want %q", tc.authorization, got, tc.forwarded)
			}
			xs := r.waitDone(len(saw))
			if got, _ := xs[len(saw)-1].Mark("auth"); got != tc.mark {
				t.Errorf("%q: auth=%q, want %q", tc.authorization, got, tc.mark)
			}
		}
	})
	t.Run("remote", func(t *testing.T) {
		run(t, newRig(t, mustNew(t, cfg, getenv), "192.0.2.7:50000"), []attempt{
			{"", 401, "refused: no credentials", basicChallenge},
			{basicAuth("dev", "pw"), 200, "ok", ""},
		})
	})
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "127.9.8.7:1": true, "[::1]:443": true, "[::ffff:127.0.0.1]:80": true,
		"192.0.2.7:80": false, "[2001:db8::1]:80": false, "10.0.0.1:80": false, "": false, "pipe": false,
		"127.0.0.1": false, // not a RemoteAddr
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

// A retry of an accepted exchange is let through again without a second
// mark, and the credential stays off the outbound request.
func TestLaterAttempt(t *testing.T) {
	a := mustNew(t, Config{Bearer: &Bearer{TokensEnv: "T"}}, env("T", "tok"))
	in := httptest.NewRequest("GET", "/", nil)
	in.Header.Set("Authorization", "Bearer tok")
	marks := &markCount{}
	f := &proxy.Flow{In: in, Out: in.Clone(in.Context()), Attempt: 2, Rec: marks}
	if res, err := a.Request(f); res != nil || err != nil {
		t.Fatalf("got %v, %v", res, err)
	}
	if f.Out.Header.Get("Authorization") != "" || in.Header.Get("Authorization") == "" {
		t.Error("Authorization was not removed from Out only")
	}
	if marks.n != 0 {
		t.Errorf("%d marks on a later attempt", marks.n)
	}
}

type markCount struct {
	record.Recording
	n int
}

func (m *markCount) Mark(record.Mark) { m.n++ }

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		env  func(string) string
		want string
	}{
		{Config{LoopbackBypass: true}, env(), "auth: give basic (user, and password_env or password_hash) or bearer (tokens_env)"},
		{Config{Basic: &Basic{PasswordEnv: "P"}}, env("P", "x"), "auth.basic.user: empty"},
		{Config{Basic: &Basic{User: "a:b", PasswordEnv: "P"}}, env("P", "x"), `auth.basic.user: "a:b" contains a colon`},
		{Config{Basic: &Basic{User: "dev"}}, env(), "auth.basic: give password_env"},
		{Config{Basic: &Basic{User: "dev", PasswordEnv: "P", PasswordHash: "$2a$"}}, env(), "not both"},
		{Config{Basic: &Basic{User: "dev", PasswordEnv: "DEVPROXY_PASS"}}, env(), "auth.basic.password_env: DEVPROXY_PASS is not set; export it, or give password_hash (bcrypt)"},
		{Config{Basic: &Basic{User: "dev", PasswordHash: "hunter2"}}, env(), "auth.basic.password_hash: not a bcrypt hash"},
		{Config{Bearer: &Bearer{}}, env(), "auth.bearer.tokens_env: empty"},
		{Config{Bearer: &Bearer{TokensEnv: "T"}}, env("T", " , "), "auth.bearer.tokens_env: T is not set or holds no token"},
	} {
		_, err := New(tc.cfg, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// BenchmarkStage is the check's own cost per accepted request.
func BenchmarkStage(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, authorization string
		cfg                 Config
	}{
		{"basic-env", basicAuth("dev", "pw"), Config{Basic: &Basic{User: "dev", PasswordEnv: "P"}}},
		{"basic-bcrypt-verified", basicAuth("dev", "pw"), Config{Basic: &Basic{User: "dev", PasswordHash: string(hash)}}},
		{"bearer-3-tokens", "Bearer t3", Config{Bearer: &Bearer{TokensEnv: "T"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := New(tc.cfg, env("P", "pw", "T", "t1,t2,t3"))
			if err != nil {
				b.Fatal(err)
			}
			in := httptest.NewRequest("GET", "/", nil)
			in.Header.Set("Authorization", tc.authorization)
			out := in.Clone(in.Context())
			b.ReportAllocs()
			for b.Loop() {
				out.Header.Set("Authorization", tc.authorization)
				f := &proxy.Flow{In: in, Out: out, Attempt: 1, Rec: &markCount{}}
				if res, _ := a.Request(f); res != nil {
					b.Fatal("refused")
				}
			}
		})
	}
}
