package session

// Deleting exchanges at the user's request. A deletion goes through the
// writer's queue like an exchange, so it applies after every exchange
// offered before it: deleting an exchange still waiting to be written
// deletes it all the same.

import (
	"database/sql"
	"errors"
	"fmt"
)

// ErrReadOnly is returned by Delete and Clear on a store opened read-only.
var ErrReadOnly = errors.New("session: the session is open read-only; deleting exchanges needs the process that writes it")

// Delete deletes the exchanges with the given IDs from the file: their
// rows, bodies, messages and search index entries. IDs the file does not
// hold are ignored. It returns once the deletion is queued, after every
// exchange offered before it; Flush waits for it to be done. The file's
// IDs go on after the highest ever written: a deleted ID is not used
// again, unless the recorder offers that exchange again (a later version
// of it), which writes it anew.
func (s *Store) Delete(ids ...uint64) error {
	if len(ids) == 0 {
		return s.queueOp(nil)
	}
	return s.queueOp(&item{del: append([]uint64(nil), ids...)})
}

// Clear deletes every exchange from the file, as Delete does, and gives
// the space they took back to the file system. IDs go on after the
// highest ever written.
func (s *Store) Clear() error {
	return s.queueOp(&item{clear: true})
}

// queueOp queues a deletion for the writer; nil checks only that the
// store could queue one.
func (s *Store) queueOp(it *item) error {
	if s.w == nil {
		if s.isClosed() {
			return ErrClosed
		}
		return fmt.Errorf("%s: %w", s.path, ErrReadOnly)
	}
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closing:
		return ErrClosed
	case w.gone:
		return fmt.Errorf("session %s: %w", s.path, errGone)
	case it == nil:
		return nil
	}
	w.queue = append(w.queue, it)
	w.offered++
	w.signal()
	return nil
}

// isClosed reports whether Close was called.
func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// isDeletion reports whether it deletes exchanges rather than writing one.
func (it *item) isDeletion() bool { return it.del != nil || it.clear }

// remove carries out a deletion within the writer's transaction, and
// returns how many exchanges it deleted.
func (w *writer) remove(it *item) (int64, error) {
	if it.clear {
		return w.removeAll()
	}
	// Only an exchange up to the index's mark can have a row in it
	// (index.go); deleting a row it does not have costs a lookup.
	for _, id := range it.del {
		if id <= w.indexedThrough {
			if _, err := w.ix.delSearch.Exec(int64(id)); err != nil {
				return 0, err
			}
		}
	}
	list := idList(it.del)
	for _, st := range []*sql.Stmt{w.st.delUnindexedIn, w.st.delBodiesIn, w.st.delMessagesIn} {
		if _, err := st.Exec(list); err != nil {
			return 0, err
		}
	}
	res, err := w.st.delExchangesIn.Exec(list)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// removeAll deletes every exchange. The index's mark stays where it is:
// exchanges written from now on have higher IDs, or are written late and
// noted in unindexed as such.
func (w *writer) removeAll() (int64, error) {
	var n int64
	if err := w.conn.QueryRowContext(background, "SELECT count(*) FROM exchanges").Scan(&n); err != nil {
		return 0, err
	}
	for _, q := range []string{
		"INSERT INTO search (search) VALUES ('delete-all')",
		"DELETE FROM unindexed",
		"DELETE FROM bodies",
		"DELETE FROM messages",
		"DELETE FROM exchanges",
	} {
		if _, err := w.conn.ExecContext(background, q); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// vacuum gives the pages that deletions freed back to the file system.
func (w *writer) vacuum() error {
	if _, err := w.conn.ExecContext(background, "PRAGMA incremental_vacuum"); err != nil {
		return fmt.Errorf("session %s: giving freed space back: %w", w.s.path, explain(err))
	}
	return nil
}
