package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/devproxy/devproxy/internal/auth"
	"github.com/devproxy/devproxy/internal/cache"
	"github.com/devproxy/devproxy/internal/limit"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// Options configure a Table.
type Options struct {
	// Logger receives health transitions (warn when an upstream goes down,
	// info when it comes back). Default: none.
	Logger *slog.Logger
	// Transport sends requests to upstreams. Nil leaves it to the engine's.
	Transport http.RoundTripper
	// HealthClient sends active health checks. Default: a client on
	// Transport (or a new proxy transport) that does not follow redirects.
	HealthClient *http.Client
	// OnHealth, when set, is told every change of an upstream's
	// availability, from active checks or passive health.
	OnHealth func(HealthEvent)
	// Getenv reads the environment variables auth takes secrets from.
	// Default os.Getenv.
	Getenv func(string) string
}

// Table is the route table. It is a proxy.Router and a proxy.RequestStage
// and proxy.ResponseStage named "route": give the same Table as the
// Handler's Router and as one of its Stages.
type Table struct {
	routes []*tableRoute // most specific first
	byConf []*tableRoute // in config order
	o      Options

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	// ownHealth is the health client's transport when New made it.
	ownHealth *http.Transport
	// own are the transports New made for routes with UpstreamH2C.
	own []*http.Transport
}

// tableRoute is one route, built.
type tableRoute struct {
	name    string
	host    string // "" = any host
	path    string // prefix, "/" = any path
	strip   string // escaped form of the prefix to strip
	rewrite *regexp.Regexp
	to      string
	pool    *Pool
	retry   *proxy.RetryPolicy
	health  *checker
	stages  []proxy.Stage // auth, rate limit, cache
}

// Flow values.
type (
	routeKey  struct{} // *tableRoute of the flow
	memberKey struct{} // *Member of the latest attempt
)

// New builds a table from specs: pools, health checkers and each route's
// stages. Errors name the route.
func New(specs []Spec, o Options) (*Table, error) {
	if len(specs) == 0 {
		return nil, errors.New("no routes: give at least one route with upstreams")
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	t := &Table{}
	if o.HealthClient == nil {
		tr := o.Transport
		if tr == nil {
			own, err := proxy.NewTransport(proxy.TransportOptions{})
			if err != nil {
				return nil, err
			}
			tr, t.ownHealth = own, own
		}
		o.HealthClient = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	t.o = o
	names := map[string]bool{}
	matches := map[[2]string]string{}
	for _, s := range specs {
		rt, err := t.build(s)
		if err != nil {
			return nil, &SpecError{Index: -1, Name: s.Name, Err: err}
		}
		if names[rt.name] {
			return nil, &SpecError{Index: -1, Name: rt.name, Err: errors.New("the name is used by another route; give each route its own name")}
		}
		names[rt.name] = true
		key := [2]string{strings.ToLower(rt.host), rt.path}
		if other, dup := matches[key]; dup {
			return nil, &SpecError{Index: -1, Name: rt.name, Err: fmt.Errorf("match: same host and path as route %s, so it would never be chosen; merge the two or change one", other)}
		}
		matches[key] = rt.name
		t.byConf = append(t.byConf, rt)
	}
	t.routes = append([]*tableRoute(nil), t.byConf...)
	sort.SliceStable(t.routes, func(i, j int) bool {
		a, b := t.routes[i], t.routes[j]
		if len(a.path) != len(b.path) {
			return len(a.path) > len(b.path)
		}
		return hostRank(a.host) > hostRank(b.host)
	})
	return t, nil
}

// hostRank orders host patterns from most to least specific.
func hostRank(h string) int {
	switch {
	case h == "":
		return 0
	case strings.HasPrefix(h, "*."):
		return 1
	}
	return 2
}

func (t *Table) build(s Spec) (*tableRoute, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rt := &tableRoute{name: s.Name, host: s.Match.Host, path: s.Match.Path}
	if rt.host == "*" {
		rt.host = ""
	}
	if rt.path == "" {
		rt.path = "/"
	}
	if s.StripPrefix != "" {
		rt.strip = (&url.URL{Path: strings.TrimSuffix(s.StripPrefix, "/")}).EscapedPath()
	}
	if s.Rewrite != nil {
		rt.rewrite = regexp.MustCompile(s.Rewrite.From) // check compiled it
		rt.to = s.Rewrite.To
	}
	pool, err := NewPool(s.Name, s.LB, s.Passive)
	if err != nil {
		return nil, err
	}
	pool.Logger, pool.OnHealth = t.o.Logger, t.o.OnHealth
	transport, health := t.o.Transport, t.o.HealthClient
	if s.UpstreamH2C {
		h2c, err := t.h2cTransport()
		if err != nil {
			return nil, err
		}
		// The checks go as h2c too: an h2c-only upstream answers nothing
		// else. (The engine picks h2c per request; a plain client needs a
		// transport without HTTP/1.)
		transport = h2c
		check := h2c.Clone()
		check.Protocols = new(http.Protocols)
		check.Protocols.SetUnencryptedHTTP2(true)
		check.Protocols.SetHTTP2(true)
		t.own = append(t.own, check)
		health = &http.Client{Transport: check, CheckRedirect: health.CheckRedirect}
	}
	for _, raw := range s.Upstreams {
		u, _ := ParseUpstream(raw) // check parsed it
		pool.Add(&Member{Name: raw, URL: u, Transport: transport})
	}
	rt.pool = pool
	rt.retry = s.Retries.policy()
	if s.Health != nil {
		if rt.health, err = newChecker(pool, *s.Health, health); err != nil {
			return nil, err
		}
	}
	if s.Auth != nil {
		a, err := auth.New(*s.Auth, t.o.Getenv)
		if err != nil {
			return nil, prefixErr("auth", err)
		}
		rt.stages = append(rt.stages, a)
	}
	if s.RateLimit != nil {
		l, err := limit.New(*s.RateLimit, s.Name)
		if err != nil {
			return nil, prefixErr("rate_limit", err)
		}
		rt.stages = append(rt.stages, l)
	}
	if s.Cache != nil {
		c, err := cache.New(*s.Cache)
		if err != nil {
			return nil, prefixErr("cache", err)
		}
		rt.stages = append(rt.stages, c)
	}
	return rt, nil
}

// h2cTransport is a copy of the table's transport (or of a new proxy
// transport) that also allows HTTP/2 with prior knowledge, which the engine
// reads as --upstream-h2c: http:// requests go as h2c.
func (t *Table) h2cTransport() (*http.Transport, error) {
	base, ok := t.o.Transport.(*http.Transport)
	if !ok || base == nil {
		var err error
		if base, err = proxy.NewTransport(proxy.TransportOptions{}); err != nil {
			return nil, err
		}
	}
	c := base.Clone()
	p := proxy.DefaultProtocols()
	if base.Protocols != nil {
		*p = *base.Protocols
	}
	p.SetUnencryptedHTTP2(true)
	c.Protocols = p
	t.own = append(t.own, c)
	return c, nil
}

// prefixErr names the key an error is about unless it already does.
func prefixErr(key string, err error) error {
	if strings.HasPrefix(err.Error(), key) {
		return err
	}
	return fmt.Errorf("%s: %w", key, err)
}

// Name is the stage's name, "route".
func (t *Table) Name() string { return "route" }

// Start starts the active health checks: one check of every upstream at
// once, then every interval, until ctx ends or Close.
func (t *Table) Start(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		return
	}
	t.started = true
	ctx, t.cancel = context.WithCancel(ctx)
	for _, rt := range t.byConf {
		if rt.health != nil {
			rt.health.start(ctx, &t.wg)
		}
	}
}

// Close stops the health checks and waits for them. A closed table still
// serves the flows given to it.
func (t *Table) Close() {
	t.mu.Lock()
	t.started = true // a Start after Close does nothing
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	t.wg.Wait()
	for _, tr := range t.own {
		tr.CloseIdleConnections()
	}
	if t.ownHealth != nil {
		t.ownHealth.CloseIdleConnections()
	}
}

// Health reports each route's available upstreams, in config order.
func (t *Table) Health() []PoolHealth {
	out := make([]PoolHealth, len(t.byConf))
	for i, rt := range t.byConf {
		out[i] = rt.pool.Health()
	}
	return out
}

// Pool returns the pool of the named route, or nil.
func (t *Table) Pool(route string) *Pool {
	for _, rt := range t.byConf {
		if rt.name == route {
			return rt.pool
		}
	}
	return nil
}

// Request chooses the flow's route, marks it, rewrites the outbound path
// and runs the route's request stages (auth, rate limit, cache; any may
// answer). A retry of the same flow does none of it again.
func (t *Table) Request(f *proxy.Flow) (*http.Response, error) {
	if f.Value(routeKey{}) != nil {
		return nil, nil
	}
	rt, err := t.begin(f)
	if err != nil {
		return nil, err
	}
	for _, s := range rt.stages {
		if rs, ok := s.(proxy.RequestStage); ok {
			if res, err := rs.Request(f); err != nil || res != nil {
				return res, err
			}
		}
	}
	return nil, nil
}

// Response sets the cookie policy's cookie and runs the route's response
// stages, innermost first (cache, rate limit, auth).
func (t *Table) Response(f *proxy.Flow, res *http.Response) error {
	rt, _ := f.Value(routeKey{}).(*tableRoute)
	if rt == nil {
		return nil
	}
	for i := len(rt.stages) - 1; i >= 0; i-- {
		if rs, ok := rt.stages[i].(proxy.ResponseStage); ok {
			if err := rs.Response(f, res); err != nil {
				return err
			}
		}
	}
	// The sticky cookie goes on after the stages: it is this client's, so
	// the cache must not see it (it would refuse to store the response).
	if m, _ := f.Value(memberKey{}).(*Member); m != nil {
		if c := rt.pool.Sticky(f.In, m); c != nil {
			res.Header.Add("Set-Cookie", c.String())
		}
	}
	return nil
}

// Route picks an upstream of the flow's route, preferring those not tried
// yet by this flow; the error wraps proxy.ErrNoUpstream when none is
// available.
func (t *Table) Route(f *proxy.Flow) (*proxy.Upstream, error) {
	rt, _ := f.Value(routeKey{}).(*tableRoute)
	if rt == nil {
		var err error
		if rt, err = t.begin(f); err != nil {
			return nil, err
		}
	}
	tried := f.Tried
	var skip func(*Member) bool
	if len(tried) > 0 {
		skip = func(m *Member) bool {
			for _, u := range tried {
				if u.Name == m.Name {
					return true
				}
			}
			return false
		}
	}
	m, err := rt.pool.Pick(f.In, skip)
	if err != nil && skip != nil {
		// Every available upstream was tried: try them again (a single
		// upstream that is restarting is the common case) rather than fail.
		if m2, err2 := rt.pool.Pick(f.In, nil); err2 == nil {
			m, err = m2, nil
		}
	}
	if err != nil {
		// With a retry policy, the engine waits and asks again while the
		// policy allows: the pool may come back (a restarting upstream).
		return nil, proxy.WithRetry(fmt.Errorf("route %s: %w", rt.name, err), rt.retry)
	}
	f.Set(memberKey{}, m)
	return rt.pool.upstream(m, rt.retry, f.In.Context()), nil
}

// begin chooses the route for f, keeps it on the flow, marks it and applies
// strip_prefix and rewrite to f.Out.
func (t *Table) begin(f *proxy.Flow) (*tableRoute, error) {
	rt := t.match(f.In)
	if rt == nil {
		names := make([]string, len(t.byConf))
		for i, r := range t.byConf {
			names[i] = r.name
		}
		return nil, &record.Error{
			Kind:    record.ErrRejected,
			Message: fmt.Sprintf("no route for %s%s; routes: %s", f.In.Host, f.In.URL.Path, strings.Join(names, ", ")),
			Status:  http.StatusNotFound,
		}
	}
	f.Set(routeKey{}, rt)
	f.Rec.Mark(record.Mark{Stage: "route", Name: "route", Value: rt.name})
	if rt.strip == "" && rt.rewrite == nil {
		return rt, nil
	}
	u := f.Out.URL
	before := u.EscapedPath()
	ep := before
	if rt.strip != "" && segmentPrefix(ep, rt.strip) {
		ep = ep[len(rt.strip):]
	}
	if ep == "" || ep[0] != '/' {
		ep = "/" + ep
	}
	if rt.rewrite != nil {
		ep = rt.rewrite.ReplaceAllString(ep, rt.to)
		if ep == "" || ep[0] != '/' {
			ep = "/" + ep
		}
	}
	if ep == before {
		return rt, nil
	}
	p, err := url.PathUnescape(ep)
	if err != nil {
		return nil, &record.Error{Kind: record.ErrInternal, Message: fmt.Sprintf("route %s: rewriting %s gave %s, which is not a valid path: %v", rt.name, before, ep, err), Status: http.StatusBadGateway}
	}
	u.Path, u.RawPath = p, ep
	if u.EscapedPath() != ep { // ep is not a valid encoding of p
		u.RawPath = ""
	}
	f.Rec.Mark(record.Mark{Stage: "route", Name: "rewrite", Value: before + " → " + u.EscapedPath()})
	return rt, nil
}

// match returns the route for r: the longest path prefix, then the most
// specific host pattern, then the first in the config.
func (t *Table) match(r *http.Request) *tableRoute {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	for _, rt := range t.routes {
		if rt.host != "" && !proxy.HostMatch(rt.host, r.Host) {
			continue
		}
		if segmentPrefix(path, rt.path) {
			return rt
		}
	}
	return nil
}

// segmentPrefix reports whether prefix matches the start of path on whole
// segments: "/api" and "/api/" both match "/api" and "/api/x", not "/apix".
func segmentPrefix(path, prefix string) bool {
	if prefix == "/" || prefix == "" {
		return true
	}
	p := strings.TrimSuffix(prefix, "/")
	return path == p || strings.HasPrefix(path, p+"/")
}
