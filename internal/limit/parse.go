package limit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseRate reads a rate in requests per second from a config value:
// "100/s", "600/m", "5000/h", or a bare number of requests per second
// ("10"). The units may also be written sec, second, min, minute, hour,
// d or day.
func ParseRate(s string) (float64, error) {
	num, unit, slash := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("rate %q: want a number of requests per second, minute or hour, like \"100/s\", \"600/m\" or \"5000/h\"", s)
	}
	if n <= 0 {
		return 0, fmt.Errorf("rate %q: must be more than 0 (leave rate_limit out for no limit)", s)
	}
	per := 1.0
	if slash {
		switch strings.ToLower(strings.TrimSpace(unit)) {
		case "s", "sec", "second":
		case "m", "min", "minute":
			per = 60
		case "h", "hr", "hour":
			per = 3600
		case "d", "day":
			per = 86400
		default:
			return 0, fmt.Errorf("rate %q: unknown unit %q; use /s, /m or /h, like \"100/s\"", s, strings.TrimSpace(unit))
		}
	}
	if n/per == 0 {
		return 0, fmt.Errorf("rate %q: too small to enforce", s)
	}
	return n / per, nil
}
