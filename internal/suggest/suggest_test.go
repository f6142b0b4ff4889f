package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3},
		{"intervall", "interval", 1}, {"intreval", "interval", 1}, // a swap is one edit
		{"taget", "target", 1},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	known := []string{"upstreams", "strip_prefix", "health", "retries", "delay", "drop"}
	for _, tc := range []struct {
		s    string
		want string
		ok   bool
	}{
		{"upstream", "upstreams", true},
		{"helth", "health", true},
		{"ret", "retries", true}, // a prefix
		{"dela", "delay", true},
		{"zzzzzz", "", false},
		{"", "", false},
	} {
		got, ok := Nearest(tc.s, known)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("Nearest(%q) = %q, %v; want %q, %v", tc.s, got, ok, tc.want, tc.ok)
		}
	}
}
