package regstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleRecord(id string) Record {
	return Record{
		ID:                id,
		PathPrefixes:      []string{"/app", "/api"},
		Hosts:             []string{"app.example.com"},
		AgentAuth:         "token",
		Created:           time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		AccessTokenHashes: []string{strings.Repeat("a", 64)},
		AgentTokenHashes:  []string{strings.Repeat("b", 64)},
		Rules:             []string{"path:/x => status 418"},
	}
}

// testCRUD runs the same changes against any store and checks what it
// loads back.
func testCRUD(t *testing.T, s Store) {
	ctx := context.Background()
	if cur, err := s.InitAdminHash(ctx, "h1"); err != nil || cur != "h1" {
		t.Fatalf("InitAdminHash = %q, %v", cur, err)
	}
	if cur, err := s.InitAdminHash(ctx, "h2"); err != nil || cur != "h1" {
		t.Fatalf("second InitAdminHash = %q, %v; want the first hash kept", cur, err)
	}
	if err := s.SetAdminHash(ctx, "h3"); err != nil {
		t.Fatal(err)
	}
	web, pub := sampleRecord("web"), Record{ID: "pub", PathPrefixes: []string{"/"}, AgentAuth: "none", AccessPublic: true, Created: time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)}
	for _, r := range []Record{web, pub} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, web); !errors.Is(err, ErrExists) {
		t.Errorf("Create of a taken id: %v, want ErrExists", err)
	}
	web.Rules = nil
	web.Hosts = []string{"a.example.com", "*.b.example.com"}
	if err := s.Update(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, sampleRecord("nope")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of an unknown id: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an unknown id: %v, want ErrNotFound", err)
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := State{AdminHash: "h3", Backends: []Record{pub, web}}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("Load:\n got %+v\nwant %+v", st, want)
	}
	if err := s.Delete(ctx, "pub"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Load(ctx)
	if len(st.Backends) != 1 || st.Backends[0].ID != "web" {
		t.Fatalf("after Delete: %+v", st.Backends)
	}
	// Callers' slices are not the store's.
	st.Backends[0].PathPrefixes[0] = "/changed"
	if again, _ := s.Load(ctx); again.Backends[0].PathPrefixes[0] != "/app" {
		t.Error("Load shares slices with the store")
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	testCRUD(t, s)
	before, _ := s.Load(context.Background())
	again, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := again.Load(context.Background())
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("reopened:\n got %+v\nwant %+v", after, before)
	}
	info, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v, %v; want mode 0600", info, err)
	}
	if s.String() != "relay state "+filepath.Join(dir, FileName) {
		t.Errorf("String() = %q", s.String())
	}
}

func TestFileStoreInMemory(t *testing.T) {
	s, err := OpenFile("")
	if err != nil {
		t.Fatal(err)
	}
	testCRUD(t, s)
}

// TestFileStoreReadsVersion1 reads a file as relays before regstore wrote
// it.
func TestFileStoreReadsVersion1(t *testing.T) {
	dir := t.TempDir()
	old := `{
  "version": 1,
  "adminTokenSha256": "1111111111111111111111111111111111111111111111111111111111111111",
  "backends": [
    {
      "id": "web",
      "pathPrefixes": ["/app"],
      "hosts": ["app.example.com"],
      "agentAuth": "token",
      "created": "2026-04-01T10:00:00Z",
      "accessPublic": false,
      "accessTokenSha256": ["2222222222222222222222222222222222222222222222222222222222222222"],
      "agentTokenSha256": ["3333333333333333333333333333333333333333333333333333333333333333"],
      "rules": ["path:/x => status 418"]
    },
    {
      "id": "api",
      "pathPrefixes": ["/"],
      "created": "2026-04-02T10:00:00Z",
      "accessPublic": true
    }
  ]
}
`
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Load(context.Background())
	want := State{
		AdminHash: strings.Repeat("1", 64),
		Backends: []Record{
			{ID: "api", PathPrefixes: []string{"/"}, Created: time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC), AccessPublic: true},
			{ID: "web", PathPrefixes: []string{"/app"}, Hosts: []string{"app.example.com"}, AgentAuth: "token",
				Created:           time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC),
				AccessTokenHashes: []string{strings.Repeat("2", 64)}, AgentTokenHashes: []string{strings.Repeat("3", 64)},
				Rules: []string{"path:/x => status 418"}},
		},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("Load:\n got %+v\nwant %+v", st, want)
	}
}

func TestFileStoreRefusesBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"corrupt": `{"backends": [`,
		"newer":   `{"version": 2, "backends": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, FileName)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenFile(dir)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v should name the file and say %q", err, name)
			}
			if b, _ := os.ReadFile(p); string(b) != content {
				t.Error("the file was changed")
			}
		})
	}
}

// TestFileStoreKeepsStateOnWriteFailure: a change that cannot be written
// is not applied.
func TestFileStoreKeepsStateOnWriteFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the directory was: nothing can be written there, by
	// root either.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.Create(context.Background(), sampleRecord("web"))
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Create in a read-only dir: %v; want an error naming the file", err)
	}
	if st, _ := s.Load(context.Background()); len(st.Backends) != 0 {
		t.Errorf("the failed change was kept: %+v", st.Backends)
	}
}
