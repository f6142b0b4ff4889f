package rules

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	rules, err := Decode([]any{
		"path:/a => status 503",
		map[string]any{"name": "flaky", "match": "path:/flaky", "do": "status 503 p=0.3", "enabled": true},
		map[string]any{"name": "off", "do": "set-header X-A a", "enabled": "false"},
		map[any]any{"match": "status:5xx", "do": "set-header response X-Debug yes"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, text string
		enabled    bool
	}{
		{"", "path:/a => status 503", true},
		{"flaky", "path:/flaky => status 503 p=0.3", true},
		{"off", "* => set-header X-A a", false},
		{"", "status:5xx => set-header response X-Debug yes", true},
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules", len(rules))
	}
	for i, w := range want {
		if r := rules[i]; r.Name != w.name || r.String() != w.text || r.Enabled != w.enabled {
			t.Errorf("rules[%d] = %q %q %v, want %q %q %v", i, r.Name, r.String(), r.Enabled, w.name, w.text, w.enabled)
		}
	}
	if rules, err := Decode(nil); err != nil || rules != nil {
		t.Errorf("Decode(nil) = %v, %v", rules, err)
	}
	if rules, err := Decode([]string{"* => status 500"}); err != nil || len(rules) != 1 {
		t.Errorf("Decode([]string) = %v, %v", rules, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		raw  any
		want string
	}{
		{42, `rules: is a int; write a list of rules`},
		{[]any{7}, `rules[0]: is a int; write a string`},
		{[]any{"path:/a => dela 1s"}, `rules[0] "path:/a => dela 1s": column 12: unknown action "dela"`},
		{[]any{map[string]any{"matcher": "path:/a", "do": "status 503"}}, `rules[0].matcher: is not a key of a rule; the keys are name, match, do, enabled`},
		{[]any{"* => status 503", map[string]any{"match": "path:/a", "do": "dela 1s"}}, `rules[1].do "dela 1s": column 1: unknown action "dela"`},
		{[]any{map[string]any{"match": "foo:bar", "do": "status 503"}}, `rules[0].match "foo:bar": column 1: foo:bar: unknown key "foo"`},
		{[]any{map[string]any{"match": "status:5xx", "do": "status 503"}}, `rules[0]: status:5xx needs the response`},
		{[]any{map[string]any{"match": "path:/a"}}, `rules[0]: has no actions; add do:`},
		{[]any{map[string]any{"match": "path:/a", "do": 5}}, `rules[0].do 5: is a number; write the actions as text`},
		{[]any{map[string]any{"do": "status 503", "enabled": "maybe"}}, `rules[0].enabled "maybe": is a string; write true or false`},
		{[]any{map[string]any{"match": "a=>b", "do": "status 503"}}, `rules[0].match "a=>b": column 2: "=>" separates`},
		{[]any{map[string]any{"match": `path:"/a`, "do": "status 503"}}, `rules[0].match "path:\"/a": column 6: quote not closed`},
	} {
		_, err := Decode(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%#v)\n got %v\nwant %s", tc.raw, err, tc.want)
		}
	}
}
