package regstore

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// bound is how long a test waits for something it expects; failing it
// means the thing did not happen, not that it was slow.
const bound = 30 * time.Second

func openPG(t *testing.T, url string) *PGStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	s, err := OpenPG(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitChange waits for a signal on s.Changes().
func waitChange(t *testing.T, s Store, what string) {
	t.Helper()
	select {
	case <-s.Changes():
	case <-time.After(bound):
		t.Fatalf("no change signalled after %s", what)
	}
}

// TestPGMigrateConcurrently opens three stores on an empty database at
// once: each migration runs once and all of them open.
func TestPGMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			s, err := OpenPG(ctx, url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Again, on a migrated database: nothing to do.
	openPG(t, url)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT version FROM devproxy_schema_version`)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || !slices.Equal(versions, []int32{int32(SchemaVersion)}) {
		t.Fatalf("schema versions %v, %v; want one row, %d", versions, err, SchemaVersion)
	}
}

// TestPGRefusesNewerSchema: a relay does not touch a schema newer than it
// knows.
func TestPGRefusesNewerSchema(t *testing.T) {
	url := pgtest.URL(t)
	openPG(t, url)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE devproxy_schema_version SET version = $1`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPG(ctx, url)
	if err == nil || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), "upgrade devproxy") {
		t.Fatalf("OpenPG on a newer schema: %v", err)
	}
}

func TestPGCRUD(t *testing.T) {
	testCRUD(t, openPG(t, pgtest.URL(t)))
}

// TestPGNotifiesOtherStores: a change through one store is signalled on
// another store's Changes.
func TestPGNotifiesOtherStores(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx := context.Background()
	for _, change := range []struct {
		what string
		do   func() error
	}{
		{"a Create", func() error { return a.Create(ctx, sampleRecord("web")) }},
		{"an Update", func() error { r := sampleRecord("web"); r.Rules = nil; return a.Update(ctx, r) }},
		{"a Delete", func() error { return a.Delete(ctx, "web") }},
		{"an admin hash", func() error { return a.SetAdminHash(ctx, "h") }},
		{"a relay joining", func() error { return a.Heartbeat(ctx, Member{ID: "r1", URL: "http://r1"}) }},
	} {
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		waitChange(t, b, change.what)
	}
	st, err := b.Load(ctx)
	if err != nil || st.AdminHash != "h" || len(st.Backends) != 0 {
		t.Fatalf("b.Load() = %+v, %v", st, err)
	}
}

// TestPGMembers: relays that beat are members; one that stops is dropped
// after the TTL, and one that leaves at once; both are announced.
func TestPGMembers(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx := context.Background()
	if err := a.Heartbeat(ctx, Member{ID: "a", URL: "http://a", Agents: map[string]int{"web": 2}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Heartbeat(ctx, Member{ID: "b", URL: "http://b"}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, a, "b joined")
	ms, err := a.Members(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "a" || ms[0].URL != "http://a" || ms[0].Agents["web"] != 2 || ms[1].ID != "b" || ms[0].Seen.IsZero() {
		t.Fatalf("Members = %+v", ms)
	}
	// b stops beating; a goes on, and sees b go once b's last beat is
	// older than the TTL.
	const ttl = 300 * time.Millisecond
	deadline := time.Now().Add(bound)
	for {
		if err := a.Heartbeat(ctx, Member{ID: "a", URL: "http://a"}); err != nil {
			t.Fatal(err)
		}
		ms, err := a.Members(ctx, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 1 && ms[0].ID == "a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b was not dropped: %+v", ms)
		}
		time.Sleep(50 * time.Millisecond) // pace the polling
	}
	waitChange(t, b, "b was dropped")
	if err := b.Leave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	waitChange(t, a, "a left")
	if ms, _ := b.Members(ctx, time.Minute); len(ms) != 0 {
		t.Fatalf("Members after Leave = %+v", ms)
	}
}

// TestPGStoresHashesOnly: what a store writes holds the hashes it was
// given, and the tables hold nothing else of the tokens.
func TestPGStoresHashesOnly(t *testing.T) {
	url := pgtest.URL(t)
	s := openPG(t, url)
	ctx := context.Background()
	r := sampleRecord("web")
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var agent, access []string
	if err := conn.QueryRow(ctx, `SELECT agent_token_sha256, access_token_sha256 FROM devproxy_backends WHERE id = 'web'`).Scan(&agent, &access); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(agent, r.AgentTokenHashes) || !slices.Equal(access, r.AccessTokenHashes) {
		t.Fatalf("stored %v %v", agent, access)
	}
}

// TestPGErrors: each failure says what is wrong and what to do, and never
// shows the password.
func TestPGErrors(t *testing.T) {
	c := pgtest.NewCluster(t)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	good := c.URL(t)
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"not postgres", "mysql://u:" + pgtest.Password + "@h/db", []string{"not a PostgreSQL URL", "postgres://user:password@host:5432/dbname"}},
		{"unparsable", "postgres://u:" + pgtest.Password + "%zz@h/db", []string{"does not parse", "percent-encoded"}},
		{"bad parameter", "postgres://u:" + pgtest.Password + "@h/db?sslmode=sometimes", []string{"sslmode"}},
		{"refused", "postgres://u:" + pgtest.Password + "@" + closed + "/db", []string{"postgres://u@" + closed + "/db", "connection refused", "is PostgreSQL running? check --registry"}},
		{"wrong password", strings.Replace(good, pgtest.Password, "wrong-"+pgtest.Password, 1), []string{"password authentication failed", "check the user and password"}},
		{"no database", strings.Replace(good, "devproxy_test_", "missing_", 1), []string{"does not exist", "createdb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			_, err := OpenPG(ctx, tc.url)
			if err == nil {
				t.Fatal("OpenPG succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, pgtest.Password) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

// TestPGUnavailable: with PostgreSQL stopped, operations fail with
// ErrUnavailable and a message naming the problem; Changes signals the
// lost connection and, once PostgreSQL is back, the reconnection; then
// changes work again.
func TestPGUnavailable(t *testing.T) {
	c := pgtest.NewCluster(t)
	url := c.URL(t)
	s := openPG(t, url)
	ctx := context.Background()
	if err := s.Create(ctx, sampleRecord("web")); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	waitChange(t, s, "PostgreSQL stopped")
	_, err := s.Load(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is PostgreSQL running?") || strings.Contains(err.Error(), pgtest.Password) {
		t.Fatalf("Load with PostgreSQL stopped: %v", err)
	}
	if err := s.Delete(ctx, "web"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Delete with PostgreSQL stopped: %v", err)
	}
	c.Start(t)
	// The listener reconnects with backoff and says so.
	for {
		waitChange(t, s, "PostgreSQL started")
		if _, err := s.Load(ctx); err == nil {
			break
		}
	}
	if err := s.Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	b := openPG(t, url)
	if err := s.Create(ctx, sampleRecord("api")); err != nil {
		t.Fatal(err)
	}
	waitChange(t, b, "a Create after the restart")
}
