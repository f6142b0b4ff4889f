package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/regstore"
)

// fleetStore is one relay's view of a registry that another relay changes
// too: the other's changes signal this one's Changes, as PostgreSQL's
// notifications do.
type fleetStore struct {
	regstore.Store
	changes chan struct{}
}

func (s *fleetStore) Changes() <-chan struct{} { return s.changes }

// notifyingStore is the other relay's view: each change it makes is
// signalled to notify.
type notifyingStore struct {
	regstore.Store
	notify chan struct{}
}

func (s *notifyingStore) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *notifyingStore) Create(ctx context.Context, r regstore.Record) error {
	defer s.signal()
	return s.Store.Create(ctx, r)
}

func (s *notifyingStore) Delete(ctx context.Context, id string) error {
	defer s.signal()
	return s.Store.Delete(ctx, id)
}

// TestRelayHintsFollowTheRegistry: the relay's hints are evaluated again
// each time, from the backends registered then, also by another relay of
// the fleet: "no backends yet" while there are none, then each backend's
// agent command with <TOKEN> and where its token came from.
func TestRelayHintsFollowTheRegistry(t *testing.T) {
	shared, err := regstore.OpenFile("")
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 1)
	here, err := invert.NewRegistry(&fleetStore{Store: shared, changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	other, err := invert.NewRegistry(&notifyingStore{Store: shared, notify: changes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { here.Run(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	const base = "http://relay.example:9000"
	hints := relayHints(here, base, "", "dpa_generated")
	text := func() string { return strings.Join(hints(), "\n") }
	if got := text(); !strings.Contains(got, "no backends yet; register one:") || !strings.HasPrefix(got, adminTokenHint) {
		t.Fatalf("before any backend:\n%s", got)
	}

	// Another relay of the fleet registers web: this relay's hints follow.
	if _, err := other.Create(invert.Backend{ID: "web"}); err != nil {
		t.Fatal(err)
	}
	got := waitHints(t, text, "backend web (/):")
	for _, want := range []string{
		"1 backend registered",
		"  devproxy agent --proxy " + base + " --backend web --token <TOKEN> --target http://localhost:3000",
		"<TOKEN> of web: the agentToken in the admin API's answer that registered it",
		`-d '{"id":"api","pathPrefixes":["/api"]}' ` + base + "/api/backends",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hints do not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "no backends yet") {
		t.Errorf("stale hint:\n%s", got)
	}

	// A backend of the config file: its token is there.
	if err := here.AddStatic(invert.Backend{ID: "api", PathPrefixes: []string{"/api"}, Hosts: []string{"api.example.com"}}, "config-agent-token-0123456789"); err != nil {
		t.Fatal(err)
	}
	got = text()
	for _, want := range []string{
		"2 backends registered",
		"backend api (api.example.com /api):",
		"<TOKEN> of api: its agentToken (or agentTokenEnv) in the config file",
		`-d '{"id":"api2","pathPrefixes":["/api2"]}'`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hints do not say %q:\n%s", want, got)
		}
	}

	// The other relay deletes web: gone from the hints.
	if err := other.Delete("web"); err != nil {
		t.Fatal(err)
	}
	got = waitHints(t, text, "1 backend registered")
	if strings.Contains(got, "backend web") {
		t.Errorf("a deleted backend is still in the hints:\n%s", got)
	}
}

// waitHints polls the hints until they contain want, for up to 30 s.
func waitHints(t *testing.T, text func() string, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got := text()
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hints never said %q:\n%s", want, got)
		}
		<-tick.C
	}
}
