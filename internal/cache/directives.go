package cache

import (
	"math"
	"net/http"
	"strconv"
	"strings"
)

// directives are the Cache-Control directives of one message (RFC 9111
// §5.2) that this cache acts on. Unknown directives are ignored (§5.2.3).
type directives struct {
	noStore, noCache, public, private, mustRevalidate bool
	onlyIfCached                                      bool
	maxAge, sMaxAge, minFresh                         delta
}

// delta is a delta-seconds argument (RFC 9111 §1.2.2).
type delta struct {
	set, bad bool  // given; given without a valid value
	secs     int64 // the value, when set and not bad
}

// deltaMax is what an overflowing delta-seconds becomes (§1.2.2).
const deltaMax = math.MaxInt32 + 1

// parseDirectives reads every Cache-Control field line of h. Directive names
// are case-insensitive; values may be tokens or quoted strings, and a
// quoted string may hold commas. Of a repeated directive the first wins.
func parseDirectives(h http.Header) directives {
	var d directives
	for _, line := range h.Values("Cache-Control") {
		for line != "" {
			var name, value string
			name, value, line = nextDirective(line)
			switch strings.ToLower(name) {
			case "no-store":
				d.noStore = true
			case "no-cache":
				// The qualified form no-cache="field" is treated as the
				// unqualified one: stricter, and allowed (§5.2.2.4).
				d.noCache = true
			case "public":
				d.public = true
			case "private":
				d.private = true
			case "must-revalidate":
				d.mustRevalidate = true
			case "only-if-cached":
				d.onlyIfCached = true
			case "max-age":
				d.maxAge = d.maxAge.or(value)
			case "s-maxage":
				d.sMaxAge = d.sMaxAge.or(value)
			case "min-fresh":
				d.minFresh = d.minFresh.or(value)
			}
		}
	}
	return d
}

// or returns d if it is already set, else the delta that value gives.
// The quoted form ("60") is tolerated, though senders must not use it.
func (d delta) or(value string) delta {
	if d.set {
		return d
	}
	n, ok := parseDeltaSeconds(value)
	return delta{set: true, bad: !ok, secs: n}
}

// parseDeltaSeconds parses a non-negative count of seconds; too large a
// count becomes deltaMax.
func parseDeltaSeconds(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > deltaMax {
		return deltaMax, true // only digits, so the error is a range error
	}
	return n, true
}

// nextDirective splits the first directive off a Cache-Control line:
// its name, its value (unquoted) and the rest of the line after the
// separating comma.
func nextDirective(s string) (name, value, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return strings.TrimSpace(s), "", ""
	}
	name = strings.TrimSpace(s[:i])
	if s[i] == ',' {
		return name, "", s[i+1:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for j := 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '\\' && j+1 < len(s):
				j++
				b.WriteByte(s[j])
			case c == '"':
				rest = s[j+1:]
				if k := strings.IndexByte(rest, ','); k >= 0 {
					rest = rest[k+1:]
				} else {
					rest = ""
				}
				return name, b.String(), rest
			default:
				b.WriteByte(c)
			}
		}
		return name, b.String(), "" // unterminated: take what there is
	}
	if k := strings.IndexByte(s, ','); k >= 0 {
		return name, strings.TrimSpace(s[:k]), s[k+1:]
	}
	return name, strings.TrimSpace(s), ""
}
