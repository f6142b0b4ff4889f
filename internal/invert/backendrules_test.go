package invert

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/rules"
)

// adminCall calls the relay's admin API with the admin token and returns
// the status, the JSON answer as a map (nil for a list) and the raw body.
func (r *rig) adminCall(admin, method, path, body string) (int, map[string]any, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.relaySrv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	res := r.do(req)
	raw := readAll(r.t, res)
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return res.StatusCode, m, raw
}

// getHost GETs path on the relay with the Host header host and returns
// the status and the body.
func (r *rig) getHost(host, path string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.relaySrv.URL+path, nil)
	if host != "" {
		req.Host = host
	}
	res := r.do(req)
	body := readAll(r.t, res)
	return res.StatusCode, body
}

// TestBackendRules: a backend's rules apply to its requests only, and a
// change through the admin API applies from the next request on.
func TestBackendRules(t *testing.T) {
	r := newRig(t, ModeTunnel)
	admin, err := r.reg.EnsureAdminToken("")
	if err != nil {
		t.Fatal(err)
	}
	// "other" serves the same paths for another host, with no rules.
	code, m, raw := r.adminCall(admin, "POST", "/api/backends", `{"id":"other","hosts":["other.example"]}`)
	if code != 201 {
		t.Fatalf("create other: %d %s", code, raw)
	}
	r.startAgent("other", m["agentToken"].(string))

	code, _, raw = r.adminCall(admin, "PATCH", "/api/backends/web", `{"rules":["path:/x => status 418"]}`)
	if code != 200 || !strings.Contains(raw, `"rules":["path:/x => status 418"]`) {
		t.Fatalf("patch web: %d %s", code, raw)
	}
	if code, body := r.getHost("", "/x"); code != 418 {
		t.Errorf("web /x: %d %s, want 418 from its rule", code, body)
	}
	if code, body := r.getHost("", "/get"); code != 200 {
		t.Errorf("web /get: %d %s, want 200: the rule matches /x only", code, body)
	}
	if code, body := r.getHost("other.example", "/x"); code != 404 {
		t.Errorf("other /x: %d %s, want the backend's own 404: web's rules are not other's", code, body)
	}
	xs := waitDone(t, r.relayRec, 3)
	if v, _ := xs[0].Mark("rule"); v != "web/1" {
		t.Errorf("the 418 is marked rule %q, want web/1; marks %+v", v, xs[0].Marks)
	}

	code, _, raw = r.adminCall(admin, "GET", "/api/backends", "")
	if code != 200 || !strings.Contains(raw, `"id":"other"`) || !strings.Contains(raw, `"rules":[]`) || !strings.Contains(raw, `status 418"]`) {
		t.Errorf("list: %d %s; want each backend's rules", code, raw)
	}

	// A change applies to the next request.
	if code, _, raw := r.adminCall(admin, "PATCH", "/api/backends/web", `{"rules":["path:/x => status 503", "path:/get => set-header response X-Backend web"]}`); code != 200 {
		t.Fatalf("patch web again: %d %s", code, raw)
	}
	if code, body := r.getHost("", "/x"); code != 503 {
		t.Errorf("web /x after the change: %d %s, want 503", code, body)
	}
	res := r.get("/get")
	readAll(t, res)
	if got := res.Header.Get("X-Backend"); res.StatusCode != 200 || got != "web" {
		t.Errorf("web /get after the change: %d X-Backend %q, want 200 and web", res.StatusCode, got)
	}
	if code, _, raw := r.adminCall(admin, "PATCH", "/api/backends/web", `{"rules":[]}`); code != 200 {
		t.Fatalf("remove web's rules: %d %s", code, raw)
	}
	if code, body := r.getHost("", "/x"); code != 404 {
		t.Errorf("web /x without rules: %d %s, want the backend's own 404", code, body)
	}

	// The rules are kept with the backend across restarts.
	if code, _, raw := r.adminCall(admin, "PATCH", "/api/backends/other", `{"rules":["path:/x => status 418"]}`); code != 200 {
		t.Fatalf("patch other: %d %s", code, raw)
	}
	reg, err := OpenRegistry(r.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := reg.Get("other"); len(b.Rules) != 1 || b.Rules[0] != "path:/x => status 418" {
		t.Errorf("reopened registry: other's rules %q", b.Rules)
	}
	if code, _, _ := r.adminCall(admin, "PATCH", "/api/backends/none", `{"rules":[]}`); code != 404 {
		t.Errorf("patch an unknown backend: %d, want 404", code)
	}
	if code, _, raw := r.adminCall(admin, "PATCH", "/api/backends/web", `{"hosts":["a.example"]}`); code != 400 || !strings.Contains(raw, "unknown field") {
		t.Errorf("patch something else than rules: %d %s, want 400", code, raw)
	}
}

// TestBackendRulesRefused: a rule that does not parse is a 400 naming the
// rule and the column, and nothing changes; a breakpoint needs the relay's
// UI (Holds).
func TestBackendRulesRefused(t *testing.T) {
	r := newRig(t, ModeTunnel)
	admin, err := r.reg.EnsureAdminToken("")
	if err != nil {
		t.Fatal(err)
	}
	bad := `["path:/x => status 418", "path:/y => stats 503"]`
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/backends", `{"id":"bad","rules":` + bad + `}`},
		{"PATCH", "/api/backends/web", `{"rules":` + bad + `}`},
	} {
		code, m, raw := r.adminCall(admin, c.method, c.path, c.body)
		if code != 400 || m["rule"] != float64(2) || m["column"] != float64(12) || !strings.Contains(raw, "rule 2: column 12") || !strings.Contains(raw, "stats") {
			t.Errorf("%s %s with a bad rule: %d %s; want 400 naming rule 2, column 12", c.method, c.path, code, raw)
		}
	}
	if _, ok := r.reg.Get("bad"); ok {
		t.Error("a backend with a bad rule was created")
	}
	if b, _ := r.reg.Get("web"); len(b.Rules) != 0 {
		t.Errorf("a bad rule changed web's rules to %q", b.Rules)
	}
	code, _, raw := r.adminCall(admin, "PATCH", "/api/backends/web", `{"rules":["method:POST => breakpoint request"]}`)
	if code != 400 || !strings.Contains(raw, "relay's terminal UI") || !strings.Contains(raw, "rule 1") {
		t.Errorf("a breakpoint without the UI: %d %s; want 400 saying it needs the relay's UI", code, raw)
	}

	// With holds (the UI), a breakpoint is accepted.
	r2 := newRigWith(t, ModeTunnel, func(o *RelayOptions) { o.Holds = rules.NewHolds(0, quiet) })
	admin2, err := r2.reg.EnsureAdminToken("")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, raw := r2.adminCall(admin2, "PATCH", "/api/backends/web", `{"rules":["method:POST => breakpoint request"]}`); code != 200 {
		t.Errorf("a breakpoint with the UI: %d %s", code, raw)
	}
	// A relay without one refuses to start over that state.
	_, err = NewRelay(RelayOptions{Registry: r2.reg, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), `backend "web"`) || !strings.Contains(err.Error(), "breakpoint") {
		t.Errorf("NewRelay without holds over a breakpoint rule: %v", err)
	}
}

// TestStaticBackendBadRule: a backend from the config file with a rule
// that does not parse is refused, naming the backend and the rule.
func TestStaticBackendBadRule(t *testing.T) {
	reg, err := OpenRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	err = reg.AddStatic(Backend{ID: "web", Rules: []string{"path:/x => delay soon"}}, "0123456789abcdef")
	var re *rules.Error
	if err == nil || !strings.Contains(err.Error(), `backend "web": rules: rule 1: column`) || !errors.As(err, &re) {
		t.Fatalf("AddStatic with a bad rule: %v", err)
	}
	if err := reg.AddStatic(Backend{ID: "web", Rules: []string{"path:/x => status 418"}}, "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetRules("web", nil); !errors.Is(err, ErrStatic) {
		t.Errorf("SetRules on a static backend: %v, want ErrStatic", err)
	}
}

// TestBackendRulesAfterGlobalRules: the relay's own rules and a backend's
// both apply, each once, at both phases.
func TestBackendRulesAfterGlobalRules(t *testing.T) {
	rs, err := rules.ParseAll([]string{"path:/get => set-header response X-Global g; set-header request X-Global-Req g"})
	if err != nil {
		t.Fatal(err)
	}
	global, err := rules.New(rs, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, ModeTunnel, func(o *RelayOptions) { o.Stages = []proxy.Stage{global} })
	if err := r.reg.SetRules("web", []string{"path:/get => set-header response X-Backend b; set-header request X-Backend-Req b"}); err != nil {
		t.Fatal(err)
	}
	res := r.get("/get")
	body := readAll(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	for _, h := range []string{"X-Global", "X-Backend"} {
		if got := res.Header.Values(h); len(got) != 1 {
			t.Errorf("response header %s = %q, want it once", h, got)
		}
	}
	for _, h := range []string{"X-Global-Req", "X-Backend-Req"} {
		if !strings.Contains(body, h) {
			t.Errorf("the backend did not get request header %s: %s", h, body)
		}
	}
}
