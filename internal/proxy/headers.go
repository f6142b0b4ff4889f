package proxy

import (
	"net/http"
	"strings"
)

// isForwardingHeader reports whether a request header carries client-address
// claims that only devproxy may set. Spellings with '_' or '.' count too:
// CGI-style backends fold them into the same variable.
func isForwardingHeader(name string) bool {
	n := dashes.Replace(strings.ToLower(name))
	switch n {
	case "forwarded", "x-real-ip", "x-client-ip":
		return true
	}
	return strings.HasPrefix(n, "x-forwarded-")
}

var dashes = strings.NewReplacer("_", "-", ".", "-")

// stripForwarding deletes every forwarding header from h.
func stripForwarding(h http.Header) {
	for k := range h {
		if isForwardingHeader(k) {
			delete(h, k)
		}
	}
}

// hopHeaders are removed by every proxy (RFC 9110 §7.6.1), as in
// net/http/httputil.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop deletes hop-by-hop headers and every header named in
// Connection. keepUpgrade keeps Connection and Upgrade themselves (101).
func removeHopByHop(h http.Header, keepUpgrade bool) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				name := http.CanonicalHeaderKey(sf)
				if keepUpgrade && (name == "Connection" || name == "Upgrade") {
					continue
				}
				h.Del(sf)
			}
		}
	}
	for _, name := range hopHeaders {
		if keepUpgrade && (name == "Connection" || name == "Upgrade") {
			continue
		}
		h.Del(name)
	}
}

// cleanResponseHeaders removes headers that must not cross devproxy in a
// response: Alt-Svc would steer the client around the proxy.
func cleanResponseHeaders(h http.Header) { h.Del("Alt-Svc") }
