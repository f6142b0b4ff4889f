package session

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// within fails the test when ch does not deliver in time: waits in these
// tests are for conditions, and the limit only keeps a broken test from
// hanging.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestSlowDiskDropsBodiesFirstThenExchanges(t *testing.T) {
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	body := pattern(10 << 10)
	x := exchange(1, body)
	meta, full := metaCost(&x), metaCost(&x)+bodyCost(&x)
	// Room for the exchange being written, three more whole, and three
	// more without bodies.
	budget := 4*full + 3*meta
	s := open(t, newPath(t), Options{
		QueueBytes: budget, BatchSize: 1, BatchDelay: time.Hour,
		wrapCommit: func(commit func() error) error {
			entered <- struct{}{}
			<-release
			return commit()
		},
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)

	if !s.Offer(exchange(1, body)) {
		t.Fatal("first Offer refused")
	}
	within(t, entered, "the first commit")
	// The disk is stuck in that commit: every Offer must still return at
	// once.
	accepted := make(chan []bool, 1)
	go func() {
		var got []bool
		for id := uint64(2); id <= 20; id++ {
			got = append(got, s.Offer(exchange(id, body)))
			if q := s.Stats().QueuedBytes; q > budget {
				panic(fmt.Sprintf("queue holds %d bytes, budget %d", q, budget))
			}
		}
		accepted <- got
	}()
	got := within(t, accepted, "Offer while the disk is stuck (Offer blocked)")
	for i, ok := range got {
		if id := i + 2; ok != (id <= 7) {
			t.Errorf("Offer(#%d) = %v", id, ok)
		}
	}
	st := s.Stats()
	if st.BodiesDropped != 3 || st.Dropped != 13 || st.Queued != 6 {
		t.Errorf("stats while stuck: %+v", st)
	}
	unblock()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 20; id++ {
		x, err := s.Load(id)
		switch {
		case id <= 4:
			if err != nil || len(x.Response.Body.Bytes) != len(body) {
				t.Errorf("#%d: want the whole body: %v", id, err)
			}
			if _, ok := x.Mark(NotPersisted.Name); ok {
				t.Errorf("#%d marked %s", id, NotPersisted)
			}
		case id <= 7:
			if err != nil {
				t.Fatalf("#%d: %v", id, err)
			}
			if _, ok := x.Mark(NotPersisted.Name); !ok || x.Response.Body.Bytes != nil ||
				x.Response.Body.Size != int64(len(body)) || !x.Response.Body.Truncated {
				t.Errorf("#%d: want metadata without body, marked: marks %v, body %d bytes of %d, truncated %v",
					id, x.Marks, len(x.Response.Body.Bytes), x.Response.Body.Size, x.Response.Body.Truncated)
			}
		default:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("#%d: want it dropped, got %v", id, err)
			}
		}
	}
	if st := s.Stats(); st.Written != 7 || st.QueuedBytes != 0 || st.Batches != 7 {
		t.Errorf("stats after: %+v", st)
	}
	if got := NotPersisted.String(); got != "session: body not persisted: disk behind" {
		t.Errorf("the mark reads %q", got)
	}
}

func TestWriteErrorReportedOnceAndRecordingGoesOn(t *testing.T) {
	injected := fmt.Errorf("injected: %w", syscall.ENOSPC)
	var failing atomic.Bool
	failing.Store(true)
	var reports atomic.Int32
	s := open(t, newPath(t), Options{
		OnError: func(error) { reports.Add(1) },
		wrapCommit: func(commit func() error) error {
			if failing.Load() {
				return injected
			}
			return commit()
		},
	})
	for id := uint64(1); id <= 3; id++ {
		if !s.Offer(exchange(id, []byte("lost"))) {
			t.Fatal("Offer refused after a write error")
		}
		s.Flush()
	}
	err := s.Err()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), "1 exchanges not saved") {
		t.Errorf("Err() = %v", err)
	}
	failing.Store(false)
	s.Offer(exchange(4, []byte("saved")))
	if err := s.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Flush = %v: the first error stays reported", err)
	}
	if n := reports.Load(); n != 1 {
		t.Errorf("OnError called %d times, want once", n)
	}
	if st := s.Stats(); st.Failed != 3 || st.Written != 1 {
		t.Errorf("stats %+v", st)
	}
	if ids, err := s.IDs(0, 0); err != nil || len(ids) != 1 || ids[0] != 4 {
		t.Errorf("stored %v, %v; want [4]", ids, err)
	}
}

func TestRemovedFileReported(t *testing.T) {
	path := newPath(t)
	errs := make(chan error, 10)
	s := open(t, path, Options{OnError: func(err error) { errs <- err }})
	s.Offer(exchange(1, []byte("x")))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s.Offer(exchange(2, []byte("x")))
	if err := s.Flush(); !errors.Is(err, errGone) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Flush after removal = %v", err)
	}
	if s.Offer(exchange(3, []byte("x"))) {
		t.Error("Offer accepted with the file gone")
	}
	s.Flush()
	if len(errs) != 1 {
		t.Errorf("%d reports, want 1", len(errs))
	}
	if st := s.Stats(); st.Failed != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
}

// lines delivers the child's output lines.
func lines(sc *bufio.Scanner) <-chan string {
	ch := make(chan string, 1000)
	go func() {
		defer close(ch)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func TestKilledWriterLosesAtMostTheLastBatch(t *testing.T) {
	path := newPath(t)
	cmd, _, out := child(t, "load", path)
	ch := lines(out)
	var last uint64
	for last < 100 {
		line := within(t, ch, "the child's commits")
		n, ok := committed(line)
		if !ok {
			t.Fatalf("child: %s", line)
		}
		last = n
	}
	// Killed while it goes on writing: the batch in flight is lost.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for line := range ch {
		if n, ok := committed(line); ok {
			last = n
		}
	}

	// The lock died with its holder; the file opens without repair.
	s := open(t, path, Options{})
	var check string
	if err := s.rdb.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	ids, err := s.IDs(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the child reported %d exchanges committed; the file holds %d", last, len(ids))
	if uint64(len(ids)) < last || uint64(len(ids)) > last+10 {
		t.Fatalf("%d exchanges after the kill; %d were committed, batches of 10", len(ids), last)
	}
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Fatalf("IDs have a gap at %d: %v", id, ids[max(0, i-2):i+1])
		}
		b, err := s.Body(id, ResponseBody)
		if err != nil || string(b.Bytes) != "body of "+strconv.FormatUint(id, 10) {
			t.Fatalf("#%d: %q, %v", id, b.Bytes, err)
		}
	}
	if next, _ := s.MaxID(); next != uint64(len(ids)) {
		t.Errorf("MaxID = %d, want %d", next, len(ids))
	}
}

func TestSecondWriterNamesTheHolder(t *testing.T) {
	path := newPath(t)
	cmd, stdin, out := child(t, "hold", path)
	ch := lines(out)
	if line := within(t, ch, "the child to open the file"); line != "ready" {
		t.Fatalf("child: %s", line)
	}
	_, err := Open(path, Options{})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid || le.Command != "session-test hold" || le.Started.IsZero() {
		t.Fatalf("second writer: %v (%+v)", err, le)
	}
	if msg := err.Error(); !strings.Contains(msg, "process "+strconv.Itoa(cmd.Process.Pid)+" (session-test hold)") || !strings.Contains(msg, path) {
		t.Errorf("message: %s", msg)
	}
	// Reading is fine meanwhile.
	r := open(t, path, Options{ReadOnly: true})
	if _, err := r.Count(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	open(t, path, Options{})
}

func TestSecondWriterInProcess(t *testing.T) {
	path := newPath(t)
	open(t, path, Options{Command: "first"})
	_, err := Open(path, Options{})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Command != "first" {
		t.Fatalf("second writer: %v", err)
	}
}

func TestBatchesByCountAndByTime(t *testing.T) {
	commits := make(chan int, 10)
	var counting Options
	counting.wrapCommit = func(commit func() error) error {
		err := commit()
		commits <- 1
		return err
	}
	// By count: batches of 4 go at once; the last 2 wait for their time.
	o := counting
	o.BatchSize, o.BatchDelay = 4, time.Hour
	s := open(t, newPath(t), o)
	for id := uint64(1); id <= 10; id++ {
		s.Offer(exchange(id, []byte("x")))
	}
	within(t, commits, "the first batch")
	within(t, commits, "the second batch")
	if st := s.Stats(); st.Queued != 2 {
		t.Errorf("after two batches of 4: %+v", st)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	within(t, commits, "the third batch")
	if st := s.Stats(); st.Written != 10 || st.Batches != 3 || st.Queued != 0 {
		t.Errorf("after Flush: %+v", st)
	}

	// By time: a batch that does not fill goes after BatchDelay.
	o = counting
	o.BatchSize, o.BatchDelay = 1000, 10*time.Millisecond
	s = open(t, newPath(t), o)
	for id := uint64(1); id <= 3; id++ {
		s.Offer(exchange(id, []byte("x")))
	}
	within(t, commits, "the batch to be written after its delay")
	if n, err := s.Count(); err != nil || n != 3 {
		t.Errorf("Count = %d, %v; want 3", n, err)
	}
}

func TestIDSet(t *testing.T) {
	s := idSet{base: 100}
	for _, id := range []uint64{101, 164, 165, 500, 100 + maxIDSet, 101 + maxIDSet, 50} {
		s.add(id)
	}
	for _, c := range []struct {
		id    uint64
		fresh bool
	}{
		{50, false}, {100, false}, // not above base: may be in the file
		{101, false}, {102, true}, {164, false}, {165, false}, {166, true}, {499, true}, {500, false}, {501, true},
		{100 + maxIDSet, false}, {101 + maxIDSet, false}, // past the set's bound: looked up
	} {
		if got := s.fresh(c.id); got != c.fresh {
			t.Errorf("fresh(%d) = %v, want %v", c.id, got, c.fresh)
		}
	}
}

// eventually polls cond until it holds; the limit only keeps a broken
// test from hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestCheckpointWaitsUntilIdle(t *testing.T) {
	// 12 MiB in one burst: past SQLite's default checkpoint (1000 pages),
	// under the 32 MiB where it checkpoints by itself.
	const n, size = 192, 64 << 10
	path := newPath(t)
	fileSize := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			return 0
		}
		return st.Size()
	}
	entered, stuck := make(chan struct{}), make(chan struct{})
	unstick := sync.OnceFunc(func() { close(stuck) })
	firstCommit := sync.OnceFunc(func() { close(entered); <-stuck })
	var mu sync.Mutex
	largest := int64(0) // the file's size before each commit of the burst
	s := open(t, path, Options{BatchSize: 1, BatchDelay: time.Hour,
		wrapCommit: func(commit func() error) error {
			firstCommit()
			mu.Lock()
			largest = max(largest, fileSize())
			mu.Unlock()
			return commit()
		}})
	t.Cleanup(unstick)
	body := pattern(size) // binary: the index has little to add
	s.Offer(exchange(1, body))
	within(t, entered, "the first commit")
	for id := uint64(2); id <= n; id++ {
		s.Offer(exchange(id, body))
	}
	unstick()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	during := largest
	mu.Unlock()
	if during > 1<<20 {
		t.Errorf("the file grew to %d bytes during the burst: a checkpoint ran", during)
	}
	eventually(t, "the checkpoint once idle", func() bool { return fileSize() >= n*size })
}

func TestHeavyTrafficLeavesIdleWorkForLater(t *testing.T) {
	var (
		s        *Store
		passes   atomic.Int32
		longLogs atomic.Int32
	)
	logPages := func() (n int64) {
		if err := s.w.conn.QueryRowContext(background, "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}
	// The hooks run on the writer's goroutine: they may look at it.
	s = open(t, newPath(t), Options{BatchSize: 4, BatchDelay: time.Hour, busyRate: 8,
		wrapCommit: func(commit func() error) error {
			if time.Now().Before(s.w.busyUntil) && logPages() == busyLog/s.w.pageSize {
				longLogs.Add(1)
			}
			return commit()
		},
		wrapIndex: func(pass func() error) error {
			if time.Now().Before(s.w.busyUntil) {
				t.Error("an index pass while traffic is heavy")
			}
			if logPages() != normalLog/s.w.pageSize {
				t.Error("an index pass with the long log")
			}
			passes.Add(1)
			return pass()
		}})
	// 4 batches of 4 in a burst: over 8 a second, heavy from the second
	// batch; batches then take 4 times as many.
	for id := uint64(1); id <= 16; id++ {
		s.Offer(exchange(id, []byte("heavy traffic")))
		if id%4 == 0 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id := uint64(17); id <= 32; id++ {
		s.Offer(exchange(id, []byte("heavy traffic")))
	}
	s.Flush()
	if st := s.Stats(); st.Batches > 5 {
		t.Errorf("%d batches; once heavy, the last 16 take one", st.Batches)
	}
	if longLogs.Load() == 0 {
		t.Error("the log was never let grow")
	}
	eventually(t, "the backlog indexed once traffic eased", func() bool { return s.Stats().Indexed == 32 })
	if ids, err := s.Search("heavy traffic", 0); err != nil || len(ids) != 32 {
		t.Errorf("Search = %d, %v", len(ids), err)
	}
}
