package session

import "testing"

// BenchmarkWrite measures the writer: exchanges with 1 KiB request and
// response bodies (text, so they are indexed), offered and committed in
// batches. It reports exchanges written per second.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		name     string
		indexMax int64
	}{{"indexed", 0}, {"not-indexed", -1}} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, newPath(b), Options{QueueBytes: 1 << 40, IndexMax: c.indexMax})
			var body []byte
			for len(body) < 1<<10 {
				body = append(body, "lorem ipsum dolor sit amet, "...)
			}
			body = body[:1<<10]
			b.ResetTimer()
			for i := range b.N {
				x := exchange(uint64(i+1), body)
				x.Request.Body = x.Response.Body
				if !s.Offer(x) {
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
