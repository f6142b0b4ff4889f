package invert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryPersists(t *testing.T) {
	dir := t.TempDir()
	reg, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := reg.EnsureAdminToken("")
	if err != nil || admin == "" {
		t.Fatalf("admin %q %v", admin, err)
	}
	tok, err := reg.Create(Backend{ID: "web", PathPrefixes: []string{"/app/"}, Hosts: []string{"App.Example.com"}, Access: mustAccess(t, `{"tokens":["user-token-1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, StateFileName))
	for _, secret := range []string{admin, tok, "user-token-1"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("state file holds a plaintext token")
		}
	}
	if info, _ := os.Stat(filepath.Join(dir, StateFileName)); info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", info.Mode().Perm())
	}

	again, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	if gen, _ := again.EnsureAdminToken(""); gen != "" {
		t.Error("a second start generated a new admin token")
	}
	if !again.CheckAdmin(admin) || again.CheckAdmin(tok) {
		t.Error("admin token not restored")
	}
	if !again.CheckAgent("web", tok) || again.CheckAgent("web", admin) {
		t.Error("agent token not restored")
	}
	b, ok := again.Get("web")
	if !ok || b.PathPrefixes[0] != "/app" || b.Hosts[0] != "app.example.com" || !b.Access.allows("user-token-1") || b.Access.allows("nope") {
		t.Errorf("backend after reload: %+v", b)
	}
}

func TestRegistryCorruptFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, StateFileName)
	if err := os.WriteFile(p, []byte(`{"backends": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenRegistry(dir)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("error %v should name the corrupt file", err)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"backends": [` {
		t.Error("the corrupt file was changed")
	}
}

func TestRoute(t *testing.T) {
	reg, _ := OpenRegistry("")
	for _, b := range []Backend{
		{ID: "root", PathPrefixes: []string{"/"}},
		{ID: "api", PathPrefixes: []string{"/api"}},
		{ID: "v2", PathPrefixes: []string{"/api/v2"}},
		{ID: "shop", PathPrefixes: []string{"/"}, Hosts: []string{"*.shop.test"}},
	} {
		b.Access = Access{Public: true}
		if _, err := reg.Create(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ host, path, want string }{
		{"x", "/", "root"},
		{"x", "/api", "api"},
		{"x", "/api/users", "api"},
		{"x", "/apix", "root"},
		{"x", "/api/v2/users", "v2"},
		{"a.shop.test:8443", "/cart", "shop"},
		{"a.shop.test", "/api/v2", "v2"},
	} {
		b, ok := reg.Route(tc.host, tc.path)
		if !ok || b.ID != tc.want {
			t.Errorf("Route(%s, %s) = %s, want %s", tc.host, tc.path, b.ID, tc.want)
		}
	}
}

func TestBackendValidation(t *testing.T) {
	reg, _ := OpenRegistry("")
	for _, b := range []Backend{
		{ID: ""}, {ID: "UPPER"}, {ID: "has space"}, {ID: "-dash"}, {ID: strings.Repeat("a", 64)},
		{ID: "ok", PathPrefixes: []string{"no-slash"}},
		{ID: "ok2", AgentAuth: "maybe"},
	} {
		if _, err := reg.Create(b); err == nil {
			t.Errorf("accepted %+v", b)
		}
	}
	if err := reg.AddStatic(Backend{ID: "cfg"}, "short"); err == nil {
		t.Error("accepted a short static agent token")
	}
	if err := reg.AddStatic(Backend{ID: "cfg", Access: Access{Public: true}}, "a-long-enough-agent-token"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Delete("cfg"); err != ErrStatic {
		t.Errorf("deleting a static backend: %v", err)
	}
}

func TestParsePending(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		bad  bool
	}{
		{"", 0, false}, {"null", 0, false}, {"[]", 0, false}, {`["a","b"]`, 2, false},
		{`["ok", "has space", ""]`, 1, false}, {`{"a":1}`, 0, true}, {`[1,2]`, 0, true},
	} {
		ids, err := parsePending([]byte(tc.in))
		if (err != nil) != tc.bad || len(ids) != tc.want {
			t.Errorf("parsePending(%q) = %v, %v", tc.in, ids, err)
		}
	}
}
