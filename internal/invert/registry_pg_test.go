package invert

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/pgtest"
	"github.com/devproxy/devproxy/internal/regstore"
	"github.com/jackc/pgx/v5"
)

// pgBound is how long a test waits for what it expects to happen.
const pgBound = 30 * time.Second

// stateChange is one call of a registry's onState.
type stateChange struct {
	readOnly bool
	err      error
}

// newPGRegistry opens a registry on the PostgreSQL database at url and
// runs it until the test ends; its onState calls arrive on the channel.
func newPGRegistry(t *testing.T, url string) (*Registry, <-chan stateChange) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pgBound)
	defer cancel()
	store, err := regstore.OpenPG(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(store)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	states := make(chan stateChange, 16)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg.Run(runCtx, func(readOnly bool, err error) { states <- stateChange{readOnly, err} })
	}()
	t.Cleanup(func() {
		stop()
		<-done
		store.Close()
	})
	return reg, states
}

// eventually polls cond until it holds, failing the test after pgBound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pgBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, pgBound)
		}
		time.Sleep(5 * time.Millisecond) // pace the polling
	}
}

func waitState(t *testing.T, states <-chan stateChange, readOnly bool) stateChange {
	t.Helper()
	select {
	case s := <-states:
		if s.readOnly != readOnly {
			t.Fatalf("onState(%v, %v), want readOnly %v", s.readOnly, s.err, readOnly)
		}
		return s
	case <-time.After(pgBound):
		t.Fatalf("no onState(%v)", readOnly)
	}
	return stateChange{}
}

// TestRegistryPGSharedView: what one relay's registry changes, another's
// sees, through PostgreSQL's notifications.
func TestRegistryPGSharedView(t *testing.T) {
	url := pgtest.URL(t)
	a, _ := newPGRegistry(t, url)
	b, _ := newPGRegistry(t, url)

	admin, err := a.EnsureAdminToken("")
	if err != nil || admin == "" {
		t.Fatalf("admin token %q, %v", admin, err)
	}
	if gen, err := b.EnsureAdminToken(""); err != nil || gen != "" {
		t.Fatalf("a second relay made an admin token %q (%v); the fleet has one", gen, err)
	}
	if !b.CheckAdmin(admin) {
		t.Fatal("the admin token does not work on the second relay")
	}

	start := time.Now()
	tok, err := a.Create(Backend{ID: "web", PathPrefixes: []string{"/app"}, Access: mustAccess(t, `{"tokens":["user-token-1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b sees the backend a created", func() bool { _, ok := b.Get("web"); return ok })
	t.Logf("a Create seen on b after %v", time.Since(start))
	if !b.CheckAgent("web", tok) {
		t.Error("the agent token does not work on b")
	}
	if got, ok := b.Route("x", "/app/page"); !ok || got.ID != "web" || !got.Access.allows("user-token-1") {
		t.Errorf("b routes /app/page to %+v, %v", got, ok)
	}
	if _, err := b.Create(Backend{ID: "web", Access: Access{Public: true}}); !errors.Is(err, ErrExists) {
		t.Errorf("b created a second web: %v", err)
	}

	rules := []string{"path:/x => status 418"}
	if err := a.SetRules("web", rules); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b sees a's rules", func() bool { return slices.Equal(b.rulesOf("web"), rules) })

	// A backend from one relay's config file is that relay's alone.
	if err := a.AddStatic(Backend{ID: "cfg", Access: Access{Public: true}}, "a-long-enough-agent-token"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete("web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees b's delete", func() bool { _, ok := a.Get("web"); return !ok })
	if _, ok := a.Get("cfg"); !ok {
		t.Error("a lost its static backend on a re-read")
	}
	if _, ok := b.Get("cfg"); ok {
		t.Error("a static backend reached the other relay")
	}
	// One relay's view may lag; the store decides.
	if _, err := a.Create(Backend{ID: "api", Access: Access{Public: true}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete("api"); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

// TestRegistryPGReadOnly: with PostgreSQL stopped a registry serves its
// last view, refuses changes saying why and tells onState; once PostgreSQL
// is back it says so and takes changes again.
func TestRegistryPGReadOnly(t *testing.T) {
	c := pgtest.NewCluster(t)
	url := c.URL(t)
	a, states := newPGRegistry(t, url)
	tok, err := a.Create(Backend{ID: "web", Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	c.Stop(t)
	t.Logf("stopped after %v", time.Since(t0))
	st := waitState(t, states, true)
	t.Logf("read-only after %v", time.Since(t0))
	// "is shutting down" or "connection refused", by when it looked.
	if st.err == nil || !strings.Contains(st.err.Error(), "registry postgres://postgres@127.0.0.1:") || strings.Contains(st.err.Error(), pgtest.Password) {
		t.Errorf("onState error: %v", st.err)
	}
	if !a.ReadOnly() {
		t.Error("ReadOnly() is false")
	}
	if b, ok := a.Route("x", "/"); !ok || b.ID != "web" || !a.CheckAgent("web", tok) {
		t.Fatalf("with PostgreSQL down, Route = %+v, %v", b, ok)
	}
	_, err = a.Create(Backend{ID: "api", Access: Access{Public: true}})
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "read-only until PostgreSQL is back") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Create with PostgreSQL down: %v", err)
	}
	t.Log(err)
	if err := a.SetRules("web", []string{"path:/x => status 418"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("SetRules with PostgreSQL down: %v", err)
	}
	if err := a.Delete("web"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete with PostgreSQL down: %v", err)
	}
	if _, ok := a.Get("web"); !ok {
		t.Error("a refused Delete removed the backend")
	}

	t0 = time.Now()
	c.Start(t)
	t.Logf("started after %v", time.Since(t0))
	waitState(t, states, false)
	t.Logf("back after %v", time.Since(t0))
	if _, err := a.Create(Backend{ID: "api", Access: Access{Public: true}}); err != nil {
		t.Fatal(err)
	}
	b, _ := newPGRegistry(t, url)
	if _, ok := b.Get("api"); !ok {
		t.Error("the backend created after the restart is not stored")
	}
}

// TestRegistryPGStoresHashes: no token reaches the database in plain text.
func TestRegistryPGStoresHashes(t *testing.T) {
	url := pgtest.URL(t)
	a, _ := newPGRegistry(t, url)
	admin, err := a.EnsureAdminToken("")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Create(Backend{ID: "web", Access: mustAccess(t, `{"tokens":["user-token-1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dump string
	err = conn.QueryRow(ctx, `SELECT (SELECT string_agg(b::text, ' ') FROM devproxy_backends b) || ' ' || (SELECT string_agg(a::text, ' ') FROM devproxy_admin a)`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{admin, tok, "user-token-1"} {
		if strings.Contains(dump, secret) {
			t.Errorf("the tables hold a token in plain text: %s", dump)
		}
		if !strings.Contains(dump, hashToken(secret)) {
			t.Errorf("the tables do not hold the hash of a token: %s", dump)
		}
	}
}
