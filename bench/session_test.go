package bench

import (
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
)

// BenchmarkSessionServe is serve with 1 KiB responses recording to memory
// only (the baseline) and to memory plus a session file, 64 requests at a
// time. After the timed part it flushes the session and fails if an
// exchange was not persisted, so the session's rate counts only what it
// kept (bodies included).
func BenchmarkSessionServe(b *testing.B) {
	be := backend(b)
	target, _ := url.Parse(be.URL)
	for _, withSession := range []bool{false, true} {
		name := "Memory"
		if withSession {
			name = "Session"
		}
		b.Run(name, func(b *testing.B) {
			rec := record.NewRecorder(record.Limits{})
			var st *session.Store
			if withSession {
				var err error
				st, err = session.Open(filepath.Join(b.TempDir(), "bench.db"), session.Options{})
				if err != nil {
					b.Fatal(err)
				}
				rec.AddSink(st)
			}
			h, _ := proxy.New(proxy.Options{Target: target, Tap: rec, Logger: quiet})
			srv := httptest.NewServer(h)
			b.SetParallelism(32) // 64 clients on 2 cores
			benchGet(b, srv.URL, "/small", 1024)
			b.StopTimer()
			srv.Close()
			if st == nil {
				return
			}
			if err := st.Flush(); err != nil {
				b.Fatal(err)
			}
			s := st.Stats()
			if s.Dropped+s.BodiesDropped+s.Failed > 0 {
				b.Fatalf("not all persisted: %+v", s)
			}
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
