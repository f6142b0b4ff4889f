package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
// reports exchanges written per second, and the CPU time per exchange
// (of the whole process: the benchmark's making of exchanges too), which
// other work on the machine changes less.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		name     string
		indexMax int64
	}{{"indexed", 0}, {"not-indexed", -1}} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, newPath(b), Options{QueueBytes: 1 << 40, IndexMax: c.indexMax})
			b.ResetTimer()
			cpu := cpuTime()
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
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e3, "cpu-µs/exchange")
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

// listFixture is a closed session file of listFixtureSize exchanges, made
// once per run (the list benchmarks share it) and removed by TestMain.
var listFixture struct {
	once sync.Once
	dir  string
	path string
	err  error
}

const listFixtureSize = 100_000

// listExchange is exchange id as a browser's request would make it: about
// a kilobyte of headers, a few hosts, some failures and redirects.
func listExchange(id uint64) record.Exchange {
	x := benchExchange(id)
	host := fmt.Sprintf("api%d.example.test", id%7)
	x.Request.Host, x.Request.URL = host, "https://"+host+"/v1/items/"+strconv.FormatUint(id, 10)+"?page=2&sort=name"
	x.Request.Header = record.Fields{{Name: "User-Agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		{Name: "Accept", Value: "application/json, text/plain, */*"}, {Name: "Accept-Encoding", Value: "gzip, deflate, br"},
		{Name: "Accept-Language", Value: "en-GB,en;q=0.9"}, {Name: "Cookie", Value: strings.Repeat("session=0123456789abcdef; ", 6)},
		{Name: "Referer", Value: "https://app.example.test/dashboard"}}
	x.Response.Header = record.Fields{{Name: "Content-Type", Value: "application/json; charset=utf-8"}, {Name: "Cache-Control", Value: "no-store"},
		{Name: "Date", Value: "Mon, 30 Nov 2026 12:00:00 GMT"}, {Name: "Server", Value: "nginx/1.27"},
		{Name: "Strict-Transport-Security", Value: "max-age=63072000; includeSubDomains"}, {Name: "Vary", Value: "Accept-Encoding"},
		{Name: "X-Request-Id", Value: fmt.Sprintf("%032x", id)}}
	switch id % 50 {
	case 0:
		x.Response, x.Err = nil, &record.Error{Kind: record.ErrUnreachable, Message: "connection refused", Status: 502}
	case 1:
		x.Response.Status, x.Response.Reason = 302, "Found"
	}
	return x
}

// listFixturePath builds the fixture the first time it is asked for.
func listFixturePath(b *testing.B) string {
	f := &listFixture
	f.once.Do(func() {
		if f.dir, f.err = os.MkdirTemp("", "session-list-"); f.err != nil {
			return
		}
		f.path = filepath.Join(f.dir, "list.db")
		s, err := Open(f.path, Options{QueueBytes: 1 << 40, BatchSize: 4096, closeIndexing: -1,
			wrapIndex: func(func() error) error { return nil }})
		if err != nil {
			f.err = err
			return
		}
		for id := uint64(1); id <= listFixtureSize; id++ {
			s.Offer(listExchange(id))
		}
		f.err = errors.Join(s.Flush(), s.Close())
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.path
}

// removeFixtures removes what the benchmarks made for the whole run.
func removeFixtures() {
	if listFixture.dir != "" {
		os.RemoveAll(listFixture.dir)
	}
}

// BenchmarkSummaries reads the summaries of 100,000 exchanges from a
// file read-only, as a list's first frame does; Range of the same
// exchanges, which a list read before Summaries, is the baseline. It
// reports the time per summary.
func BenchmarkSummaries(b *testing.B) {
	path := listFixturePath(b)
	s := open(b, path, Options{ReadOnly: true})
	for _, c := range []struct {
		name string
		read func() (int, error)
	}{
		{"Summaries", func() (int, error) { xs, err := s.Summaries(0, 0); return len(xs), err }},
		{"Range", func() (int, error) { xs, err := s.Range(0, 0); return len(xs), err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n, err := c.read()
				if err != nil || n != listFixtureSize {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*listFixtureSize), "ns/summary")
		})
	}
}

// BenchmarkGetMany reads 300 exchanges spread over the file, as a list
// does for the rows it shows, with Get one at a time as the baseline.
func BenchmarkGetMany(b *testing.B) {
	s := open(b, listFixturePath(b), Options{ReadOnly: true})
	ids := make([]uint64, 300)
	for i := range ids {
		ids[i] = uint64(1 + i*(listFixtureSize/len(ids)))
	}
	b.Run("GetMany", func(b *testing.B) {
		for b.Loop() {
			if xs, err := s.GetMany(ids); err != nil || len(xs) != len(ids) {
				b.Fatalf("%d exchanges, %v", len(xs), err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			for _, id := range ids {
				if _, err := s.Get(id); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkSearchLazy is what the first search of a session with a lazy
// index (Options.LazyIndex) costs: a body search over 20,000 exchanges as
// BenchmarkWrite's, none indexed, so each is read and searched; "indexed"
// is the same search once the index holds them all, the baseline. It
// reports the time per exchange searched.
func BenchmarkSearchLazy(b *testing.B) {
	const n = 20_000
	path := newPath(b)
	s := open(b, path, Options{QueueBytes: 1 << 40, LazyIndex: true})
	for i := range n {
		s.Offer(benchExchange(uint64(i + 1)))
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		indexed bool
	}{{"not-indexed", false}, {"indexed", true}} {
		b.Run(c.name, func(b *testing.B) {
			if c.indexed {
				s := open(b, path, Options{})
				if err := s.Index(b.Context()); err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			r := open(b, path, Options{ReadOnly: true})
			for b.Loop() {
				ids, err := r.Search("zanzibar", 0, FieldRequest, FieldResponse)
				if err != nil || len(ids) != 0 {
					b.Fatalf("%v, %v", ids, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/exchange")
		})
	}
}
