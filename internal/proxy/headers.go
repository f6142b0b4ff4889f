package proxy

import (
	"net/http"
	"strings"
)

// isForwardingHeader reports whether a request header carries client-address
// claims that only devproxy may set: the X-Forwarded-* set, Forwarded, and
// the client-IP headers CDNs and load balancers add, which frameworks
// trust as the client's address. Spellings with '_' or '.' count too:
// CGI-style backends fold them into the same variable.
func isForwardingHeader(name string) bool {
	n := dashes.Replace(strings.ToLower(name))
	if clientIPHeaders[n] {
		return true
	}
	return strings.HasPrefix(n, "x-forwarded-")
}

var clientIPHeaders = map[string]bool{
	"forwarded": true, "x-forwarded": true, "x-original-forwarded-for": true,
	"x-real-ip": true, "x-client-ip": true, "client-ip": true, "true-client-ip": true,
	"cf-connecting-ip": true, "fastly-client-ip": true, "x-cluster-client-ip": true,
	"x-originating-ip": true, "x-remote-addr": true, "x-remote-ip": true,
}

// isDroppedHeader reports request headers that never reach the target:
// Proxy, which CGI-style backends turn into HTTP_PROXY and then use as
// their own outbound proxy (httpoxy, CVE-2016-5385).
func isDroppedHeader(name string) bool {
	return dashes.Replace(strings.ToLower(name)) == "proxy"
}

var dashes = strings.NewReplacer("_", "-", ".", "-")

// stripForwarding deletes every forwarding header from h, and Proxy.
func stripForwarding(h http.Header) {
	for k := range h {
		if isForwardingHeader(k) || isDroppedHeader(k) {
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

// RemoveHopByHop deletes the hop-by-hop headers of a message (RFC 9110
// §7.6.1) and every header its Connection names, for code outside the
// engine that forwards messages itself (the poll agent).
func RemoveHopByHop(h http.Header) { removeHopByHop(h, false) }

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
