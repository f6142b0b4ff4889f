// Package regstore stores the relay's backend registry: the backends
// registered through the admin API, the admin token's hash and, for a fleet
// of relays, the relays themselves. It holds plain data (tokens arrive
// hashed) and knows nothing of routing; internal/invert keeps the in-memory
// view that requests are routed by and persists it through a Store.
//
// Two stores implement it: FileStore, one JSON file in a relay's state
// directory (the default, for a single relay), and PGStore, tables in
// PostgreSQL shared by every relay of a fleet, which tells each of them
// when another changed something (LISTEN/NOTIFY).
package regstore

import (
	"context"
	"errors"
	"time"
)

// Record is one backend as stored. Token fields hold SHA-256 hex digests,
// never the tokens themselves.
type Record struct {
	// ID names the backend.
	ID string
	// PathPrefixes and Hosts are what requests are routed by.
	PathPrefixes []string
	Hosts        []string
	// AgentAuth is "token" or "none" (see invert.Backend).
	AgentAuth string
	// Created is when the backend was registered.
	Created time.Time
	// AccessPublic lets anyone call the backend; otherwise callers present
	// one of the tokens whose hashes are AccessTokenHashes.
	AccessPublic      bool
	AccessTokenHashes []string
	// AgentTokenHashes are the hashes of the tokens agents present.
	AgentTokenHashes []string
	// Rules are the backend's rules in the --rule syntax.
	Rules []string
}

// State is everything a store holds about backends.
type State struct {
	// AdminHash is the admin token's hash; "" until one is set.
	AdminHash string
	// Backends are sorted by ID.
	Backends []Record
}

// Member is one relay of a fleet, as it last announced itself.
type Member struct {
	// ID names the relay (unique in the fleet, stable while it runs).
	ID string
	// URL is where agents reach the relay.
	URL string
	// Seen is when the relay last beat, by the store's clock.
	Seen time.Time
	// Agents counts, per backend id, the agents connected to this relay.
	Agents map[string]int
}

// Store persists the registry. Methods are safe for concurrent use. Errors
// other than ErrExists and ErrNotFound name the store and what to do; those
// that wrap ErrUnavailable mean the store cannot be reached now (the
// registry keeps serving what it last loaded and refuses changes).
type Store interface {
	// String names the store for messages: the file's path, or the
	// database's URL without its password.
	String() string
	// Load reads the whole state.
	Load(ctx context.Context) (State, error)
	// InitAdminHash sets the admin token's hash when none is set yet, and
	// returns the stored one: hash when it was set now, another one when
	// a hash was set before (by another relay perhaps).
	InitAdminHash(ctx context.Context, hash string) (current string, err error)
	// SetAdminHash replaces the admin token's hash.
	SetAdminHash(ctx context.Context, hash string) error
	// Create adds a backend; ErrExists if its ID is taken.
	Create(ctx context.Context, r Record) error
	// Update replaces the backend r.ID; ErrNotFound if there is none.
	Update(ctx context.Context, r Record) error
	// Delete removes a backend; ErrNotFound if there is none.
	Delete(ctx context.Context, id string) error
	// Changes signals (coalesced) when the store's reader should re-read:
	// another process changed the store, or the store's connection was
	// lost or is being re-established (changes may have been missed, and
	// a re-read finds out whether the store can be reached). Nil when
	// nothing else writes to the store (FileStore); a nil channel never
	// delivers.
	Changes() <-chan struct{}
	// Heartbeat records that relay m.ID is alive at m.URL with m.Agents
	// (m.Seen is ignored: the store's clock is used). No-op for FileStore.
	Heartbeat(ctx context.Context, m Member) error
	// Members returns the relays that beat within ttl, sorted by ID, and
	// forgets the others. Nil for FileStore.
	Members(ctx context.Context, ttl time.Duration) ([]Member, error)
	// Leave forgets relay id at once (on a clean shutdown).
	Leave(ctx context.Context, id string) error
	// Close releases the store's connections.
	Close() error
}

// ErrExists is returned by Create when the backend's ID is taken.
var ErrExists = errors.New("a backend with this id already exists")

// ErrNotFound is returned for an unknown backend ID.
var ErrNotFound = errors.New("no such backend")

// ErrUnavailable is wrapped by errors that mean the store cannot be reached
// now (PostgreSQL down or unreachable); retrying later may succeed.
var ErrUnavailable = errors.New("registry store unavailable")

// clone returns a deep copy of r, so that callers never share slices with a
// store's own copy.
func (r Record) clone() Record {
	r.PathPrefixes = cloneStrings(r.PathPrefixes)
	r.Hosts = cloneStrings(r.Hosts)
	r.AccessTokenHashes = cloneStrings(r.AccessTokenHashes)
	r.AgentTokenHashes = cloneStrings(r.AgentTokenHashes)
	r.Rules = cloneStrings(r.Rules)
	return r
}

// cloneStrings copies s; empty becomes nil, as both stores read it back.
func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
