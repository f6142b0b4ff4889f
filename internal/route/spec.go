// Package route is serve's routing layer: a table of routes (host glob and
// path prefix), each with a pool of upstreams chosen by a load-balancing
// policy, active and passive health, retries, and the route's own stages
// (auth, rate limit, cache). A *Table plugs into the engine as a
// proxy.Router and as a request and response stage; a *Switch swaps tables
// on a live reload. The relay uses Pool on its own for the agents of one
// backend.
//
// Health checks are not user traffic: they use their own client, never go
// through a route or its stages, and are never recorded as exchanges; their
// transitions are reported through Options.OnHealth and the logger.
package route

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/auth"
	"github.com/devproxy/devproxy/internal/cache"
	"github.com/devproxy/devproxy/internal/limit"
	"github.com/devproxy/devproxy/internal/proxy"
)

// Spec is one entry of `routes:` in the config (or one --route).
type Spec struct {
	// Name identifies the route in marks, messages and the header. Default:
	// derived from Match, e.g. "api.localhost/v1/" or "/".
	Name string
	// Match says which requests the route takes.
	Match MatchSpec
	// StripPrefix is removed from the start of the outbound path, e.g.
	// "/v1": "/v1/users" goes upstream as "/users".
	StripPrefix string
	// Rewrite, applied after StripPrefix, replaces the outbound path.
	Rewrite *RewriteSpec
	// Upstreams are the base URLs of the pool, e.g. "http://127.0.0.1:3001".
	Upstreams []string
	// UpstreamH2C sends requests to the route's http:// upstreams as HTTP/2
	// with prior knowledge (h2c) instead of HTTP/1.1, as --upstream-h2c does
	// for every upstream (config key upstream_h2c). gRPC requests go as h2c
	// without it.
	UpstreamH2C bool
	// LB is the load-balancing policy: round_robin (default), least_conn,
	// random, first, ip_hash or cookie.
	LB string
	// Health turns on active health checks.
	Health *HealthSpec
	// Passive turns on passive health (failures of real traffic).
	Passive *PassiveSpec
	// Retries turns on retries of failed attempts.
	Retries *RetrySpec
	// Cache, RateLimit and Auth turn on the route's own stages.
	Cache     *cache.Config
	RateLimit *limit.Config
	Auth      *auth.Config
}

// MatchSpec says which requests a route takes. Both empty: every request.
type MatchSpec struct {
	// Host is a host pattern: "api.localhost", "*.localhost" (any
	// subdomain) or "*"/"" (any host); the port is ignored.
	Host string
	// Path is a path prefix that matches whole segments: "/api" and "/api/"
	// both take "/api" and "/api/x" but not "/apix". Default "/".
	Path string
}

// RewriteSpec replaces the outbound path: every match of From (a regular
// expression) is replaced by To, which may refer to groups ($1, ${name}).
type RewriteSpec struct {
	From, To string
}

// HealthSpec configures active health checks: a GET of Path on each
// upstream, once at start and then every Interval.
type HealthSpec struct {
	// Path (with an optional query) is requested on each upstream.
	// Default "/".
	Path string
	// Interval between checks. Default 10s.
	Interval time.Duration
	// Timeout of one check. Default 5s, at most Interval.
	Timeout time.Duration
	// Expect is the passing status: "2xx" (default), "200", "200-299".
	Expect string
}

// PassiveSpec configures passive health: an upstream is down while it has
// failed MaxFails times within the last FailWindow. A failure is a
// transport error or a status in UnhealthyStatus; a client that went away
// is never the upstream's failure.
type PassiveSpec struct {
	// MaxFails is how many failures take an upstream down. Default 1.
	MaxFails int
	// FailWindow is how long a failure counts. Default 10s.
	FailWindow time.Duration
	// UnhealthyStatus lists statuses that count as failures: "5xx", "503",
	// "500-504". Default none (only transport errors count).
	UnhealthyStatus []string
}

// RetrySpec configures retries; see proxy.RetryPolicy for which failures
// are retried.
type RetrySpec struct {
	// Tries is the number of attempts in all, including the first.
	// Default 3.
	Tries int
	// Within bounds when a new attempt may start after the first; 0 = no
	// limit.
	Within time.Duration
	// Interval is the wait between attempts. Default 0.
	Interval time.Duration
	// BodyBuffer is how many bytes of a request body are kept for a retry.
	// Default 64 KiB.
	BodyBuffer int64
}

// Load-balancing policies.
const (
	RoundRobin = "round_robin"
	LeastConn  = "least_conn"
	Random     = "random"
	First      = "first"
	IPHash     = "ip_hash"
	Cookie     = "cookie"
)

// Policies lists the load-balancing policies, default first.
var Policies = []string{RoundRobin, LeastConn, Random, First, IPHash, Cookie}

// Defaults.
const (
	DefaultHealthInterval = 10 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	DefaultFailWindow     = 10 * time.Second
	DefaultTries          = 3
	DefaultBodyBuffer     = 64 << 10
)

// DefaultName is the name a route gets from its match: host and path, e.g.
// "api.localhost/v1/", or the path alone ("/").
func DefaultName(m MatchSpec) string {
	p := m.Path
	if p == "" {
		p = "/"
	}
	if h := m.Host; h != "" && h != "*" {
		return h + p
	}
	return p
}

// policy is the proxy.RetryPolicy of a RetrySpec with its defaults filled
// in; nil for nil.
func (r *RetrySpec) policy() *proxy.RetryPolicy {
	if r == nil {
		return nil
	}
	p := &proxy.RetryPolicy{Tries: r.Tries, Within: r.Within, Interval: r.Interval, BodyBuffer: r.BodyBuffer}
	if p.Tries == 0 {
		p.Tries = DefaultTries
	}
	if p.BodyBuffer == 0 {
		p.BodyBuffer = DefaultBodyBuffer
	}
	return p
}

// check validates a spec, filling in its name; errors name the key and the
// value (the caller adds the route).
func (s *Spec) check() error {
	if s.Name == "" {
		s.Name = DefaultName(s.Match)
	}
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if p := s.Match.Path; p != "" && !strings.HasPrefix(p, "/") {
		add("match.path", "%q must start with /; did you mean %q?", p, "/"+p)
	}
	if h := s.Match.Host; strings.ContainsAny(h, "/ ") || strings.Contains(h, "://") {
		add("match.host", "%q is not a host pattern (e.g. api.localhost or *.localhost)", h)
	}
	if p := s.StripPrefix; p != "" && !strings.HasPrefix(p, "/") {
		add("strip_prefix", "%q must start with /; did you mean %q?", p, "/"+p)
	}
	if s.Rewrite != nil {
		if _, err := regexp.Compile(s.Rewrite.From); err != nil {
			add("rewrite.from", "%q is not a regular expression: %v", s.Rewrite.From, unwrapRegexp(err))
		} else if s.Rewrite.From == "" {
			add("rewrite.from", "is empty; give a regular expression such as ^/old/(.*)")
		}
	}
	if len(s.Upstreams) == 0 {
		add("upstreams", "no upstream given; list at least one URL, e.g. [\"http://127.0.0.1:3000\"]")
	}
	seen := map[string]bool{}
	for i, u := range s.Upstreams {
		key := fmt.Sprintf("upstreams[%d]", i)
		if _, err := ParseUpstream(u); err != nil {
			add(key, "%v", err)
			continue
		}
		if seen[u] {
			add(key, "%q is listed twice", u)
		}
		seen[u] = true
	}
	if !knownPolicy(s.LB) {
		add("lb", "%q is not a policy%s (one of %s)", s.LB, didYouMean(s.LB, Policies), strings.Join(Policies, ", "))
	}
	if h := s.Health; h != nil {
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			add("health.path", "%q must start with /; did you mean %q?", h.Path, "/"+h.Path)
		}
		if h.Interval < 0 {
			add("health.interval", "%v must be positive", h.Interval)
		}
		if h.Timeout < 0 {
			add("health.timeout", "%v must be positive", h.Timeout)
		}
		if h.Expect != "" {
			if _, err := parseStatus(h.Expect); err != nil {
				add("health.expect", "%v", err)
			}
		}
	}
	if p := s.Passive; p != nil {
		if p.MaxFails < 0 {
			add("passive.max_fails", "%d must be at least 1", p.MaxFails)
		}
		if p.FailWindow < 0 {
			add("passive.fail_window", "%v must be positive", p.FailWindow)
		}
		for i, st := range p.UnhealthyStatus {
			if _, err := parseStatus(st); err != nil {
				add(fmt.Sprintf("passive.unhealthy_status[%d]", i), "%v", err)
			}
		}
	}
	if r := s.Retries; r != nil {
		if r.Tries < 0 {
			add("retries.tries", "%d must be at least 1", r.Tries)
		}
		if r.Within < 0 {
			add("retries.within", "%v must not be negative", r.Within)
		}
		if r.Interval < 0 {
			add("retries.interval", "%v must not be negative", r.Interval)
		}
		if r.BodyBuffer < 0 {
			add("retries.body_buffer", "%d must not be negative", r.BodyBuffer)
		}
	}
	return errors.Join(errs...)
}

func knownPolicy(p string) bool {
	if p == "" {
		return true
	}
	for _, q := range Policies {
		if p == q {
			return true
		}
	}
	return false
}

// unwrapRegexp drops regexp's "error parsing regexp: " prefix.
func unwrapRegexp(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// ParseUpstream parses an upstream base URL; it must be http or https with a
// host, and may have a base path.
func ParseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty upstream URL; give one such as http://127.0.0.1:3000")
	}
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("%q has no scheme; did you mean %q?", s, "http://"+s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", s, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host; give one such as http://127.0.0.1:3000", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: an upstream is a scheme, host and optional path, without query, fragment or user", s)
	}
	return u, nil
}

// statusSet is a set of status ranges, e.g. 2xx or 500-504.
type statusSet [][2]int

func (s statusSet) has(code int) bool {
	for _, r := range s {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// parseStatus parses "2xx", "200" or "200-299" (several comma-separated).
func parseStatus(s string) (statusSet, error) {
	var set statusSet
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		lo, hi, isRange := strings.Cut(part, "-")
		switch {
		case len(part) == 3 && strings.HasSuffix(part, "xx") && part[0] >= '1' && part[0] <= '5':
			c := int(part[0]-'0') * 100
			set = append(set, [2]int{c, c + 99})
		case isRange:
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || !validStatus(a) || !validStatus(b) || a > b {
				return nil, fmt.Errorf("%q is not a status range (e.g. 200-299)", part)
			}
			set = append(set, [2]int{a, b})
		default:
			c, err := strconv.Atoi(part)
			if err != nil || !validStatus(c) {
				return nil, fmt.Errorf("%q is not a status (e.g. 200, 2xx or 200-299)", part)
			}
			set = append(set, [2]int{c, c})
		}
	}
	return set, nil
}

func validStatus(c int) bool { return c >= 100 && c <= 599 }

// KeyError is a problem with one key of a route.
type KeyError struct {
	// Key is the key's path within the route, e.g. "health.interval".
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// SpecError is a problem with one route of the config.
type SpecError struct {
	// Index is the route's position in `routes:` (-1 when not from a list).
	Index int
	// Name is the route's name (given or derived).
	Name string
	Err  error
}

func (e *SpecError) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&b, "routes[%d]", e.Index)
		if e.Name != "" {
			fmt.Fprintf(&b, " (%s)", e.Name)
		}
	} else {
		fmt.Fprintf(&b, "route %s", e.Name)
	}
	b.WriteString(": ")
	// Several problems: one per line, each naming the route.
	var multi interface{ Unwrap() []error }
	if errors.As(e.Err, &multi) && len(multi.Unwrap()) > 1 {
		prefix := b.String()
		b.Reset()
		for i, err := range multi.Unwrap() {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(prefix + err.Error())
		}
		return b.String()
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *SpecError) Unwrap() error { return e.Err }
