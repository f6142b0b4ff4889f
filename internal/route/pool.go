package route

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
)

// CookieName is the cookie the cookie policy keeps its choice in.
const CookieName = "devproxy_lb"

// cookieSecret keys the cookie's HMAC; per process, so a cookie does not
// reveal the upstream and is not valid across restarts.
var cookieSecret = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}()

// HealthEvent is one change of an upstream's availability, from an active
// check or from passive health.
type HealthEvent struct {
	// Route is the pool's name (the route's, or the relay's backend).
	Route string
	// Upstream is the member's name.
	Upstream string
	// Healthy is the member's availability after the change.
	Healthy bool
	// Reason says why, e.g. "GET /healthz: 503 Service Unavailable
	// (expected 2xx)" or "3 failures within 30s (last: 502)".
	Reason string
}

// PoolHealth is how many members of a pool are available.
type PoolHealth struct {
	Route     string
	Up, Total int
}

// Member is one upstream of a Pool.
type Member struct {
	// Name identifies the member in marks and messages; unique in its pool.
	Name string
	// URL is where attempts to the member go.
	URL *url.URL
	// Transport sends the member's requests; nil uses the engine's.
	Transport http.RoundTripper
	// Value is the owner's data, e.g. the relay's agent.
	Value any

	pool     *Pool
	cookie   string // hex HMAC of Name, the cookie policy's value
	inflight atomic.Int64

	mu            sync.Mutex
	activeDown    bool
	activeReason  string
	fails         []time.Time // passive failures within the window, oldest first
	passiveDown   bool
	passiveReason string
	timer         *time.Timer // brings a passively failed member back
}

// Available reports whether the member may be picked: its last health
// check passed (or none ran) and passive health has not taken it down.
func (m *Member) Available() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.available()
}

func (m *Member) available() bool { return !m.activeDown && !m.passiveDown }

// InFlight is the number of attempts to the member not yet released.
func (m *Member) InFlight() int { return int(m.inflight.Load()) }

// why says why an unavailable member is down.
func (m *Member) why() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var r []string
	if m.activeDown {
		r = append(r, m.activeReason)
	}
	if m.passiveDown {
		r = append(r, m.passiveReason)
	}
	return strings.Join(r, "; ")
}

// Pool is a set of members and a load-balancing policy, with passive
// health. Members may be added and removed while the pool is in use.
type Pool struct {
	// OnHealth, when set, is told every change of a member's availability.
	// Set it before the pool is used.
	OnHealth func(HealthEvent)
	// Logger receives the same changes (warn when down, info when up).
	// Default: none.
	Logger *slog.Logger

	name      string
	policy    string
	passive   *PassiveSpec // nil: off
	unhealthy statusSet
	members   atomic.Pointer[[]*Member]
	mu        sync.Mutex // serialises Add and Remove
	rr        atomic.Uint64
}

// NewPool returns an empty pool named name (the route or backend, for
// events and messages) with a load-balancing policy (Policies; "" is
// round_robin) and optional passive health.
func NewPool(name, policy string, passive *PassiveSpec) (*Pool, error) {
	if policy == "" {
		policy = RoundRobin
	}
	if !knownPolicy(policy) {
		return nil, fmt.Errorf("pool %s: lb %q is not a policy%s (one of %s)", name, policy, didYouMean(policy, Policies), strings.Join(Policies, ", "))
	}
	p := &Pool{name: name, policy: policy}
	if passive != nil {
		ps := *passive
		if ps.MaxFails == 0 {
			ps.MaxFails = 1
		}
		if ps.FailWindow == 0 {
			ps.FailWindow = DefaultFailWindow
		}
		for _, s := range ps.UnhealthyStatus {
			set, err := parseStatus(s)
			if err != nil {
				return nil, fmt.Errorf("pool %s: passive.unhealthy_status: %w", name, err)
			}
			p.unhealthy = append(p.unhealthy, set...)
		}
		p.passive = &ps
	}
	p.members.Store(new([]*Member))
	return p, nil
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Policy is the pool's load-balancing policy.
func (p *Pool) Policy() string { return p.policy }

// Add adds a member; it starts available.
func (p *Pool) Add(m *Member) {
	mac := hmac.New(sha256.New, cookieSecret)
	mac.Write([]byte(m.Name))
	m.cookie = hex.EncodeToString(mac.Sum(nil))
	m.pool = p
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.members.Load()
	next := make([]*Member, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	p.members.Store(&next)
}

// Remove removes a member; attempts already sent to it finish.
func (p *Pool) Remove(m *Member) {
	p.mu.Lock()
	old := *p.members.Load()
	next := make([]*Member, 0, len(old))
	for _, e := range old {
		if e != m {
			next = append(next, e)
		}
	}
	p.members.Store(&next)
	p.mu.Unlock()
	m.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
}

// Members returns the members in the order they were added.
func (p *Pool) Members() []*Member {
	return append([]*Member(nil), *p.members.Load()...)
}

// Health counts the available members.
func (p *Pool) Health() PoolHealth {
	ms := *p.members.Load()
	h := PoolHealth{Route: p.name, Total: len(ms)}
	for _, m := range ms {
		if m.Available() {
			h.Up++
		}
	}
	return h
}

// NoUpstreamError says why a pool had no member to pick. It wraps
// proxy.ErrNoUpstream.
type NoUpstreamError struct {
	Up, Total, Skipped int
	// Down lists the unavailable members with why, e.g.
	// "http://127.0.0.1:3001: GET /healthz: connection refused".
	Down []string
}

func (e *NoUpstreamError) Error() string {
	if e.Total == 0 {
		return proxy.ErrNoUpstream.Error() + ": the pool is empty"
	}
	s := fmt.Sprintf("%s: %d/%d up", proxy.ErrNoUpstream, e.Up, e.Total)
	if e.Skipped > 0 {
		s += fmt.Sprintf(", %d tried already", e.Skipped)
	}
	if len(e.Down) > 0 {
		s += " (" + strings.Join(e.Down, "; ") + ")"
	}
	return s
}

func (e *NoUpstreamError) Unwrap() error { return proxy.ErrNoUpstream }

// Pick chooses an available member for r by the pool's policy, leaving out
// those skip reports (e.g. tried already). When none is left the error
// wraps proxy.ErrNoUpstream and says why.
func (p *Pool) Pick(r *http.Request, skip func(*Member) bool) (*Member, error) {
	all := *p.members.Load()
	var cands []*Member
	skipped := 0
	for _, m := range all {
		if !m.Available() {
			continue
		}
		if skip != nil && skip(m) {
			skipped++
			continue
		}
		cands = append(cands, m)
	}
	if len(cands) == 0 {
		e := &NoUpstreamError{Up: skipped, Total: len(all), Skipped: skipped}
		for _, m := range all {
			if why := m.why(); why != "" {
				e.Down = append(e.Down, m.Name+": "+why)
			}
		}
		return nil, e
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	switch p.policy {
	case First:
		return cands[0], nil
	case Random:
		return cands[mrand.IntN(len(cands))], nil
	case LeastConn:
		return leastConn(cands), nil
	case IPHash:
		return rendezvous(cands, clientIP(r)), nil
	case Cookie:
		if c, err := r.Cookie(CookieName); err == nil {
			for _, m := range cands {
				if hmac.Equal([]byte(c.Value), []byte(m.cookie)) {
					return m, nil
				}
			}
		}
		return cands[mrand.IntN(len(cands))], nil
	}
	// Round robin walks the whole ring from the counter, so an unavailable
	// member's turn passes to the next one rather than resetting the order.
	start := p.rr.Add(1) - 1
	for i := range uint64(len(all)) {
		m := all[(start+i)%uint64(len(all))]
		for _, c := range cands {
			if c == m {
				return m, nil
			}
		}
	}
	return cands[0], nil
}

// leastConn picks the member with the fewest attempts in flight; ties are
// broken uniformly at random (reservoir sampling).
func leastConn(cands []*Member) *Member {
	var best *Member
	least, ties := int64(1<<62), 0
	for _, m := range cands {
		n := m.inflight.Load()
		switch {
		case n < least:
			best, least, ties = m, n, 1
		case n == least:
			ties++
			if mrand.IntN(ties) == 0 {
				best = m
			}
		}
	}
	return best
}

// rendezvous is highest-random-weight hashing: the member whose hash with
// key is highest, so removing a member moves only its own keys.
func rendezvous(cands []*Member, key string) *Member {
	var best *Member
	var top uint64
	for _, m := range cands {
		h := fnv.New64a()
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write([]byte(key))
		if w := mix64(h.Sum64()); best == nil || w > top {
			best, top = m, w
		}
	}
	return best
}

// mix64 is splitmix64's finaliser: FNV alone spreads nearby keys poorly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// clientIP is the host of the request's immediate peer.
func clientIP(r *http.Request) string {
	if r == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Sticky returns the cookie to set on the response to in when the pool's
// policy is cookie and in's cookie does not already name m; nil otherwise.
func (p *Pool) Sticky(in *http.Request, m *Member) *http.Cookie {
	if p.policy != Cookie || m == nil {
		return nil
	}
	if c, err := in.Cookie(CookieName); err == nil && c.Value == m.cookie {
		return nil
	}
	return &http.Cookie{Name: CookieName, Value: m.cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: in.TLS != nil}
}

// Upstream returns the engine's Upstream for one attempt to m: its Done
// feeds m's passive health and its Release ends the attempt's in-flight
// count (counted from now).
func (p *Pool) Upstream(m *Member, retry *proxy.RetryPolicy) *proxy.Upstream {
	return p.upstream(m, retry, nil)
}

// upstream is Upstream; an attempt that fails after ctx (the client's) ended
// is not the member's failure.
func (p *Pool) upstream(m *Member, retry *proxy.RetryPolicy, ctx context.Context) *proxy.Upstream {
	m.inflight.Add(1)
	var once sync.Once
	release := func() { once.Do(func() { m.inflight.Add(-1) }) }
	u := &proxy.Upstream{Name: m.Name, URL: m.URL, Transport: m.Transport}
	if p.passive != nil {
		u.Done = func(res *http.Response, err error) {
			switch {
			case err != nil && (errors.Is(err, context.Canceled) || (ctx != nil && ctx.Err() != nil)):
				// The client went away: not the upstream's fault.
			case err != nil:
				p.failure(m, shortErr(err))
			case res != nil && p.unhealthy.has(res.StatusCode):
				p.failure(m, res.Status)
			}
		}
	}
	u.Retry, u.Release = retry, release
	return u
}

// shortErr is the most telling part of a transport error: from "dial …"
// on for a dial error, else its last part.
func shortErr(err error) string {
	s := err.Error()
	if j := strings.Index(s, "dial "); j >= 0 {
		return s[j:]
	}
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

// failure counts one passive failure of m and takes it down at MaxFails
// within FailWindow.
func (p *Pool) failure(m *Member, reason string) {
	now := time.Now()
	w := p.passive.FailWindow
	m.mu.Lock()
	m.fails = pruneFails(m.fails, now.Add(-w))
	m.fails = append(m.fails, now)
	var ev *HealthEvent
	if !m.passiveDown && len(m.fails) >= p.passive.MaxFails {
		was := m.available()
		m.passiveDown = true
		m.passiveReason = fmt.Sprintf("%d failure%s within %v (last: %s)", len(m.fails), plural(len(m.fails)), w, reason)
		if was {
			ev = &HealthEvent{Route: p.name, Upstream: m.Name, Healthy: false, Reason: m.passiveReason}
		}
		p.scheduleRecovery(m, now)
	}
	m.mu.Unlock()
	p.notify(ev)
}

// scheduleRecovery arms m's timer for when its failures drop below
// MaxFails. m.mu is held.
func (p *Pool) scheduleRecovery(m *Member, now time.Time) {
	at := m.fails[len(m.fails)-p.passive.MaxFails].Add(p.passive.FailWindow)
	d := max(at.Sub(now), time.Millisecond)
	if m.timer == nil {
		m.timer = time.AfterFunc(d, func() { p.recover(m) })
	} else {
		m.timer.Reset(d)
	}
}

// recover brings m back once its failures have expired.
func (p *Pool) recover(m *Member) {
	now := time.Now()
	m.mu.Lock()
	m.fails = pruneFails(m.fails, now.Add(-p.passive.FailWindow))
	var ev *HealthEvent
	if m.passiveDown {
		if len(m.fails) >= p.passive.MaxFails {
			p.scheduleRecovery(m, now)
		} else {
			m.passiveDown = false
			m.passiveReason = ""
			if m.available() {
				ev = &HealthEvent{Route: p.name, Upstream: m.Name, Healthy: true, Reason: fmt.Sprintf("no more than %d failure%s within %v", len(m.fails), plural(len(m.fails)), p.passive.FailWindow)}
			}
		}
	}
	m.mu.Unlock()
	p.notify(ev)
}

// setActive records the result of an active health check of m.
func (p *Pool) setActive(m *Member, ok bool, reason string) {
	m.mu.Lock()
	var ev *HealthEvent
	if m.activeDown == ok { // a flip
		was := m.available()
		m.activeDown = !ok
		m.activeReason = ""
		if !ok {
			m.activeReason = reason
		}
		if now := m.available(); now != was {
			ev = &HealthEvent{Route: p.name, Upstream: m.Name, Healthy: now, Reason: reason}
		}
	} else if !ok {
		m.activeReason = reason
	}
	m.mu.Unlock()
	p.notify(ev)
}

func (p *Pool) notify(ev *HealthEvent) {
	if ev == nil {
		return
	}
	if p.Logger != nil {
		if ev.Healthy {
			p.Logger.Info("upstream up", "route", ev.Route, "upstream", ev.Upstream, "reason", ev.Reason)
		} else {
			p.Logger.Warn("upstream down", "route", ev.Route, "upstream", ev.Upstream, "reason", ev.Reason)
		}
	}
	if p.OnHealth != nil {
		p.OnHealth(*ev)
	}
}

func pruneFails(fails []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(fails) && !fails[i].After(since) {
		i++
	}
	return append(fails[:0], fails[i:]...)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
