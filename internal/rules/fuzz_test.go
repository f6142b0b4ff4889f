package rules

import "testing"

// FuzzParse checks that whatever parses has a normal form that parses to
// the same rule: Parse(String(Parse(x))) has the same String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`path:/api/* => status 503 p=0.3`,
		`method:POST => set-header X-A "a b"; remove-header response X-B`,
		`status:5xx => set-header response X-Debug yes`,
		`* => mock 200 header=Content-Type:application/json body="{\"a\": 1}"`,
		`host:api.localhost path:/v1 => rewrite-path "^/v1/(.*)" /v2/$1`,
		`path:"/a=>b" => map http://localhost:4000/base`,
		`-path:/x or (method:GET host:*.local) => set-header X-A "p=1" p=0.5`,
		` => status 418 body="short; and \\ stout"`,
		`path:/api/* => delay 300ms±100ms p=0.2`,
		`host:api.localhost path:/slow => throttle slow-3g`,
		`status:5xx => first-byte 2s; truncate 10kb`,
		`path:/x => replace response "a b" c; reset p=0.1`,
		`method:POST => breakpoint request; drop`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		norm := r.String()
		again, err := Parse(norm)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its normal form %q does not parse: %v", s, norm, err)
		}
		if got := again.String(); got != norm {
			t.Fatalf("Parse(%q): normal form %q reads back as %q", s, norm, got)
		}
		if len(again.Actions) != len(r.Actions) {
			t.Fatalf("Parse(%q): %d actions, normal form %d", s, len(r.Actions), len(again.Actions))
		}
		for i, a := range r.Actions {
			if b := again.Actions[i]; a.Prob() != b.Prob() || a.Phase() != b.Phase() || a.Name() != b.Name() {
				t.Fatalf("Parse(%q): action %d %v reads back as %v", s, i, a, b)
			}
		}
	})
}
