package session

import (
	"fmt"

	"github.com/devproxy/devproxy/internal/units"
)

// Eviction reports exchanges deleted to keep the file within
// Options.MaxSize: the oldest, by ID.
type Eviction struct {
	Count       int    // exchanges deleted
	First, Last uint64 // the lowest and highest ID deleted
	// Bytes estimates what they took on disk (bodies, messages, headers
	// and their share of the search index).
	Bytes int64
	// Size is the file's size in use after the deletion; MaxSize the
	// budget.
	Size, MaxSize int64
}

func (e Eviction) String() string {
	return fmt.Sprintf("session disk budget of %s reached: deleted the %d oldest exchanges (#%d–#%d, about %s); %s in use",
		units.Size(e.MaxSize), e.Count, e.First, e.Last, units.Size(e.Bytes), units.Size(e.Size))
}

// evictRound is the most exchanges one deletion considers: deletions are
// batched, so the file is never locked for long.
const evictRound = 1000

// enforceBudget deletes the oldest exchanges, a batch at a time, while the
// file's pages in use exceed the budget, until they are under 90 % of it;
// then it gives the freed pages back to the file system and reports what
// it deleted.
func (w *writer) enforceBudget() error {
	used, err := w.usedBytes()
	if err != nil || used <= w.s.opts.MaxSize {
		return err
	}
	target := w.s.opts.MaxSize / 10 * 9
	ev := Eviction{MaxSize: w.s.opts.MaxSize}
	for used > target {
		n, first, last, bytes, err := w.evictOldest(used - target)
		if err != nil {
			return fmt.Errorf("session %s: keeping within the disk budget: %w", w.s.path, explain(err))
		}
		if n == 0 {
			break // nothing left to delete: the schema and index alone are over
		}
		if ev.Count == 0 {
			ev.First = first
		}
		ev.Count += n
		ev.Last, ev.Bytes = last, ev.Bytes+bytes
		if _, err := w.conn.ExecContext(background, "PRAGMA incremental_vacuum"); err != nil {
			return fmt.Errorf("session %s: giving freed space back: %w", w.s.path, explain(err))
		}
		if used, err = w.usedBytes(); err != nil {
			return err
		}
	}
	if ev.Count == 0 {
		return nil
	}
	ev.Size = used
	w.mu.Lock()
	w.stats.Evicted += uint64(ev.Count)
	w.mu.Unlock()
	if f := w.s.opts.OnEvict; f != nil {
		f(ev)
	}
	return nil
}

// evictOldest deletes, in one transaction, the oldest exchanges whose
// estimated size covers excess (at least one, at most evictRound), with
// their bodies, messages and index rows (or places in the index's
// backlog).
func (w *writer) evictOldest(excess int64) (n int, first, last uint64, bytes int64, err error) {
	tx, err := w.conn.BeginTx(background, nil)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer tx.Rollback()
	rows, err := tx.Query("SELECT id, disk_bytes FROM exchanges ORDER BY id LIMIT ?", evictRound)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	for rows.Next() && bytes < excess {
		var id, size int64
		if err := rows.Scan(&id, &size); err != nil {
			rows.Close()
			return 0, 0, 0, 0, err
		}
		if n == 0 {
			first = uint64(id)
		}
		n, last, bytes = n+1, uint64(id), bytes+size+512
	}
	if err := rows.Close(); err != nil {
		return 0, 0, 0, 0, err
	}
	if n == 0 {
		return 0, 0, 0, 0, nil
	}
	for _, q := range []string{
		"DELETE FROM search WHERE rowid <= ?",
		"DELETE FROM unindexed WHERE id <= ?",
		"DELETE FROM bodies WHERE exchange_id <= ?",
		"DELETE FROM messages WHERE exchange_id <= ?",
		"DELETE FROM exchanges WHERE id <= ?",
	} {
		if _, err := tx.Exec(q, int64(last)); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	return n, first, last, bytes, tx.Commit()
}

// usedBytes is the size of the file's pages in use (free pages excluded).
func (w *writer) usedBytes() (int64, error) {
	var pages, free, size int64
	for _, p := range []struct {
		q string
		v *int64
	}{{"PRAGMA page_count", &pages}, {"PRAGMA freelist_count", &free}, {"PRAGMA page_size", &size}} {
		if err := w.conn.QueryRowContext(background, p.q).Scan(p.v); err != nil {
			return 0, fmt.Errorf("session %s: measuring the file: %w", w.s.path, explain(err))
		}
	}
	return (pages - free) * size, nil
}
