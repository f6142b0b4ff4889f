// Package invert is devproxy's inverting proxy: a public relay that clients
// call and an agent beside a private backend that dials out to the relay and
// carries requests in and responses back. Both sides are ordinary reverse
// proxies built on internal/proxy; only the relay's dial is turned around.
//
// Two transports connect them: a native tunnel (yamux streams over one
// WebSocket the agent opens) and the long-poll protocol of Google's
// inverting proxy, spoken exactly so either side interoperates with the
// reference implementation.
package invert

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/regstore"
	"github.com/devproxy/devproxy/internal/rules"
)

// Backend is a registered private service that agents serve.
type Backend struct {
	// ID names the backend; agents present it. Lower-case letters, digits
	// and dashes, at most 63 characters.
	ID string `json:"id"`
	// PathPrefixes route end-user requests: the longest matching prefix
	// wins. "/" matches everything.
	PathPrefixes []string `json:"pathPrefixes"`
	// Hosts, when set, restrict the backend to requests for these hosts
	// ("app.example.com" or "*.example.com").
	Hosts []string `json:"hosts,omitempty"`
	// Access is who may call the backend: public, or holders of a token.
	Access Access `json:"access"`
	// AgentAuth is "token" (default: agents present the backend's agent
	// token) or "none" (any agent naming the backend is accepted; only for
	// the reference inverting-proxy agent, which cannot send our token).
	AgentAuth string `json:"agentAuth,omitempty"`
	// Rules shape the backend's traffic at the relay, one rule per text in
	// the --rule syntax ("path:/x => status 418"), after the relay's own
	// rules. They are named ID/N (web/1, web/2…) in marks and rule: filters.
	Rules []string `json:"rules"`
	// Static backends come from the config file and cannot be deleted
	// through the API.
	Static bool `json:"static,omitempty"`
	// Created is when the backend was registered.
	Created time.Time `json:"created"`

	agentTokenHashes []string
}

// Access is "public" or a set of end-user tokens. In JSON it is the string
// "public" or {"tokens": [...]}.
type Access struct {
	Public bool
	// tokenHashes are SHA-256 hex digests; plaintext tokens are never kept.
	tokenHashes []string
}

// MarshalJSON writes "public" or {"tokens": N} (the tokens stay secret).
func (a Access) MarshalJSON() ([]byte, error) {
	if a.Public {
		return []byte(`"public"`), nil
	}
	return json.Marshal(map[string]int{"tokens": len(a.tokenHashes)})
}

// accessInput is what clients send: "public" or {"tokens": ["plain", ...]}.
func parseAccess(raw json.RawMessage) (Access, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return Access{Public: true}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s != "public" {
			return Access{}, fmt.Errorf(`access %q: use "public" or {"tokens": ["…"]}`, s)
		}
		return Access{Public: true}, nil
	}
	var obj struct {
		Tokens []string `json:"tokens"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Access{}, fmt.Errorf(`access: use "public" or {"tokens": ["…"]}: %v`, err)
	}
	if len(obj.Tokens) == 0 {
		return Access{}, errors.New(`access.tokens is empty: give at least one token, or use "public"`)
	}
	a := Access{}
	for _, t := range obj.Tokens {
		if len(t) < 8 {
			return Access{}, errors.New("access tokens must be at least 8 characters")
		}
		a.tokenHashes = append(a.tokenHashes, hashToken(t))
	}
	return a, nil
}

// allows reports whether token is one of the access tokens, comparing in
// constant time.
func (a Access) allows(token string) bool {
	if a.Public {
		return true
	}
	if token == "" {
		return false
	}
	return matchHash(a.tokenHashes, token)
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validate checks a backend's fields and fills defaults.
func (b *Backend) validate() error {
	if !idPattern.MatchString(b.ID) {
		return fmt.Errorf("backend id %q: use 1-63 lower-case letters, digits and dashes (e.g. \"web\")", b.ID)
	}
	if len(b.PathPrefixes) == 0 {
		b.PathPrefixes = []string{"/"}
	}
	for i, p := range b.PathPrefixes {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("backend %q: path prefix %q must start with /", b.ID, p)
		}
		if len(p) > 1 {
			b.PathPrefixes[i] = strings.TrimSuffix(p, "/")
		}
	}
	for i, h := range b.Hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.ContainsAny(h, "/ :") && !strings.HasPrefix(h, "[") {
			return fmt.Errorf("backend %q: host %q must be a host name such as app.example.com or *.example.com", b.ID, b.Hosts[i])
		}
		b.Hosts[i] = h
	}
	switch b.AgentAuth {
	case "":
		b.AgentAuth = "token"
	case "token", "none":
	default:
		return fmt.Errorf("backend %q: agentAuth %q: use \"token\" or \"none\"", b.ID, b.AgentAuth)
	}
	if _, err := parseRules(b.ID, b.Rules); err != nil {
		return err
	}
	return nil
}

// parseRules parses backend id's rules and names them id/1, id/2…. An
// error wraps the *rules.Error that says which rule, the column and what
// is wrong.
func parseRules(id string, texts []string) ([]rules.Rule, error) {
	rs, err := rules.ParseAll(texts)
	if err != nil {
		return nil, fmt.Errorf("backend %q: rules: %w", id, err)
	}
	for i := range rs {
		rs[i].Name = fmt.Sprintf("%s/%d", id, i+1)
	}
	return rs, nil
}

// checkBreakpoints refuses backend id's rules that hold exchanges at a
// breakpoint when the relay has no UI to resume them in (holds is false).
func checkBreakpoints(id string, rs []rules.Rule, holds bool) error {
	if holds {
		return nil
	}
	for i, r := range rs {
		for _, a := range r.Actions {
			if a.Name() == "breakpoint" {
				return fmt.Errorf("backend %q: rules: %w", id, &rules.Error{Rule: fmt.Sprintf("rule %d", i+1), Pos: -1,
					Msg: "a breakpoint holds exchanges until you resume them in the relay's terminal UI, and this relay runs without one (--no-tui, or no terminal): remove the breakpoint, or run the relay in a terminal"})
			}
		}
	}
	return nil
}

// matchPath reports how long a prefix of b matches path (segment-wise), or -1.
func (b *Backend) matchPath(path string) int {
	best := -1
	for _, p := range b.PathPrefixes {
		if p == "/" || path == p || strings.HasPrefix(path, p+"/") {
			if len(p) > best {
				best = len(p)
			}
		}
	}
	return best
}

func (b *Backend) matchHost(host string) bool {
	if len(b.Hosts) == 0 {
		return true
	}
	for _, h := range b.Hosts {
		if proxy.HostMatch(h, host) {
			return true
		}
	}
	return false
}

// Registry holds the backends and the admin token: an in-memory view that
// requests are routed by, persisted through a regstore.Store (a file in the
// state directory, or PostgreSQL shared by a fleet of relays). Backends
// declared in the config file (AddStatic) live in the view only. It is safe
// for concurrent use.
//
// With a shared store, Run keeps the view current: it re-reads the store
// when another relay changed it and every RefreshEvery as a safety net.
// While the store cannot be reached the registry goes on serving its last
// view, read-only: changes fail with an error wrapping ErrReadOnly.
type Registry struct {
	store regstore.Store

	// writeMu serializes changes and re-reads of the store, so that a
	// re-read begun before a change cannot put back what the change
	// replaced.
	writeMu sync.Mutex

	mu        sync.RWMutex
	adminHash string
	backends  map[string]*Backend // stored and static
	static    map[string]*Backend // declared in the config file
	readOnly  bool
	onState   func(readOnly bool, err error)

	// kick asks Run for a re-read (after a change found the view stale).
	kick chan struct{}
}

// StateFileName is the registry file inside the state directory.
const StateFileName = regstore.FileName

// RefreshEvery is how often Run re-reads the store when nothing told it
// of a change: the safety net under PostgreSQL's notifications.
const RefreshEvery = 10 * time.Second

// storeTimeout bounds each call to the store.
const storeTimeout = 10 * time.Second

// ErrReadOnly is wrapped by the errors of changes refused while the
// registry's store (PostgreSQL) cannot be reached.
var ErrReadOnly = errors.New("the registry is read-only until PostgreSQL is back (backends cannot be created, changed or deleted meanwhile)")

// OpenRegistry loads the registry from the file in dir (created if
// missing). An empty dir keeps the registry in memory only. A corrupt file
// is an error naming it; it is never silently replaced.
func OpenRegistry(dir string) (*Registry, error) {
	store, err := regstore.OpenFile(dir)
	if err != nil {
		return nil, err
	}
	return NewRegistry(store)
}

// NewRegistry loads the registry from store. The caller keeps the store
// and closes it after the registry's last use (and after Run returned).
func NewRegistry(store regstore.Store) (*Registry, error) {
	r := &Registry{store: store, backends: map[string]*Backend{}, static: map[string]*Backend{}, kick: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	stored, err := backendsOf(st)
	if err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", store, err)
	}
	r.adminHash, r.backends = st.AdminHash, stored
	return r, nil
}

// backendsOf makes the backends of st, validated.
func backendsOf(st regstore.State) (map[string]*Backend, error) {
	out := make(map[string]*Backend, len(st.Backends))
	var errs []error
	for _, rec := range st.Backends {
		b := Backend{ID: rec.ID, PathPrefixes: rec.PathPrefixes, Hosts: rec.Hosts, AgentAuth: rec.AgentAuth, Created: rec.Created, Rules: rec.Rules}
		b.Access = Access{Public: rec.AccessPublic, tokenHashes: rec.AccessTokenHashes}
		b.agentTokenHashes = rec.AgentTokenHashes
		if err := b.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		out[b.ID] = &b
	}
	return out, errors.Join(errs...)
}

// record is b as stored.
func (b *Backend) record() regstore.Record {
	return regstore.Record{
		ID:                b.ID,
		PathPrefixes:      b.PathPrefixes,
		Hosts:             b.Hosts,
		AgentAuth:         b.AgentAuth,
		Created:           b.Created,
		AccessPublic:      b.Access.Public,
		AccessTokenHashes: b.Access.tokenHashes,
		AgentTokenHashes:  b.agentTokenHashes,
		Rules:             b.Rules,
	}
}

// Run keeps the view current until ctx ends: it re-reads the store when
// the store signals a change (another relay's, or a reconnection), every
// RefreshEvery, and when a change found the view stale. onState, if not
// nil, is told when the store becomes unreachable (readOnly true, with the
// error) and when it is back (false, nil); the calls are serialized and
// should return quickly.
func (r *Registry) Run(ctx context.Context, onState func(readOnly bool, err error)) {
	r.mu.Lock()
	r.onState = onState
	r.mu.Unlock()
	t := time.NewTicker(RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.store.Changes():
		case <-r.kick:
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, storeTimeout)
		r.reload(lctx)
		cancel()
	}
}

// reload replaces the stored part of the view with what the store holds
// now; on failure the view stays as it was.
func (r *Registry) reload(ctx context.Context) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	st, err := r.store.Load(ctx)
	if err != nil {
		// Canceled: Run is ending, which says nothing of the store.
		if !errors.Is(ctx.Err(), context.Canceled) {
			r.setState(true, err)
		}
		return
	}
	// A backend that does not validate (written by a newer relay, or by
	// hand) is left out; the others are served.
	stored, _ := backendsOf(st)
	r.mu.Lock()
	r.adminHash = st.AdminHash
	view := make(map[string]*Backend, len(stored)+len(r.static))
	for id, b := range stored {
		view[id] = b
	}
	// A static backend wins over a stored one of the same id, which
	// another relay (without this config) may have registered.
	for id, b := range r.static {
		view[id] = b
	}
	r.backends = view
	r.mu.Unlock()
	r.setState(false, nil)
}

// stored handles a store call's outcome: an unreachable store makes the
// registry read-only (and the error says so); any answer from the store
// means it is back. Callers hold writeMu.
func (r *Registry) stored(err error) error {
	switch {
	case errors.Is(err, regstore.ErrUnavailable):
		r.setState(true, err)
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	case err == nil || errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound):
		if r.setState(false, nil) {
			r.refreshSoon() // the view may have missed changes meanwhile
		}
	}
	return err
}

// setState records whether the registry is read-only and tells onState
// of a change; it reports whether there was one. Callers hold writeMu.
func (r *Registry) setState(readOnly bool, err error) bool {
	r.mu.Lock()
	changed := r.readOnly != readOnly
	r.readOnly = readOnly
	cb := r.onState
	r.mu.Unlock()
	if changed && cb != nil {
		cb(readOnly, err)
	}
	return changed
}

// refreshSoon asks Run for a re-read.
func (r *Registry) refreshSoon() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// ReadOnly reports whether the registry's store is unreachable, so that
// the registry serves its last view and refuses changes.
func (r *Registry) ReadOnly() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.readOnly
}

// Store is where the registry is persisted.
func (r *Registry) Store() regstore.Store { return r.store }

// EnsureAdminToken sets up the admin token. A given token replaces the
// stored one. Without one, a token is generated on first start and returned
// (to be shown once); later starts return "" and keep the stored hash (as
// do relays of a fleet that another relay set up first).
func (r *Registry) EnsureAdminToken(given string) (generated string, err error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	r.mu.RLock()
	cur := r.adminHash
	r.mu.RUnlock()
	var hash string
	switch {
	case given != "":
		hash = hashToken(given)
		if hash == cur {
			return "", nil
		}
		if err := r.stored(r.store.SetAdminHash(ctx, hash)); err != nil {
			return "", err
		}
	case cur != "":
		return "", nil
	default:
		generated = newToken("dpa_")
		hash, err = r.store.InitAdminHash(ctx, hashToken(generated))
		if err := r.stored(err); err != nil {
			return "", err
		}
		if hash != hashToken(generated) {
			generated = "" // another relay set one first
		}
	}
	r.mu.Lock()
	r.adminHash = hash
	r.mu.Unlock()
	return generated, nil
}

// CheckAdmin reports whether token is the admin token.
func (r *Registry) CheckAdmin(token string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return token != "" && r.adminHash != "" && matchHash([]string{r.adminHash}, token)
}

// ErrExists is returned when creating a backend whose id is taken.
var ErrExists = regstore.ErrExists

// ErrNotFound is returned for an unknown backend id.
var ErrNotFound = regstore.ErrNotFound

// ErrStatic is returned when deleting a backend declared in the config file.
var ErrStatic = errors.New("the backend is declared in the config file; remove it there")

// Create registers a backend and returns its agent token (shown once).
func (r *Registry) Create(b Backend) (agentToken string, err error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if _, ok := r.Get(b.ID); ok {
		return "", ErrExists
	}
	agentToken = newToken("dpt_")
	b.agentTokenHashes = []string{hashToken(agentToken)}
	if b.Created.IsZero() {
		b.Created = time.Now().UTC().Truncate(time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := r.stored(r.store.Create(ctx, b.record())); err != nil {
		if errors.Is(err, ErrExists) {
			r.refreshSoon() // another relay registered it
		}
		return "", err
	}
	r.mu.Lock()
	r.backends[b.ID] = &b
	r.mu.Unlock()
	return agentToken, nil
}

// AddStatic adds a backend declared in the config file, with its agent
// token in plain text (from the config or the environment).
func (r *Registry) AddStatic(b Backend, agentToken string) error {
	if err := b.validate(); err != nil {
		return err
	}
	if b.AgentAuth == "token" && len(agentToken) < 16 {
		return fmt.Errorf("backend %q: agentToken must be at least 16 characters (or set agentAuth: none)", b.ID)
	}
	b.Static = true
	if agentToken != "" {
		b.agentTokenHashes = []string{hashToken(agentToken)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.backends[b.ID]; ok && !old.Static {
		return fmt.Errorf("backend %q is declared in the config file and also registered through the API; delete one of them", b.ID)
	}
	r.backends[b.ID] = &b
	r.static[b.ID] = &b
	return nil
}

// Delete removes a backend.
func (r *Registry) Delete(id string) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	b, ok := r.Get(id)
	switch {
	case !ok:
		return ErrNotFound
	case b.Static:
		return ErrStatic
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := r.stored(r.store.Delete(ctx, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	// Gone from the store, by this call or another relay's.
	r.mu.Lock()
	delete(r.backends, id)
	r.mu.Unlock()
	return err
}

// SetRules replaces the rules of backend id (texts in the --rule syntax;
// none clears them). Rules that do not parse are an error wrapping the
// *rules.Error, and the backend keeps its rules.
func (r *Registry) SetRules(id string, texts []string) error {
	if _, err := parseRules(id, texts); err != nil {
		return err
	}
	texts = append([]string(nil), texts...)
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	b, ok := r.Get(id)
	switch {
	case !ok:
		return ErrNotFound
	case b.Static:
		return ErrStatic
	}
	// Readers hold copies of the old Backend: replace it, never change it.
	b.Rules = texts
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := r.stored(r.store.Update(ctx, b.record()))
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, ErrNotFound):
		delete(r.backends, id) // another relay deleted it
		return err
	case err != nil:
		return err
	}
	r.backends[id] = &b
	return nil
}

// rulesOf returns the rules of backend id as text (nil for none or an
// unknown id). The slice is shared: callers must not change it.
func (r *Registry) rulesOf(id string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if b, ok := r.backends[id]; ok {
		return b.Rules
	}
	return nil
}

// Get returns a copy of a backend.
func (r *Registry) Get(id string) (Backend, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.backends[id]
	if !ok {
		return Backend{}, false
	}
	return *b, true
}

// List returns copies of all backends, sorted by id.
func (r *Registry) List() []Backend {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []Backend{}
	for _, b := range r.sortedLocked() {
		out = append(out, *b)
	}
	return out
}

func (r *Registry) sortedLocked() []*Backend {
	out := make([]*Backend, 0, len(r.backends))
	for _, b := range r.backends {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CheckAgent reports whether token lets an agent serve backend id. A token
// for one backend never serves another.
func (r *Registry) CheckAgent(id, token string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.backends[id]
	// Hash and compare for unknown ids too, so the time taken does not
	// tell which ids exist.
	hashes := []string{unknownBackendHash}
	if ok {
		hashes = b.agentTokenHashes
	}
	match := matchHash(hashes, token)
	switch {
	case !ok:
		return false
	case b.AgentAuth == "none":
		return true
	}
	return token != "" && match
}

// unknownBackendHash stands in for the token hash of an unknown backend; no
// token hashes to it.
var unknownBackendHash = strings.Repeat("0", sha256.Size*2)

// Route picks the backend for a request: the longest path prefix among the
// backends whose hosts match.
func (r *Registry) Route(host, path string) (Backend, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *Backend
	bestLen := -1
	for _, b := range r.sortedLocked() {
		if !b.matchHost(host) {
			continue
		}
		n := b.matchPath(path)
		// A host-specific backend beats a catch-all of the same length.
		if n > bestLen || n == bestLen && n >= 0 && len(b.Hosts) > 0 && best != nil && len(best.Hosts) == 0 {
			best, bestLen = b, n
		}
	}
	if best == nil || bestLen < 0 {
		return Backend{}, false
	}
	return *best, true
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// matchHash compares the token's hash with each stored hash in constant time.
func matchHash(hashes []string, token string) bool {
	h := []byte(hashToken(token))
	ok := 0
	for _, s := range hashes {
		ok |= subtle.ConstantTimeCompare([]byte(s), h)
	}
	return ok == 1
}

func newToken(prefix string) string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// ParseAccess reads an access setting: "public" (or nothing) or
// {"tokens": ["…"]}.
func ParseAccess(raw json.RawMessage) (Access, error) { return parseAccess(raw) }
