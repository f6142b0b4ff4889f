// Package session keeps exchanges in a session file on disk: an SQLite
// database (modernc.org/sqlite, pure Go, so builds stay CGO_ENABLED=0) that
// holds every finished exchange with its bodies as captured, its messages
// and a search index, within a disk budget. The format is described in
// docs/session-format.md.
//
// A Store opened for writing is a record.Sink: the recorder offers it each
// exchange as it finishes, and Offer queues it for one writer goroutine
// without waiting. The writer commits in batches, and fills the search
// index only when its queue is empty (index.go), or, with
// Options.LazyIndex, only once someone searches. When the disk falls
// behind and the queue reaches its byte budget, bodies are the first thing
// not persisted (the stored exchange carries a mark saying so), then whole
// exchanges are counted as dropped; the proxy is never slowed.
//
// One process writes a session file at a time: a lock file beside it names
// the holder, so a second writer fails with a message saying who. Any
// number of processes may open it read-only, also while it is written.
package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Defaults for Options.
const (
	DefaultQueueBytes = 64 << 20
	DefaultBatchSize  = 256
	DefaultBatchDelay = 100 * time.Millisecond
	DefaultIndexMax   = 1 << 20
	// MinMaxSize is the smallest disk budget: an empty session (schema
	// and index) takes about 230 KiB.
	MinMaxSize = 1 << 20
	// ChunkSize is the most body bytes one row of the bodies table holds: a
	// body up to this size is one row, a larger one is split into rows of
	// this size (see docs/session-format.md).
	ChunkSize = 64 << 10
)

// pageSize is the page size of a new file: larger pages take fewer calls
// into the file system to write (two for each page of the write-ahead
// log, two more to copy it into the file), which were a quarter of the
// writer's time with 8 KiB pages; 16 KiB pages cut the writer's CPU by
// about 7 %. SQLite suggests 8 or 16 KiB pages for files of large blobs.
// A file keeps the page size it was made with.
const pageSize = 16 << 10

// Options configure a Store. Zero fields take the defaults.
type Options struct {
	// ReadOnly opens an existing session file for reading only: no lock is
	// taken, nothing is written, Offer refuses every exchange. Another
	// process may be writing the file meanwhile.
	ReadOnly bool
	// MaxSize is the disk budget in bytes for the database file (its
	// pages in use; the write-ahead log beside it comes on top: up to 32
	// MiB, 256 MiB during heavy traffic, cut back to 32 MiB after each
	// checkpoint). When a commit takes the file past it, the
	// oldest exchanges are deleted in batches until it is back under 90 %
	// of it, and OnEvict is told. 0 means no budget; a budget under
	// MinMaxSize is taken as MinMaxSize.
	MaxSize int64
	// QueueBytes bounds the memory the writer's queue holds: the body and
	// message bytes of the exchanges waiting to be written, plus an
	// estimate of the rest of each. Default DefaultQueueBytes (64 MiB).
	QueueBytes int64
	// BatchSize is how many exchanges one transaction writes at most; a
	// batch is written as soon as this many are waiting. Default 256.
	// While traffic is heavy (over 2,000 exchanges a second), batches are
	// four times as large.
	BatchSize int
	// BatchDelay is the longest an exchange waits in the queue for its
	// batch to fill before it is written anyway. Default 100 ms. A crash
	// of the process loses what was queued: while the disk keeps up, the
	// exchanges of about this long.
	BatchDelay time.Duration
	// IndexMax caps the decoded text of each body (and of all of an
	// exchange's text messages together) that goes into the search index.
	// Default DefaultIndexMax (1 MiB); negative indexes no bodies.
	IndexMax int64
	// LazyIndex leaves the search index alone until the store is first
	// searched (Search) or asked to index (Index): until then the writer
	// only writes, and Close does not index either. Indexing costs about
	// twice what writing does, so a session that may never be searched
	// (a temporary one) should not pay it. Searches find the same
	// exchanges either way: those not indexed yet are read one by one,
	// so the first search of a long session takes longer, and the writer
	// indexes the backlog when idle from then on.
	LazyIndex bool
	// Redact hides secrets before they reach the disk, at the redact
	// package's levels; "" or redact.None (the default) keeps everything as
	// captured. A redacted exchange's bodies are stored with their
	// Content-Encoding undone (BodiesDecoded), as a HAR import's are.
	Redact redact.Level
	// Command describes this process in the lock file, for the message a
	// second writer gets. Default: the command line.
	Command string
	// OnError is called once, from the writer goroutine, with the first
	// write error (disk full, file removed). It must not block. Err
	// returns the same error.
	OnError func(error)
	// OnEvict is called from the writer goroutine each time the disk
	// budget made the store delete exchanges. It must not block.
	OnEvict func(Eviction)

	// wrapCommit, when set, is called with each batch's commit and
	// returns its error: tests use it to stand in for a slow or failing
	// disk.
	wrapCommit func(commit func() error) error
	// wrapIndex, when set, is called with each index pass (see index.go)
	// and returns its error: tests use it to hold indexing back and to
	// see it run. Without a call to pass, the backlog waits for the next
	// commit.
	wrapIndex func(pass func() error) error
	// closeIndexing is how long Close goes on indexing the backlog:
	// default closeIndexTime, negative not at all.
	closeIndexing time.Duration
	// busyRate is the rate of exchanges a second at which traffic counts
	// as heavy: default busyRate (writer.go).
	busyRate int
}

func (o Options) withDefaults() Options {
	if o.MaxSize > 0 && o.MaxSize < MinMaxSize {
		o.MaxSize = MinMaxSize
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.IndexMax == 0 {
		o.IndexMax = DefaultIndexMax
	}
	if o.Redact == "" {
		o.Redact = redact.None
	}
	if o.closeIndexing == 0 {
		o.closeIndexing = closeIndexTime
	}
	if o.busyRate <= 0 {
		o.busyRate = busyRate
	}
	return o
}

// Stats are a store's counters since it was opened.
type Stats struct {
	Queued      int    // exchanges waiting to be written
	QueuedBytes int64  // their cost against Options.QueueBytes
	Written     uint64 // exchanges committed to the file
	// BodiesDropped counts exchanges stored without their bodies and
	// message payloads because the queue was over its budget.
	BodiesDropped uint64
	// Dropped counts exchanges not stored at all: the queue was over its
	// budget even without bodies, or the store was closed, or its file
	// removed.
	Dropped uint64
	// Failed counts exchanges lost to write errors.
	Failed  uint64
	Evicted uint64 // exchanges deleted to keep within MaxSize
	Deleted uint64 // exchanges deleted by Delete and Clear
	Batches uint64 // batches of exchanges committed
	// Indexed counts exchanges added to the search index, which happens
	// when the writer is idle; Search finds the others all the same.
	Indexed uint64
}

// Store is a session file opened for writing (a record.Sink) or for
// reading. Its methods are safe for concurrent use.
type Store struct {
	path string
	opts Options
	// rdb reads, through read-only connections. wdb is the writer's pool
	// of one connection; nil when read-only.
	rdb, wdb *sql.DB
	lock     *lockFile
	opened   os.FileInfo // the file as opened, to notice its removal
	w        *writer
	// version is the file's format version: FormatVersion for a writer
	// (it upgrades the file), the file's own for a read-only store, which
	// reads it with lay.
	version int
	lay     *layout

	mu       sync.Mutex
	err      error // first write error
	closed   bool
	closeErr error
}

// ErrClosed is returned by reads after Close.
var ErrClosed = errors.New("session: store is closed")

// ErrNotFound is returned for an exchange the file does not hold.
var ErrNotFound = errors.New("session: no such exchange")

// Open opens the session file at path, creating it (mode 0600) when it does
// not exist, unless opts.ReadOnly. A file written by an older devproxy is
// upgraded in place; one from a newer devproxy, or a file that is not a
// session, is refused with a *FormatError. When another process writes the
// file, Open for writing fails with a *LockedError naming it.
func Open(path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open session %s: %w", path, err)
	}
	s := &Store{path: abs, opts: opts.withDefaults()}
	if s.opts.ReadOnly {
		err = s.openReadOnly()
	} else {
		err = s.openWriter()
	}
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("open session %s: %w", path, err)
	}
	return s, nil
}

// openReadOnly opens the reading pool on an existing file and checks its
// format.
func (s *Store) openReadOnly() error {
	if _, err := os.Stat(s.path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", dsn(s.path, true))
	if err != nil {
		return err
	}
	s.rdb = db
	db.SetMaxOpenConns(4)
	s.version, err = checkReadable(db)
	s.lay = layoutOf(s.version)
	return err
}

// openWriter takes the lock, creates or upgrades the schema, opens the
// reading pool and starts the writer.
func (s *Store) openWriter() error {
	if _, err := os.Stat(filepath.Dir(s.path)); err != nil {
		return err
	}
	lock, err := acquireLock(s.path+".lock", s.opts.Command)
	if err != nil {
		return err
	}
	s.lock = lock
	st, err := createFile(s.path)
	if err != nil {
		return err
	}
	s.opened = st
	if st.Size() > 0 {
		// Look before opening for writing, which would turn another
		// application's database to WAL mode before migrate refuses it.
		if err := probe(s.path); err != nil {
			return err
		}
	}
	wdb, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return err
	}
	s.wdb = wdb
	wdb.SetMaxOpenConns(1)
	if err := migrate(wdb); err != nil {
		return err
	}
	s.version, s.lay = current(), layoutOf(current())
	rdb, err := sql.Open("sqlite", dsn(s.path, true))
	if err != nil {
		return err
	}
	s.rdb = rdb
	rdb.SetMaxOpenConns(4)
	w, err := newWriter(s)
	if err != nil {
		return explain(err)
	}
	s.w = w
	go w.run()
	return nil
}

// createFile creates the file at path with mode 0600 unless it exists
// (SQLite would create it 0644; its -wal and -shm files take the mode of
// the file), and describes it. An existing file is only looked at: closing
// a descriptor of a file that SQLite has open elsewhere in the process
// would drop SQLite's locks on it (POSIX locks belong to the process).
func createFile(path string) (os.FileInfo, error) {
	st, err := os.Stat(path)
	if !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	st, err = f.Stat()
	return st, errors.Join(err, f.Close())
}

// probe refuses a file that is not a session of this or an older format,
// read through a read-only connection. Other errors are left for the
// writer's connection, which can do more (recover the log of a writer
// that crashed), to meet and report.
func probe(path string) error {
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return formatOnly(explain(err))
	}
	defer tx.Rollback()
	app, version, tables, err := readHeader(tx)
	if err != nil {
		return formatOnly(err)
	}
	return checkHeader(app, version, tables, true)
}

// formatOnly is err when it is a *FormatError, else nil.
func formatOnly(err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	return nil
}

// dsn is the driver's name for the file: WAL with synchronous=NORMAL (a
// crash loses at most the last commits, never the file), IMMEDIATE write
// transactions so that a busy file waits in busy_timeout rather than
// failing on upgrade, pageSize pages, and no trust in the file's schema (a
// session may come from someone else). migrate turns on incremental vacuum
// in a new file.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "trusted_schema(OFF)")
	q.Set("_defensive", "1")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", fmt.Sprintf("page_size(%d)", pageSize)) // before WAL mode fixes it

		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Add("_pragma", "journal_size_limit(33554432)")
		// Checkpoints wait for the writer to be idle (see
		// writer.checkpoint), but not past 32 MiB of pages: the writer
		// sets wal_autocheckpoint to the pages of normalLog.
		q.Set("_txlock", "immediate")
	}
	return fileURI(path, q)
}

// fileURI is the driver's name for the file at path with the parameters q.
func fileURI(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if u.Path != "" && u.Path[0] != '/' {
		u.Path = "/" + u.Path // a Windows drive letter: file:///C:/...
	}
	return u.String()
}

// dropLog has SQLite remove an empty write-ahead log and its index beside
// the file at path, unless another connection, in any process, still has
// the file open. Opening a WAL file read-only creates both (SQLite needs
// the index to read the log), but a read-only connection cannot remove
// them as it closes: that takes an exclusive lock on the file, which
// needs it open for writing. So a read-only store, as it closes, opens
// one connection for writing, reads the schema and closes it: if it is
// the last connection to the file, SQLite checkpoints the log (empty:
// nothing to copy) and removes both files, as a writer's last connection
// does; if another reader or a writer has the file open, its lock keeps
// them, and the last to close removes them. A log with commits in it (of
// a writer that crashed) is left for the next writer, so that a read-only
// open never writes to the file; so is a file that cannot be opened for
// writing.
//
// immutable=1 would keep a read-only open from making the files at all,
// but SQLite then reads the file with no locks and ignores the log: it
// would miss commits of a writer that crashed, and read pages a writer
// that starts later changes under it.
func dropLog(path string) {
	if st, err := os.Lstat(path + "-wal"); err == nil && st.Size() > 0 || err != nil && !exists(path+"-shm") {
		return
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "trusted_schema(OFF)")
	q.Set("_defensive", "1")
	q.Set("mode", "rw") // never creates the file
	db, err := sql.Open("sqlite", fileURI(path, q))
	if err != nil {
		return
	}
	defer db.Close()
	var n int
	_ = db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n)
}

// exists reports whether a file is at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Path is the session file's absolute path.
func (s *Store) Path() string { return s.path }

// ReadOnly reports whether the store was opened read-only.
func (s *Store) ReadOnly() bool { return s.wdb == nil }

// Stats returns the store's counters (zero when read-only).
func (s *Store) Stats() Stats {
	if s.w == nil {
		return Stats{}
	}
	return s.w.counters()
}

// Err returns the first write error, or nil. The store goes on after it
// (see Offer), so it is a report, not a state.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fail records a write error and reports it once.
func (s *Store) fail(err error) {
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = err
	}
	s.mu.Unlock()
	if first && s.opts.OnError != nil {
		s.opts.OnError(err)
	}
}

// Flush waits until every exchange offered before the call is written (or
// failed), and returns Err. It is for shutdown, tests and a viewer that
// wants to see what was just recorded; never call it on the proxy's path.
func (s *Store) Flush() error {
	if s.w != nil {
		s.w.flush()
	}
	return s.Err()
}

// Index has a store with a lazy index (Options.LazyIndex) index from now
// on, and waits until every exchange offered before the call is written
// and indexed, the store closes, or ctx ends (its error is returned; the
// writer goes on indexing when idle). Use it before closing a session
// that will be kept and read later: a read-only reader cannot index it,
// and would read every exchange not indexed for each search. A store
// that is not lazy waits the same way.
func (s *Store) Index(ctx context.Context) error {
	if s.w == nil {
		return nil
	}
	return s.w.index(ctx)
}

// Close writes what is queued, stops the writer, closes the file and
// releases the lock. Later Offers are refused and reads return ErrClosed.
// Close returns an error only when closing itself failed; write errors
// were reported through OnError and Err.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	if s.w != nil {
		s.w.stop()
	}
	err := s.closeAll()
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}

// closeAll closes what Open opened, readers before the writer: the last
// connection to close folds the write-ahead log back into the file.
func (s *Store) closeAll() error {
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.rdb != nil && s.wdb == nil {
		dropLog(s.path) // read-only
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.release())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close session %s: %w", s.path, err)
	}
	return nil
}

// reader returns the reading pool, or ErrClosed.
func (s *Store) reader() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.rdb, nil
}

// snapshot begins a read transaction on the reader pool: what it reads
// comes from one state of the file, whatever the writer commits meanwhile.
// The caller rolls it back when done.
func (s *Store) snapshot() (*sql.Tx, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	tx, err := db.Begin()
	if err != nil {
		return nil, s.readError(err)
	}
	return tx, nil
}

// A Store is the recorder's sink to disk.
var _ record.Sink = (*Store)(nil)

// background is the context of the store's own statements: they are
// short and never canceled.
var background = context.Background()
