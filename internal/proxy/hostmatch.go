package proxy

import (
	"net"
	"strings"
)

// HostMatch reports whether a request's Host (with or without a port)
// matches a host pattern. This is devproxy's one host-pattern dialect, used
// by the loopback Host guard and the relay's backend routing alike:
//
//   - "*" matches any host;
//   - "*.example.test" matches any subdomain of example.test, not
//     example.test itself;
//   - anything else matches that name exactly.
//
// Case and a trailing dot are ignored; IPv6 brackets are removed.
func HostMatch(pattern, host string) bool {
	p := normalizeHost(pattern)
	h := normalizeHost(hostOnly(host))
	switch {
	case p == "*":
		return true
	case strings.HasPrefix(p, "*."):
		return strings.HasSuffix(h, p[1:]) && len(h) > len(p)-1
	}
	return p == h
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostOnly strips the port and IPv6 brackets from a Host value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
