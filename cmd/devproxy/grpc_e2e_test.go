package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/grpctest"
)

// TestGRPCEndToEnd runs the roles as the command line starts them, with a
// grpc-go client and server on either side: serve on a plain listener (h2c)
// and with --tls, and relay + agent over the tunnel. Every call kind,
// status, deadline, cancellation, size and compression case of
// grpctest.RunSuite goes through.
func TestGRPCEndToEnd(t *testing.T) {
	isolate(t)
	backend := grpctest.Start(t, grpctest.Options{})

	t.Run("serve", func(t *testing.T) {
		r := startRole(t, "serve", "--target", backend.URL, "--no-session")
		grpctest.RunSuite(t, grpctest.Dial(t, r.url, nil), backend)
	})
	t.Run("serve-tls", func(t *testing.T) {
		cert, key, pool := grpctest.LoopbackCertFiles(t)
		r := startRole(t, "serve", "--target", backend.URL, "--no-session", "--tls", "--cert", cert, "--key", key)
		if !strings.HasPrefix(r.url, "https://") {
			t.Fatalf("serve --tls listens on %s", r.url)
		}
		grpctest.RunSuite(t, grpctest.Dial(t, r.url, pool), backend)
	})
	t.Run("relay+agent", func(t *testing.T) {
		cfg := writeConfig(t, "backends:\n  - id: grpc\n    pathPrefixes: [\"/\"]\n    agentAuth: none\n")
		relay := startRole(t, "relay", "--config", cfg, "--state-dir", t.TempDir(), "--no-session")
		startGRPCAgent(t, "agent", "--proxy", relay.url, "--backend", "grpc", "--target", backend.URL, "--no-tui", "--no-session")
		grpctest.RunSuite(t, grpctest.Dial(t, relay.url, nil), backend)
	})
}

// startGRPCAgent runs the agent headless, like runRole, and waits until it has
// connected to its relay (an agent listens nowhere).
func startGRPCAgent(t *testing.T, args ...string) {
	t.Helper()
	root := newRootCmd()
	out := newWatchedOutput()
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("the agent did not stop:\n%s", out.String())
		}
	})
	out.waitMatch(t, regexp.MustCompile(`connected to the relay`))
}
