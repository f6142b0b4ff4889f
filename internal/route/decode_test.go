package route

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/devproxy/devproxy/internal/auth"
	"github.com/devproxy/devproxy/internal/cache"
	"github.com/devproxy/devproxy/internal/limit"
)

// issueConfig is the example of issue #14, as written.
const issueConfig = `
routes:
  - match: {host: "api.localhost", path: "/v1/"}   # host glob and/or path prefix; longest prefix wins
    strip_prefix: "/v1"                           # and/or rewrite: {from: "^/old/(.*)", to: "/new/$1"}
    upstreams: ["http://127.0.0.1:3001", "http://127.0.0.1:3002"]
    lb: round_robin        # round_robin | least_conn | random | first | ip_hash | cookie
    health: {path: /healthz, interval: 5s, timeout: 1s, expect: "2xx"}   # active
    passive: {max_fails: 3, fail_window: 30s, unhealthy_status: ["5xx"]}
    retries: {tries: 3, within: 5s}                 # idempotent requests, never a consumed body
    cache: {max_size: 64MiB}                        # RFC 9111 private cache for GET/HEAD
    rate_limit: {rate: 100/s, burst: 20, per: client}   # client | route | global
    auth: {basic: {user: dev, password_env: DEVPROXY_PASS}}   # or bearer tokens from env
  - match: {path: "/"}
    upstreams: ["http://127.0.0.1:5173"]
`

// routesFrom reads a YAML config through viper, as the command does.
func routesFrom(t *testing.T, yaml string) any {
	t.Helper()
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(yaml)); err != nil {
		t.Fatal(err)
	}
	return v.Get("routes")
}

func TestDecodeIssueConfig(t *testing.T) {
	specs, err := Decode(routesFrom(t, issueConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{{
		Name:        "api.localhost/v1/",
		Match:       MatchSpec{Host: "api.localhost", Path: "/v1/"},
		StripPrefix: "/v1",
		Upstreams:   []string{"http://127.0.0.1:3001", "http://127.0.0.1:3002"},
		LB:          RoundRobin,
		Health:      &HealthSpec{Path: "/healthz", Interval: 5 * time.Second, Timeout: time.Second, Expect: "2xx"},
		Passive:     &PassiveSpec{MaxFails: 3, FailWindow: 30 * time.Second, UnhealthyStatus: []string{"5xx"}},
		Retries:     &RetrySpec{Tries: 3, Within: 5 * time.Second},
		Cache:       &cache.Config{MaxSize: 64 << 20},
		RateLimit:   &limit.Config{Rate: 100, Burst: 20, Per: "client"},
		Auth:        &auth.Config{Basic: &auth.Basic{User: "dev", PasswordEnv: "DEVPROXY_PASS"}},
	}, {
		Name:      "/",
		Match:     MatchSpec{Path: "/"},
		Upstreams: []string{"http://127.0.0.1:5173"},
	}}
	if !reflect.DeepEqual(specs, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", specs, want)
	}
	// And it builds, with the password in the environment.
	tab, err := New(specs, Options{Getenv: func(k string) string {
		if k == "DEVPROXY_PASS" {
			return "secret"
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	tab.Close()
	_, err = New(specs, Options{Getenv: func(string) string { return "" }})
	if err == nil || !strings.HasPrefix(err.Error(), "route api.localhost/v1/: auth") || !strings.Contains(err.Error(), "DEVPROXY_PASS") {
		t.Errorf("unset password env: %v", err)
	}
}

// TestDecodeErrors: every error names routes[i] (name), the key and the
// value, and suggests the near key or value.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", `
routes:
  - match: {path: /api/}
    upstream: ["http://127.0.0.1:1"]`, []string{`routes[0] (/api/): upstream: unknown key; did you mean "upstreams"?`}},
		{"misspelt key", `
routes:
  - match: {path: /}
    upstreams: ["http://127.0.0.1:1"]
    helth: {path: /h}`, []string{`routes[0] (/): helth: unknown key; did you mean "health"?`}},
		{"nested key", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    health: {intervall: 5s}`, []string{`routes[0] (api): health.intervall: unknown key; did you mean "health.interval"?`}},
		{"path at the top", `
routes:
  - path: /api/
    upstreams: ["http://127.0.0.1:1"]`, []string{`routes[0] (/): path: unknown key; did you mean "match.path"?`}},
		{"bad lb", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    lb: round-robin`, []string{`routes[0] (api): lb: "round-robin" is not a policy; did you mean "round_robin"? (one of round_robin, least_conn, random, first, ip_hash, cookie)`}},
		{"duration without unit", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    health: {interval: 5}`, []string{`routes[0] (api): health.interval: 5 has no unit; did you mean "5s"?`}},
		{"bad duration", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    passive: {fail_window: soon}`, []string{`routes[0] (api): passive.fail_window: "soon" is not a duration (e.g. 5s, 250ms, 1m)`}},
		{"no scheme", `
routes:
  - name: api
    upstreams: ["localhost:3000"]`, []string{`routes[0] (api): upstreams[0]: "localhost:3000" has no scheme; did you mean "http://localhost:3000"?`}},
		{"bad size", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    cache: {max_size: 64 megs}`, []string{`routes[0] (api): cache.max_size: "64 megs" is not a size (e.g. 64MiB, 512KiB, 1048576)`}},
		{"bad rate", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    rate_limit: {rate: fast}`, []string{`routes[0] (api): rate_limit.rate: rate "fast"`}},
		{"bad per", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    rate_limit: {rate: 10/s, per: clients}`, []string{`routes[0] (api): rate_limit.per: "clients" is not one of client, route, global; did you mean "client"?`}},
		{"wrong type", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    match: /api/`, []string{`routes[0] (api): match: want an object with keys host, path; got "/api/" (a string)`}},
		{"bad status", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    passive: {unhealthy_status: [5xx, 6xx]}`, []string{`routes[0] (api): passive.unhealthy_status[1]: "6xx" is not a status (e.g. 200, 2xx or 200-299)`}},
		{"bad regexp", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    rewrite: {from: "(", to: /}`, []string{`routes[0] (api): rewrite.from: "(" is not a regular expression: missing closing ): ` + "`(`"}},
		{"tries zero", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    retries: {tries: 0}`, []string{`routes[0] (api): retries.tries: 0: give the number of attempts in all, at least 1`}},
		{"auth without a method", `
routes:
  - name: api
    upstreams: ["http://127.0.0.1:1"]
    auth: {loopback_bypass: true}`, []string{`routes[0] (api): auth: give basic or bearer`}},
		{"two problems, two routes", `
routes:
  - name: a
    upstreams: ["http://127.0.0.1:1"]
    lb: fastest
    retries: {tries: three}
  - name: b
    upstreams: []`, []string{
			`routes[0] (a): lb: "fastest" is not a policy`,
			`routes[0] (a): retries.tries: want a whole number, got "three" (a string)`,
			`routes[1] (b): upstreams: no upstream given`,
		}},
		{"same name", `
routes:
  - name: a
    upstreams: ["http://127.0.0.1:1"]
  - name: a
    match: {path: /x/}
    upstreams: ["http://127.0.0.1:2"]`, []string{`routes[1] (a): name: routes[0] already has the name "a"`}},
		{"not a list", `
routes: {path: /}`, []string{`routes: want a list of routes`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(routesFrom(t, tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(tt.yaml, "upstream:") && strings.Contains(err.Error(), "no upstream given") {
				t.Errorf("error\n%s\nrepeats the misspelt key as a missing one", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	specs, err := Decode([]any{map[string]any{
		"upstreams": "http://127.0.0.1:1", // one string is a list of one
		"health":    map[string]any{"expect": 200},
		"retries":   map[string]any{"body_buffer": "1MiB", "interval": "250ms"},
		"cache":     true,
		"passive":   map[any]any{"unhealthy_status": "503"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if len(s.Upstreams) != 1 || s.Health.Expect != "200" || s.Retries.BodyBuffer != 1<<20 || s.Retries.Interval != 250*time.Millisecond || s.Cache == nil || s.Passive.UnhealthyStatus[0] != "503" {
		t.Errorf("%+v %+v %+v", s, s.Health, s.Retries)
	}
	if p := s.Retries.policy(); p.Tries != DefaultTries || p.BodyBuffer != 1<<20 {
		t.Errorf("policy %+v", p)
	}
	if specs, err := Decode(nil); specs != nil || err != nil {
		t.Errorf("Decode(nil) = %v, %v", specs, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "64MiB": 64 << 20, "1.5 KiB": 1536, "10MB": 10e6, "2gib": 2 << 30, "0": 0} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1 XB", "1e400"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

func TestParseFlag(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
	}{
		{"/api/=http://127.0.0.1:3001", Spec{Name: "/api/", Match: MatchSpec{Path: "/api/"}, Upstreams: []string{"http://127.0.0.1:3001"}}},
		{"api.localhost/v1/=http://127.0.0.1:3001, http://127.0.0.1:3002", Spec{Name: "api.localhost/v1/", Match: MatchSpec{Host: "api.localhost", Path: "/v1/"}, Upstreams: []string{"http://127.0.0.1:3001", "http://127.0.0.1:3002"}}},
		{"*.localhost=http://127.0.0.1:5173/app", Spec{Name: "*.localhost/", Match: MatchSpec{Host: "*.localhost", Path: "/"}, Upstreams: []string{"http://127.0.0.1:5173/app"}}},
		{"/q=http://127.0.0.1:1", Spec{Name: "/q", Match: MatchSpec{Path: "/q"}, Upstreams: []string{"http://127.0.0.1:1"}}},
	}
	for _, tt := range tests {
		got, err := ParseFlag(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFlag(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	bad := map[string]string{
		"/api/":                        "want PATH=URL",
		"=http://127.0.0.1:1":          "want PATH=URL",
		"/api/=":                       "want PATH=URL",
		"/api/=127.0.0.1:3001":         `has no scheme; did you mean "http://127.0.0.1:3001"?`,
		"http://127.0.0.1:1=/api/":     "not a URL",
		"/a/=http://127.0.0.1:1,":      "empty upstream URL",
		"/a/=ftp://127.0.0.1:1":        "scheme must be http or https",
		"/a/=http://x:1,http://x:1":    "listed twice",
		"/a/=http://127.0.0.1:1/p?q=1": "without query",
	}
	for in, want := range bad {
		_, err := ParseFlag(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "route \""+in+"\": ") {
			t.Errorf("ParseFlag(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
