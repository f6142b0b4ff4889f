package invert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// grpcRig is a grpc-go client → relay (served as the relay command serves
// it: h2c, or TLS) → tunnel → agent → grpc-go server.
type grpcRig struct {
	backend  *grpctest.Server
	relaySrv *proxy.Server
	relay    *Relay
	relayRec *record.Recorder
	agentRec *record.Recorder
	pool     *x509.CertPool // trusts relaySrv when it serves TLS
}

func newGRPCRig(t *testing.T, mode Mode, tlsIn bool) *grpcRig {
	t.Helper()
	g := &grpcRig{backend: grpctest.Start(t, grpctest.Options{})}
	reg, err := OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g.relayRec = record.NewRecorder(record.Limits{})
	g.relay, err = NewRelay(RelayOptions{Registry: reg, Tap: g.relayRec, AgentWait: 5 * time.Second, PollHold: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	so := proxy.ServerOptions{Listen: "127.0.0.1:0", Tap: g.relayRec, Role: record.RoleRelay}
	caFile := ""
	if tlsIn {
		certFile, keyFile, pool := grpctest.LoopbackCertFiles(t)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		so.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		g.pool, caFile = pool, certFile
	}
	g.relaySrv, err = proxy.Listen(so, g.relay)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.relaySrv.Serve() }()
	t.Cleanup(func() { g.relay.Close(); _ = g.relaySrv.Close() })
	tok, err := reg.Create(Backend{ID: "grpc", PathPrefixes: []string{"/"}, Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}

	target, _ := url.Parse(g.backend.URL)
	g.agentRec = record.NewRecorder(record.Limits{})
	tr, err := proxy.NewTransport(proxy.TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: g.agentRec, TrustForwarded: true, Logger: quiet, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	relayURL, _ := url.Parse(g.relaySrv.URL())
	a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: "grpc", Token: tok, Mode: mode, Handler: h, Logger: quiet, RelayCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), testTimeout)
	defer wcancel()
	if err := g.relay.WaitForAgent(wctx, "grpc"); err != nil {
		t.Fatalf("agent never connected: %v", err)
	}
	return g
}

func TestGRPCThroughTunnel(t *testing.T) {
	for _, c := range []struct {
		mode  Mode
		tlsIn bool
	}{
		{ModeTunnel, false}, {ModeTunnel, true}, {ModeWebSocket, false}, {ModeYamux, false}, {ModePoll, false},
	} {
		name := string(c.mode)
		if c.tlsIn {
			name += "/tls"
		}
		t.Run(name, func(t *testing.T) {
			g := newGRPCRig(t, c.mode, c.tlsIn)
			cc := grpctest.Dial(t, g.relaySrv.Addr().String(), g.pool)
			// Every case on every transport: on poll, a client that goes
			// away makes the relay answer the agent's response post at
			// once, and the agent cancels the backend's call.
			grpctest.RunSuite(t, cc, g.backend)

			// Each side records its client's protocol and its upstream's: the
			// hop between relay and agent is HTTP/2 on the h2 tunnel and
			// HTTP/1.1 on yamux streams and poll.
			hop := "HTTP/2.0"
			if c.mode == ModeYamux || c.mode == ModePoll {
				hop = "HTTP/1.1"
			}
			for _, side := range []struct {
				name    string
				rec     *record.Recorder
				in, out string
			}{{"relay", g.relayRec, "HTTP/2.0", hop}, {"agent", g.agentRec, hop, "HTTP/2.0"}} {
				x := waitRecordedGRPC(t, side.rec)
				if x.Request.Proto != side.in || x.Response.Proto != side.out {
					t.Errorf("%s recorded client side %q, upstream side %q; want %q and %q", side.name, x.Request.Proto, x.Response.Proto, side.in, side.out)
				}
			}
		})
	}
}

// waitRecordedGRPC waits for the unary exchange of the suite to be recorded.
func waitRecordedGRPC(t *testing.T, rec *record.Recorder) record.Exchange {
	t.Helper()
	sub := rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(testTimeout)
	for {
		for _, x := range rec.Snapshot() {
			if x.State == record.Done && strings.HasSuffix(x.Request.URL, grpctest.UnaryMethod) {
				return x
			}
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("no unary gRPC exchange was recorded; have %d exchanges", len(rec.Snapshot()))
		}
	}
}
