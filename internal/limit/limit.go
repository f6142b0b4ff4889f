// Package limit is the rate limit of a route: a token bucket per client IP,
// per route or shared by every route, as a stage of the proxy engine. A
// refused request is answered 429 with Retry-After and the IETF RateLimit
// and RateLimit-Policy fields, and recorded like any other exchange.
package limit

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// Config is the `rate_limit:` of a route.
type Config struct {
	// Rate is the sustained rate in requests per second (ParseRate reads
	// "100/s", "600/m", "5000/h"). Required, more than 0.
	Rate float64
	// Burst is how many requests may arrive at once (the bucket's size).
	// Default max(1, ceil(Rate)).
	Burst int
	// Per says who shares a bucket: "client" (each client IP has its own,
	// the default), "route" (every client of the route shares one) or
	// "global" (every route limited per global, with the same rate and
	// burst, shares one).
	Per string
}

// The values of Config.Per.
const (
	PerClient = "client"
	PerRoute  = "route"
	PerGlobal = "global"
)

// maxClients bounds the per-client buckets a Limiter keeps; the least
// recently seen client's bucket is dropped first (it starts full if that
// client comes back).
const maxClients = 10000

// Limiter is a route's rate limit. It is a proxy.RequestStage, which answers
// 429 when a request's bucket is empty, and a proxy.ResponseStage, which
// adds the RateLimit fields to the responses of the requests it let through.
type Limiter struct {
	route  string
	per    string
	rate   float64
	burst  int
	policy string // the RateLimit-Policy item
	name   string // the policy's name, as a structured-field string

	bucket  *rate.Limiter // per route and global
	clients *clients      // per client

	now func() time.Time // time.Now; tests stop the clock
}

// New returns the limiter of route (its name, for messages) for cfg.
func New(cfg Config, route string) (*Limiter, error) {
	if math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate <= 0 {
		return nil, fmt.Errorf("rate_limit.rate: %v is not a rate; give requests per second, minute or hour, like \"100/s\", \"600/m\" or \"5000/h\"", cfg.Rate)
	}
	if cfg.Burst < 0 {
		return nil, fmt.Errorf("rate_limit.burst: %d is negative; give how many requests may arrive at once (default: the rate per second, at least 1)", cfg.Burst)
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(math.Ceil(min(cfg.Rate, math.MaxInt32))))
	}
	switch cfg.Per {
	case "":
		cfg.Per = PerClient
	case PerClient, PerRoute, PerGlobal:
	default:
		return nil, fmt.Errorf("rate_limit.per: %q is not one of client (a bucket per client IP), route (one for the route) or global (one for every route)", cfg.Per)
	}
	l := &Limiter{route: route, per: cfg.Per, rate: cfg.Rate, burst: cfg.Burst, now: time.Now}
	name := route
	if name == "" {
		name = "default"
	}
	switch cfg.Per {
	case PerClient:
		l.clients = newClients(maxClients, func() *rate.Limiter { return rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst) })
	case PerRoute:
		l.bucket = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	case PerGlobal:
		l.bucket = globalBucket(cfg.Rate, cfg.Burst)
		name = "global"
	}
	l.name = sfString(name)
	l.policy = l.name + ";q=" + strconv.Itoa(cfg.Burst) + ";w=" + strconv.FormatInt(seconds(float64(cfg.Burst)/cfg.Rate), 10)
	return l, nil
}

// Name is the stage's name on marks.
func (l *Limiter) Name() string { return "rate limit" }

// Request takes a token from the request's bucket, or answers 429 when
// there is none. Only the first attempt of an exchange counts.
func (l *Limiter) Request(f *proxy.Flow) (*http.Response, error) {
	if f.Attempt > 1 {
		return nil, nil
	}
	client := clientIP(f.In.RemoteAddr)
	b := l.bucket
	if b == nil {
		b = l.clients.get(client)
	}
	now := l.now()
	res := b.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if res.OK() && wait == 0 {
		tokens := b.TokensAt(now)
		f.Set(admittedKey{l}, l.field(tokens))
		f.Rec.Mark(record.Mark{Stage: l.Name(), Name: "limit", Value: "allowed"})
		return nil, nil
	}
	res.CancelAt(now)
	f.Rec.Mark(record.Mark{Stage: l.Name(), Name: "limit", Value: "limited"})
	return l.refuse(client, wait, b.TokensAt(now)), nil
}

// Response adds the RateLimit fields to the response of a request the
// limiter let through, after any the upstream sent (an intermediary may
// add a stricter policy, never drop the origin's).
func (l *Limiter) Response(f *proxy.Flow, res *http.Response) error {
	field, ok := f.Value(admittedKey{l}).(string)
	if !ok {
		return nil
	}
	res.Header.Add("RateLimit-Policy", l.policy)
	res.Header.Add("RateLimit", field)
	return nil
}

// refuse is the 429 for a request that would have to wait: Retry-After is
// the wait rounded up to whole seconds, so it is never early.
func (l *Limiter) refuse(client string, wait time.Duration, tokens float64) *http.Response {
	retry := seconds(wait.Seconds())
	if wait <= 0 { // the bucket can never hold a token (cannot happen with Burst >= 1)
		retry = seconds(float64(l.burst) / l.rate)
	}
	who := ", per client " + client
	switch l.per {
	case PerRoute:
		who = ", shared by every client of the route"
	case PerGlobal:
		who = ", shared by every route with a global limit"
	}
	of := "rate limit"
	if l.route != "" {
		of += " of route " + l.route
	}
	msg := fmt.Sprintf("%s: %s, burst %d%s; retry in %ds\n", of, describeRate(l.rate), l.burst, who, retry)
	h := http.Header{
		"Content-Type":     {"text/plain; charset=utf-8"},
		"Cache-Control":    {"no-store"},
		"Retry-After":      {strconv.FormatInt(retry, 10)},
		"Ratelimit-Policy": {l.policy},
		"Ratelimit":        {l.field(tokens)},
	}
	return &http.Response{
		StatusCode:    http.StatusTooManyRequests,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(msg)),
		ContentLength: int64(len(msg)),
	}
}

// field is the RateLimit item for a bucket holding tokens: r is what is
// left (never negative), t the seconds until the bucket is full again.
func (l *Limiter) field(tokens float64) string {
	r := max(0, int64(math.Floor(tokens)))
	t := seconds((float64(l.burst) - tokens) / l.rate)
	return l.name + ";r=" + strconv.FormatInt(r, 10) + ";t=" + strconv.FormatInt(t, 10)
}

// admittedKey keeps a let-through request's RateLimit item on the flow
// from Request to Response (keyed by limiter, so one route's limiter never
// reads another's).
type admittedKey struct{ l *Limiter }

// clientIP is the host of a RemoteAddr, IPv4-mapped addresses unmapped.
func clientIP(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	return remote
}

// seconds rounds s up to whole seconds, at least 0.
func seconds(s float64) int64 {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	return int64(math.Ceil(min(s, math.MaxInt32)))
}

// describeRate says a rate in the unit that makes it a readable number:
// "100 requests/s", "30 requests/min", "1 request/h".
func describeRate(r float64) string {
	n, unit := r, "s"
	if r < 1 {
		n, unit = r*60, "min"
		if n < 1 {
			n, unit = r*3600, "h"
		}
	}
	n = math.Round(n*1000) / 1000
	word := "requests"
	if n == 1 {
		word = "request"
	}
	return strconv.FormatFloat(n, 'f', -1, 64) + " " + word + "/" + unit
}

// sfString quotes s as a structured-field string (RFC 9651 §3.3.3):
// printable ASCII, with " and \ escaped; anything else becomes '?'.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// globals are the buckets of per-global limits, one per rate and burst,
// kept for the life of the process so a reload does not refill them.
var globals struct {
	sync.Mutex
	m map[globalKey]*rate.Limiter
}

type globalKey struct {
	rate  float64
	burst int
}

func globalBucket(r float64, burst int) *rate.Limiter {
	globals.Lock()
	defer globals.Unlock()
	k := globalKey{r, burst}
	if b := globals.m[k]; b != nil {
		return b
	}
	if globals.m == nil {
		globals.m = make(map[globalKey]*rate.Limiter)
	}
	b := rate.NewLimiter(rate.Limit(r), burst)
	globals.m[k] = b
	return b
}
