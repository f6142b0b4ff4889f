package bench

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/rules"
)

// BenchmarkRules sends the same 1 KiB GET (to /small) through proxy.Handler
// in three setups, each served by httptest with its own recorder, as serve
// runs:
//
//   - Plain: proxy.Options.Target and no stages, the baseline.
//   - TwentyNoMatch: a rules.Set stage holding 20 rules that do not match
//     the request (path:/r0/* … path:/r19/*, with delay, status, mock,
//     set-header and rewrite-path actions), so every request is tried
//     against 20 matchers and nothing fires.
//   - OneMatch: a rules.Set with one rule that matches and modifies the
//     request (path:/small => set-header X-A b), for information.
//
// The target of #15 is TwentyNoMatch ≤ 5 % overhead over Plain (≥ 0.952×
// its req/s). The sub-benchmarks named after the setups measure one each;
// Ratio measures them all in interleaved rounds (the order turned by one
// each round), so they share whatever else the machine is doing, with the
// lean client of sendMany, and reports each as a ratio to Plain (the median
// over the rounds) and the allocations per request of the whole process
// (client, proxy and backend; the difference to Plain is the stage's).
//
//	flock /tmp/bench.lock go test ./bench -run '^$' -bench 'Rules' -count 3
func BenchmarkRules(b *testing.B) {
	body := bytes.Repeat([]byte("r"), 1024)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	set := func(texts ...string) proxy.Stage {
		rs, err := rules.ParseAll(texts)
		if err != nil {
			b.Fatal(err)
		}
		s, err := rules.New(rs, rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	actions := []string{"delay 1s", "status 503", "mock 200 body=mocked", "set-header X-R v", "rewrite-path ^/r /s"}
	var twenty []string
	for i := range 20 {
		twenty = append(twenty, fmt.Sprintf("path:/r%d/* => %s", i, actions[i%len(actions)]))
	}

	setups := []struct{ name, base string }{
		{"Plain", serve()},
		{"TwentyNoMatch", serve(set(twenty...))},
		{"OneMatch", serve(set("path:/small => set-header X-A b"))},
	}
	const path = "/small"

	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			took := sendMany(b, s.base, path, "", b.N, len(body))
			b.ReportMetric(float64(b.N)/took.Seconds(), "req/s")
		})
	}
	b.Run("Ratio", func(b *testing.B) {
		took := make([]time.Duration, len(setups))
		allocs := make([]uint64, len(setups))
		var rounds [][]time.Duration
		const perRound = 1000
		var ms runtime.MemStats
		for b.Loop() {
			this := make([]time.Duration, len(setups))
			for k := range setups {
				i := (k + len(rounds)) % len(setups)
				runtime.ReadMemStats(&ms)
				before := ms.Mallocs
				this[i] = sendMany(b, setups[i].base, path, "", perRound, len(body))
				runtime.ReadMemStats(&ms)
				allocs[i] += ms.Mallocs - before
				took[i] += this[i]
			}
			rounds = append(rounds, this)
		}
		n := float64(b.N * perRound)
		for i, s := range setups {
			b.ReportMetric(n/took[i].Seconds(), s.name+"-req/s")
			b.ReportMetric(float64(allocs[i])/n, s.name+"-allocs/req")
		}
		// A ratio is the setup's req/s as a fraction of Plain's (Plain's
		// time over the setup's) in the same round; the median of the
		// rounds, so a burst of other work during one round does not move
		// it.
		ratio := func(i int, unit string) {
			rs := make([]float64, len(rounds))
			for k, r := range rounds {
				rs[k] = r[0].Seconds() / r[i].Seconds()
			}
			slices.Sort(rs)
			b.ReportMetric((rs[(len(rs)-1)/2]+rs[len(rs)/2])/2, unit)
		}
		ratio(1, "twenty/plain")
		ratio(2, "onematch/plain")
	})
}
