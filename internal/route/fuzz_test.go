package route

import "testing"

// FuzzParseFlag: no panic, and an accepted flag builds a table.
func FuzzParseFlag(f *testing.F) {
	for _, s := range []string{"/api/=http://127.0.0.1:3001", "api.localhost/v1/=http://a,http://b", "=", "/=x", "*.l=http://[::1]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseFlag(s)
		if err != nil {
			return
		}
		if _, err := New([]Spec{spec}, Options{}); err != nil {
			t.Fatalf("ParseFlag(%q) accepted %+v, but New: %v", s, spec, err)
		}
	})
}

// FuzzDecode: no panic on any values in a route's usual keys, and an
// accepted route builds a table.
func FuzzDecode(f *testing.F) {
	f.Add("/api/", "http://127.0.0.1:1", "round_robin", "5s", "64MiB", "5xx", "^/(.*)")
	f.Add("", "localhost", "rr", "5", "x", "6xx", "(")
	f.Fuzz(func(t *testing.T, path, up, lb, dur, size, status, re string) {
		raw := []any{map[string]any{
			"match":     map[string]any{"path": path},
			"upstreams": []any{up},
			"lb":        lb,
			"health":    map[string]any{"interval": dur, "expect": status},
			"passive":   map[string]any{"fail_window": dur, "unhealthy_status": []any{status}},
			"retries":   map[string]any{"body_buffer": size},
			"rewrite":   map[string]any{"from": re, "to": "/$1"},
		}}
		specs, err := Decode(raw)
		if err != nil {
			return
		}
		if _, err := New(specs, Options{}); err != nil {
			t.Fatalf("Decode accepted %+v, but New: %v", specs[0], err)
		}
	})
}
