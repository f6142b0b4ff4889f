package session

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// rowsOf counts the rows the file holds of exchange id in each table
// beside the search index.
func rowsOf(t *testing.T, s *Store, id uint64) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table, col := range map[string]string{"exchanges": "id", "bodies": "exchange_id", "messages": "exchange_id", "unindexed": "id"} {
		var n int
		if err := s.rdb.QueryRow(fmt.Sprintf("SELECT count(*) FROM %s WHERE %s = ?", table, col), int64(id)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out[table] = n
		}
	}
	return out
}

// checkIndex runs FTS5's integrity check of the search index.
func checkIndex(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.w.conn.ExecContext(background, "INSERT INTO search (search, rank) VALUES ('integrity-check', 0)"); err != nil {
		t.Errorf("search index: %v", err)
	}
}

func TestDeleteQueuedIndexedAndLate(t *testing.T) {
	var (
		skipIndex atomic.Bool                   // index passes do nothing while set
		hold      atomic.Pointer[chan struct{}] // the next commit waits for it to close
		entered   = make(chan struct{}, 1)
	)
	s := open(t, newPath(t), Options{BatchSize: 4,
		wrapIndex: func(pass func() error) error {
			if skipIndex.Load() {
				return nil // the backlog waits for the next commit
			}
			return pass()
		},
		wrapCommit: func(commit func() error) error {
			if ch := hold.Swap(nil); ch != nil {
				entered <- struct{}{}
				<-*ch
			}
			return commit()
		}})
	indexed := func() {
		t.Helper()
		s.Offer(exchange(1000, nil)) // a commit, for the passes to follow
		s.Flush()
		eventually(t, "the backlog indexed", func() bool { return backlog(t, s) == 0 })
	}
	text := func(id uint64, v string) record.Exchange {
		x := rich(id, 100, 100)
		x.Version = 1
		x.Response.Body.Bytes = fmt.Appendf(nil, "needle %d %s", id, v)
		return x
	}
	// 1–6 written and indexed.
	for id := uint64(1); id <= 6; id++ {
		s.Offer(text(id, "one"))
	}
	indexed()
	// 2 written again: the index's row of it is stale.
	skipIndex.Store(true)
	late := text(2, "two")
	late.Version = 2
	s.Offer(late)
	s.Flush()
	if n := rowsOf(t, s, 2)["unindexed"]; n != 1 {
		t.Fatalf("the late version is not in unindexed: %d", n)
	}
	// 7–9 offered and, while the commit of 7 is held, deleted with 1, 2
	// and an ID never written.
	release := make(chan struct{})
	hold.Store(&release)
	s.Offer(text(7, "one"))
	within(t, entered, "the commit of #7")
	for id := uint64(8); id <= 9; id++ {
		s.Offer(text(id, "one"))
	}
	if err := s.Delete(8, 1, 2, 1001); err != nil {
		t.Fatal(err)
	}
	s.Offer(text(10, "one"))
	close(release)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2, 8} {
		if rows := rowsOf(t, s, id); len(rows) > 0 {
			t.Errorf("#%d: rows left %v", id, rows)
		}
		if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d) = %v", id, err)
		}
	}
	want := []uint64{3, 4, 5, 6, 7, 9, 10}
	if ids, err := s.Search("needle", 0); err != nil || !reflect.DeepEqual(ids, want) {
		t.Errorf("Search = %v, %v", ids, err)
	}
	skipIndex.Store(false)
	indexed()
	if ids := indexHits(t, s, "needle"); !reflect.DeepEqual(ids, want) {
		t.Errorf("indexed %v", ids)
	}
	checkIndex(t, s)
	if st := s.Stats(); st.Deleted != 3 || st.Written != 13 {
		t.Errorf("stats %+v", st)
	}
	// A later version of a deleted exchange is written anew.
	again := text(8, "three")
	again.Version = 3
	s.Offer(again)
	s.Flush()
	if ids, err := s.Search("needle 8 three", 0); err != nil || !reflect.DeepEqual(ids, []uint64{8}) {
		t.Errorf("Search(the new #8) = %v, %v", ids, err)
	}
}

func TestClear(t *testing.T) {
	path := newPath(t)
	s, g := openGated(t, path, Options{})
	for id := uint64(1); id <= 50; id++ {
		s.Offer(rich(id, 2*ChunkSize, 100))
	}
	s.Flush()
	waitIndexed(t, s, g)
	pages := func() (n int64) {
		if err := s.rdb.QueryRow("PRAGMA page_count").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := pages()
	if err := errors.Join(s.Clear(), s.Flush()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(); err != nil || n != 0 {
		t.Errorf("Count = %d, %v", n, err)
	}
	for _, table := range []string{"bodies", "messages", "unindexed"} {
		var n int
		if err := s.rdb.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows, %v", table, n, err)
		}
	}
	if ids := indexHits(t, s, "api.example"); len(ids) != 0 {
		t.Errorf("the index still finds %v", ids)
	}
	checkIndex(t, s)
	if after := pages(); after > before/4 {
		t.Errorf("the file kept %d of its %d pages", after, before)
	}
	if id, err := s.MaxID(); err != nil || id != 50 {
		t.Errorf("MaxID = %d, %v; IDs must go on", id, err)
	}
	s.Offer(rich(51, 10, 10))
	s.Flush()
	if ids, err := s.Search("api.example", 0); err != nil || !reflect.DeepEqual(ids, []uint64{51}) {
		t.Errorf("Search after Clear = %v, %v", ids, err)
	}
	if st := s.Stats(); st.Deleted != 50 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeleteNeedsTheWriter(t *testing.T) {
	path := newPath(t)
	w := open(t, path, Options{})
	w.Offer(exchange(1, nil))
	w.Flush()
	r := open(t, path, Options{ReadOnly: true})
	for _, err := range []error{r.Delete(1), r.Clear()} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("read-only: %v", err)
		}
	}
	w.Close()
	r.Close()
	for _, s := range []*Store{w, r} {
		if err := s.Delete(1); !errors.Is(err, ErrClosed) {
			t.Errorf("closed: %v", err)
		}
	}
	if n, err := open(t, path, Options{ReadOnly: true}).Count(); err != nil || n != 1 {
		t.Errorf("Count = %d, %v", n, err)
	}
}

func TestDeleteFailureReported(t *testing.T) {
	errs := make(chan error, 10)
	injected := errors.New("injected")
	var fail atomic.Bool
	s := open(t, newPath(t), Options{OnError: func(err error) { errs <- err }, BatchDelay: time.Hour,
		wrapCommit: func(commit func() error) error {
			if fail.Load() {
				return injected
			}
			return commit()
		}})
	s.Offer(exchange(1, nil))
	s.Flush()
	fail.Store(true)
	s.Delete(1)
	s.Flush()
	if err := within(t, errs, "the error"); !errors.Is(err, injected) || !containsAll(err.Error(), "exchanges not deleted") {
		t.Errorf("reported %v", err)
	}
	if st := s.Stats(); st.Failed != 0 || st.Deleted != 0 {
		t.Errorf("stats %+v", st)
	}
	if n, _ := s.Count(); n != 1 {
		t.Errorf("Count = %d after a failed deletion", n)
	}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
