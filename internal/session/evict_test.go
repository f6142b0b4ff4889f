package session

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func TestEvictionKeepsTheFileWithinItsBudget(t *testing.T) {
	const maxSize = 2 << 20
	var (
		mu  sync.Mutex
		evs []Eviction
	)
	s := open(t, newPath(t), Options{MaxSize: maxSize, BatchSize: 10, OnEvict: func(e Eviction) {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
	}})
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for id := uint64(1); id <= 100; id++ {
		body := make([]byte, 64<<10) // incompressible, and binary: not indexed
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		if !s.Offer(exchange(id, body)) {
			t.Fatalf("Offer(#%d) refused", id)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	used, err := s.w.usedBytes()
	if err != nil {
		t.Fatal(err)
	}
	if used > maxSize {
		t.Errorf("%d bytes in use, budget %d", used, maxSize)
	}
	ids, err := s.IDs(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 || len(ids) >= 100 || ids[len(ids)-1] != 100 {
		t.Fatalf("kept %d exchanges, last %v", len(ids), ids[len(ids)-1:])
	}
	for i, id := range ids {
		if id != ids[0]+uint64(i) {
			t.Fatalf("not the oldest were evicted: %v", ids)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	evicted, next := 0, uint64(1)
	for _, e := range evs {
		if e.First != next || e.Last < e.First || e.Count != int(e.Last-e.First+1) || e.Size > maxSize || e.MaxSize != maxSize {
			t.Errorf("eviction %+v after #%d", e, next-1)
		}
		evicted, next = evicted+e.Count, e.Last+1
	}
	if next != ids[0] || uint64(evicted) != s.Stats().Evicted || evicted != 100-len(ids) {
		t.Errorf("evictions %+v; kept from #%d; stats %+v", evs, ids[0], s.Stats())
	}
	if msg := evs[0].String(); !strings.Contains(msg, "disk budget of 2.0 MiB reached: deleted the") || !strings.Contains(msg, "(#1–#") {
		t.Errorf("report: %s", msg)
	}
	if hits, err := s.Search("example.test", 0); err != nil || len(hits) != len(ids) {
		t.Errorf("index rows of evicted exchanges remain: %d hits for %d exchanges (%v)", len(hits), len(ids), err)
	}
	if next, _ := s.MaxID(); next != 100 {
		t.Errorf("MaxID = %d after eviction, want 100", next)
	}
}

func TestIndexingKeepsTheFileWithinItsBudget(t *testing.T) {
	const maxSize = MinMaxSize
	evicted := make(chan Eviction, 100)
	s, g := openGated(t, newPath(t), Options{MaxSize: maxSize, OnEvict: func(e Eviction) { evicted <- e }})
	rng := rand.New(rand.NewChaCha8([32]byte{2}))
	g.shut()
	// Binary bodies fill the file (they are not indexed), beside the
	// schema's pages (a quarter of it); the text ones take the index past
	// the budget.
	for id := uint64(1); id <= 30; id++ {
		s.Offer(exchange(id, pattern(16<<10)))
	}
	for id := uint64(31); id <= 40; id++ {
		text := make([]byte, 8<<10) // words of random letters: many trigrams
		for i := range text {
			text[i] = "abcdefghijklmnopqrstuvwxyz "[rng.IntN(27)]
		}
		s.Offer(exchange(id, text))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	used, err := s.w.usedBytes() // the writer waits at the gate
	if err != nil {
		t.Fatal(err)
	}
	if used > maxSize || len(evicted) > 0 {
		t.Fatalf("over the budget before indexing (%d bytes of %d): the test needs smaller exchanges", used, maxSize)
	}
	// No batch follows: the index passes keep the budget themselves.
	g.release()
	e := within(t, evicted, "an eviction after indexing")
	if e.First != 1 || e.Size > maxSize {
		t.Errorf("eviction %+v", e)
	}
}
