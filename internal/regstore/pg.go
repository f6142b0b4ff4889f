package regstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the channel every change to a PostgreSQL registry is
// announced on (NOTIFY), in the transaction that makes it.
const NotifyChannel = "devproxy_registry"

// connectTimeout bounds a connection attempt when the URL sets no
// connect_timeout.
const connectTimeout = 5 * time.Second

// PGStore keeps the registry in PostgreSQL, shared by every relay of a
// fleet: tables devproxy_backends, devproxy_admin and devproxy_members,
// versioned by devproxy_schema_version and migrated on open. Every change
// is made in a transaction that also notifies NotifyChannel; a dedicated
// connection listens there and feeds Changes.
type PGStore struct {
	pool *pgxpool.Pool
	name string // the URL without its password
	// id tags this store's notifications, so that it does not signal its
	// own changes.
	id string
	// where is host:port, for messages.
	where string

	changes chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	closeMu sync.Once
}

var _ Store = (*PGStore)(nil)

// IsPGURL reports whether s is a PostgreSQL URL (postgres:// or
// postgresql://), the form --registry takes.
func IsPGURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenPG connects to the PostgreSQL database at rawURL (postgres://… or
// postgresql://…), creates or migrates the registry's tables, and starts
// listening for other relays' changes. Errors name the URL without its
// password and say what to do. Close releases the connections.
func OpenPG(ctx context.Context, rawURL string) (*PGStore, error) {
	name, err := RedactURL(rawURL)
	if err != nil {
		return nil, err
	}
	if !IsPGURL(rawURL) {
		return nil, fmt.Errorf("registry %s: not a PostgreSQL URL; use postgres://user:password@host:5432/dbname", name)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's message may quote the URL; say what to check instead.
		return nil, fmt.Errorf("registry %s: PostgreSQL cannot use this URL; check its port, sslmode and other parameters (postgres://user:password@host:5432/dbname?sslmode=disable)", name)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	cfg.MaxConns = 4
	// A registry's queries are few: check every connection before use, so
	// that one left over from before a PostgreSQL restart is replaced
	// rather than failing a change.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	s := &PGStore{
		name:    name,
		id:      hex.EncodeToString(idb[:]),
		where:   fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port),
		changes: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.explain(err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	// Listen before returning, so that no change made after the caller's
	// first Load goes unnoticed.
	conn, err := s.listenConn(ctx)
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.listen(lctx, conn)
	return s, nil
}

// String is "postgres://user@host/db" (no password).
func (s *PGStore) String() string { return s.name }

// Close stops listening and closes the connections.
func (s *PGStore) Close() error {
	s.closeMu.Do(func() {
		s.cancel()
		<-s.done
		s.pool.Close()
	})
	return nil
}

// Changes signals when another relay changed the registry or the fleet,
// when the listening connection was lost, and after each attempt to
// reconnect it (once back, changes may have been missed).
func (s *PGStore) Changes() <-chan struct{} { return s.changes }

func (s *PGStore) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

const backendColumns = `id, path_prefixes, hosts, agent_auth, created, access_public, access_token_sha256, agent_token_sha256, rules`

// Load reads the admin hash and the backends in one snapshot.
func (s *PGStore) Load(ctx context.Context) (State, error) {
	var st State
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT token_sha256 FROM devproxy_admin WHERE id = 1`).Scan(&st.AdminHash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+backendColumns+` FROM devproxy_backends ORDER BY id`)
		if err != nil {
			return err
		}
		st.Backends, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
			var r Record
			err := row.Scan(&r.ID, &r.PathPrefixes, &r.Hosts, &r.AgentAuth, &r.Created, &r.AccessPublic, &r.AccessTokenHashes, &r.AgentTokenHashes, &r.Rules)
			r.Created = r.Created.UTC()
			return r.clone(), err
		})
		return err
	})
	if err != nil {
		return State{}, s.explain(err)
	}
	return st, nil
}

// InitAdminHash sets the admin hash if none is set and returns the stored one.
func (s *PGStore) InitAdminHash(ctx context.Context, hash string) (string, error) {
	var cur string
	err := s.change(ctx, func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO devproxy_admin (id, token_sha256) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, hash)
		if err != nil {
			return false, err
		}
		if err := tx.QueryRow(ctx, `SELECT token_sha256 FROM devproxy_admin WHERE id = 1`).Scan(&cur); err != nil {
			return false, err
		}
		return tag.RowsAffected() == 1, nil
	})
	return cur, err
}

// SetAdminHash replaces the admin hash.
func (s *PGStore) SetAdminHash(ctx context.Context, hash string) error {
	return s.change(ctx, func(tx pgx.Tx) (bool, error) {
		_, err := tx.Exec(ctx, `INSERT INTO devproxy_admin (id, token_sha256) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET token_sha256 = excluded.token_sha256`, hash)
		return err == nil, err
	})
}

// Create adds a backend; ErrExists if its ID is taken.
func (s *PGStore) Create(ctx context.Context, r Record) error {
	return s.changeRow(ctx, ErrExists, `INSERT INTO devproxy_backends (`+backendColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`, recordArgs(r)...)
}

// Update replaces a backend; ErrNotFound if there is none.
func (s *PGStore) Update(ctx context.Context, r Record) error {
	return s.changeRow(ctx, ErrNotFound, `UPDATE devproxy_backends SET path_prefixes = $2, hosts = $3, agent_auth = $4, created = $5, access_public = $6,
		access_token_sha256 = $7, agent_token_sha256 = $8, rules = $9 WHERE id = $1`, recordArgs(r)...)
}

// Delete removes a backend; ErrNotFound if there is none.
func (s *PGStore) Delete(ctx context.Context, id string) error {
	return s.changeRow(ctx, ErrNotFound, `DELETE FROM devproxy_backends WHERE id = $1`, id)
}

// changeRow runs one statement that changes one backend's row, as a
// change; none is the error when it changed no row.
func (s *PGStore) changeRow(ctx context.Context, none error, sql string, args ...any) error {
	return s.change(ctx, func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, sql, args...)
		switch {
		case err != nil:
			return false, err
		case tag.RowsAffected() == 0:
			return false, none
		}
		return true, nil
	})
}

// recordArgs are r's columns in backendColumns order; empty lists are
// stored as empty arrays (the columns are NOT NULL).
func recordArgs(r Record) []any {
	return []any{r.ID, nonNil(r.PathPrefixes), nonNil(r.Hosts), r.AgentAuth, r.Created, r.AccessPublic,
		nonNil(r.AccessTokenHashes), nonNil(r.AgentTokenHashes), nonNil(r.Rules)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Heartbeat upserts relay m's row with the database's clock. A relay that
// joins, or whose URL changed, is announced to the others.
func (s *PGStore) Heartbeat(ctx context.Context, m Member) error {
	agents := m.Agents
	if agents == nil {
		agents = map[string]int{}
	}
	return s.change(ctx, func(tx pgx.Tx) (bool, error) {
		var changed bool
		err := tx.QueryRow(ctx, `WITH old AS (SELECT url FROM devproxy_members WHERE id = $1)
			INSERT INTO devproxy_members (id, url, seen, agents) VALUES ($1, $2, now(), $3)
			ON CONFLICT (id) DO UPDATE SET url = excluded.url, seen = excluded.seen, agents = excluded.agents
			RETURNING coalesce((SELECT url FROM old), '') IS DISTINCT FROM $2`, m.ID, m.URL, agents).Scan(&changed)
		return changed, err
	})
}

// Members forgets the relays not seen within ttl and returns the others.
// Forgetting one is announced to the others.
func (s *PGStore) Members(ctx context.Context, ttl time.Duration) ([]Member, error) {
	var out []Member
	err := s.change(ctx, func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM devproxy_members WHERE seen < now() - make_interval(secs => $1)`, ttl.Seconds())
		if err != nil {
			return false, err
		}
		rows, err := tx.Query(ctx, `SELECT id, url, seen, agents FROM devproxy_members ORDER BY id`)
		if err != nil {
			return false, err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Member, error) {
			var m Member
			err := row.Scan(&m.ID, &m.URL, &m.Seen, &m.Agents)
			m.Seen = m.Seen.UTC()
			return m, err
		})
		return tag.RowsAffected() > 0, err
	})
	return out, err
}

// Leave forgets relay id, announcing it.
func (s *PGStore) Leave(ctx context.Context, id string) error {
	return s.change(ctx, func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM devproxy_members WHERE id = $1`, id)
		return tag.RowsAffected() > 0, err
	})
}

// change runs fn in a transaction and, when fn reports a change, notifies
// NotifyChannel in the same transaction (delivered at commit).
func (s *PGStore) change(ctx context.Context, fn func(pgx.Tx) (changed bool, err error)) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		changed, err := fn(tx)
		if err != nil || !changed {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, s.id)
		return err
	})
	if errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return s.explain(err)
	}
	return nil
}

// listenConn opens the connection that listens on NotifyChannel.
func (s *PGStore) listenConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, s.explain(err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, s.explain(err)
	}
	return conn, nil
}

// Listening backs off between reconnections from listenBackoffMin to
// listenBackoffMax.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 2 * time.Second
)

// listen waits for notifications on conn and signals Changes for those of
// other stores. When the connection is lost it signals (a reader then
// finds out whether PostgreSQL is down), and reconnects with backoff,
// signalling after each attempt: once listening again, changes may have
// been missed; while still down, a reader whose re-read slipped in before
// PostgreSQL closed its other connections finds out now.
func (s *PGStore) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	backoff := listenBackoffMin
	for {
		if conn != nil {
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					break
				}
				if n.Payload != s.id {
					s.signal()
				}
			}
			_ = conn.Close(context.Background())
			conn = nil
			if ctx.Err() != nil {
				return
			}
			s.signal()
			backoff = listenBackoffMin
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		c, err := s.listenConn(cctx)
		cancel()
		if err == nil {
			conn = c
		}
		// Back: changes may have been missed. Still down: a reader that
		// re-read just before the other connections were closed learns
		// it now.
		s.signal()
	}
}

// RedactURL returns a PostgreSQL URL without its password (in the user
// part or a password parameter), for messages and logs. A URL that does
// not parse is an error that does not quote it.
func RedactURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", errors.New("registry URL does not parse; use postgres://user:password@host:5432/dbname, with special characters in the password percent-encoded (@ as %40, / as %2F, # as %23)")
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
