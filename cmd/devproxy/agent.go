package main

import (
	"context"
	"fmt"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/spf13/cobra"
)

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent --proxy URL --backend ID --target URL",
		Short: "Private side of the inverting proxy: dial out to a relay and serve its requests from a local backend",
		Long: `agent runs beside a private backend. It dials out to the relay (so the backend
needs no inbound port and no certificate), receives the requests clients send
to the relay, forwards them to --target through devproxy's proxy engine, and
streams the answers back. It reconnects with backoff while the relay is away;
a relay that goes on rejecting its token (10 s, three attempts at least)
makes it exit with status 2 and a message saying how to get a token.

Transports: tunnel (default; HTTP/2 multiplexed over one connection opened
with an HTTP/1.1 Upgrade, or over a WebSocket when something on the way
passes nothing else; WebSockets from clients pass through), websocket (the
tunnel over a WebSocket from the start, for a way that holds other
upgrades), poll (the long-poll protocol of Google's inverting proxy, for its
relays), auto (tunnel, falling back to poll). With a relay that predates
HTTP/2 tunnels, tunnel speaks its protocol (yamux over a WebSocket).`,
		Example: `  devproxy agent --proxy http://127.0.0.1:9000 --backend web --token dpt_… --target http://localhost:3000
  DEVPROXY_TOKEN=dpt_… devproxy agent --proxy https://relay.example.com --backend web --target http://localhost:3000 --no-tui
  devproxy agent --proxy https://notebooks.example.com/ --backend web --transport poll --target http://localhost:8888`,
		Args: cobra.NoArgs,
		RunE: runAgent,
	}
	fs := cmd.Flags()
	fs.String("proxy", "", "the relay's URL, e.g. https://relay.example.com (required)")
	fs.String("backend", "", "the backend id this agent serves (required)")
	fs.String("token", "", "the backend's agent token (from the relay's admin API); also $DEVPROXY_TOKEN")
	fs.String("target", "", "the private service, e.g. http://localhost:3000 (required)")
	fs.String("transport", "tunnel", "how to reach the relay: tunnel, websocket, poll or auto")
	fs.String("proxy-ca", "", "PEM file of CA certificates to trust for an https relay")
	fs.Bool("proxy-insecure", false, "do not verify an https relay's certificate")
	fs.Duration("shutdown-timeout", 5*time.Second, "on exit, take no new requests and wait this long for in-flight exchanges")
	addUpstreamFlags(fs)
	addSchemaFlags(fs, true)
	addRuleFlags(fs)
	addRecorderFlags(fs)
	addSessionFlags(fs)
	addOutputFlags(fs)
	return cmd
}

func runAgent(cmd *cobra.Command, args []string) error {
	fs := cmd.Flags()
	relayRaw, _ := fs.GetString("proxy")
	if relayRaw == "" {
		return fmt.Errorf("--proxy is required: the relay's URL, e.g. --proxy http://127.0.0.1:9000")
	}
	// A relay URL may carry a path prefix, as a target may.
	relayURL, err := parseTarget(relayRaw, flagSource(cmd, "proxy"))
	if err != nil {
		return err
	}
	backend, _ := fs.GetString("backend")
	if backend == "" {
		return fmt.Errorf("--backend is required: the backend id registered on the relay, e.g. --backend web")
	}
	token, _ := fs.GetString("token")
	targetRaw, _ := fs.GetString("target")
	target, err := parseTarget(targetRaw, flagSource(cmd, "target"))
	if err != nil {
		return err
	}
	tr, _ := fs.GetString("transport")
	switch invert.Mode(tr) {
	case invert.ModeTunnel, invert.ModeWebSocket, invert.ModePoll, invert.ModeAuto:
	default:
		return fmt.Errorf("%s %q: must be tunnel, websocket, poll or auto", flagSource(cmd, "transport"), tr)
	}
	upstream, preserveHost, flush, err := upstreamFrom(cmd)
	if err != nil {
		return err
	}
	limits, out, err := recordingFrom(cmd)
	if err != nil {
		return err
	}
	transport, err := proxy.NewTransport(upstream)
	if err != nil {
		return flagError(err)
	}
	grpc, err := schemasFrom(cmd, transport)
	if err != nil {
		return err
	}
	s, err := newRoleRun(cmd, record.RoleAgent, limits, out)
	if err != nil {
		grpc.schemas.Close()
		return err
	}
	defer s.close()
	s.useSchemas(grpc)
	s.shutdown, _ = fs.GetDuration("shutdown-timeout")
	stages, err := s.rulesStages(cmd)
	if err != nil {
		return err
	}
	h, err := proxy.New(proxy.Options{
		Stages:         stages,
		Target:         target,
		Role:           record.RoleAgent,
		Tap:            s.rec,
		Transport:      transport,
		PreserveHost:   preserveHost,
		TrustForwarded: true, // the relay set them, over an authenticated tunnel
		FlushInterval:  flush,
		Logger:         s.logger,
		ErrorHints:     upstreamErrorHints,
	})
	if err != nil {
		return err
	}
	caFile, _ := fs.GetString("proxy-ca")
	insecure, _ := fs.GetBool("proxy-insecure")
	agent, err := invert.NewAgent(invert.AgentOptions{
		Relay: relayURL, Backend: backend, Token: token, Mode: invert.Mode(tr),
		Handler: h, RelayCAFile: caFile, RelayInsecure: insecure, Logger: s.logger,
		StreamWindow: s.memory.window,
	})
	if err != nil {
		return flagError(err)
	}
	s.background = append(s.background, func(ctx context.Context) { runAgentUntil(ctx, agent, s) })
	s.status = agent.Status
	s.replayer = proxy.NewReplayer(h, s.history())
	s.listen = fmt.Sprintf("relay %s (backend %s)", relayURL, backend)
	s.target = h.Target()
	if s.useTUI() {
		s.banner = fmt.Sprintf("devproxy agent: relay %s backend %s → %s (%s)", relayURL, backend, h.Target(), tr)
	} else {
		s.logger.Info("devproxy agent: starting", "relay", relayURL.String(), "backend", backend, "target", h.Target(), "transport", tr)
	}
	return s.run(cmdContext(cmd))
}

// runAgentUntil serves until ctx ends (a signal, or the UI quit), then shuts
// the agent down gracefully: no new requests, and those in flight get up to
// --shutdown-timeout to finish. An agent that stops by itself (the relay
// rejects its token) ends the run with its error.
func runAgentUntil(ctx context.Context, agent *invert.Agent, s *roleRun) {
	runCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()
	done := make(chan struct{})
	var runErr error
	go func() { runErr = agent.Run(runCtx); close(done) }()
	select {
	case <-done:
		if runErr != nil {
			endRun(s, runErr)
		}
		return
	case <-ctx.Done():
	}
	sdctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	if err := agent.Shutdown(sdctx); err != nil {
		s.logger.Warn("agent: shutdown timeout passed; requests still in flight were cancelled", "timeout", s.shutdown.String())
	}
	<-done
}

// endRun ends the run of s with err, as a server that stopped would: the UI
// closes, and the command fails with err (exit status 2), its message the
// last line on the terminal.
func endRun(s *roleRun, err error) {
	s.serversMu.Lock()
	errc := s.errc
	s.serversMu.Unlock()
	select {
	case errc <- err:
	default: // the run is ending for another reason already
	}
}
