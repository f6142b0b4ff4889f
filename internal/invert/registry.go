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
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
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

// Registry holds the backends and the admin token, persisted in a state
// directory with atomic writes. It is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	path      string // "" keeps everything in memory
	adminHash string
	backends  map[string]*Backend
}

// stateFile is the registry's on-disk form.
type stateFile struct {
	Version   int             `json:"version"`
	AdminHash string          `json:"adminTokenSha256,omitempty"`
	Backends  []storedBackend `json:"backends"`
}

type storedBackend struct {
	ID                string    `json:"id"`
	PathPrefixes      []string  `json:"pathPrefixes"`
	Hosts             []string  `json:"hosts,omitempty"`
	AgentAuth         string    `json:"agentAuth,omitempty"`
	Created           time.Time `json:"created"`
	AccessPublic      bool      `json:"accessPublic"`
	AccessTokenHashes []string  `json:"accessTokenSha256,omitempty"`
	AgentTokenHashes  []string  `json:"agentTokenSha256,omitempty"`
	Rules             []string  `json:"rules,omitempty"`
}

// StateFileName is the registry file inside the state directory.
const StateFileName = "backends.json"

// OpenRegistry loads the registry from dir (created if missing). An empty
// dir keeps the registry in memory only. A corrupt file is an error naming
// it; it is never silently replaced.
func OpenRegistry(dir string) (*Registry, error) {
	r := &Registry{backends: map[string]*Backend{}}
	if dir == "" {
		return r, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay state dir %s: %w", dir, err)
	}
	r.path = filepath.Join(dir, StateFileName)
	data, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("relay state %s: %w", r.path, err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("relay state %s is corrupt (%v); fix or move the file away (backends and the admin token would have to be registered again)", r.path, err)
	}
	r.adminHash = st.AdminHash
	for _, sb := range st.Backends {
		b := Backend{ID: sb.ID, PathPrefixes: sb.PathPrefixes, Hosts: sb.Hosts, AgentAuth: sb.AgentAuth, Created: sb.Created, Rules: sb.Rules}
		b.Access = Access{Public: sb.AccessPublic, tokenHashes: sb.AccessTokenHashes}
		b.agentTokenHashes = sb.AgentTokenHashes
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("relay state %s is corrupt: %v", r.path, err)
		}
		bb := b
		r.backends[b.ID] = &bb
	}
	return r, nil
}

// save writes the non-static backends atomically. Callers hold r.mu.
func (r *Registry) save() error {
	if r.path == "" {
		return nil
	}
	st := stateFile{Version: 1, AdminHash: r.adminHash, Backends: []storedBackend{}}
	for _, b := range r.sortedLocked() {
		if b.Static {
			continue
		}
		st.Backends = append(st.Backends, storedBackend{
			ID:                b.ID,
			PathPrefixes:      b.PathPrefixes,
			Hosts:             b.Hosts,
			AgentAuth:         b.AgentAuth,
			Created:           b.Created,
			AccessPublic:      b.Access.Public,
			AccessTokenHashes: b.Access.tokenHashes,
			AgentTokenHashes:  b.agentTokenHashes,
			Rules:             b.Rules,
		})
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(r.path, append(data, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old file or the new one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// EnsureAdminToken sets up the admin token. A given token replaces the
// stored one. Without one, a token is generated on first start and returned
// (to be shown once); later starts return "" and keep the stored hash.
func (r *Registry) EnsureAdminToken(given string) (generated string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case given != "":
		if h := hashToken(given); h != r.adminHash {
			r.adminHash = h
			return "", r.save()
		}
		return "", nil
	case r.adminHash != "":
		return "", nil
	}
	tok := newToken("dpa_")
	r.adminHash = hashToken(tok)
	if err := r.save(); err != nil {
		return "", err
	}
	return tok, nil
}

// CheckAdmin reports whether token is the admin token.
func (r *Registry) CheckAdmin(token string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return token != "" && r.adminHash != "" && matchHash([]string{r.adminHash}, token)
}

// ErrExists is returned when creating a backend whose id is taken.
var ErrExists = errors.New("a backend with this id already exists")

// ErrNotFound is returned for an unknown backend id.
var ErrNotFound = errors.New("no such backend")

// ErrStatic is returned when deleting a backend declared in the config file.
var ErrStatic = errors.New("the backend is declared in the config file; remove it there")

// Create registers a backend and returns its agent token (shown once).
func (r *Registry) Create(b Backend) (agentToken string, err error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.backends[b.ID]; ok {
		return "", ErrExists
	}
	agentToken = newToken("dpt_")
	b.agentTokenHashes = []string{hashToken(agentToken)}
	if b.Created.IsZero() {
		b.Created = time.Now().UTC().Truncate(time.Second)
	}
	r.backends[b.ID] = &b
	if err := r.save(); err != nil {
		delete(r.backends, b.ID)
		return "", err
	}
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
	return nil
}

// Delete removes a backend.
func (r *Registry) Delete(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.backends[id]
	switch {
	case !ok:
		return ErrNotFound
	case b.Static:
		return ErrStatic
	}
	delete(r.backends, id)
	if err := r.save(); err != nil {
		r.backends[id] = b
		return err
	}
	return nil
}

// SetRules replaces the rules of backend id (texts in the --rule syntax;
// none clears them). Rules that do not parse are an error wrapping the
// *rules.Error, and the backend keeps its rules.
func (r *Registry) SetRules(id string, texts []string) error {
	if _, err := parseRules(id, texts); err != nil {
		return err
	}
	texts = append([]string(nil), texts...)
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.backends[id]
	switch {
	case !ok:
		return ErrNotFound
	case b.Static:
		return ErrStatic
	}
	// Readers hold copies of the old Backend: replace it, never change it.
	nb := *b
	nb.Rules = texts
	r.backends[id] = &nb
	if err := r.save(); err != nil {
		r.backends[id] = b
		return err
	}
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
