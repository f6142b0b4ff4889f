package proxy

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
)

// guard is the server's first handler: it refuses what must never reach the
// engine — a request the connection watcher judged a smuggling attempt, and
// on a loopback listener a Host that is not a local name (DNS rebinding) —
// and records each refusal like any other exchange.
type guard struct {
	next http.Handler
	srv  *Server
	// hostCheck is on for loopback listeners that asked for it.
	hostCheck bool
	// listenHost is the host part of the listen address, lower case.
	listenHost string
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// HTTP/2 requests (h2c) carry no HTTP/1 header block for the watcher.
	if c := connFrom(r.Context()); c != nil && r.ProtoMajor == 1 {
		verdict, raw := c.begin()
		defer c.end()
		if verdict != "" {
			e := &record.Error{Kind: record.ErrRejected, Message: verdict + "; refused and the connection closed", Status: http.StatusBadRequest}
			w.Header().Set("Connection", "close")
			writeError(w, e)
			g.srv.recordRefusal(c, raw, e)
			return
		}
	}
	if g.hostCheck && !g.hostAllowed(r.Host) {
		name := hostOnly(r.Host)
		msg := "Host " + quote(r.Host) + " is not a local name, and this listener is on loopback: a web page whose DNS was rebound to 127.0.0.1 could read your service through it (DNS rebinding)"
		if f := g.srv.opts.AllowedHostFlag; f != "" {
			msg += "; if you expect this name, allow it with " + f + " " + name + " (or " + f + " '*' to allow any Host)"
		}
		Refuse(g.srv.opts.Tap, g.srv.opts.Role, w, r, http.StatusForbidden, record.ErrRejected, msg)
		return
	}
	g.next.ServeHTTP(w, r)
}

// hostAllowed reports whether a request's Host may be served on a loopback
// listener: localhost and *.localhost (RFC 6761 keeps them on this machine),
// loopback IPs, the listener's own host, and names the user allowed.
func (g *guard) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: not something a browser sends
	}
	if HostMatch("localhost", hostport) || HostMatch("*.localhost", hostport) || g.listenHost != "" && HostMatch(g.listenHost, hostport) {
		return true
	}
	if ip := net.ParseIP(hostOnly(hostport)); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range g.srv.opts.AllowedHosts {
		if HostMatch(a, hostport) {
			return true
		}
	}
	return false
}

// isLoopbackListen reports whether a listen address binds only loopback.
func isLoopbackListen(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return strconv.Quote(s)
}
