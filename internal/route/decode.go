package route

import (
	"errors"
	"fmt"
	"github.com/devproxy/devproxy/internal/suggest"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/auth"
	"github.com/devproxy/devproxy/internal/cache"
	"github.com/devproxy/devproxy/internal/limit"
)

// Decode turns the config's `routes:` value (viper's v.Get("routes"): a list
// of maps) into specs. It is strict: an unknown key, a value of the wrong
// type or a bad value is an error that names the route (routes[i] and its
// name), the key and the value, with "did you mean" for a near key. Every
// problem is reported, one per line. A nil raw is no routes.
func Decode(raw any) ([]Spec, error) {
	if raw == nil {
		return nil, nil
	}
	items, ok := asList(raw)
	if !ok {
		return nil, fmt.Errorf("routes: want a list of routes, each with match and upstreams; got %s", describe(raw))
	}
	var (
		specs []Spec
		errs  []error
		names = map[string]int{}
	)
	for i, item := range items {
		d := &decoder{}
		s := d.spec(item)
		d.checked(&s)
		if s.Name == "" {
			s.Name = DefaultName(s.Match)
		}
		if j, dup := names[s.Name]; dup && len(d.errs) == 0 {
			key := "name"
			if _, given := rawKey(item, "name"); !given {
				key = "match"
			}
			d.fail(key, "routes[%d] already has the name %q; give this route another name, or merge the two", j, s.Name)
		}
		names[s.Name] = i
		if len(d.errs) > 0 {
			errs = append(errs, &SpecError{Index: i, Name: s.Name, Err: errors.Join(d.errs...)})
			continue
		}
		specs = append(specs, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return specs, nil
}

// The keys of each object in a route, for strictness and suggestions.
var (
	routeKeys   = []string{"name", "match", "strip_prefix", "rewrite", "upstreams", "upstream_h2c", "lb", "health", "passive", "retries", "cache", "rate_limit", "auth"}
	matchKeys   = []string{"host", "path"}
	rewriteKeys = []string{"from", "to"}
	healthKeys  = []string{"path", "interval", "timeout", "expect"}
	passiveKeys = []string{"max_fails", "fail_window", "unhealthy_status"}
	retryKeys   = []string{"tries", "within", "interval", "body_buffer"}
	cacheKeys   = []string{"max_size", "max_entry"}
	limitKeys   = []string{"rate", "burst", "per"}
	authKeys    = []string{"basic", "bearer", "loopback_bypass"}
	basicKeys   = []string{"user", "password_env", "password_hash"}
	bearerKeys  = []string{"tokens_env"}
	limitPers   = []string{"client", "route", "global"}
)

// routeHints are keys people write at the wrong level or by another name.
var routeHints = map[string]string{
	"host": "match.host", "path": "match.path", "prefix": "match.path",
	"upstream": "upstreams", "target": "upstreams", "targets": "upstreams", "url": "upstreams", "urls": "upstreams",
	"policy": "lb", "lb_policy": "lb", "load_balancing": "lb", "balance": "lb",
	"h2c": "upstream_h2c", "http2": "upstream_h2c", "upstreams_h2c": "upstream_h2c",
	"health_check": "health", "healthcheck": "health", "retry": "retries", "ratelimit": "rate_limit", "limit": "rate_limit",
}

// decoder collects the problems of one route.
type decoder struct {
	errs []error
	// quiet are keys check must not complain about: a key suggested for an
	// unknown one (its value went there), or "" when the route is no map.
	quiet map[string]bool
}

// failedKey reports whether key already has a problem.
func (d *decoder) failedKey(key string) bool {
	for _, e := range d.errs {
		var ke *KeyError
		if errors.As(e, &ke) && ke.Key == key {
			return true
		}
	}
	return false
}

// checked adds the problems s.check finds, but none about a key that
// already failed to decode (its value is then only a zero).
func (d *decoder) checked(s *Spec) {
	if d.quiet[""] {
		return
	}
	failed := func(key string) bool {
		for q := range d.quiet {
			if key == q || strings.HasPrefix(key, q+".") || strings.HasPrefix(key, q+"[") {
				return true
			}
		}
		for _, e := range d.errs {
			var ke *KeyError
			if errors.As(e, &ke) && (key == ke.Key || strings.HasPrefix(key, ke.Key+".") || strings.HasPrefix(key, ke.Key+"[")) {
				return true
			}
		}
		return false
	}
	err := s.check()
	if err == nil {
		return
	}
	var list []error
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		list = multi.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var ke *KeyError
		if errors.As(e, &ke) && failed(ke.Key) {
			continue
		}
		d.errs = append(d.errs, e)
	}
}

func (d *decoder) fail(key, format string, a ...any) {
	d.errs = append(d.errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, a...)})
}

// object checks that v is a map with only known keys and returns it with
// lowercased keys; nil (after reporting) otherwise.
func (d *decoder) object(key string, v any, known []string, hints map[string]string) map[string]any {
	m, ok := asMap(v)
	if !ok {
		what := "an object"
		if key == "" {
			d.errs = append(d.errs, fmt.Errorf("want a route (an object with match and upstreams), got %s", describe(v)))
			d.quiet = map[string]bool{"": true}
			return nil
		}
		d.fail(key, "want %s with keys %s; got %s", what, strings.Join(known, ", "), describe(v))
		return nil
	}
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if !contains(known, lk) {
			full := join(key, k)
			hint := ""
			suggested := ""
			if h, ok := hints[lk]; ok {
				suggested = h
			} else if best, ok := suggest.Nearest(lk, known); ok {
				suggested = join(key, best)
			}
			if suggested != "" {
				hint = fmt.Sprintf("; did you mean %q?", suggested)
				if d.quiet == nil {
					d.quiet = map[string]bool{}
				}
				d.quiet[suggested] = true
			}
			d.errs = append(d.errs, &KeyError{Key: full, Msg: fmt.Sprintf("unknown key%s (known: %s)", hint, strings.Join(known, ", "))})
			continue
		}
		out[lk] = m[k]
	}
	return out
}

func (d *decoder) spec(item any) Spec {
	var s Spec
	m := d.object("", item, routeKeys, routeHints)
	if m == nil {
		return s
	}
	// The match first, so the route's name is known for messages.
	if v, ok := m["match"]; ok {
		if mm := d.object("match", v, matchKeys, nil); mm != nil {
			s.Match.Host = d.str("match.host", mm["host"])
			s.Match.Path = d.str("match.path", mm["path"])
		}
	}
	s.Name = d.str("name", m["name"])
	s.StripPrefix = d.str("strip_prefix", m["strip_prefix"])
	if v, ok := m["rewrite"]; ok {
		if rm := d.object("rewrite", v, rewriteKeys, nil); rm != nil {
			s.Rewrite = &RewriteSpec{From: d.str("rewrite.from", rm["from"]), To: d.str("rewrite.to", rm["to"])}
		}
	}
	if v, ok := m["upstreams"]; ok {
		s.Upstreams = d.strs("upstreams", v)
	}
	s.UpstreamH2C = d.bool("upstream_h2c", m["upstream_h2c"])
	s.LB = strings.ToLower(d.str("lb", m["lb"]))
	if v, ok := m["health"]; ok {
		if hm := d.object("health", v, healthKeys, nil); hm != nil {
			s.Health = &HealthSpec{
				Path:     d.str("health.path", hm["path"]),
				Interval: d.duration("health.interval", hm["interval"]),
				Timeout:  d.duration("health.timeout", hm["timeout"]),
				Expect:   d.status("health.expect", hm["expect"]),
			}
		}
	}
	if v, ok := m["passive"]; ok {
		if pm := d.object("passive", v, passiveKeys, nil); pm != nil {
			s.Passive = &PassiveSpec{
				MaxFails:   d.int("passive.max_fails", pm["max_fails"]),
				FailWindow: d.duration("passive.fail_window", pm["fail_window"]),
			}
			if v, ok := pm["unhealthy_status"]; ok {
				s.Passive.UnhealthyStatus = d.statuses("passive.unhealthy_status", v)
			}
		}
	}
	if v, ok := m["retries"]; ok {
		if rm := d.object("retries", v, retryKeys, nil); rm != nil {
			s.Retries = &RetrySpec{
				Tries:      d.int("retries.tries", rm["tries"]),
				Within:     d.duration("retries.within", rm["within"]),
				Interval:   d.duration("retries.interval", rm["interval"]),
				BodyBuffer: d.size("retries.body_buffer", rm["body_buffer"]),
			}
			if _, given := rm["tries"]; given && s.Retries.Tries < 1 && !d.failedKey("retries.tries") {
				d.fail("retries.tries", "%d: give the number of attempts in all, at least 1 (1 = no retry)", s.Retries.Tries)
			}
		}
	}
	if v, ok := m["cache"]; ok {
		s.Cache = d.cache(v)
	}
	if v, ok := m["rate_limit"]; ok {
		s.RateLimit = d.limit(v)
	}
	if v, ok := m["auth"]; ok {
		s.Auth = d.auth(v)
	}
	return s
}

func (d *decoder) cache(v any) *cache.Config {
	if b, ok := v.(bool); ok { // cache: true = defaults
		if !b {
			return nil
		}
		return &cache.Config{}
	}
	cm := d.object("cache", v, cacheKeys, nil)
	if cm == nil {
		return nil
	}
	return &cache.Config{MaxSize: d.size("cache.max_size", cm["max_size"]), MaxEntry: d.size("cache.max_entry", cm["max_entry"])}
}

func (d *decoder) limit(v any) *limit.Config {
	lm := d.object("rate_limit", v, limitKeys, nil)
	if lm == nil {
		return nil
	}
	c := &limit.Config{Burst: d.int("rate_limit.burst", lm["burst"])}
	switch r := lm["rate"].(type) {
	case nil:
		d.fail("rate_limit.rate", "missing; give a rate such as 100/s, 600/m or 5000/h")
	case string:
		rate, err := limit.ParseRate(r)
		if err != nil {
			d.fail("rate_limit.rate", "%v", err)
		}
		c.Rate = rate
	default:
		f, ok := number(r)
		if !ok || f <= 0 {
			d.fail("rate_limit.rate", "want a rate such as 100/s, got %s", describe(r))
		}
		c.Rate = f
	}
	if c.Burst < 0 {
		d.fail("rate_limit.burst", "%d must not be negative", c.Burst)
	}
	c.Per = strings.ToLower(d.str("rate_limit.per", lm["per"]))
	if c.Per != "" && !contains(limitPers, c.Per) {
		d.fail("rate_limit.per", "%q is not one of %s%s", c.Per, strings.Join(limitPers, ", "), didYouMean(c.Per, limitPers))
	}
	return c
}

func (d *decoder) auth(v any) *auth.Config {
	am := d.object("auth", v, authKeys, nil)
	if am == nil {
		return nil
	}
	c := &auth.Config{LoopbackBypass: d.bool("auth.loopback_bypass", am["loopback_bypass"])}
	if v, ok := am["basic"]; ok {
		if bm := d.object("auth.basic", v, basicKeys, nil); bm != nil {
			c.Basic = &auth.Basic{
				User:         d.str("auth.basic.user", bm["user"]),
				PasswordEnv:  d.str("auth.basic.password_env", bm["password_env"]),
				PasswordHash: d.str("auth.basic.password_hash", bm["password_hash"]),
			}
			if c.Basic.User == "" {
				d.fail("auth.basic.user", "missing; give the user name clients send")
			}
			if c.Basic.PasswordEnv == "" && c.Basic.PasswordHash == "" {
				d.fail("auth.basic", "give password_env (an environment variable holding the password) or password_hash (bcrypt)")
			}
		}
	}
	if v, ok := am["bearer"]; ok {
		if bm := d.object("auth.bearer", v, bearerKeys, nil); bm != nil {
			c.Bearer = &auth.Bearer{TokensEnv: d.str("auth.bearer.tokens_env", bm["tokens_env"])}
			if c.Bearer.TokensEnv == "" {
				d.fail("auth.bearer.tokens_env", "missing; give an environment variable holding one or more comma-separated tokens")
			}
		}
	}
	if c.Basic == nil && c.Bearer == nil && len(d.errs) == 0 {
		d.fail("auth", "give basic or bearer (loopback_bypass alone lets every loopback client in and refuses the rest)")
	}
	return c
}

// str is an optional string value.
func (d *decoder) str(key string, v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	}
	d.fail(key, "want a string, got %s", describe(v))
	return ""
}

// strs is a list of strings, or one string.
func (d *decoder) strs(key string, v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	list, ok := asList(v)
	if !ok {
		d.fail(key, "want a list of strings, got %s", describe(v))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			d.fail(fmt.Sprintf("%s[%d]", key, i), "want a string, got %s", describe(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// status is a status pattern; YAML gives a bare 200 as a number.
func (d *decoder) status(key string, v any) string {
	if f, ok := number(v); ok && f == math.Trunc(f) {
		return strconv.Itoa(int(f))
	}
	return d.str(key, v)
}

func (d *decoder) statuses(key string, v any) []string {
	list, ok := asList(v)
	if !ok {
		return []string{d.status(key, v)}
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		out = append(out, d.status(fmt.Sprintf("%s[%d]", key, i), e))
	}
	return out
}

func (d *decoder) int(key string, v any) int {
	if v == nil {
		return 0
	}
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		d.fail(key, "want a whole number, got %s", describe(v))
		return 0
	}
	return int(f)
}

func (d *decoder) bool(key string, v any) bool {
	switch b := v.(type) {
	case nil:
		return false
	case bool:
		return b
	}
	d.fail(key, "want true or false, got %s", describe(v))
	return false
}

// duration is "5s", "250ms", "1m30s"; a bare 0 is zero, another bare number
// lacks its unit.
func (d *decoder) duration(key string, v any) time.Duration {
	switch x := v.(type) {
	case nil:
		return 0
	case time.Duration:
		return x
	case string:
		dur, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			if f, nerr := strconv.ParseFloat(x, 64); nerr == nil && f != 0 {
				d.fail(key, "%q has no unit; did you mean %q?", x, x+"s")
				return 0
			}
			d.fail(key, "%q is not a duration (e.g. 5s, 250ms, 1m)", x)
			return 0
		}
		if dur < 0 {
			d.fail(key, "%q must not be negative", x)
		}
		return dur
	}
	if f, ok := number(v); ok {
		if f == 0 {
			return 0
		}
		d.fail(key, "%v has no unit; did you mean \"%vs\"?", v, v)
		return 0
	}
	d.fail(key, "want a duration such as 5s, got %s", describe(v))
	return 0
}

// size is bytes: a number, or "64MiB", "512 KiB", "10MB" (binary units are
// powers of 1024, decimal ones of 1000).
func (d *decoder) size(key string, v any) int64 {
	if v == nil {
		return 0
	}
	if s, ok := v.(string); ok {
		n, err := ParseSize(s)
		if err != nil {
			d.fail(key, "%v", err)
		}
		return n
	}
	f, ok := number(v)
	if !ok || f < 0 || f != math.Trunc(f) {
		d.fail(key, "want a size such as 64MiB, got %s", describe(v))
		return 0
	}
	return int64(f)
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
}

// ParseSize parses a byte size: "1024", "64MiB", "1.5 GiB", "10MB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	mult, known := sizeUnits[unit]
	if err != nil || !known || f < 0 || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 512KiB, 1048576)", s)
	}
	return int64(f * mult), nil
}

// didYouMean suggests the nearest of known, or "".
func didYouMean(s string, known []string) string {
	if best, ok := suggest.Nearest(s, known); ok {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// rawKey looks up a key of a route's raw map, ignoring case.
func rawKey(item any, key string) (any, bool) {
	m, ok := asMap(item)
	if !ok {
		return nil, false
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// asMap accepts the map shapes YAML, JSON and TOML decoders produce.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[fmt.Sprint(k)] = e
		}
		return out, true
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = e
		}
		return out, true
	}
	return nil, false
}

// asList accepts any slice.
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Slice {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// number accepts Go's numeric types as YAML, JSON and TOML produce them.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// describe shows a value and its kind for messages: `"x" (a string)`.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q (a string)", x)
	case bool:
		return fmt.Sprintf("%v (true/false)", x)
	}
	if _, ok := number(v); ok {
		return fmt.Sprintf("%v (a number)", v)
	}
	if _, ok := asMap(v); ok {
		return "an object"
	}
	if _, ok := asList(v); ok {
		return "a list"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}
