package session

import (
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// benchExchange is exchange id with 1 KiB text request and response
// bodies.
func benchExchange(id uint64) record.Exchange {
	var body []byte
	for len(body) < 1<<10 {
		body = append(body, "lorem ipsum dolor sit amet, "...)
	}
	x := exchange(id, body[:1<<10])
	x.Request.Body = x.Response.Body
	return x
}

// BenchmarkWrite measures the writer: exchanges with 1 KiB text request
// and response bodies, offered and committed in batches. Indexing waits
// for the writer to be idle, which it is not while the benchmark offers,
// so both variants measure writing: "indexed" indexes bodies (the default
// IndexMax) when the queue empties, "not-indexed" indexes none. It
// reports exchanges written per second.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		name     string
		indexMax int64
	}{{"indexed", 0}, {"not-indexed", -1}} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, newPath(b), Options{QueueBytes: 1 << 40, IndexMax: c.indexMax})
			b.ResetTimer()
			for i := range b.N {
				if !s.Offer(benchExchange(uint64(i + 1))) {
					b.Fatal("Offer refused")
				}
			}
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
		})
	}
}

// BenchmarkIndex measures how fast the writer catches up with the search
// index: b.N exchanges as BenchmarkWrite's, written without indexing,
// then indexed by the next writer (here in its Close, let run to the
// end). It reports exchanges indexed per second.
func BenchmarkIndex(b *testing.B) {
	path := newPath(b)
	s := open(b, path, Options{QueueBytes: 1 << 40, closeIndexing: -1,
		wrapIndex: func(func() error) error { return nil }}) // no pass
	for i := range b.N {
		s.Offer(benchExchange(uint64(i + 1)))
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	s = open(b, path, Options{closeIndexing: time.Hour})
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := s.Stats().Indexed; n != uint64(b.N) {
		b.Fatalf("indexed %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
}
