package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try devproxy on a built-in backend (go-httpbin)",
		Long: `demo starts go-httpbin on a random loopback port and devproxy in front of it,
so you can see devproxy work without a service of your own.`,
		Example: `  devproxy demo
  devproxy demo --traffic          # send a gentle stream of requests so the UI has life
  devproxy demo --no-tui --listen 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := serveOptionsFrom(cmd, false)
			if err != nil {
				return err
			}
			traffic, _ := cmd.Flags().GetBool("traffic")
			return runServe(cmd, &o, func(s *roleRun) error {
				backend, err := startDemoBackend()
				if err != nil {
					return err
				}
				o.target = backend.url
				s.background = append(s.background, func(ctx context.Context) {
					<-ctx.Done()
					backend.close()
				})
				// The hints and the traffic use the address the listener
				// got (the real port of --listen 127.0.0.1:0).
				s.listening = func(base string) {
					s.hints = demoExamples(base, o.server.TLS != nil)
					if traffic {
						s.background = append(s.background, func(ctx context.Context) { demoTraffic(ctx, base, o.server.TLS != nil) })
					}
				}
				return nil
			})
		},
	}
	fs := cmd.Flags()
	addListenFlags(fs, "127.0.0.1:8080")
	addAllowedHostFlag(fs)
	addUpstreamFlags(fs)
	addSchemaFlags(fs, true)
	addRuleFlags(fs)
	addRecorderFlags(fs)
	addSessionFlags(fs)
	addOutputFlags(fs)
	fs.Bool("traffic", false, "send a gentle mix of requests through the proxy")
	return cmd
}

type demoBackend struct {
	url   *url.URL
	close func()
}

// startDemoBackend runs go-httpbin on a random loopback port.
func startDemoBackend() (*demoBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo backend: %w", err)
	}
	srv := &http.Server{
		Handler:           httpbin.New(httpbin.WithMaxDuration(30 * time.Second)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	u := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	return &demoBackend{url: u, close: func() { _ = srv.Close() }}, nil
}

func demoExamples(base string, insecure bool) []string {
	k := ""
	if insecure {
		k = "-k "
	}
	return []string{
		"Try it from another terminal:",
		"  curl " + k + base + "/anything",
		"  curl " + k + "-N '" + base + "/drip?duration=3&numbytes=6'",
		"  curl " + k + "-N '" + base + "/sse?delay=500ms&count=5'",
		"  curl " + k + "-i " + base + "/status/503",
		"  websocat " + strings.Replace(base, "http", "ws", 1) + "/websocket/echo   (any WebSocket client)",
		"or run devproxy demo --traffic for a steady stream.",
	}
}

// demoTraffic sends a slow, varied stream of requests so the UI has
// something to show: JSON, errors, streams, gzip, posts.
func demoTraffic(ctx context.Context, base string, insecure bool) {
	client := &http.Client{Timeout: 15 * time.Second}
	if insecure {
		client.Transport = insecureTransport()
	}
	paths := []struct {
		method, path, body string
	}{
		{"GET", "/get?page=1", ""},
		{"GET", "/json", ""},
		{"POST", "/post", `{"name":"devproxy","stars":42}`},
		{"GET", "/status/404", ""},
		{"GET", "/gzip", ""},
		{"GET", "/status/503", ""},
		{"GET", "/drip?duration=2&numbytes=5&delay=0", ""},
		{"PUT", "/anything/items/7", `{"done":true}`},
		{"GET", "/sse?delay=300ms&count=4", ""},
		{"GET", "/image/png", ""},
		{"DELETE", "/anything/items/7", ""},
		{"GET", "/delay/1", ""},
		{"GET", "/html", ""},
		{"POST", "/anything/form", "a=1&b=two"},
		{"GET", "/headers", ""},
	}
	for i := 0; ; i++ {
		p := paths[rand.IntN(len(paths))]
		go func() {
			var body io.Reader
			if p.body != "" {
				body = strings.NewReader(p.body)
			}
			req, err := http.NewRequestWithContext(ctx, p.method, base+p.path, body)
			if err != nil {
				return
			}
			if strings.HasPrefix(p.body, "{") {
				req.Header.Set("Content-Type", "application/json")
			} else if p.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.Header.Set("User-Agent", "devproxy-demo-traffic")
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(400+rand.IntN(1200)) * time.Millisecond):
		}
	}
}
