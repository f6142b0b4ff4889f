package invert

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The poll protocol of github.com/google/inverting-proxy. Agent calls go to
// the relay's base URL (which ends in "/") plus these sub-paths.
const (
	PendingPath  = "agent/pending"
	RequestPath  = "agent/request"
	ResponsePath = "agent/response"

	HeaderBackendID        = "X-Inverting-Proxy-Backend-Id"
	HeaderRequestID        = "X-Inverting-Proxy-Request-Id"
	HeaderRequestStartTime = "X-Inverting-Proxy-Request-Start-Time"
	HeaderUserID           = "X-Inverting-Proxy-User-Id"

	// TunnelPath is where agents open the native tunnel.
	TunnelPath = "/_devproxy/tunnel"
	// HeaderTunnelBackend names the backend an agent serves on the tunnel.
	HeaderTunnelBackend = "X-Devproxy-Backend"
	// HeaderRelay marks the tunnel endpoint's own answers, so an agent can
	// tell a devproxy relay's refusal from a relay without the tunnel.
	HeaderRelay = "X-Devproxy-Relay"
	// HeaderDraining marks a poll agent's pending-list call made while it
	// shuts down: a devproxy relay hands it no ids, but counts the agent as
	// alive so the requests it still serves are not failed as lost.
	HeaderDraining = "X-Devproxy-Draining"
	// HeaderAgent names a devproxy poll agent (a random name per agent
	// process), so a devproxy relay can give each of a backend's poll
	// agents its own turns. Agents without it share their turns.
	HeaderAgent = "X-Devproxy-Agent"
)

// maxPendingBody bounds a pending-list answer, as the reference agent does.
const maxPendingBody = 1 << 20

// parsePending reads a pending-list answer: a JSON array of request ids;
// an empty body or null means none.
func parsePending(body []byte) ([]string, error) {
	if len(body) > maxPendingBody {
		return nil, fmt.Errorf("pending list is %d bytes, over the %d-byte limit", len(body), maxPendingBody)
	}
	s := strings.TrimSpace(string(body))
	if s == "" || s == "null" {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, fmt.Errorf("pending list is not a JSON array of strings: %v", err)
	}
	out := ids[:0]
	for _, id := range ids {
		if validRequestID(id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// validRequestID accepts the ids relays use (hex digests, App Engine ids):
// printable ASCII without spaces, at most 256 bytes.
func validRequestID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validAgentName accepts HeaderAgent values: 1 to 64 bytes of letters,
// digits, '-' and '_'.
func validAgentName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// readForwardedRequest parses the body of an agent/request answer: one
// HTTP/1.x request. The request's destination is ignored by the agent (it
// always goes to its own target), so an absolute URL cannot redirect it.
func readForwardedRequest(body io.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(bufio.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("relay sent a request that is not HTTP/1.x: %w", err)
	}
	if req.Method == http.MethodConnect {
		return nil, errors.New("relay sent a CONNECT request; refusing it")
	}
	return req, nil
}

// parseStartTime reads X-Inverting-Proxy-Request-Start-Time; the reference
// agent drops requests without it, so do we.
func parseStartTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("relay sent no valid %s (%q)", HeaderRequestStartTime, v)
	}
	return t, nil
}

// maxInformational bounds the 1xx answers skipped before a final one.
const maxInformational = 8

// readAgentResponse parses an agent/response body: one HTTP/1.x response to
// req. Informational answers before it (a backend's 100 Continue or 103
// Early Hints, which some agents post as they come) are skipped: they
// cannot cross this transport, and the final answer follows them.
func readAgentResponse(body io.Reader, req *http.Request) (*http.Response, error) {
	br := bufio.NewReader(body)
	last := 0 // the last informational status skipped
	for skipped := 0; ; skipped++ {
		res, err := http.ReadResponse(br, req)
		switch {
		case err != nil && last != 0:
			return nil, fmt.Errorf("agent sent an informational %d response and no final response after it", last)
		case err != nil:
			return nil, fmt.Errorf("agent sent a response that is not HTTP/1.x: %w", err)
		case res.StatusCode == http.StatusSwitchingProtocols:
			res.Body.Close()
			return nil, errors.New("agent sent 101 Switching Protocols, which the poll transport cannot carry")
		case res.StatusCode >= 200:
			return res, nil
		case skipped == maxInformational:
			res.Body.Close()
			return nil, fmt.Errorf("agent sent more than %d informational responses", maxInformational)
		}
		last = res.StatusCode
		res.Body.Close() // empty: 1xx answers have no body
	}
}
