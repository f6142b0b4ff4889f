package cache

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// heuristicallyCacheable are the status codes a cache may give a heuristic
// freshness lifetime (RFC 9110 §15.1). 206 is left out: this cache does not
// store partial content.
var heuristicallyCacheable = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// heuristicFraction is the share of the time since Last-Modified that a
// response without explicit freshness stays fresh (RFC 9111 §4.2.2).
const heuristicFraction = 10

// lifetime is a response's freshness lifetime in a private cache (RFC 9111
// §4.2.1): max-age, else Expires − Date, else the heuristic. s-maxage is for
// shared caches and ignored. date is the Date the age calculation uses.
func lifetime(status int, h http.Header, cc directives, date time.Time) time.Duration {
	if cc.maxAge.set {
		if cc.maxAge.bad {
			return 0 // invalid freshness information means stale (§4.2.1)
		}
		return time.Duration(cc.maxAge.secs) * time.Second
	}
	if vs := h.Values("Expires"); len(vs) > 0 {
		exp, err := http.ParseTime(vs[0])
		if err != nil || !exp.After(date) {
			return 0 // "0" and other invalid dates are in the past (§5.3)
		}
		return exp.Sub(date)
	}
	if !heuristicallyCacheable[status] && !cc.public {
		return 0
	}
	lm, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil || !lm.Before(date) {
		return 0
	}
	return date.Sub(lm) / heuristicFraction
}

// explicitlyCacheable reports whether a response says something that
// allows storing it (RFC 9111 §3, last condition): public, private (a
// private cache), Expires, max-age, or a heuristically cacheable status.
func explicitlyCacheable(status int, h http.Header, cc directives) bool {
	return cc.public || cc.private || cc.maxAge.set || len(h.Values("Expires")) > 0 || heuristicallyCacheable[status]
}

// ageClock holds what the age of a stored response is computed from
// (RFC 9111 §4.2.3).
type ageClock struct {
	initial  time.Duration // corrected_initial_age
	received time.Time     // response_time
}

// newAgeClock computes corrected_initial_age for a response received at
// responseTime to a request sent at requestTime.
func newAgeClock(h http.Header, date, requestTime, responseTime time.Time) ageClock {
	var ageValue time.Duration
	if n, ok := parseDeltaSeconds(strings.TrimSpace(h.Get("Age"))); ok {
		ageValue = time.Duration(n) * time.Second
	}
	apparent := max(0, responseTime.Sub(date))
	corrected := ageValue + responseTime.Sub(requestTime)
	return ageClock{initial: max(apparent, corrected), received: responseTime}
}

// at is current_age at now.
func (a ageClock) at(now time.Time) time.Duration {
	return a.initial + max(0, now.Sub(a.received))
}

// dateOf is a response's Date, or when it was received if it has none that
// parses.
func dateOf(h http.Header, received time.Time) time.Time {
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		return d
	}
	return received
}

// seconds is d in whole seconds, rounded down, as Age and ttl carry it.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// varyNames lists the request fields a response varies on, lowercased and
// sorted; "*" stands for Vary: *.
func varyNames(h http.Header) []string {
	var names []string
	for _, line := range h.Values("Vary") {
		for name := range strings.SplitSeq(line, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// absent is the normalised value of a field the request does not have: it
// matches only another request without it (RFC 9111 §4.1).
const absent = "\x00"

// caseInsensitive are request fields whose values compare without case.
var caseInsensitive = map[string]bool{
	"accept": true, "accept-encoding": true, "accept-language": true, "accept-charset": true,
}

// trimParams trims whitespace from a list member and around the
// semicolons of its parameters: "gzip ; q=1" and "gzip;q=1" are one value.
func trimParams(m string) string {
	if !strings.Contains(m, ";") {
		return strings.TrimSpace(m)
	}
	parts := strings.Split(m, ";")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return strings.Join(parts, ";")
}

// varyValues normalises the request fields names as a cache key: field
// lines combined, whitespace trimmed around list members and their
// parameters, case folded where the field's values are case-insensitive
// (RFC 9111 §4.1).
func varyValues(r http.Header, names []string) []string {
	out := make([]string, len(names))
	for i, name := range names {
		lines := r.Values(name)
		if len(lines) == 0 {
			out[i] = absent
			continue
		}
		var members []string
		for _, line := range lines {
			for m := range strings.SplitSeq(line, ",") {
				if m = trimParams(m); m != "" {
					members = append(members, m)
				}
			}
		}
		v := strings.Join(members, ",")
		if caseInsensitive[name] {
			v = strings.ToLower(v)
		}
		out[i] = v
	}
	return out
}
