// Package cache is an HTTP cache in memory that plugs into the engine as a
// request and a response stage: RFC 9111 private-cache semantics for GET
// and HEAD, bounded in bytes with least-recently-used eviction.
//
// It stores what RFC 9111 §3 lets a private cache store, with two
// exceptions because devproxy in front of a dev server may still serve
// more than one client (a phone and a laptop, a teammate): a response with
// Set-Cookie is never stored, and a response to a request carrying
// Authorization upstream is stored only when it says public or
// must-revalidate (the rule §3.5 gives shared caches). private responses
// are stored. Nothing stale is served without a successful validation.
//
// Every response the cache serves or forwards (but a 101) carries a
// Cache-Status field (RFC 9211), e.g. "devproxy; hit; ttl=42" or
// "devproxy; fwd=uri-miss; stored", and its exchange a Mark{Stage: "cache",
// Name: "cache"} whose value is "hit", "miss", "stale", "revalidated" or
// "bypass". "stored" is said when the headers arrive: the response is kept
// if its body then ends complete within MaxEntry. When a response is not
// stored, a detail parameter says why (no-store, set-cookie, authorization,
// vary-star, too-large, status, method, no-freshness, request-no-store).
package cache

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/units"
)

// Config sizes a Cache.
type Config struct {
	// MaxSize bounds the bytes of all stored responses, bodies and headers
	// together; the least recently used go first. Default 64 MiB.
	MaxSize int64
	// MaxEntry bounds one stored response; a larger one streams through
	// without being stored. Default MaxSize/8.
	MaxEntry int64
}

// DefaultMaxSize is Config.MaxSize when none is given.
const DefaultMaxSize = 64 << 20

// Stats describe what a Cache holds.
type Stats struct {
	Entries int   // stored responses
	Bytes   int64 // their size as counted against MaxSize
}

// Cache is an RFC 9111 private cache. It is a proxy.RequestStage, which
// answers fresh hits itself and adds validators to stale lookups, and a
// proxy.ResponseStage, which stores, revalidates and invalidates. Put it
// in proxy.Options.Stages (or a route's stages) after any stage that
// authenticates or limits requests. It is safe for concurrent use.
type Cache struct {
	store *store
	now   func() time.Time // tests replace it
}

// New returns an empty cache sized by cfg.
func New(cfg Config) (*Cache, error) {
	if cfg.MaxSize < 0 {
		return nil, fmt.Errorf("cache: max_size %d is negative; give a size such as 64MiB, or leave it out for the default", cfg.MaxSize)
	}
	if cfg.MaxEntry < 0 {
		return nil, fmt.Errorf("cache: max_entry %d is negative; give a size such as 8MiB, or leave it out for max_size/8", cfg.MaxEntry)
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxEntry == 0 {
		cfg.MaxEntry = cfg.MaxSize / 8
	}
	if cfg.MaxEntry > cfg.MaxSize {
		return nil, fmt.Errorf("cache: max_entry (%s) is larger than max_size (%s); lower max_entry or raise max_size", units.Size(cfg.MaxEntry), units.Size(cfg.MaxSize))
	}
	return &Cache{store: newStore(cfg.MaxSize, cfg.MaxEntry), now: time.Now}, nil
}

// Name is "cache", as marks show it.
func (c *Cache) Name() string { return "cache" }

// Stats returns what the cache holds now.
func (c *Cache) Stats() Stats { return c.store.stats() }

// Mark values, the verdict of the cache on one exchange.
const (
	markHit         = "hit"         // served from the cache, fresh
	markMiss        = "miss"        // nothing usable stored; forwarded
	markStale       = "stale"       // stored but stale; forwarded, and the upstream sent a new response
	markRevalidated = "revalidated" // stale, the upstream said 304, served from the cache
	markBypass      = "bypass"      // not for the cache: another method, a range, an upgrade
)

// lookup is what the request stage decided for one flow, for the response
// stage to act on. It travels in the outbound request's context.
type lookup struct {
	key      string
	method   string
	reqHead  http.Header // the client's request fields, for Vary
	reqCC    directives
	authed   bool      // Authorization goes upstream
	sent     time.Time // request_time
	served   bool      // the request stage answered
	mark     string
	fwd      string // Cache-Status fwd= when forwarded
	stale    *entry // being revalidated
	noStore  string // why the response must not be stored, when known early
	answered string // Cache-Status of a served response (already set)
}

// lookupKey keeps a flow's lookup from Request to Response.
type lookupKey struct{ c *Cache }

// Request looks the flow up. A fresh stored response is served at once
// (with Age); a stale one is revalidated by making f.Out conditional; with
// only-if-cached and nothing fresh the answer is 504.
func (c *Cache) Request(f *proxy.Flow) (*http.Response, error) {
	in := f.In
	l := &lookup{key: keyOf(in), method: in.Method, reqHead: in.Header, sent: c.now()}
	f.Set(lookupKey{c}, l)
	switch {
	case in.Method != http.MethodGet && in.Method != http.MethodHead:
		l.mark, l.fwd = markBypass, "method"
		return nil, nil
	case in.Header.Get("Upgrade") != "" || in.Header.Get("Range") != "":
		l.mark, l.fwd = markBypass, "bypass"
		return nil, nil
	}
	l.reqCC = parseDirectives(in.Header)
	l.authed = f.Out.Header.Get("Authorization") != ""
	if l.reqCC.noStore {
		l.noStore = "request-no-store"
	}
	e, anyForURI := c.store.lookup(l.key, in.Header)
	if e == nil {
		if l.reqCC.onlyIfCached {
			return c.notCached(l), nil
		}
		l.mark, l.fwd = markMiss, "uri-miss"
		if anyForURI {
			l.fwd = "vary-miss"
		}
		return nil, nil
	}
	fresh, age := e.fresh(l.sent, l.reqCC)
	if fresh {
		l.served, l.mark = true, markHit
		l.answered = "devproxy; hit; ttl=" + strconv.FormatInt(seconds(e.lifetime-age), 10)
		return c.serve(e, in, age, l.answered), nil
	}
	if l.reqCC.onlyIfCached {
		return c.notCached(l), nil
	}
	l.mark, l.fwd = markStale, "stale"
	etag, lastMod := e.header.Get("Etag"), e.header.Get("Last-Modified")
	if etag == "" && lastMod == "" {
		return nil, nil // nothing to validate with: an ordinary request
	}
	l.stale = e
	// The client's own validators are replaced by the cache's; the
	// client's conditions are evaluated against the stored response.
	out := f.Out.Clone(f.Out.Context())
	out.Header.Del("If-None-Match")
	out.Header.Del("If-Modified-Since")
	if etag != "" {
		out.Header.Set("If-None-Match", etag)
	}
	if lastMod != "" {
		out.Header.Set("If-Modified-Since", lastMod)
	}
	f.Out = out
	return nil, nil
}

// notCached answers only-if-cached when nothing fresh is stored (RFC 9111
// §5.2.1.7).
func (c *Cache) notCached(l *lookup) *http.Response {
	l.served, l.mark = true, markMiss
	l.answered = "devproxy; detail=only-if-cached"
	msg := "devproxy: only-if-cached was asked and the cache holds no fresh response for this request\n"
	h := http.Header{
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Content-Length": {strconv.Itoa(len(msg))},
		"Cache-Status":   {l.answered},
	}
	return &http.Response{StatusCode: http.StatusGatewayTimeout, Header: h, Body: io.NopCloser(strings.NewReader(msg)), ContentLength: int64(len(msg))}
}

// serve builds the response for a stored entry of the given current age:
// the stored one, or 304 when the client's own conditions say it has it.
func (c *Cache) serve(e *entry, in *http.Request, age time.Duration, status string) *http.Response {
	h := e.header.Clone()
	h.Set("Age", strconv.FormatInt(seconds(age), 10))
	addStatus(h, status)
	res := &http.Response{StatusCode: e.status, Header: h, Body: http.NoBody}
	if notModified(in, e) {
		res.StatusCode = http.StatusNotModified
		h.Del("Content-Length")
		return res
	}
	if e.status == http.StatusNoContent {
		return res
	}
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	res.ContentLength = int64(len(e.body))
	if in.Method != http.MethodHead && len(e.body) > 0 {
		res.Body = io.NopCloser(bytes.NewReader(e.body))
	}
	return res
}

// Response acts on what answered the flow: it marks the verdict, adds
// Cache-Status, stores a cacheable response as it streams to the client,
// serves the stored response when a revalidation says 304, and
// invalidates after an unsafe method succeeds.
func (c *Cache) Response(f *proxy.Flow, res *http.Response) error {
	l, _ := f.Value(lookupKey{c}).(*lookup)
	if l == nil {
		return nil // an earlier stage answered: the cache never saw the request
	}
	mark := l.mark
	defer func() { f.Rec.Mark(record.Mark{Stage: "cache", Name: "cache", Value: mark}) }()
	switch {
	case l.served:
		return nil
	case res.StatusCode < 200:
		return nil // 101: the connection is no longer HTTP
	case mark == markBypass:
		if l.fwd == "method" && !safe(l.method) && res.StatusCode < 400 {
			c.invalidate(f.In, res)
		}
		addStatus(res.Header, "devproxy; fwd="+l.fwd)
		return nil
	}
	now := c.now()
	if l.stale != nil && res.StatusCode == http.StatusNotModified {
		c.revalidated(f, l, res, now)
		mark = markRevalidated
		return nil
	}
	status := "devproxy; fwd=" + l.fwd
	if l.fwd == "stale" {
		status += "; fwd-status=" + strconv.Itoa(res.StatusCode)
	}
	e, why := c.storable(f, l, res, now)
	if e == nil {
		addStatus(res.Header, status+"; detail="+why)
		return nil
	}
	addStatus(res.Header, status+"; stored")
	h := l.reqHead
	res.Body = newTee(res.Body, res.ContentLength, c.store.maxEntry, func(body []byte) {
		e.body = body
		c.store.put(e, h)
	})
	return nil
}

// revalidated handles a 304 to the cache's conditional request: the stored
// headers are updated from it (RFC 9111 §4.3.4), and res becomes the stored
// response.
func (c *Cache) revalidated(f *proxy.Flow, l *lookup, res *http.Response, now time.Time) {
	old := l.stale
	h := old.header.Clone()
	for k, vs := range res.Header {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding", "Cache-Status":
			continue // these describe the 304 itself, not the stored body
		}
		h[k] = append([]string(nil), vs...)
	}
	if len(res.Header.Values("Age")) == 0 {
		h.Del("Age") // the stored Age was for the old response
	}
	e := c.entryFor(l, old.status, h, now)
	e.body = old.body
	if res.Body != nil {
		_ = res.Body.Close()
	}
	switch {
	case l.noStore != "":
		// The request said no-store: serve the update, keep the old entry.
	case e.cc.noStore:
		c.store.invalidate(l.key)
	default:
		c.store.put(e, l.reqHead) // in place of the stale entry
	}
	served := c.serve(e, f.In, e.age.at(now), "devproxy; fwd=stale; fwd-status=304")
	res.StatusCode = served.StatusCode
	res.Status = fmt.Sprintf("%d %s", served.StatusCode, http.StatusText(served.StatusCode))
	res.Header = served.Header
	res.Body = served.Body
	res.ContentLength = served.ContentLength
	res.TransferEncoding = nil
	res.Uncompressed = false
	res.Trailer = nil
}

// storable returns the entry to store for res, its body still to come, or
// nil and why the response must not be stored (RFC 9111 §3, and the
// choices in the package doc).
func (c *Cache) storable(f *proxy.Flow, l *lookup, res *http.Response, now time.Time) (*entry, string) {
	cc := parseDirectives(res.Header)
	switch {
	case l.noStore != "":
		return nil, l.noStore
	case l.method != http.MethodGet:
		return nil, "method"
	case f.Upstream == nil:
		return nil, "not-from-upstream" // a later stage answered
	case res.StatusCode == http.StatusPartialContent || res.StatusCode == http.StatusNotModified || res.StatusCode == http.StatusTooManyRequests:
		return nil, "status"
	case cc.noStore:
		return nil, "no-store"
	case len(res.Header.Values("Set-Cookie")) > 0:
		return nil, "set-cookie"
	case l.authed && !cc.public && !cc.mustRevalidate:
		return nil, "authorization"
	case !explicitlyCacheable(res.StatusCode, res.Header, cc):
		return nil, "no-freshness"
	case res.ContentLength > c.store.maxEntry:
		return nil, "too-large"
	}
	if slices.Contains(varyNames(res.Header), "*") {
		return nil, "vary-star" // never matches a request (RFC 9111 §4.1)
	}
	e := c.entryFor(l, res.StatusCode, res.Header.Clone(), now)
	if e.lifetime <= 0 && e.header.Get("Etag") == "" && e.header.Get("Last-Modified") == "" {
		return nil, "no-freshness" // stale at once and nothing to revalidate with
	}
	return e, ""
}

// entryFor makes the entry for a response with status and header to the
// flow's request, received at now.
func (c *Cache) entryFor(l *lookup, status int, h http.Header, now time.Time) *entry {
	cc := parseDirectives(h)
	date := dateOf(h, now)
	vary := varyNames(h)
	return &entry{
		key:      l.key,
		status:   status,
		header:   h,
		vary:     vary,
		varyVals: varyValues(l.reqHead, vary),
		cc:       cc,
		lifetime: lifetime(status, h, cc, date),
		age:      newAgeClock(h, date, l.sent, now),
	}
}

// invalidate removes what a successful unsafe request changed: its target
// URI, and the same-origin Location and Content-Location (RFC 9111 §4.4).
func (c *Cache) invalidate(in *http.Request, res *http.Response) {
	key := keyOf(in)
	c.store.invalidate(key)
	base, err := url.Parse(key)
	if err != nil {
		return
	}
	for _, name := range []string{"Location", "Content-Location"} {
		v := res.Header.Get(name)
		if v == "" {
			continue
		}
		u, err := base.Parse(v)
		if err != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
			continue
		}
		c.store.invalidate(u.Scheme + "://" + strings.ToLower(u.Host) + u.RequestURI())
	}
}

// keyOf is the cache key of a request: its target URI as the client asked.
func keyOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return scheme + "://" + strings.ToLower(host) + r.URL.RequestURI()
}

// safe reports the methods that never invalidate (RFC 9110 §9.2.1).
func safe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// addStatus appends the cache's member to Cache-Status, after any that
// caches nearer the origin put there (RFC 9211 §2).
func addStatus(h http.Header, member string) {
	if prior := h.Values("Cache-Status"); len(prior) > 0 {
		member = strings.Join(prior, ", ") + ", " + member
	}
	h.Set("Cache-Status", member)
}

// notModified reports whether the client's own conditions (RFC 9110
// §13.1.2–13.1.3) say it already has the stored response e.
func notModified(in *http.Request, e *entry) bool {
	inm, ims := in.Header.Values("If-None-Match"), in.Header.Get("If-Modified-Since")
	if e.status != http.StatusOK || (len(inm) == 0 && ims == "") {
		return false
	}
	if len(inm) > 0 {
		etag := weak(e.header.Get("Etag"))
		if etag == "" {
			return false
		}
		for _, line := range inm {
			for tag := range strings.SplitSeq(line, ",") {
				if tag = strings.TrimSpace(tag); tag == "*" || weak(tag) == etag {
					return true
				}
			}
		}
		return false
	}
	since, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(e.header.Get("Last-Modified"))
	return err == nil && !lm.After(since)
}

// weak is an entity tag without its weakness indicator, for the weak
// comparison If-None-Match uses.
func weak(tag string) string { return strings.TrimPrefix(tag, "W/") }
