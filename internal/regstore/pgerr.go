package regstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgStoreError is a PostgreSQL store's failure as a user reads it: the
// store, the problem and what to do. It wraps the driver's error and
// ErrUnavailable: to a registry every such failure means "serve what you
// have, change nothing".
type pgStoreError struct {
	store string
	msg   string
	err   error
}

func (e *pgStoreError) Error() string   { return "registry " + e.store + ": " + e.msg }
func (e *pgStoreError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// explain turns a driver error into a pgStoreError. The driver's own
// messages name the user and database, never the password.
func (s *PGStore) explain(err error) error {
	var already *pgStoreError
	if errors.As(err, &already) {
		return err
	}
	return &pgStoreError{store: s.name, msg: s.describe(err), err: err}
}

func (s *PGStore) describe(err error) string {
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01", "28000":
			return fmt.Sprintf("%s; check the user and password in --registry", pgErr.Message)
		case "3D000":
			return fmt.Sprintf("%s; create it (createdb) or fix the database name in --registry", pgErr.Message)
		case "42501":
			return fmt.Sprintf("%s; the registry's user must be able to create tables in its database (at first start) and to read and write them", pgErr.Message)
		case "57P01", "57P02", "57P03":
			return fmt.Sprintf("PostgreSQL is shutting down or starting (%s); the relay retries", pgErr.Message)
		}
		return fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused at %s; is PostgreSQL running? check --registry", s.where)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host %q not found; check the host in --registry", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return fmt.Sprintf("no answer from %s in time; is PostgreSQL running and reachable from here? check --registry", s.where)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed):
		return fmt.Sprintf("connection to %s lost (%v); PostgreSQL may be restarting", s.where, err)
	}
	return err.Error()
}
