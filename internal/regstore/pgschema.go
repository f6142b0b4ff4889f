package regstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations build the registry's schema, one entry per version, in order:
// migrations[0] takes an empty database to version 1. Append, never edit:
// a relay applies the entries past the database's version on start.
var migrations = [][]string{
	// 1: backends, the admin token's hash and the relays of a fleet.
	{
		`CREATE TABLE devproxy_backends (
			id text PRIMARY KEY,
			path_prefixes text[] NOT NULL,
			hosts text[] NOT NULL,
			agent_auth text NOT NULL,
			created timestamptz NOT NULL,
			access_public boolean NOT NULL,
			access_token_sha256 text[] NOT NULL,
			agent_token_sha256 text[] NOT NULL,
			rules text[] NOT NULL
		)`,
		`CREATE TABLE devproxy_admin (
			id integer PRIMARY KEY CHECK (id = 1),
			token_sha256 text NOT NULL
		)`,
		`CREATE TABLE devproxy_members (
			id text PRIMARY KEY,
			url text NOT NULL,
			seen timestamptz NOT NULL,
			agents jsonb NOT NULL
		)`,
	},
}

// SchemaVersion is the registry schema this devproxy creates and reads.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion in one transaction. Relays
// starting at once take turns through a transaction-scoped advisory lock,
// so each migration runs once; a database newer than this devproxy is an
// error (downgrading would lose what the newer schema holds).
func (s *PGStore) migrate(ctx context.Context) error {
	var from int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('devproxy_registry_schema'))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS devproxy_schema_version (version integer NOT NULL)`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM devproxy_schema_version`).Scan(&from); err != nil {
			return err
		}
		if from >= SchemaVersion {
			return nil
		}
		for _, m := range migrations[from:] {
			for _, stmt := range m {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM devproxy_schema_version`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO devproxy_schema_version (version) VALUES ($1)`, SchemaVersion)
		return err
	})
	if err != nil {
		return s.explain(err)
	}
	if from > SchemaVersion {
		return fmt.Errorf("registry %s: schema version %d is newer than this devproxy knows (%d); upgrade devproxy on this relay to the version the others run", s.name, from, SchemaVersion)
	}
	return nil
}
