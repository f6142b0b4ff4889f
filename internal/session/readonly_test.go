package session

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// filesBeside lists the files in path's directory.
func filesBeside(t *testing.T, path string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestReadOnlyLeavesNoFiles(t *testing.T) {
	path := newPath(t)
	w := open(t, path, Options{})
	w.Offer(exchange(1, []byte("x")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	only := []string{filepath.Base(path)}
	if got := filesBeside(t, path); !reflect.DeepEqual(got, only) {
		t.Fatalf("after the writer: %v", got)
	}
	for range 2 {
		r := open(t, path, Options{ReadOnly: true})
		r2 := open(t, path, Options{ReadOnly: true}) // two readers: the last removes them
		for _, s := range []*Store{r, r2} {
			if n, err := s.Count(); err != nil || n != 1 {
				t.Fatalf("Count = %d, %v", n, err)
			}
		}
		r.Close()
		if n, err := r2.Count(); err != nil || n != 1 {
			t.Fatalf("the other reader after the first closed: Count = %d, %v", n, err)
		}
		r2.Close()
		if got := filesBeside(t, path); !reflect.DeepEqual(got, only) {
			t.Errorf("after read-only opens: %v, want %v", got, only)
		}
	}
}

func TestReadOnlyCloseWhileAnotherProcessWrites(t *testing.T) {
	path := newPath(t)
	if err := open(t, path, Options{}).Close(); err != nil { // an empty session
		t.Fatal(err)
	}
	r := open(t, path, Options{ReadOnly: true}) // first: it makes the log's files
	if n, err := r.Count(); err != nil || n != 0 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	_, _, out := child(t, "load", path)
	ch := lines(out)
	waitCommitted := func(n uint64) {
		t.Helper()
		for {
			line := within(t, ch, "the child's commits")
			got, ok := committed(line)
			if !ok {
				t.Fatalf("child: %s", line)
			}
			if got >= n {
				return
			}
		}
	}
	waitCommitted(20)
	if n, err := r.Count(); err != nil || n < 20 {
		t.Fatalf("the reader sees %d exchanges, %v", n, err)
	}
	// The reader closes while the writer writes: the writer keeps its log.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if !exists(path + suffix) {
			t.Errorf("the writer's %s was removed", suffix)
		}
	}
	waitCommitted(60)
	r = open(t, path, Options{ReadOnly: true})
	if n, err := r.Count(); err != nil || n < 60 {
		t.Fatalf("a new reader sees %d exchanges, %v", n, err)
	}
	var check string
	if err := r.rdb.QueryRow("PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("quick_check: %q, %v", check, err)
	}
	for id := uint64(1); id <= 60; id++ {
		if _, err := r.Load(id); err != nil {
			t.Fatalf("#%d: %v", id, err)
		}
	}
}
