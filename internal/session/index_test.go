package session

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// indexGate holds a store's index passes back while it is shut, and
// tells of each pass that ran. A pass held back keeps the writer waiting:
// while the gate is shut, a test may write one more batch and Flush it
// (the pass tried after it waits), not more.
type indexGate struct {
	mu     sync.Mutex
	open   chan struct{} // closed while passes may run
	passes chan struct{} // a value after a pass, when none is waiting
}

// openGated opens a store whose index passes go through a gate, open at
// first, and released before the store closes.
func openGated(t *testing.T, path string, o Options) (*Store, *indexGate) {
	t.Helper()
	g := newIndexGate()
	o.wrapIndex = g.wrap
	s := open(t, path, o)
	t.Cleanup(g.release) // cleanups run last first: before Close
	return s, g
}

// newIndexGate is an open gate.
func newIndexGate() *indexGate {
	g := &indexGate{open: make(chan struct{}), passes: make(chan struct{}, 1)}
	close(g.open)
	return g
}

// shut holds the next passes back; the writer must be idle.
func (g *indexGate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *indexGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// wrap is Options.wrapIndex.
func (g *indexGate) wrap(pass func() error) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
	err := pass()
	select {
	case g.passes <- struct{}{}:
	default:
	}
	return err
}

// waitIndexed waits until the store's backlog is indexed.
func waitIndexed(t *testing.T, s *Store, g *indexGate) {
	t.Helper()
	for backlog(t, s) > 0 {
		within(t, g.passes, "an index pass")
	}
}

// backlog is how many exchanges of the file wait to be indexed.
func backlog(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	err := s.rdb.QueryRow(`SELECT (SELECT count(*) FROM unindexed) + (SELECT count(*) FROM exchanges
		WHERE id > coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_through'), 0))`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// indexHits are the IDs the index alone finds for text (stale rows
// included): what is indexed, apart from what Search adds.
func indexHits(t *testing.T, s *Store, text string) []uint64 {
	t.Helper()
	ids, err := scanIDs(s.rdb.Query(`SELECT rowid FROM search WHERE search MATCH ? ORDER BY rowid`, `"`+text+`"`))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestIndexingWaitsUntilTheQueueIsEmpty(t *testing.T) {
	const n = 2*indexPassCount + indexPassCount/2 // three index passes
	var (
		mu     sync.Mutex
		events []string
		s      *Store
	)
	logEvent := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	entered, stuck := make(chan struct{}), make(chan struct{})
	unstick := sync.OnceFunc(func() { close(stuck) })
	firstCommit, firstPass := sync.OnceFunc(func() { close(entered); <-stuck }), sync.OnceFunc(func() {
		// Traffic again, during the first pass.
		s.Offer(exchange(n+1, []byte("burst after")))
	})
	g := newIndexGate() // never shut
	s = open(t, newPath(t), Options{BatchSize: 1, BatchDelay: time.Hour,
		// Events are logged before what they do can be seen.
		wrapCommit: func(commit func() error) error {
			firstCommit()
			logEvent("commit")
			return commit()
		},
		wrapIndex: func(pass func() error) error {
			if q := s.Stats().Queued; q > 0 {
				t.Errorf("an index pass began with %d exchanges queued", q)
			}
			logEvent("index")
			err := g.wrap(pass)
			firstPass()
			return err
		},
	})
	t.Cleanup(unstick)
	s.Offer(exchange(1, []byte("burst 1")))
	within(t, entered, "the first commit")
	// The disk is stuck in that commit while the rest arrive: from now on
	// the queue is not empty until the last is written.
	for id := uint64(2); id <= n; id++ {
		s.Offer(exchange(id, fmt.Appendf(nil, "burst %d", id)))
	}
	unstick()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s, g)

	mu.Lock()
	got := strings.Join(events, " ")
	mu.Unlock()
	// Then the exchange offered during the first pass is written before
	// the second.
	want := strings.Repeat("commit ", n) + "index commit index index"
	if !strings.HasPrefix(got, want) || strings.Contains(got[len(want):], "commit") {
		t.Errorf("events %s\nwant   %s (then index passes only)", got, want)
	}
	if hits := indexHits(t, s, "burst"); len(hits) != n+1 {
		t.Errorf("the index holds %d exchanges, want %d", len(hits), n+1)
	}
	s.Close() // the counters are final
	if st := s.Stats(); st.Indexed != n+1 || st.Written != n+1 {
		t.Errorf("stats %+v", st)
	}
}

func TestReindexWrittenAgain(t *testing.T) {
	s, g := openGated(t, newPath(t), Options{})
	put := func(id, version uint64, text string) {
		t.Helper()
		x := exchange(id, []byte(text+" body"))
		x.Version = version
		s.Offer(x)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	search := func(text string, want ...uint64) {
		t.Helper()
		if got, err := s.Search(text, 0); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Search(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	index := func(text string, want ...uint64) {
		t.Helper()
		if got := indexHits(t, s, text); !reflect.DeepEqual(got, want) {
			t.Errorf("the index finds %q in %v, want %v", text, got, want)
		}
	}
	put(1, 3, "three")
	put(2, 3, "second")
	put(4, 3, "fourth") // #3 is still in flight
	waitIndexed(t, s, g)
	index("three", 1)

	// Written again: until it is indexed again, its index row is stale,
	// and Search reads the exchange instead.
	g.shut()
	put(1, 5, "five")
	if n := backlog(t, s); n != 1 {
		t.Errorf("backlog %d, want 1", n)
	}
	index("three", 1)
	search("three")
	search("five", 1)
	g.release()
	waitIndexed(t, s, g)
	index("three")
	index("five", 1)
	search("five", 1)

	// Finished late, after the index had passed its ID.
	g.shut()
	put(3, 3, "late")
	search("late", 3)
	index("late")
	g.release()
	waitIndexed(t, s, g)
	index("late", 3)
	search("body", 1, 2, 3, 4)
	s.Close() // the counters are final
	if st := s.Stats(); st.Indexed != 5 {
		t.Errorf("indexed %d times, want 5: %+v", st.Indexed, st)
	}
}

func TestCloseLeavesTheBacklogToTheNextWriter(t *testing.T) {
	for _, c := range []struct {
		name      string
		closeFor  time.Duration
		wantAfter int
	}{{"not indexing at Close", -1, 30}, {"indexing all at Close", time.Hour, 0}} {
		t.Run(c.name, func(t *testing.T) {
			path := newPath(t)
			// No index pass before Close: the queue is written at Close,
			// the writer's first idle moment.
			s, err := Open(path, Options{BatchSize: 1000, BatchDelay: time.Hour, closeIndexing: c.closeFor})
			if err != nil {
				t.Fatal(err)
			}
			for id := uint64(1); id <= 30; id++ {
				text := "hay"
				if id%12 == 7 {
					text = "needle"
				}
				s.Offer(exchange(id, []byte(text)))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			r := open(t, path, Options{ReadOnly: true})
			if n := backlog(t, r); n != c.wantAfter {
				t.Fatalf("backlog %d after Close, want %d", n, c.wantAfter)
			}
			if ids, err := r.Search("needle", 0); err != nil || !reflect.DeepEqual(ids, []uint64{7, 19}) {
				t.Errorf("read-only Search = %v, %v", ids, err)
			}

			w, g := openGated(t, path, Options{})
			waitIndexed(t, w, g)
			if ids := indexHits(t, w, "needle"); !reflect.DeepEqual(ids, []uint64{7, 19}) {
				t.Errorf("the next writer indexed %v", ids)
			}
		})
	}
}

func TestUpgradeFromVersion1(t *testing.T) {
	path := newPath(t)
	// A version 1 file: version 1 indexed each exchange as it wrote it.
	var xs []record.Exchange
	for id := uint64(1); id <= 5; id++ {
		xs = append(xs, exchange(id, fmt.Appendf(nil, "version one #%d", id)))
	}
	writeOldSession(t, path, 1, xs)

	// Read-only, it is read as it is: search goes through its index.
	r := open(t, path, Options{ReadOnly: true})
	if ids, err := r.Search("version", 0); err != nil || !reflect.DeepEqual(ids, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("read-only: Search = %v, %v", ids, err)
	}
	if ids, err := r.Search("one #3", 0, FieldResponse); err != nil || !reflect.DeepEqual(ids, []uint64{3}) {
		t.Errorf("read-only: Search in a field = %v, %v", ids, err)
	}
	r.Close()
	if v := userVersion(t, path); v != 1 {
		t.Fatalf("a read-only open changed the file to version %d", v)
	}

	s, g := openGated(t, path, Options{})
	if v := userVersion(t, path); v != FormatVersion {
		t.Fatalf("upgraded to version %d", v)
	}
	if n := backlog(t, s); n != 0 {
		t.Errorf("the upgrade left %d exchanges to index, want none", n)
	}
	s.Offer(exchange(6, []byte("version two")))
	s.Flush()
	if ids, err := s.Search("version", 0); err != nil || !reflect.DeepEqual(ids, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("Search = %v, %v", ids, err)
	}
	waitIndexed(t, s, g)
	if ids := indexHits(t, s, "version"); !reflect.DeepEqual(ids, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("indexed %v", ids)
	}
}

func TestIndexErrorReported(t *testing.T) {
	injected := errors.New("injected index failure")
	errs := make(chan error, 10)
	s := open(t, newPath(t), Options{
		OnError:   func(err error) { errs <- err },
		wrapIndex: func(func() error) error { return injected },
	})
	s.Offer(exchange(1, []byte("still found")))
	s.Flush()
	err := within(t, errs, "the index error")
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "indexing for search") {
		t.Errorf("reported %v", err)
	}
	if ids, err := s.Search("still found", 0); err != nil || len(ids) != 1 {
		t.Errorf("Search = %v, %v", ids, err)
	}
}

func TestLazyIndex(t *testing.T) {
	var passes atomic.Int32
	count := func(pass func() error) error { passes.Add(1); return pass() }
	xs := searchExchanges(t)
	write := func(s *Store) {
		for _, x := range xs {
			s.Offer(x)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	// Nobody searches: nothing is indexed, not even as the store closes.
	path := newPath(t)
	s := open(t, path, Options{LazyIndex: true, wrapIndex: count})
	write(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := passes.Load(); n != 0 {
		t.Errorf("%d index passes before any search", n)
	}
	s = open(t, path, Options{ReadOnly: true})
	if n := backlog(t, s); n != len(xs) {
		t.Errorf("backlog %d, want %d", n, len(xs))
	}
	searchCases(t, s) // a reader finds the same

	// The first search finds the same as the index would, and turns
	// indexing on; Index waits for it to finish.
	s = open(t, newPath(t), Options{LazyIndex: true, wrapIndex: count})
	write(s)
	if n := s.Stats().Indexed; n != 0 {
		t.Errorf("%d indexed before any search", n)
	}
	searchCases(t, s)
	if err := s.Index(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, s); n != 0 || s.Stats().Indexed != uint64(len(xs)) {
		t.Fatalf("backlog %d after Index, %d indexed", n, s.Stats().Indexed)
	}
	if hits := indexHits(t, s, "zanzibar"); len(hits) != 5 {
		t.Fatalf("the index finds %v", hits)
	}
	searchCases(t, s)

	// Index alone turns it on too, and waits for what was offered.
	s = open(t, newPath(t), Options{LazyIndex: true})
	for _, x := range xs {
		s.Offer(x)
	}
	if err := s.Index(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, s); n != 0 {
		t.Fatalf("backlog %d after Index", n)
	}
	searchCases(t, s)
}
