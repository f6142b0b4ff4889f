package match

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEFilterExamples keeps the README's filter table true: every
// example in its first column parses, and every key has an example.
func TestREADMEFilterExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found")
	}
	s := string(readme)
	start := strings.Index(s, "**Filter** (`/`)")
	end := strings.Index(s, "The same language selects entries for `devproxy replay --filter`.")
	if start < 0 || end < start {
		t.Fatal("README.md has no filter section")
	}
	span := regexp.MustCompile("`([^`]+)`")
	var examples []string
	for _, line := range strings.Split(s[start:end], "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		// A | inside a table cell is written \|.
		cell := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")[1]
		for _, m := range span.FindAllStringSubmatch(cell, -1) {
			examples = append(examples, strings.ReplaceAll(m[1], "\x00", "|"))
		}
	}
	for _, ex := range examples {
		if _, err := Parse(ex); err != nil {
			t.Errorf("README example %q: %v", ex, err)
		}
	}
	all := strings.Join(examples, " ")
	want := []string{"error", "replay", " or ", " | ", "(", "-"}
	for _, k := range Keys() {
		want = append(want, k+":")
	}
	for _, k := range want {
		if !strings.Contains(all, k) {
			t.Errorf("README's filter table has no example of %q", k)
		}
	}
}
