package bench

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// The tunnel benchmarks compare the relay → agent tunnel's transports, all
// in this process on loopback, with devproxy serve in front of the same
// backend as the baseline measured in the same run. Each way records every
// exchange with the default limits, as the commands do (no session file).
//
//	go test ./bench -run '^$' -bench 'Tunnel$' -benchtime 3s        # 64 clients, 1 KiB and 1 MiB
//	go test ./bench -run '^$' -bench 'TunnelGiB' -benchtime 2x      # one 1 GiB response
//	go test ./bench -run '^$' -bench 'TunnelFirstChunk' -benchtime 200x
//
// Read the x-serve columns (req/s and p99 as ratios to serve's) and
// over-direct-µs: these machines are small and noisy, absolute numbers
// move between runs.

// tunnelWindow is the window per stream the commands use at the default
// --max-memory (128 MiB / 256).
const tunnelWindow = 512 << 10

// tunnelModes are the transports compared, by benchmark name.
var tunnelModes = []struct {
	name string
	mode invert.Mode
}{
	{"H2Upgrade", invert.ModeTunnel},      // reversed HTTP/2 after an HTTP/1.1 Upgrade (the default)
	{"H2WebSocket", invert.ModeWebSocket}, // reversed HTTP/2 over a WebSocket (the fallback)
	{"YamuxWebSocket", invert.ModeYamux},  // yamux over a WebSocket (the design before; older agents)
}

var tunnelQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// tunnelBackend answers …/big with 1 MiB, …/gib with 1 GiB (in 32 KiB
// writes), …/stream with one flushed chunk (then it holds the response
// until the client hangs up), anything else with 1 KiB.
func tunnelBackend(b *testing.B) *httptest.Server {
	small := make([]byte, 1024)
	big := make([]byte, 1<<20)
	chunk := make([]byte, 32<<10)
	for _, p := range [][]byte{small, big, chunk} {
		for i := range p {
			p[i] = 'a' + byte(i%26)
		}
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Each agent's backend id prefixes the path: /t-tunnel/big.
		switch path.Base(r.URL.Path) {
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return
		case "gib":
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			for range (1 << 30) / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		}
		body := small
		if path.Base(r.URL.Path) == "big" {
			body = big
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	b.Cleanup(s.Close)
	return s
}

// tunnelWay is one way to the backend: its base URL.
type tunnelWay struct{ name, url string }

// tunnelWays starts serve and a relay with one agent per transport, each
// transport's agent serving its own backend id, all in front of one
// backend. The first way is Direct, the second Serve, the third Chain.
func tunnelWays(b *testing.B) []tunnelWay {
	be := tunnelBackend(b)
	target, _ := url.Parse(be.URL)
	ways := []tunnelWay{{"Direct", be.URL}}

	h, err := proxy.New(proxy.Options{Target: target, Tap: record.NewRecorder(record.Limits{}), Logger: tunnelQuiet})
	if err != nil {
		b.Fatal(err)
	}
	ways = append(ways, tunnelWay{"Serve", listen(b, h)})

	// Chain is two engines, one recording as the agent and one as the
	// relay, over plain keep-alive HTTP/1.1: what a tunnel would cost if
	// carrying requests between them cost nothing beyond TCP.
	inner, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.NewRecorder(record.Limits{}), TrustForwarded: true, Logger: tunnelQuiet})
	if err != nil {
		b.Fatal(err)
	}
	innerSrv := httptest.NewServer(inner)
	b.Cleanup(innerSrv.Close)
	innerURL, _ := url.Parse(innerSrv.URL)
	outer, err := proxy.New(proxy.Options{Target: innerURL, Role: record.RoleRelay, Tap: record.NewRecorder(record.Limits{}), PreserveHost: true, Logger: tunnelQuiet})
	if err != nil {
		b.Fatal(err)
	}
	ways = append(ways, tunnelWay{"Chain", listen(b, outer)})

	reg, _ := invert.OpenRegistry("")
	relay, err := invert.NewRelay(invert.RelayOptions{Registry: reg, Tap: record.NewRecorder(record.Limits{}), Logger: tunnelQuiet, StreamWindow: tunnelWindow})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(relay.Close)
	relayURL := listen(b, relay)
	ru, _ := url.Parse(relayURL)
	for _, m := range tunnelModes {
		id := "t-" + string(m.mode)
		tok, err := reg.Create(invert.Backend{ID: id, PathPrefixes: []string{"/" + id + "/"}, Access: invert.Access{Public: true}})
		if err != nil {
			b.Fatal(err)
		}
		ah, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.NewRecorder(record.Limits{}), TrustForwarded: true, Logger: tunnelQuiet})
		if err != nil {
			b.Fatal(err)
		}
		agent, err := invert.NewAgent(invert.AgentOptions{Relay: ru, Backend: id, Token: tok, Mode: m.mode, Handler: ah, Logger: tunnelQuiet, StreamWindow: tunnelWindow})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { agent.Run(ctx); close(done) }()
		b.Cleanup(func() { cancel(); <-done })
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = relay.WaitForAgent(wctx, id)
		wcancel()
		if err != nil {
			b.Fatalf("%s: %v", m.name, err)
		}
		ways = append(ways, tunnelWay{m.name, relayURL + "/" + id})
	}
	return ways
}

// listen serves h as the commands serve serve and the relay (proxy.Listen,
// plain HTTP on loopback) and returns its URL.
func listen(b *testing.B, h http.Handler) string {
	srv, err := proxy.Listen(proxy.ServerOptions{Listen: "127.0.0.1:0"}, h)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	b.Cleanup(func() { srv.Close() })
	return "http://" + srv.Addr().String()
}

// loadStats is one load run: requests per second, the 99th percentile of
// their latencies, and the process's CPU time per request (client,
// backend and proxies together: on a saturated machine throughput is about
// the cores over this, and it moves less with other jobs on the machine).
type loadStats struct {
	rps float64
	p99 time.Duration
	cpu time.Duration
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tunnelClients is how many clients send requests at once.
const tunnelClients = 64

// runLoad sends b.N GETs of url from tunnelClients clients, each waiting
// for its answer (size bytes) before the next.
func runLoad(b *testing.B, url string, size int64) loadStats {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: tunnelClients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	lat := make([][]time.Duration, tunnelClients)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(size)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := range tunnelClients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				res, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if n != size || res.StatusCode != 200 {
					b.Errorf("status %d, %d bytes, want 200 and %d", res.StatusCode, n, size)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	st := loadStats{rps: float64(len(all)) / elapsed.Seconds(), cpu: cpu / time.Duration(max(len(all), 1))}
	if len(all) > 0 {
		st.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	b.ReportMetric(st.rps, "req/s")
	b.ReportMetric(float64(st.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(st.cpu.Microseconds()), "cpu-µs/req")
	return st
}

// BenchmarkTunnel: 1 KiB and 1 MiB GETs from 64 clients, through serve and
// through the relay and an agent over each transport.
func BenchmarkTunnel(b *testing.B) {
	ways := tunnelWays(b)
	for _, size := range []struct {
		name, path string
		n          int64
	}{{"1KiB", "/small", 1 << 10}, {"1MiB", "/big", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			var serve loadStats
			for _, w := range ways[1:] {
				b.Run(w.name, func(b *testing.B) {
					st := runLoad(b, w.url+size.path, size.n)
					if w.name == "Serve" {
						serve = st
						return
					}
					if serve.rps > 0 {
						b.ReportMetric(st.rps/serve.rps, "x-serve")
						b.ReportMetric(float64(st.p99)/float64(serve.p99), "p99-x-serve")
						b.ReportMetric(float64(serve.cpu)/float64(st.cpu), "cpu-x-serve")
					}
				})
			}
		})
	}
}

// BenchmarkTunnelGiB: one 1 GiB response at a time, through serve and
// through the relay and an agent over each transport.
func BenchmarkTunnelGiB(b *testing.B) {
	ways := tunnelWays(b)
	var serve time.Duration
	for _, w := range ways[1:] {
		b.Run(w.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			defer client.CloseIdleConnections()
			b.SetBytes(1 << 30)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				res, err := client.Get(w.url + "/gib")
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if n != 1<<30 {
					b.Fatalf("%d bytes, want 1 GiB", n)
				}
			}
			per := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(per.Seconds(), "s/GiB")
			if w.name == "Serve" {
				serve = per
			} else if serve > 0 {
				b.ReportMetric(float64(per)/float64(serve), "x-serve")
			}
		})
	}
}

// BenchmarkTunnelFirstChunk: the time from sending a request to reading the
// first chunk of a streamed response (the backend flushes it at once),
// directly and through each way; over-direct-µs is the median difference.
func BenchmarkTunnelFirstChunk(b *testing.B) {
	ways := tunnelWays(b)
	var direct time.Duration
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			defer client.CloseIdleConnections()
			var took []time.Duration
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.url+"/stream", nil)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				line, err := bufio.NewReader(res.Body).ReadString('\n')
				took = append(took, time.Since(t0))
				cancel()
				res.Body.Close()
				if err != nil || line != "data: first\n" {
					b.Fatalf("first line %q, %v", line, err)
				}
			}
			slices.Sort(took)
			med := took[len(took)/2]
			b.ReportMetric(float64(med.Microseconds()), "first-chunk-µs")
			if w.name == "Direct" {
				direct = med
			} else {
				b.ReportMetric(float64((med - direct).Microseconds()), "over-direct-µs")
			}
		})
	}
}
