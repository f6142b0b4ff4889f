package session

// The search index is filled after exchanges are written, not as they are:
// indexing an exchange (decoding its bodies, FTS5's trigrams and segment
// merges) costs about twice what writing it does, and the writer shares
// the machine with the proxy. So the writer indexes only when its queue is
// empty, a pass at a time in small transactions, looking at the queue
// again between passes: under sustained traffic it does not index at all,
// and it catches up when the traffic pauses. Search reads the exchanges
// not indexed yet (search.go), so it misses nothing meanwhile. With
// Options.LazyIndex the writer does not index at all until the first
// Search (or Index): a temporary session that nobody searches never pays
// for an index, which cost more CPU than all the rest of recording.
//
// Every exchange with an ID up to the meta key indexed_through is indexed,
// except those in the table unindexed: exchanges written (again, or late)
// after the mark had passed their ID. Their stale column says the index
// holds a row of an earlier version, which is deleted before the new one
// goes in (the index is contentless: it deletes by rowid alone).

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	// indexPassCount is the most exchanges one index pass adds: a pass
	// is one transaction, which a batch arriving meanwhile waits for.
	indexPassCount = 128
	// indexPassText is the text (bytes) after which a pass stops early.
	indexPassText = 4 << 20
	// closeIndexTime is how long Close goes on indexing the backlog by
	// default; what is left waits for the next writer.
	closeIndexTime = 100 * time.Millisecond
)

// waiting is an exchange of the backlog.
type waiting struct {
	id uint64
	// late: it is in the table unindexed (else its ID is past the mark).
	// stale: the index holds a row of an earlier version of it.
	late, stale bool
}

// indexPass runs one pass over the backlog. A failure is reported (once,
// as write errors are) and the backlog is left until the next commit.
func (w *writer) indexPass() {
	if w.checkFile() != nil {
		w.backlog = false // the next batch reports it
		return
	}
	var n int
	w.backlog = false // until the pass finds more
	pass := func() (err error) {
		n, w.backlog, err = w.indexSome()
		return err
	}
	var err error
	if hook := w.s.opts.wrapIndex; hook != nil {
		err = hook(pass)
	} else {
		err = pass()
	}
	if err != nil {
		w.backlog = false
		w.s.fail(fmt.Errorf("session %s: indexing for search (searches read what is not indexed instead): %w", w.s.path, explain(err)))
		return
	}
	w.mu.Lock()
	w.stats.Indexed += uint64(n)
	w.mu.Unlock()
	if w.s.opts.MaxSize > 0 {
		// The index takes room too: catching up after a long burst may
		// take the file past its budget when no batch follows to check.
		if err := w.enforceBudget(); err != nil {
			w.s.fail(err)
		}
	}
}

// indexFor indexes the backlog for at most d (nothing when d < 0).
func (w *writer) indexFor(d time.Duration) {
	deadline := time.Now().Add(d)
	for w.backlog && time.Now().Before(deadline) {
		w.indexPass()
	}
}

// indexSome adds up to indexPassCount exchanges of the backlog to the
// index in one transaction, the late ones first, and moves the mark past
// the others. It returns how many it indexed and whether more wait.
func (w *writer) indexSome() (n int, more bool, err error) {
	through, text := w.indexedThrough, int64(0)
	err = w.transaction(func() error {
		todo, err := w.backlogPage(indexPassCount)
		if err != nil {
			return err
		}
		for _, x := range todo {
			if text >= indexPassText {
				break
			}
			size, err := w.indexOne(x)
			if err != nil {
				return err
			}
			if !x.late {
				through = x.id
			}
			text += size
			n++
		}
		more = n < len(todo) || len(todo) == indexPassCount
		if through != w.indexedThrough {
			_, err = w.ix.setThrough.Exec(int64(through))
		}
		return err
	}, nil)
	if err != nil {
		return 0, false, err
	}
	w.indexedThrough, w.logged = through, w.logged+text
	return n, more, nil
}

// backlogPage is up to k exchanges waiting to be indexed: the late ones,
// then those past the mark, each in ID order.
func (w *writer) backlogPage(k int) ([]waiting, error) {
	var todo []waiting
	read := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var x waiting
			if err := rows.Scan(&x.id, &x.stale, &x.late); err != nil {
				return err
			}
			todo = append(todo, x)
		}
		return rows.Err()
	}
	err := read(w.conn.QueryContext(background, "SELECT id, stale, 1 FROM unindexed ORDER BY id LIMIT ?", k))
	if err == nil && len(todo) < k {
		err = read(w.conn.QueryContext(background, "SELECT id, 0, 0 FROM exchanges WHERE id > ? ORDER BY id LIMIT ?",
			int64(w.indexedThrough), k-len(todo)))
	}
	return todo, err
}

// indexOne puts exchange x's text in the index, in place of an earlier
// version's, adds the index's share to its disk_bytes, and returns the
// text's size.
func (w *writer) indexOne(x waiting) (int64, error) {
	ex, err := w.ix.load.load(x.id)
	missing := errors.Is(err, ErrNotFound) // only in a damaged file
	if err != nil && !missing {
		return 0, err
	}
	if x.stale {
		if _, err := w.ix.delSearch.Exec(int64(x.id)); err != nil {
			return 0, err
		}
	}
	if x.late {
		if _, err := w.ix.delUnindexed.Exec(int64(x.id)); err != nil {
			return 0, err
		}
	}
	if missing {
		return 0, nil
	}
	t := indexText(&ex, w.dec, w.s.opts.IndexMax)
	if _, err := w.ix.insSearch.Exec(int64(x.id), t.url, t.headers, t.request, t.response, t.messages); err != nil {
		return 0, err
	}
	if _, err := w.ix.addDiskBytes.Exec(3*t.size(), int64(x.id)); err != nil {
		return 0, err
	}
	return t.size(), nil
}

// indexStatements are the index passes' prepared statements.
type indexStatements struct {
	insSearch, delSearch, delUnindexed, addDiskBytes, setThrough *sql.Stmt
	load                                                         loader
	all                                                          []*sql.Stmt // to close
}

// prepare prepares every statement on conn.
func (st *indexStatements) prepare(conn *sql.Conn) error {
	l, err := newLoader(conn, layoutOf(current()))
	if err != nil {
		return err
	}
	st.load = l
	st.all, err = prepareAll(conn, []prepared{
		{&st.insSearch, "INSERT INTO search (rowid, url, headers, request, response, messages) VALUES (?, ?, ?, ?, ?, ?)"},
		{&st.delSearch, "DELETE FROM search WHERE rowid = ?"},
		{&st.delUnindexed, "DELETE FROM unindexed WHERE id = ?"},
		{&st.addDiskBytes, "UPDATE exchanges SET disk_bytes = disk_bytes + ? WHERE id = ?"},
		{&st.setThrough, "INSERT INTO meta (key, value) VALUES ('indexed_through', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1"},
	})
	return err
}

func (st *indexStatements) close() error {
	return errors.Join(st.load.close(), closeStmts(st.all...))
}
