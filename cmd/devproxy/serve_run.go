package main

import (
	"context"
	"fmt"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/route"
	"github.com/spf13/cobra"
)

// runServe starts the proxy for o. prepare, when set, adjusts the session
// before it runs (demo adds its backend and traffic).
func runServe(cmd *cobra.Command, o *serveOptions, prepare func(*roleRun) error) error {
	transport, err := proxy.NewTransport(o.transport)
	if err != nil {
		return flagError(err)
	}
	grpc, err := schemasFrom(cmd, transport)
	if err != nil {
		return err
	}
	s, err := newRoleRun(cmd, record.RoleServe, o.limits, o.out)
	if err != nil {
		grpc.schemas.Close()
		return err
	}
	defer s.close()
	s.useSchemas(grpc)
	s.shutdown = o.shutdownTimeout
	if prepare != nil {
		if err := prepare(s); err != nil {
			return err
		}
	}
	popts := proxy.Options{
		Target:        o.target,
		Role:          record.RoleServe,
		Tap:           s.rec,
		Transport:     transport,
		PreserveHost:  o.preserveHost,
		FlushInterval: o.flushInterval,
		Logger:        s.logger,
		ErrorHints:    upstreamErrorHints,
	}
	if popts.Stages, err = s.rulesStages(cmd); err != nil {
		return err
	}
	if o.routing != nil {
		table, err := s.newRouteTable(o.routing.specs(), transport, o.routing.showHealth)
		if err != nil {
			if o.routing.configPath != "" {
				return fmt.Errorf("config file %s: %w", o.routing.configPath, err)
			}
			return flagError(err)
		}
		sw := route.NewSwitch(table)
		popts.Router, popts.TargetName = sw, routesName(table)
		popts.Stages = append(popts.Stages, sw)
		s.status = healthStatus(sw)
		watch := s.newRouteWatch(o.routing)
		s.background = append(s.background, func(ctx context.Context) {
			sw.Current().Start(ctx)
			s.watchRoutes(ctx, cmd, o.routing, watch, sw, transport)
			sw.Current().Close()
		})
	}
	h, err := proxy.New(popts)
	if err != nil {
		return err
	}
	o.server.Tap, o.server.Role, o.server.Logger = s.rec, record.RoleServe, s.logger
	if o.routing != nil {
		o.routing.prepareListener(cmd, &o.server)
	}
	srv, err := proxy.Listen(o.server, h)
	if err != nil {
		return err
	}
	if o.routing != nil {
		o.routing.ln.listening(srv, o.server, h)
		s.listenNow = o.routing.ln.URL
	}
	s.servers = append(s.servers, srv)
	s.listen, s.target = srv.URL(), h.Target()
	if s.listening != nil {
		s.listening(s.listen)
	}
	s.replayer = proxy.NewReplayer(h, s.history())
	if cert, _ := cmd.Flags().GetString("cert"); o.server.TLS != nil && cert == "" {
		s.selfSignedTLS = true
	}
	attrs := []any{"listen", srv.URL(), "target", h.Target()}
	if o.tlsFingerprint != "" {
		attrs = append(attrs, "tls_sha256", o.tlsFingerprint)
	}
	if !s.useTUI() {
		s.logger.Info("devproxy serve: listening", attrs...)
		for _, line := range s.hints {
			fmt.Fprintln(s.stderr, line)
		}
	} else {
		s.banner = fmt.Sprintf("devproxy serve: %s → %s", srv.URL(), h.Target())
		if o.tlsFingerprint != "" {
			s.hints = append([]string{"TLS certificate SHA-256: " + o.tlsFingerprint}, s.hints...)
		}
	}
	return s.run(cmdContext(cmd))
}
