package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/cache"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// BenchmarkCache sends 1 KiB GETs through proxy.Handler three ways:
// Uncached (no cache stage, as serve runs without `cache:`, the baseline),
// Hit (the cache stage answers every request from memory) and Miss (the
// cache stage is on but the response says no-store, so every request goes
// upstream: the stage's cost on traffic it cannot help). The target is
// Hit ≥ 2× Uncached in req/s. The sub-benchmarks named after the ways use
// a net/http client, whose own cost (in this process) narrows the ratios;
// Ratio measures the three in interleaved rounds, so they share whatever
// else the machine is doing, with a lean client (see sendMany), and reports
// the ratios.
//
//	flock /tmp/bench.lock go test ./bench -run NONE -bench Cache/Ratio -benchtime 20x
func BenchmarkCache(b *testing.B) {
	body := bytes.Repeat([]byte("c"), 1024)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nostore" {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=3600")
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	b.Cleanup(be.Close)
	target, _ := url.Parse(be.URL)
	serve := func(stages ...proxy.Stage) string {
		h, err := proxy.New(proxy.Options{Target: target, Tap: record.NewRecorder(record.Limits{}), Logger: quiet, Stages: stages})
		if err != nil {
			b.Fatal(err)
		}
		s := httptest.NewServer(h)
		b.Cleanup(s.Close)
		return s.URL
	}
	c, err := cache.New(cache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	plain, cached := serve(), serve(c)
	ways := []struct{ name, base, path string }{
		{"Uncached", plain, "/cached"},
		{"Hit", cached, "/cached"},
		{"Miss", cached, "/nostore"},
	}
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			benchGet(b, w.base, w.path, int64(len(body)))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
	b.Run("Ratio", func(b *testing.B) {
		var took [3]time.Duration
		const perRound = 2000
		for b.Loop() {
			for i, w := range ways {
				took[i] += sendMany(b, w.base, w.path, "", perRound, len(body))
			}
		}
		n := float64(b.N * perRound)
		for i, w := range ways {
			b.ReportMetric(n/took[i].Seconds(), w.name+"-req/s")
		}
		b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "hit/uncached")
		b.ReportMetric(took[0].Seconds()/took[2].Seconds(), "miss/uncached")
	})
}
