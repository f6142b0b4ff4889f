package bench

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// The proxy benchmarks send the same requests to one backend four ways:
// directly (the baseline), through devproxy serve, and through relay and
// agent over the tunnel and over the poll transport. Read them as ratios to
// Direct from the same run: these machines are small and noisy.
//
//	go test ./bench -run NONE -bench 'Proxy' -benchtime 2s

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func backend(b *testing.B) *httptest.Server {
	small := bytes.Repeat([]byte("x"), 1024)
	big := bytes.Repeat([]byte("y"), 1<<20)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := small
		if r.URL.Path == "/big" {
			body = big
		}
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	b.Cleanup(s.Close)
	return s
}

// ways returns the base URL of each path to the backend.
func ways(b *testing.B) map[string]string {
	be := backend(b)
	target, _ := url.Parse(be.URL)
	out := map[string]string{"Direct": be.URL}

	h, _ := proxy.New(proxy.Options{Target: target, Tap: record.NewRecorder(record.Limits{}), Logger: quiet})
	serve := httptest.NewServer(h)
	b.Cleanup(serve.Close)
	out["Serve"] = serve.URL

	for _, tr := range []invert.Mode{invert.ModeTunnel, invert.ModePoll} {
		reg, _ := invert.OpenRegistry("")
		tok, _ := reg.Create(invert.Backend{ID: "web", Access: invert.Access{Public: true}})
		relay, _ := invert.NewRelay(invert.RelayOptions{Registry: reg, Tap: record.NewRecorder(record.Limits{}), Logger: quiet})
		rs := httptest.NewServer(relay)
		ah, _ := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.NewRecorder(record.Limits{}), TrustForwarded: true, Logger: quiet})
		ru, _ := url.Parse(rs.URL)
		agent, _ := invert.NewAgent(invert.AgentOptions{Relay: ru, Backend: "web", Token: tok, Mode: tr, Handler: ah, Logger: quiet})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { agent.Run(ctx); close(done) }()
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := relay.WaitForAgent(wctx, "web"); err != nil {
			b.Fatal(err)
		}
		wcancel()
		b.Cleanup(func() { cancel(); <-done; relay.Close(); rs.Close() })
		name := "Tunnel"
		if tr == invert.ModePoll {
			name = "Poll"
		}
		out[name] = rs.URL
	}
	return out
}

func benchGet(b *testing.B, base, path string, size int64) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	b.SetBytes(size)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(base + path)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if n != size {
				b.Errorf("read %d bytes, want %d", n, size)
				return
			}
		}
	})
}

func BenchmarkProxySmall(b *testing.B) {
	w := ways(b)
	for _, name := range []string{"Direct", "Serve", "Tunnel", "Poll"} {
		b.Run(name, func(b *testing.B) { benchGet(b, w[name], "/small", 1024) })
	}
}

func BenchmarkProxyBig(b *testing.B) {
	w := ways(b)
	for _, name := range []string{"Direct", "Serve", "Tunnel", "Poll"} {
		b.Run(name, func(b *testing.B) { benchGet(b, w[name], "/big", 1<<20) })
	}
}
