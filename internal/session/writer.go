package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// NotPersisted is the mark an exchange is stored with when its bodies and
// message payloads were left out because the disk fell behind.
var NotPersisted = record.Mark{Stage: "session", Name: "body not persisted: disk behind"}

// item is an exchange waiting in the writer's queue, or a deletion (see
// delete.go).
type item struct {
	x    record.Exchange
	cost int64 // against Options.QueueBytes
	// noBodies is set when the bodies and message payloads were left out
	// to stay within the queue's budget.
	noBodies bool
	// del, when not nil, makes the item a deletion of these exchanges
	// rather than a write of x; clear, a deletion of every exchange.
	del   []uint64
	clear bool
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
	ix   indexStatements
	dec  body.Decoder

	mu      sync.Mutex
	queue   []*item
	queued  int64  // cost of the items queued or being written
	offered uint64 // items ever queued
	done    uint64 // items written or failed
	waiters []waiter
	// batchSize is the queue's length at which the writer writes a
	// batch at once (more while traffic is heavy).
	batchSize int
	// indexWaiters are the Index calls waiting for the backlog to be
	// indexed.
	indexWaiters []chan struct{}
	closing      bool
	// gone is set when the file was removed or replaced: nothing more is
	// written, and Offer refuses.
	gone  bool
	stats Stats

	wake   chan struct{}
	exited chan struct{}
	// lazy says the index waits for the first search (Options.LazyIndex):
	// the writer does not index until it is cleared.
	lazy atomic.Bool

	// Kept by the writer goroutine alone.
	//
	// lastID is the highest exchange ID the file may hold.
	lastID uint64
	// written are the IDs above the file's highest when it was opened
	// that this writer wrote: any other ID above it is new to the file,
	// so put need not look for an earlier version.
	written idSet
	// indexedThrough is the file's meta indexed_through, as committed.
	indexedThrough uint64
	// backlog says exchanges may wait to be indexed: set by each commit,
	// cleared by the index pass that finds none.
	backlog bool
	// logged estimates the bytes written since the last checkpoint.
	logged int64
	// rec is the buffer exchange records are built in.
	rec []byte
	// busy says traffic is heavy (see noteWritten): until busyUntil, the
	// work left for when the writer is idle waits.
	busyFrom  time.Time // the start of the current count
	busyCount int       // exchanges written since busyFrom
	busyUntil time.Time
	idleTimer *time.Timer // wakes the writer at busyUntil
	// longLog says SQLite's checkpoints wait for busyLog (see noteWritten).
	longLog bool
	// pageSize is the file's (older files have smaller pages).
	pageSize int64
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
	if err := errors.Join(w.ix.prepare(conn), w.readState()); err != nil {
		w.close()
		return nil, err
	}
	if err := w.autoCheckpoint(normalLog); err != nil {
		w.close()
		return nil, err
	}
	w.lazy.Store(s.opts.LazyIndex)
	w.batchSize = s.opts.BatchSize
	return w, nil
}

// readState reads where the file's IDs and its index stand.
func (w *writer) readState() error {
	var lastID, maxID, through int64
	var backlog bool
	if err := w.conn.QueryRowContext(background, "PRAGMA page_size").Scan(&w.pageSize); err != nil {
		return err
	}
	err := w.conn.QueryRowContext(background, `SELECT
		coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_id'), 0),
		coalesce((SELECT max(id) FROM exchanges), 0),
		coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_through'), 0),
		EXISTS (SELECT 1 FROM unindexed)`).Scan(&lastID, &maxID, &through, &backlog)
	if err != nil {
		return err
	}
	w.lastID, w.indexedThrough = uint64(max(lastID, maxID)), uint64(through)
	w.written = idSet{base: w.lastID}
	w.backlog = backlog || maxID > through
	return nil
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
	// The writer needs waking only to arm its timer for a new batch, or
	// to write a full one: waking it for each exchange cost the proxy's
	// goroutines a switch each.
	if n := len(w.queue); n == 1 || n >= w.batchSize {
		w.signal()
	}
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
	w.idleTimer = time.NewTimer(time.Hour)
	w.idleTimer.Stop()
	armed, due := false, false
	for {
		size := w.s.opts.BatchSize
		if time.Now().Before(w.busyUntil) {
			size *= busyBatches
		}
		w.mu.Lock()
		w.batchSize = size
		urgent := due || w.closing || len(w.waiters) > 0 || len(w.queue) >= size
		var batch []*item
		if urgent && len(w.queue) > 0 {
			k := min(len(w.queue), size)
			batch = append(batch, w.queue[:k]...)
			n := copy(w.queue, w.queue[k:])
			clear(w.queue[n:])
			w.queue = w.queue[:n]
		}
		pending, closing := len(w.queue), w.closing
		w.mu.Unlock()
		if batch != nil {
			w.write(batch)
			w.noteWritten(len(batch))
			if pending == 0 {
				due = false
			}
			continue
		}
		due = false
		if closing {
			if !w.lazy.Load() {
				w.indexFor(w.s.opts.closeIndexing)
			}
			return
		}
		if pending == 0 && w.idleWork() {
			continue // then look at the queue again
		}
		if pending > 0 && !armed {
			timer.Reset(w.s.opts.BatchDelay)
			armed = true
		}
		select {
		case <-w.wake:
		case <-timer.C:
			armed, due = false, true
		case <-w.idleTimer.C: // busy no more: the idle work may start
		}
	}
}

// idleWork does one piece of the work left for when the queue is empty,
// and reports whether there was any: a pass over the search index's
// backlog (unless the index is lazy and nobody searched yet), else a
// checkpoint. While traffic is heavy, it waits (and has the writer woken
// when it may start).
func (w *writer) idleWork() bool {
	index := w.backlog && !w.lazy.Load()
	if !index {
		w.indexDone()
	}
	if index || w.logged >= checkpointAfter {
		if d := time.Until(w.busyUntil); d > 0 {
			w.idleTimer.Reset(d)
			return false
		}
	}
	w.logLimit(false)
	switch {
	case index:
		w.indexPass()
	case w.logged >= checkpointAfter:
		w.checkpoint()
	default:
		return false
	}
	return true
}

// busyRate is the rate of exchanges (a second) at which traffic counts
// as heavy: the writer then leaves indexing and checkpoints for when it
// has eased, a second after it fell below, and lets the write-ahead log
// grow to busyLog before SQLite copies it into the file by itself. Between
// batches the queue is often empty for a moment even under saturating
// load, and the work done then (indexing costs about twice what writing
// does, a checkpoint writes everything a second time) took the CPU the
// proxy needed. Searches read what is not indexed meanwhile.
const busyRate = 2000

// busyBatches is how many times BatchSize exchanges a batch writes while
// traffic is heavy: a commit rewrites the last, partly filled page of each
// table, and fewer commits write fewer of them.
const busyBatches = 4

// busyLog is how large the write-ahead log grows while traffic is heavy
// before SQLite checkpoints by itself (32 MiB otherwise: see dsn): a burst
// of some 80,000 exchanges of a few kilobytes is written once, and copied
// into the file when it has passed. The log is cut back to 32 MiB after
// that checkpoint.
const busyLog = 256 << 20

// noteWritten counts n exchanges written, for busyRate.
func (w *writer) noteWritten(n int) {
	now := time.Now()
	if now.Sub(w.busyFrom) > time.Second {
		w.busyFrom, w.busyCount = now, 0
	}
	w.busyCount += n
	if w.busyCount >= w.s.opts.busyRate {
		w.busyUntil = now.Add(time.Second)
	}
	w.logLimit(now.Before(w.busyUntil))
}

// logLimit lets the write-ahead log grow to busyLog while traffic is
// heavy, and to 32 MiB otherwise.
func (w *writer) logLimit(busy bool) {
	if busy == w.longLog {
		return
	}
	limit := int64(normalLog)
	if busy {
		limit = busyLog
	}
	if err := w.autoCheckpoint(limit); err != nil {
		w.s.fail(fmt.Errorf("session %s: setting when to checkpoint: %w", w.s.path, explain(err)))
		return
	}
	w.longLog = busy
}

// normalLog is how large the write-ahead log grows before SQLite
// checkpoints by itself, unless traffic is heavy. The writer checkpoints
// when idle long before (checkpointAfter).
const normalLog = 32 << 20

// autoCheckpoint has SQLite checkpoint by itself when the log reaches
// limit bytes.
func (w *writer) autoCheckpoint(limit int64) error {
	_, err := w.conn.ExecContext(background, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", limit/max(w.pageSize, 512)))
	return err
}

// checkpointAfter is how much the writer lets into the write-ahead log
// before it copies the log into the file when idle: about SQLite's own
// default (1000 pages). SQLite does it by itself only past 32 MiB (see
// dsn), in a burst that long.
const checkpointAfter = 8 << 20

// checkpoint copies the write-ahead log into the file, as far as readers
// let it (PASSIVE: it waits for none of them).
func (w *writer) checkpoint() {
	w.logged = 0
	if _, err := w.conn.ExecContext(background, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		w.s.fail(fmt.Errorf("session %s: checkpoint: %w", w.s.path, explain(err)))
	}
}

// write commits one batch, keeps the file within its budget, counts the
// outcome and tells the Flushes it satisfies.
func (w *writer) write(batch []*item) {
	err := w.checkFile()
	gone := err != nil
	var deleted int64
	if err == nil {
		deleted, err = w.commit(batch)
	}
	var afterErr error
	if err == nil && deleted > 0 {
		afterErr = w.vacuum()
	}
	if err == nil && w.s.opts.MaxSize > 0 {
		afterErr = errors.Join(afterErr, w.enforceBudget())
	}
	// Reported before the Flushes return, so that they see it.
	if err := errors.Join(err, afterErr); err != nil {
		w.s.fail(err)
	}
	var cost int64
	var puts uint64
	for _, it := range batch {
		cost += it.cost
		if !it.isDeletion() {
			puts++
		}
	}
	w.mu.Lock()
	w.queued -= cost
	w.done += uint64(len(batch))
	if err != nil {
		w.stats.Failed += puts
		w.gone = w.gone || gone
	} else {
		w.stats.Written += puts
		w.stats.Deleted += uint64(deleted)
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

// yieldEvery is how many exchanges a batch puts before the writer lets
// the proxy's goroutines run (runtime.Gosched). SQLite's work is plain Go
// code that Go preempts only after 10 ms, so a batch of a thousand
// exchanges held the proxy back for as long when it shares one CPU with
// it (GOMAXPROCS=1). Yielding every 8 raised serve's rate with a session
// by about 10 % (wrk pinned as in bench/run, 64 connections, 1 KiB and
// 1 MiB responses), and lowered its CPU per request.
const yieldEvery = 8

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

// commit writes batch in one transaction, in order, and returns how many
// exchanges its deletions deleted. The search index is left for later
// (see index.go): writing stays as cheap as it can be.
func (w *writer) commit(batch []*item) (deleted int64, err error) {
	err = w.transaction(func() error {
		last := w.lastID
		for i, it := range batch {
			if i%yieldEvery == yieldEvery-1 {
				runtime.Gosched()
			}
			if it.isDeletion() {
				n, err := w.remove(it)
				if err != nil {
					return err
				}
				deleted += n
				continue
			}
			if err := w.put(it); err != nil {
				return err
			}
			last = max(last, it.x.ID)
		}
		_, err := w.st.lastID.Exec(strconv.FormatUint(last, 10))
		return err
	}, w.s.opts.wrapCommit)
	if err != nil {
		return 0, w.writeError(batch, err)
	}
	w.backlog = true
	for _, it := range batch {
		w.logged += it.cost
	}
	return deleted, nil
}

// transaction runs fn in an IMMEDIATE transaction on the writer's
// connection and commits it, through wrap when set. It uses the statements
// prepared on the connection as they are: database/sql's Tx would prepare
// them again for each transaction.
func (w *writer) transaction(fn func() error, wrap func(commit func() error) error) (err error) {
	if _, err := w.conn.ExecContext(background, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// After a failed COMMIT the transaction may be over already.
			w.conn.ExecContext(background, "ROLLBACK")
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	commit := func() error {
		_, err := w.conn.ExecContext(background, "COMMIT")
		return err
	}
	if wrap != nil {
		return wrap(commit)
	}
	return commit()
}

// writeError says what a batch that failed did not do.
func (w *writer) writeError(batch []*item, err error) error {
	var puts, dels int
	for _, it := range batch {
		if it.isDeletion() {
			dels++
		} else {
			puts++
		}
	}
	what := fmt.Sprintf("%d exchanges not saved", puts)
	switch {
	case dels > 0 && puts == 0:
		what = "exchanges not deleted"
	case dels > 0:
		what += " and exchanges not deleted"
	}
	return fmt.Errorf("session %s: %s (later ones will be tried): %w", w.s.path, what, explain(err))
}

// put writes one exchange, replacing an earlier version of it, and notes
// it for the index when the index's mark has passed its ID already.
func (w *writer) put(it *item) error {
	x := it.x
	if w.s.opts.Redact != redact.None {
		x = redactExchange(w.s.opts.Redact, x)
	}
	notPersisted := ""
	if it.noBodies {
		x.Marks = append(x.Marks[:len(x.Marks):len(x.Marks)], NotPersisted)
		notPersisted = NotPersisted.Name
	}
	replaced, skip, err := w.clearEarlier(x.ID, x.Version)
	if err != nil || skip {
		return err
	}
	st := &w.st
	size, err := w.putBodies(x.ID, x.Request.Body.Bytes, responseBody(&x))
	if err != nil {
		return err
	}
	for i, m := range x.Messages {
		if _, err := st.insMessage.Exec(int64(x.ID), int64(i), unixNano(m.Time), int64(m.Dir), int64(m.Opcode), m.Size,
			m.Truncated, m.Compressed, int64(m.CloseCode), m.CloseReason, m.Payload); err != nil {
			return err
		}
		size += int64(len(m.Payload)) + 64
	}
	// The index pass adds the index's share to disk_bytes.
	row, rec := exchangeRow(&x, notPersisted, size, w.rec)
	w.rec = rec
	if _, err := st.insExchange.Exec(row...); err != nil {
		return err
	}
	w.lastID = max(w.lastID, x.ID)
	w.written.add(x.ID)
	if x.ID <= w.indexedThrough {
		// Its index row, if it has one, is stale until it is indexed again.
		_, err = st.insUnindexed.Exec(int64(x.ID), replaced)
	}
	return err
}

// putBodies writes the bodies of an exchange that its row does not hold
// (inline), in chunks of ChunkSize, and returns the size of both. Two
// bodies of one chunk each take one statement (insBodies).
func (w *writer) putBodies(id uint64, req []byte, resp *record.Body) (int64, error) {
	var respBytes []byte
	if resp != nil {
		respBytes = resp.Bytes
	}
	size := int64(len(req) + len(respBytes))
	if inline(req) != nil || len(req) == 0 {
		req = nil
	}
	if inline(respBytes) != nil || len(respBytes) == 0 {
		respBytes = nil
	}
	if n, m := len(req), len(respBytes); n > 0 && n <= ChunkSize && m > 0 && m <= ChunkSize {
		_, err := w.st.insBodies.Exec(int64(id), req, respBytes)
		return size, err
	}
	for part, b := range [2][]byte{req, respBytes} {
		for seq, off := 0, 0; off < len(b); seq, off = seq+1, off+ChunkSize {
			chunk := b[off:min(off+ChunkSize, len(b))]
			if _, err := w.st.insBody.Exec(int64(id), int64(part), int64(seq), chunk); err != nil {
				return 0, err
			}
		}
	}
	return size, nil
}

// clearEarlier deletes the bodies and messages of an earlier version of
// exchange id, and says whether there was one (replaced), or whether the
// file holds a later version already (skip: x is not written).
func (w *writer) clearEarlier(id, version uint64) (replaced, skip bool, err error) {
	if w.written.fresh(id) {
		return false, false, nil // new: no earlier version to look for
	}
	var stored int64
	switch err := w.st.version.QueryRow(int64(id)).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
		return false, false, nil
	case err != nil:
		return false, false, err
	case uint64(stored) > version:
		return false, true, nil
	}
	for _, del := range []*sql.Stmt{w.st.delBodies, w.st.delMessages} {
		if _, err := del.Exec(int64(id)); err != nil {
			return false, false, err
		}
	}
	return true, false, nil
}

// idSet is a set of IDs above base, a bit each (writer.written).
type idSet struct {
	base uint64
	bits []uint64
}

// maxIDSet bounds an idSet: 16 Mi IDs in 2 MiB. IDs past it are never
// fresh (put looks them up).
const maxIDSet = 1 << 24

// fresh reports whether id is above base and not in the set.
func (s *idSet) fresh(id uint64) bool {
	if id <= s.base || id-s.base > maxIDSet {
		return false
	}
	i := id - s.base - 1
	return i/64 >= uint64(len(s.bits)) || s.bits[i/64]&(1<<(i%64)) == 0
}

// add puts id in the set (an ID it cannot hold stays out, never fresh).
func (s *idSet) add(id uint64) {
	if id <= s.base || id-s.base > maxIDSet {
		return
	}
	i := id - s.base - 1
	for uint64(len(s.bits)) <= i/64 {
		s.bits = append(s.bits, 0)
	}
	s.bits[i/64] |= 1 << (i % 64)
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

// indexDone tells the Index calls waiting that the backlog is indexed
// (or that indexing failed).
func (w *writer) indexDone() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.indexWaiters {
		close(ch)
	}
	w.indexWaiters = nil
}

// index turns a lazy index on and waits until everything offered before
// the call is written and indexed, the store closes, or ctx ends.
func (w *writer) index(ctx context.Context) error {
	w.lazy.Store(false)
	w.flush()
	ch := make(chan struct{})
	w.mu.Lock()
	w.indexWaiters = append(w.indexWaiters, ch)
	w.mu.Unlock()
	w.signal()
	select {
	case <-ch:
		return nil
	case <-w.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
	return errors.Join(w.st.close(), w.ix.close(), w.conn.Close())
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
	version, delBodies, delMessages  *sql.Stmt
	insBody, insMessage, insExchange *sql.Stmt
	// insBodies writes a request and a response body of a chunk each. A
	// statement of two rows that may fail halfway makes SQLite keep a
	// statement journal (a temporary file it writes each changed page
	// to), which cost more than the statement saved; OR IGNORE cannot
	// fail halfway. There is nothing to ignore: put has deleted any
	// earlier version's bodies.
	insBodies            *sql.Stmt
	lastID, insUnindexed *sql.Stmt
	// Deletions of the exchanges whose IDs a JSON array lists.
	delExchangesIn, delBodiesIn, delMessagesIn, delUnindexedIn *sql.Stmt
	// all are the statements prepared, to close.
	all []*sql.Stmt
}

// prepare prepares every statement on conn.
func (st *statements) prepare(conn *sql.Conn) error {
	var err error
	st.all, err = prepareAll(conn, []prepared{
		{&st.version, "SELECT version FROM exchanges WHERE id = ?"},
		{&st.delBodies, "DELETE FROM bodies WHERE exchange_id = ?"},
		{&st.delMessages, "DELETE FROM messages WHERE exchange_id = ?"},
		{&st.insBodies, "INSERT OR IGNORE INTO bodies (exchange_id, part, seq, data) VALUES (?1, 0, 0, ?2), (?1, 1, 0, ?3)"},
		{&st.insBody, "INSERT INTO bodies (exchange_id, part, seq, data) VALUES (?, ?, ?, ?)"},
		{&st.insMessage, "INSERT INTO messages (exchange_id, seq, time_ns, dir, opcode, size, truncated, compressed, close_code, close_reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		{&st.insExchange, insertExchangeSQL},
		{&st.lastID, "INSERT INTO meta (key, value) VALUES ('last_id', ?1) ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(?1 AS INTEGER))"},
		// An exchange already waiting keeps what it had: stale says
		// whether the index holds a row of it.
		{&st.insUnindexed, "INSERT INTO unindexed (id, stale) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"},
		{&st.delExchangesIn, "DELETE FROM exchanges WHERE id IN (SELECT value FROM json_each(?))"},
		{&st.delBodiesIn, "DELETE FROM bodies WHERE exchange_id IN (SELECT value FROM json_each(?))"},
		{&st.delMessagesIn, "DELETE FROM messages WHERE exchange_id IN (SELECT value FROM json_each(?))"},
		{&st.delUnindexedIn, "DELETE FROM unindexed WHERE id IN (SELECT value FROM json_each(?))"},
	})
	return err
}

func (st *statements) close() error { return closeStmts(st.all...) }

// prepared is a statement to prepare and where to keep it.
type prepared struct {
	s   **sql.Stmt
	sql string
}

// prepareAll prepares each of ps on conn, and returns them all to close
// later, or prepares none.
func prepareAll(conn *sql.Conn, ps []prepared) ([]*sql.Stmt, error) {
	all := make([]*sql.Stmt, 0, len(ps))
	for _, p := range ps {
		s, err := conn.PrepareContext(background, p.sql)
		if err != nil {
			closeStmts(all...)
			for _, p := range ps {
				*p.s = nil
			}
			return nil, err
		}
		*p.s = s
		all = append(all, s)
	}
	return all, nil
}

// closeStmts closes the statements prepared (the others are nil).
func closeStmts(stmts ...*sql.Stmt) error {
	var errs []error
	for _, s := range stmts {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
