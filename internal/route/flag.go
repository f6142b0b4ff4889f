package route

import (
	"fmt"
	"strings"
)

// flagForm is the shape ParseFlag accepts, for messages.
const flagForm = "want PATH=URL[,URL…] or HOST/PATH=URL[,URL…], e.g. /api/=http://127.0.0.1:3001"

// ParseFlag parses a route given on the command line: "PATH=URL[,URL…]"
// (e.g. "/api/=http://127.0.0.1:3001") or "HOST/PATH=URL[,URL…]" (e.g.
// "api.localhost/=http://127.0.0.1:3001,http://127.0.0.1:3002"). Several
// URLs form one round-robin pool. The spec is validated as Decode does.
func ParseFlag(s string) (Spec, error) {
	var spec Spec
	left, right, ok := strings.Cut(s, "=")
	left = strings.TrimSpace(left)
	if !ok || left == "" || strings.TrimSpace(right) == "" {
		return spec, fmt.Errorf("route %q: %s", s, flagForm)
	}
	if strings.Contains(left, "://") {
		return spec, fmt.Errorf("route %q: the part before = is what to match (a path, or host/path), not a URL; %s", s, flagForm)
	}
	if strings.HasPrefix(left, "/") {
		spec.Match.Path = left
	} else {
		host, path, hasPath := strings.Cut(left, "/")
		spec.Match.Host = host
		spec.Match.Path = "/" + path
		if !hasPath {
			spec.Match.Path = "/"
		}
	}
	for u := range strings.SplitSeq(right, ",") {
		spec.Upstreams = append(spec.Upstreams, strings.TrimSpace(u))
	}
	if err := spec.check(); err != nil {
		return Spec{}, fmt.Errorf("route %q: %w", s, err)
	}
	return spec, nil
}
