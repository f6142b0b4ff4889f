package invert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/regstore"
)

// newTestAgent returns an agent of backend on the rig's relay (not run).
func (r *rig) newTestAgent(backend, token string, mode Mode, grace time.Duration, logger *slog.Logger) *Agent {
	r.t.Helper()
	target, _ := url.Parse(r.backend.URL)
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.Discard, TrustForwarded: true, Logger: quiet})
	if err != nil {
		r.t.Fatal(err)
	}
	if logger == nil {
		logger = quiet
	}
	relayURL, _ := url.Parse(r.relaySrv.URL)
	a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: backend, Token: token, Mode: mode, Handler: h, Logger: logger, RejectGrace: grace})
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// TestAgentGivesUpOnARejectedToken: an agent whose token the relay rejects
// stops retrying and says which backend, whether the token is missing or
// wrong, and how to get one; over the tunnel and over poll.
func TestAgentGivesUpOnARejectedToken(t *testing.T) {
	r := newRig(t, ModeTunnel)
	for _, tc := range []struct {
		name, token string
		mode        Mode
		want        []string
	}{
		{"wrong token over the tunnel", "dpt_wrong", ModeTunnel, []string{`backend "web"`, "the token is wrong", "no backend \"web\"", "/api/backends/web", "--token"}},
		{"no token over the tunnel", "", ModeTunnel, []string{`backend "web"`, "no agent token was given", "/api/backends", "--token"}},
		{"wrong token over poll", "dpt_wrong", ModePoll, []string{`backend "web"`, "the token is wrong", "/api/backends", "--token"}},
		{"no token over poll", "", ModePoll, []string{"no agent token was given", "/api/backends"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := r.newTestAgent("web", tc.token, tc.mode, time.Nanosecond, nil)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			err := a.Run(ctx)
			if ctx.Err() != nil {
				t.Fatal("the agent went on retrying a rejected token")
			}
			var rej *RejectedError
			if !errors.As(err, &rej) || !errors.Is(err, ErrAgentRejected) {
				t.Fatalf("Run: %v, want a *RejectedError", err)
			}
			if rej.Attempts < rejectAttempts || rej.NoToken != (tc.token == "") || !rej.Devproxy {
				t.Errorf("%+v: want %d attempts at least, NoToken %t, a devproxy relay", rej, rejectAttempts, tc.token == "")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the message does not say %q:\n%s", s, err)
				}
			}
			if got := a.Status(); got != "stopped" {
				t.Errorf("status %q, want stopped", got)
			}
		})
	}
}

// TestAgentRetriesRejectionsWithinTheGrace: rejections right after start
// are retried (the relay may not know a backend just registered elsewhere):
// once the backend is there, the agent connects.
func TestAgentRetriesRejectionsWithinTheGrace(t *testing.T) {
	r := newRig(t, ModeTunnel)
	logs := make(logLines, 1000)
	const tok = "late-agent-token-0123456789"
	a := r.newTestAgent("late", tok, ModeTunnel, testTimeout, slog.New(logs))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-errc })
	// As many rejections as the fatal count: still within the grace.
	for i := 1; i <= rejectAttempts; i++ {
		logs.next(t, "ERROR agent: retrying", fmt.Sprintf("attempt=%d", i), "the agent token is wrong")
	}
	if err := r.reg.AddStatic(Backend{ID: "late", Access: Access{Public: true}}, tok); err != nil {
		t.Fatal(err)
	}
	r.waitAgent("late")
	select {
	case err := <-errc:
		t.Fatalf("Run ended: %v", err)
	default:
	}
}

// TestRejectionsAreFatalOnlyWhileNoRelayAccepts: the entry's rejections
// end the agent only after the grace and three attempts, and not while
// another relay of the fleet has taken the agent since they began.
func TestRejectionsAreFatalOnlyWhileNoRelayAccepts(t *testing.T) {
	relay, _ := url.Parse("http://relay.example:9000/")
	a, err := NewAgent(AgentOptions{Relay: relay, Backend: "web", Token: "dpt_x", Handler: http.NotFoundHandler(), RejectGrace: 10 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rejected := fmt.Errorf("%w: the agent token is wrong", ErrAgentRejected)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var r rejections
	for i, at := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 5300 * time.Millisecond} {
		left, fatal := r.add(a, rejected, false, t0.Add(at))
		if fatal != nil {
			t.Fatalf("attempt %d at %s: fatal within the grace: %v", i+1, at, fatal)
		}
		if want := 10*time.Second - at; left != want {
			t.Errorf("attempt %d: %s of the grace left, want %s", i+1, left, want)
		}
	}
	// Another relay of the fleet took the agent: its token is good there.
	a.mu.Lock()
	a.accepted = t0.Add(6 * time.Second)
	a.mu.Unlock()
	if _, fatal := r.add(a, rejected, false, t0.Add(10*time.Second)); fatal != nil {
		t.Fatalf("fatal while another relay accepts: %v", fatal)
	}
	// It rejects on, and nothing accepts: the grace starts over.
	var fatal error
	for _, at := range []time.Duration{15 * time.Second, 20 * time.Second} {
		if _, fatal = r.add(a, rejected, false, t0.Add(at)); fatal != nil {
			break
		}
	}
	var rej *RejectedError
	if !errors.As(fatal, &rej) || rej.Attempts != 3 || rej.For != 10*time.Second || rej.Answer != "the agent token is wrong" {
		t.Fatalf("got %#v, want a rejection after 3 attempts in 10s", fatal)
	}
}

// flakyStore is a store whose changes fail as PostgreSQL's do while it is
// away, when down is set.
type flakyStore struct {
	regstore.Store
	down atomic.Bool
	// broken fails changes with an error that is not the store being
	// away (a full disk under the file store).
	broken atomic.Bool
}

func (s *flakyStore) fail() error {
	if s.down.Load() {
		return fmt.Errorf("postgres://db/devproxy: %w: connection refused", regstore.ErrUnavailable)
	}
	if s.broken.Load() {
		return errors.New("write backends.json: no space left on device")
	}
	return nil
}

func (s *flakyStore) Create(ctx context.Context, r regstore.Record) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Create(ctx, r)
}

func (s *flakyStore) Update(ctx context.Context, r regstore.Record) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Update(ctx, r)
}

func (s *flakyStore) Delete(ctx context.Context, id string) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Delete(ctx, id)
}

// TestAdminAPIAnswers: the admin API says whether the admin token is
// missing or wrong, and answers 503 to changes while the registry is
// read-only.
func TestAdminAPIAnswers(t *testing.T) {
	file, err := regstore.OpenFile("")
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: file}
	reg, err := NewRegistry(store)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := reg.EnsureAdminToken("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create(Backend{ID: "web"}); err != nil {
		t.Fatal(err)
	}
	relay, err := NewRelay(RelayOptions{Registry: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(relay)
	t.Cleanup(func() { relay.Close(); srv.Close() })
	call := func(method, path, auth, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out.Error, res.Header
	}

	for _, tc := range []struct {
		name, auth string
		want       []string
	}{
		{"no token", "", []string{"no admin token", "Authorization: Bearer", "--admin-token"}},
		{"not a bearer token", "Basic YWRtaW46eA==", []string{"no admin token", "is Basic, not Bearer"}},
		{"wrong token", "Bearer dpa_wrong", []string{"the admin token is wrong", "--admin-token", "DEVPROXY_ADMIN_TOKEN"}},
	} {
		code, msg, hdr := call("GET", "/api/backends", tc.auth, "")
		if code != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q, want 401 with WWW-Authenticate", tc.name, code, hdr.Get("WWW-Authenticate"))
		}
		for _, s := range tc.want {
			if !strings.Contains(msg, s) {
				t.Errorf("%s: %q does not say %q", tc.name, msg, s)
			}
		}
		if wrong := strings.Contains(msg, "wrong"); wrong != (tc.name == "wrong token") {
			t.Errorf("%s: %q: missing and wrong tokens must be told apart", tc.name, msg)
		}
	}

	store.down.Store(true)
	bearer := "Bearer " + admin
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/backends", `{"id":"api"}`},
		{"PATCH", "/api/backends/web", `{"rules":[]}`},
		{"DELETE", "/api/backends/web", ""},
	} {
		code, msg, hdr := call(c.method, c.path, bearer, c.body)
		if code != http.StatusServiceUnavailable || !strings.Contains(msg, "read-only") || hdr.Get("Retry-After") == "" {
			t.Errorf("%s %s while PostgreSQL is away: %d %q (Retry-After %q), want 503 saying the registry is read-only", c.method, c.path, code, msg, hdr.Get("Retry-After"))
		}
	}
	store.down.Store(false)

	// What was asked for is wrong: 400; the store failed otherwise: 500.
	if code, msg, _ := call("POST", "/api/backends", bearer, `{"id":"bad id!"}`); code != http.StatusBadRequest {
		t.Errorf("POST of a bad id: %d %q, want 400", code, msg)
	}
	store.broken.Store(true)
	if code, msg, _ := call("POST", "/api/backends", bearer, `{"id":"api"}`); code != http.StatusInternalServerError || !strings.Contains(msg, "no space left") {
		t.Errorf("POST while the store fails: %d %q, want 500 with the store's error", code, msg)
	}
	store.broken.Store(false)
	if code, msg, _ := call("DELETE", "/api/backends/web", bearer, ""); code != http.StatusNoContent {
		t.Errorf("DELETE once it is back: %d %q", code, msg)
	}
}
