package session

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// NotPersisted is the mark an exchange is stored with when its bodies and
// message payloads were left out because the disk fell behind.
var NotPersisted = record.Mark{Stage: "session", Name: "body not persisted: disk behind"}

// item is an exchange waiting in the writer's queue.
type item struct {
	x    record.Exchange
	cost int64 // against Options.QueueBytes
	// noBodies is set when the bodies and message payloads were left out
	// to stay within the queue's budget.
	noBodies bool
}

// waiter is a Flush waiting for the first n items to be done.
type waiter struct {
	n  uint64
	ch chan struct{}
}

// writer is the one goroutine that writes a store, and its queue.
type writer struct {
	s    *Store
	conn *sql.Conn
	st   statements
	dec  body.Decoder

	mu      sync.Mutex
	queue   []*item
	queued  int64  // cost of the items queued or being written
	offered uint64 // items ever queued
	done    uint64 // items written or failed
	waiters []waiter
	closing bool
	// gone is set when the file was removed or replaced: nothing more is
	// written, and Offer refuses.
	gone  bool
	stats Stats

	wake   chan struct{}
	exited chan struct{}
}

// newWriter pins the writer's connection and prepares its statements.
func newWriter(s *Store) (*writer, error) {
	conn, err := s.wdb.Conn(background)
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, conn: conn, wake: make(chan struct{}, 1), exited: make(chan struct{}),
		dec: body.Decoder{Limit: max(s.opts.IndexMax, 1)}}
	if err := w.st.prepare(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

// Offer queues x to be written and returns at once; it never waits for the
// disk. It is record.Sink's Offer, called on the proxy's path. When the
// queue is over Options.QueueBytes, x is stored without its body bytes and
// message payloads (marked NotPersisted); when even that does not fit, or
// the store is closed or its file is gone, x is dropped and Offer returns
// false (the recorder counts it; Stats too).
func (s *Store) Offer(x record.Exchange) bool {
	if s.w == nil {
		return false
	}
	return s.w.offer(x)
}

func (w *writer) offer(x record.Exchange) bool {
	meta := metaCost(&x)
	full := meta + bodyCost(&x)
	w.mu.Lock()
	defer w.mu.Unlock()
	it := &item{x: x, cost: full}
	switch budget := w.s.opts.QueueBytes; {
	case w.closing || w.gone:
		w.stats.Dropped++
		return false
	case w.queued+full <= budget:
	case w.queued+meta <= budget:
		it.noBodies, it.cost = true, meta
		withoutBodies(&it.x)
		w.stats.BodiesDropped++
	default:
		w.stats.Dropped++
		return false
	}
	w.queue = append(w.queue, it)
	w.queued += it.cost
	w.offered++
	w.signal()
	return true
}

// metaCost estimates the memory an exchange holds besides its body bytes
// and message payloads.
func metaCost(x *record.Exchange) int64 {
	n := 1024 + len(x.Request.URL) + len(x.Request.UpstreamURL) + 64*len(x.Messages) + 64*len(x.Marks)
	for _, fs := range []record.Fields{x.Request.Header, x.Request.Trailer} {
		n += fieldsLen(fs)
	}
	if x.Response != nil {
		n += fieldsLen(x.Response.Header) + fieldsLen(x.Response.Trailer)
	}
	return int64(n)
}

func fieldsLen(fs record.Fields) int {
	n := 0
	for _, f := range fs {
		n += len(f.Name) + len(f.Value) + 32
	}
	return n
}

// bodyCost is the body bytes and message payloads x holds.
func bodyCost(x *record.Exchange) int64 {
	n := int64(len(x.Request.Body.Bytes))
	if x.Response != nil {
		n += int64(len(x.Response.Body.Bytes))
	}
	for _, m := range x.Messages {
		n += int64(len(m.Payload))
	}
	return n
}

// withoutBodies drops x's body bytes and message payloads, so that the
// queue no longer holds them. x's slices are shared with the recorder:
// they are replaced, never modified.
func withoutBodies(x *record.Exchange) {
	drop := func(b *record.Body) {
		b.Bytes = nil
		b.Truncated = b.Truncated || b.Size > 0
	}
	drop(&x.Request.Body)
	if x.Response != nil {
		r := *x.Response
		drop(&r.Body)
		x.Response = &r
	}
	if len(x.Messages) > 0 {
		ms := make([]record.Message, len(x.Messages))
		for i, m := range x.Messages {
			m.Truncated = m.Truncated || len(m.Payload) > 0
			m.Payload = nil
			ms[i] = m
		}
		x.Messages = ms
	}
}

// signal wakes the writer without waiting.
func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes batches until the store closes: as soon as BatchSize items
// wait, a Flush asks, or the store closes; otherwise BatchDelay after the
// first of them arrived.
func (w *writer) run() {
	defer close(w.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed, due := false, false
	for {
		w.mu.Lock()
		urgent := due || w.closing || len(w.waiters) > 0 || len(w.queue) >= w.s.opts.BatchSize
		var batch []*item
		if urgent && len(w.queue) > 0 {
			k := min(len(w.queue), w.s.opts.BatchSize)
			batch = append(batch, w.queue[:k]...)
			n := copy(w.queue, w.queue[k:])
			clear(w.queue[n:])
			w.queue = w.queue[:n]
		}
		pending, closing := len(w.queue), w.closing
		w.mu.Unlock()
		if batch != nil {
			w.write(batch)
			if pending == 0 {
				due = false
			}
			continue
		}
		due = false
		if closing {
			return
		}
		if pending > 0 && !armed {
			timer.Reset(w.s.opts.BatchDelay)
			armed = true
		}
		select {
		case <-w.wake:
		case <-timer.C:
			armed, due = false, true
		}
	}
}

// write commits one batch, keeps the file within its budget, counts the
// outcome and tells the Flushes it satisfies.
func (w *writer) write(batch []*item) {
	err := w.checkFile()
	gone := err != nil
	if err == nil {
		err = w.commit(batch)
	}
	var evictErr error
	if err == nil && w.s.opts.MaxSize > 0 {
		evictErr = w.enforceBudget()
	}
	// Reported before the Flushes return, so that they see it.
	if err := errors.Join(err, evictErr); err != nil {
		w.s.fail(err)
	}
	var cost int64
	for _, it := range batch {
		cost += it.cost
	}
	w.mu.Lock()
	w.queued -= cost
	w.done += uint64(len(batch))
	if err != nil {
		w.stats.Failed += uint64(len(batch))
		w.gone = w.gone || gone
	} else {
		w.stats.Written += uint64(len(batch))
		w.stats.Batches++
	}
	kept := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.n <= w.done {
			close(wt.ch)
		} else {
			kept = append(kept, wt)
		}
	}
	w.waiters = kept
	w.mu.Unlock()
}

// errGone says the session file is no longer where it was opened.
var errGone = errors.New("the file was removed or replaced; exchanges are no longer saved to it")

// checkFile fails when the file was removed or replaced since Open:
// SQLite would go on writing to the removed file, which nobody can read.
func (w *writer) checkFile() error {
	w.mu.Lock()
	gone := w.gone
	w.mu.Unlock()
	st, err := os.Stat(w.s.path)
	if gone || err != nil || !os.SameFile(st, w.s.opened) {
		return fmt.Errorf("session %s: %w", w.s.path, errGone)
	}
	return nil
}

// commit writes batch in one transaction.
func (w *writer) commit(batch []*item) error {
	tx, err := w.conn.BeginTx(background, nil)
	if err != nil {
		return w.writeError(len(batch), err)
	}
	defer tx.Rollback()
	st := w.st.in(tx)
	var last uint64
	for _, it := range batch {
		if err := w.put(st, it); err != nil {
			return w.writeError(len(batch), err)
		}
		last = max(last, it.x.ID)
	}
	if _, err := st.lastID.Exec(strconv.FormatUint(last, 10)); err != nil {
		return w.writeError(len(batch), err)
	}
	if hook := w.s.opts.wrapCommit; hook != nil {
		err = hook(tx.Commit)
	} else {
		err = tx.Commit()
	}
	if err != nil {
		return w.writeError(len(batch), err)
	}
	return nil
}

func (w *writer) writeError(n int, err error) error {
	return fmt.Errorf("session %s: %d exchanges not saved (later ones will be tried): %w", w.s.path, n, explain(err))
}

// put writes one exchange, replacing an earlier version of it.
func (w *writer) put(st statements, it *item) error {
	x := it.x
	if w.s.opts.Redact != redact.None {
		x = redactExchange(w.s.opts.Redact, x)
	}
	notPersisted := ""
	if it.noBodies {
		x.Marks = append(x.Marks[:len(x.Marks):len(x.Marks)], NotPersisted)
		notPersisted = NotPersisted.Name
	}
	var stored int64
	switch err := st.version.QueryRow(int64(x.ID)).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case uint64(stored) > x.Version:
		return nil // a later version is there already
	default:
		for _, del := range []*sql.Stmt{st.delBodies, st.delMessages, st.delSearch} {
			if _, err := del.Exec(int64(x.ID)); err != nil {
				return err
			}
		}
	}
	var size int64
	for part, b := range [2]*record.Body{&x.Request.Body, responseBody(&x)} {
		if b == nil {
			continue
		}
		for seq, off := 0, 0; off < len(b.Bytes); seq, off = seq+1, off+ChunkSize {
			chunk := b.Bytes[off:min(off+ChunkSize, len(b.Bytes))]
			if _, err := st.insBody.Exec(int64(x.ID), part, seq, chunk); err != nil {
				return err
			}
		}
		size += int64(len(b.Bytes))
	}
	for i, m := range x.Messages {
		if _, err := st.insMessage.Exec(int64(x.ID), i, unixNano(m.Time), int(m.Dir), int(m.Opcode), m.Size,
			m.Truncated, m.Compressed, m.CloseCode, m.CloseReason, m.Payload); err != nil {
			return err
		}
		size += int64(len(m.Payload)) + 64
	}
	ix := indexText(&x, w.dec, w.s.opts.IndexMax)
	if _, err := st.insSearch.Exec(int64(x.ID), ix.url, ix.headers, ix.request, ix.response, ix.messages); err != nil {
		return err
	}
	row, err := exchangeRow(&x, notPersisted, size+3*ix.size())
	if err != nil {
		return err
	}
	_, err = st.insExchange.Exec(row...)
	return err
}

// responseBody is x's response body, or nil without a response.
func responseBody(x *record.Exchange) *record.Body {
	if x.Response == nil {
		return nil
	}
	return &x.Response.Body
}

// flush waits until every item offered before the call is done.
func (w *writer) flush() {
	w.mu.Lock()
	if w.done >= w.offered {
		w.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	w.waiters = append(w.waiters, waiter{n: w.offered, ch: ch})
	w.mu.Unlock()
	w.signal()
	select {
	case <-ch:
	case <-w.exited:
	}
}

// stop writes what is queued and ends the goroutine.
func (w *writer) stop() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.signal()
	<-w.exited
}

// close releases the statements and the connection.
func (w *writer) close() error {
	return errors.Join(w.st.close(), w.conn.Close())
}

// counters returns the stats with the queue's state.
func (w *writer) counters() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stats
	st.Queued, st.QueuedBytes = len(w.queue), w.queued
	return st
}

// statements are the writer's prepared statements.
type statements struct {
	version, delBodies, delMessages, delSearch  *sql.Stmt
	insBody, insMessage, insSearch, insExchange *sql.Stmt
	lastID                                      *sql.Stmt
}

// prepare prepares every statement on conn.
func (st *statements) prepare(conn *sql.Conn) error {
	for _, p := range []struct {
		s   **sql.Stmt
		sql string
	}{
		{&st.version, "SELECT version FROM exchanges WHERE id = ?"},
		{&st.delBodies, "DELETE FROM bodies WHERE exchange_id = ?"},
		{&st.delMessages, "DELETE FROM messages WHERE exchange_id = ?"},
		{&st.delSearch, "DELETE FROM search WHERE rowid = ?"},
		{&st.insBody, "INSERT INTO bodies (exchange_id, part, seq, data) VALUES (?, ?, ?, ?)"},
		{&st.insMessage, "INSERT INTO messages (exchange_id, seq, time_ns, dir, opcode, size, truncated, compressed, close_code, close_reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		{&st.insSearch, "INSERT INTO search (rowid, url, headers, request, response, messages) VALUES (?, ?, ?, ?, ?, ?)"},
		{&st.insExchange, insertExchangeSQL},
		{&st.lastID, "INSERT INTO meta (key, value) VALUES ('last_id', ?1) ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(?1 AS INTEGER))"},
	} {
		s, err := conn.PrepareContext(background, p.sql)
		if err != nil {
			st.close()
			return err
		}
		*p.s = s
	}
	return nil
}

// in returns the statements bound to tx.
func (st statements) in(tx *sql.Tx) statements {
	return statements{
		version: tx.Stmt(st.version), delBodies: tx.Stmt(st.delBodies), delMessages: tx.Stmt(st.delMessages),
		delSearch: tx.Stmt(st.delSearch), insBody: tx.Stmt(st.insBody), insMessage: tx.Stmt(st.insMessage),
		insSearch: tx.Stmt(st.insSearch), insExchange: tx.Stmt(st.insExchange), lastID: tx.Stmt(st.lastID),
	}
}

func (st *statements) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.version, st.delBodies, st.delMessages, st.delSearch, st.insBody, st.insMessage, st.insSearch, st.insExchange, st.lastID} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
