package proxy

import "testing"

func TestHostMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"*", "anything.example:8080", true},
		{"app.test", "APP.test", true},
		{"app.test", "app.test.:80", true},
		{"app.test", "api.app.test", false},
		{"*.app.test", "api.app.test:3000", true},
		{"*.app.test", "a.b.app.test", true},
		{"*.app.test", "app.test", false},
		{"*.app.test", "evilapp.test", false},
		{"::1", "[::1]:8080", true},
		{"localhost", "localhost.evil.example", false},
	} {
		if got := HostMatch(c.pattern, c.host); got != c.want {
			t.Errorf("HostMatch(%q, %q) = %v, want %v", c.pattern, c.host, got, c.want)
		}
	}
}
