package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"google.golang.org/grpc"
)

// BenchmarkGRPC calls one grpc-go server (internal/grpctest) with one
// grpc-go client connection four ways, each recording every exchange with
// the default limits as the commands do (no session file):
//
//   - Direct: the client calls the server (the baseline).
//   - HTTPUtil: a bare httputil.ReverseProxy set up for h2c on both sides
//     (inbound Protocols with UnencryptedHTTP2, a Transport whose Protocols
//     are UnencryptedHTTP2 only): the floor a Go proxy can reach.
//   - Serve: devproxy serve's engine and server (h2c in, h2c out).
//   - Tunnel: relay and agent over the HTTP/2 tunnel (h2c in at the relay,
//     h2c out at the agent).
//
// Two loads: Unary, 16 callers sending small unary calls at once (calls/s);
// Stream, one server stream of 1 KiB messages (messages/s). The
// sub-benchmarks named after the ways measure one way each; Ratio measures
// all four in interleaved rounds (the order turned by one each round) and
// reports each way as a ratio to Direct and to HTTPUtil, the median over the
// rounds. The target of #16 is serve ≥ 0.9× HTTPUtil. Give Ratio rounds:
//
//	flock /tmp/bench.lock go test ./bench -run '^$' -bench 'GRPC/Ratio' -benchtime 10x -count 3
func BenchmarkGRPC(b *testing.B) {
	srv := grpctest.Start(b, grpctest.Options{NoReflection: true})
	target, _ := url.Parse(srv.URL)
	ways := []struct {
		name string
		c    *grpctest.Client
	}{
		{"Direct", grpcClient(b, srv.Addr)},
		{"HTTPUtil", grpcClient(b, bareH2CProxy(b, target))},
		{"Serve", grpcClient(b, grpcServe(b, target))},
		{"Tunnel", grpcClient(b, grpcTunnel(b, target))},
	}
	for _, w := range ways {
		b.Run(w.name+"/Unary", func(b *testing.B) {
			b.ReportMetric(float64(b.N)/unaryCalls(b, w.c, b.N).Seconds(), "calls/s")
		})
		b.Run(w.name+"/Stream", func(b *testing.B) {
			b.ReportMetric(float64(b.N)/streamMessages(b, w.c, b.N).Seconds(), "msgs/s")
		})
	}
	b.Run("Ratio", func(b *testing.B) {
		const calls, msgs = 3000, 30000
		var unary, stream [][]time.Duration
		for b.Loop() {
			u, s := make([]time.Duration, len(ways)), make([]time.Duration, len(ways))
			for k := range ways {
				i := (k + len(unary)) % len(ways)
				u[i] = unaryCalls(b, ways[i].c, calls)
				s[i] = streamMessages(b, ways[i].c, msgs)
			}
			unary, stream = append(unary, u), append(stream, s)
		}
		median := func(rounds [][]time.Duration, way, base int) float64 {
			rs := make([]float64, len(rounds))
			for k, r := range rounds {
				rs[k] = r[base].Seconds() / r[way].Seconds()
			}
			slices.Sort(rs)
			return (rs[(len(rs)-1)/2] + rs[len(rs)/2]) / 2
		}
		for i, w := range ways {
			var ut, st time.Duration
			for k := range unary {
				ut, st = ut+unary[k][i], st+stream[k][i]
			}
			b.ReportMetric(float64(len(unary)*calls)/ut.Seconds(), w.name+"-calls/s")
			b.ReportMetric(float64(len(stream)*msgs)/st.Seconds(), w.name+"-msgs/s")
		}
		for i, w := range ways[2:] {
			b.ReportMetric(median(unary, i+2, 0), w.name+"-unary/direct")
			b.ReportMetric(median(unary, i+2, 1), w.name+"-unary/httputil")
			b.ReportMetric(median(stream, i+2, 0), w.name+"-stream/direct")
			b.ReportMetric(median(stream, i+2, 1), w.name+"-stream/httputil")
		}
		b.ReportMetric(median(unary, 1, 0), "HTTPUtil-unary/direct")
		b.ReportMetric(median(stream, 1, 0), "HTTPUtil-stream/direct")
	})
}

// grpcClient dials addr with one h2c connection, closed at cleanup.
func grpcClient(b *testing.B, addr string) *grpctest.Client {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpctest.DialOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return grpctest.NewClient(cc)
}

// unaryCalls makes n small unary calls from 16 goroutines and returns the
// time they took.
func unaryCalls(b *testing.B, c *grpctest.Client, n int) time.Duration {
	const callers = 16
	ctx := context.Background()
	req := grpctest.Req{Text: "bench", Number: 42, Tags: []string{"a", "b"}, Payload: make([]byte, 100)}
	var wg sync.WaitGroup
	start := time.Now()
	for g := range callers {
		wg.Go(func() {
			for i := g; i < n; i += callers {
				if _, _, err := c.Unary(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// streamMessages receives one server stream of n 1 KiB messages and returns
// the time it took.
func streamMessages(b *testing.B, c *grpctest.Client, n int) time.Duration {
	start := time.Now()
	s, err := c.ServerStream(context.Background(), grpctest.Req{Count: int32(n), ReplySize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for {
		_, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		got++
	}
	if got != n {
		b.Fatalf("got %d messages, want %d", got, n)
	}
	return time.Since(start)
}

// bareH2CProxy is httputil.ReverseProxy with h2c on both sides; it returns
// its address.
func bareH2CProxy(b *testing.B, target *url.URL) string {
	var out http.Protocols
	out.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &out}
	b.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr}
	srv := &http.Server{Handler: rp, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// grpcServe is serve's engine and server in front of target.
func grpcServe(b *testing.B, target *url.URL) string {
	rec := record.NewRecorder(record.Limits{})
	h, err := proxy.New(proxy.Options{Target: target, Tap: rec, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return grpcListen(b, h, rec, record.RoleServe)
}

func grpcListen(b *testing.B, h http.Handler, rec *record.Recorder, role record.Role) string {
	srv, err := proxy.Listen(proxy.ServerOptions{Listen: "127.0.0.1:0", Tap: rec, Role: role}, h)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	b.Cleanup(func() { srv.Close() })
	return srv.Addr().String()
}

// grpcTunnel is a relay (served as the relay command serves it) and an
// agent on the HTTP/2 tunnel in front of target.
func grpcTunnel(b *testing.B, target *url.URL) string {
	reg, _ := invert.OpenRegistry("")
	tok, _ := reg.Create(invert.Backend{ID: "grpc", Access: invert.Access{Public: true}})
	relayRec := record.NewRecorder(record.Limits{})
	relay, err := invert.NewRelay(invert.RelayOptions{Registry: reg, Tap: relayRec, Logger: quiet, StreamWindow: tunnelWindow})
	if err != nil {
		b.Fatal(err)
	}
	addr := grpcListen(b, relay, relayRec, record.RoleRelay)
	ah, _ := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.NewRecorder(record.Limits{}), TrustForwarded: true, Logger: quiet})
	ru, _ := url.Parse("http://" + addr)
	agent, err := invert.NewAgent(invert.AgentOptions{Relay: ru, Backend: "grpc", Token: tok, Mode: invert.ModeTunnel, Handler: ah, Logger: quiet, StreamWindow: tunnelWindow})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { agent.Run(ctx); close(done) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := relay.WaitForAgent(wctx, "grpc"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); <-done; relay.Close() })
	return addr
}
