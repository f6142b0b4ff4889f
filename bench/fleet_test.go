package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// BenchmarkFleet: 1 KiB GETs from 64 keep-alive clients through a
// round-robin TCP load balancer to one relay, and through another to a
// fleet of two relays; one agent holds a tunnel to each relay. The two
// ways take turns in rounds within one run, and x-one-relay is the fleet's
// req/s over the single relay's.
//
//	flock /tmp/bench.lock go test ./bench -run '^$' -bench 'Fleet$' -benchtime 1x
//
// Everything runs in this process: on a machine with cores to spare a
// second relay adds a relay's worth of CPU; on a saturated one (two cores
// shared by clients, balancer, relays, agent and backend) it cannot, and
// the ratio shows what the fleet costs instead (a hop through the
// balancer is the same either way).
func BenchmarkFleet(b *testing.B) {
	be := tunnelBackend(b)
	target, _ := url.Parse(be.URL)
	const token = "dpt_bench-fleet-token"
	var urls []string
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		lns = append(lns, ln)
		urls = append(urls, "http://"+ln.Addr().String())
	}
	var relays []*invert.Relay
	for i, ln := range lns {
		reg, _ := invert.OpenRegistry("")
		if err := reg.AddStatic(invert.Backend{ID: "web", PathPrefixes: []string{"/"}, Access: invert.Access{Public: true}}, token); err != nil {
			b.Fatal(err)
		}
		relay, err := invert.NewRelay(invert.RelayOptions{Registry: reg, Tap: record.NewRecorder(record.Limits{}), Logger: tunnelQuiet, StreamWindow: tunnelWindow,
			Fleet: &invert.FleetOptions{URL: urls[i], Static: urls}})
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: relay}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close(); relay.Close() })
		relays = append(relays, relay)
	}
	ah, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.NewRecorder(record.Limits{}), TrustForwarded: true, Logger: tunnelQuiet})
	if err != nil {
		b.Fatal(err)
	}
	entry, _ := url.Parse(urls[0])
	agent, err := invert.NewAgent(invert.AgentOptions{Relay: entry, Backend: "web", Token: token, Handler: ah, Logger: tunnelQuiet, StreamWindow: tunnelWindow})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { agent.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	for _, r := range relays {
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.WaitForAgent(wctx, "web")
		wcancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	one := benchBalancer(b, lns[0].Addr().String())
	two := benchBalancer(b, lns[0].Addr().String(), lns[1].Addr().String())

	const rounds, perRound = 3, 6000
	var oneRPS, twoRPS, oneCPU, twoCPU []float64
	for b.Loop() {
		for range rounds {
			rps, cpu := fleetLoad(b, "http://"+one+"/small", perRound)
			oneRPS, oneCPU = append(oneRPS, rps), append(oneCPU, cpu)
			rps, cpu = fleetLoad(b, "http://"+two+"/small", perRound)
			twoRPS, twoCPU = append(twoRPS, rps), append(twoCPU, cpu)
		}
	}
	o, t := mean(oneRPS), mean(twoRPS)
	b.ReportMetric(o, "one-relay-req/s")
	b.ReportMetric(t, "two-relays-req/s")
	b.ReportMetric(t/o, "x-one-relay")
	// CPU per request (clients, balancer, relays, agent and backend
	// together): with no core to spare, throughput is the cores over it.
	b.ReportMetric(mean(oneCPU), "one-relay-cpu-µs/req")
	b.ReportMetric(mean(twoCPU), "two-relays-cpu-µs/req")
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(max(len(xs), 1))
}

// fleetLoad sends n GETs of u from tunnelClients keep-alive clients and
// returns the requests per second and the process's CPU µs per request.
func fleetLoad(b *testing.B, u string, n int) (rps, cpuPerReq float64) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: tunnelClients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for range tunnelClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				res, err := client.Get(u)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), float64((cpuTime() - cpu0).Microseconds()) / float64(n)
}

// benchBalancer is a round-robin TCP load balancer in front of addrs, as
// HAProxy in mode tcp would be: each connection goes to the next address.
func benchBalancer(b *testing.B, addrs ...string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn) {
		mu.Lock()
		conns[c] = true
		mu.Unlock()
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", addrs[next.Add(1)%uint64(len(addrs))])
				if err != nil {
					return
				}
				defer up.Close()
				track(c)
				track(up)
				go func() { io.Copy(up, c); up.Close() }()
				io.Copy(c, up)
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
