package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/spf13/cobra"
)

func init() { extraConfigKeys["backends"] = true }

func newRelayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Public side of the inverting proxy: clients call it, agents beside private backends dial in",
		Long: `relay is a public server that clients call. It has no route to the backends:
each backend runs "devproxy agent" beside it, which dials out to the relay and
carries requests in and responses back. Agents connect over a tunnel (HTTP/2
over one connection the agent opens, or over a WebSocket when nothing else
passes) or the long-poll protocol of Google's inverting proxy, which this
relay also speaks.

Backends are registered through the admin API (or in the config file):
  curl -H "Authorization: Bearer $ADMIN_TOKEN" -d '{"id":"web","pathPrefixes":["/"]}' http://127.0.0.1:9000/api/backends
The answer holds the backend's agent token, shown once.`,
		Example: `  devproxy relay
  devproxy relay --listen 0.0.0.0:9000 --tls --cert relay.pem --key relay.key --public-url https://relay.example.com
  DEVPROXY_ADMIN_TOKEN=… devproxy relay --no-tui`,
		Args: cobra.NoArgs,
		RunE: runRelay,
	}
	fs := cmd.Flags()
	addListenFlags(fs, "127.0.0.1:9000")
	fs.String("state-dir", "", "where the backend registry and admin token hash live (default $XDG_STATE_HOME/devproxy/relay)")
	fs.String("public-url", "", "the URL clients and agents use to reach this relay (for the printed agent command)")
	fs.Duration("agent-wait", 10*time.Second, "how long a request waits for its backend's agent to (re)connect before 503")
	fs.String("admin-token", "", "admin API token (else generated on first start and printed once)")
	fs.Duration("flush-interval", 0, "batch response flushes this often; 0 flushes every write")
	addRecorderFlags(fs)
	addRuleFlags(fs)
	addSessionFlags(fs)
	addOutputFlags(fs)
	return cmd
}

func defaultStateDir() string {
	if home := stateHome(); home != "" {
		return filepath.Join(home, "relay")
	}
	return ""
}

func runRelay(cmd *cobra.Command, args []string) error {
	fs := cmd.Flags()
	srvOpts, fingerprint, err := serverOptionsFrom(cmd)
	if err != nil {
		return err
	}
	limits, out, err := recordingFrom(cmd)
	if err != nil {
		return err
	}
	// newRoleRun sizes the recorder from --max-memory; check it before an
	// admin token is made that its error would hide.
	if _, _, err := memoryFrom(cmd, limits); err != nil {
		return err
	}
	stateDir, _ := fs.GetString("state-dir")
	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	agentWait, _ := fs.GetDuration("agent-wait")
	if agentWait < 0 {
		return fmt.Errorf("%s %s: must not be negative", flagSource(cmd, "agent-wait"), agentWait)
	}
	flush, _ := fs.GetDuration("flush-interval")
	publicURL, _ := fs.GetString("public-url")
	if publicURL != "" {
		if _, err := parseTarget(publicURL, flagSource(cmd, "public-url")); err != nil {
			return err
		}
	}
	shutdown, _ := fs.GetDuration("shutdown-timeout")

	reg, err := invert.OpenRegistry(stateDir)
	if err != nil {
		return err
	}
	if err := addConfigBackends(cmd, reg); err != nil {
		return err
	}
	adminToken, _ := fs.GetString("admin-token")
	generated, err := reg.EnsureAdminToken(adminToken)
	if err != nil {
		return fmt.Errorf("relay state %s: %w", stateDir, err)
	}

	s, err := newRoleRun(cmd, record.RoleRelay, limits, out)
	if err != nil {
		return err
	}
	defer s.close()
	if cert, _ := fs.GetString("cert"); srvOpts.TLS != nil && cert == "" {
		s.selfSignedTLS = true // copy as curl adds -k
	}
	s.shutdown = shutdown
	stages, err := s.rulesStages(cmd)
	if err != nil {
		return err
	}
	relay, err := invert.NewRelay(invert.RelayOptions{Registry: reg, Tap: s.rec, AgentWait: agentWait, FlushInterval: flush, Logger: s.logger, StreamWindow: s.memory.window, Stages: stages, Holds: s.holds})
	if err != nil {
		return err
	}
	srvOpts.Tap, srvOpts.Role, srvOpts.Logger = s.rec, record.RoleRelay, s.logger
	srv, err := proxy.Listen(srvOpts, relay)
	if err != nil {
		return err
	}
	s.servers = append(s.servers, srv)
	s.drain = append(s.drain, relay.Drain)
	s.closers = append(s.closers, relay.Close)
	s.replayer = relay.Replayer(s.history())
	base := srv.URL()
	if publicURL != "" {
		base = strings.TrimSuffix(publicURL, "/")
	}
	s.listen, s.target = srv.URL(), "agents"
	s.status = func() string { return relayStatus(relay, reg) }

	var lines []string
	if fingerprint != "" {
		lines = append(lines, "TLS certificate SHA-256: "+fingerprint)
	}
	if generated != "" {
		lines = append(lines,
			"admin token (shown once, stored hashed): "+generated,
			"  keep it, or set your own with --admin-token / $DEVPROXY_ADMIN_TOKEN")
	}
	if len(reg.List()) == 0 {
		tok := "$ADMIN_TOKEN"
		if generated != "" {
			tok = generated
		}
		lines = append(lines,
			"no backends yet; register one:",
			fmt.Sprintf(`  curl -s -H "Authorization: Bearer %s" -d '{"id":"web","pathPrefixes":["/"]}' %s/api/backends`, tok, base),
			"then, beside the private service, with the agentToken from the answer:",
			fmt.Sprintf("  devproxy agent --proxy %s --backend web --token <agentToken> --target http://localhost:3000", base))
	} else {
		for _, b := range reg.List() {
			lines = append(lines, fmt.Sprintf("backend %s: %s", b.ID, strings.Join(b.PathPrefixes, " ")))
		}
	}
	s.hints = lines
	if s.useTUI() {
		s.banner = fmt.Sprintf("devproxy relay: listening on %s (state %s)", srv.URL(), stateDir)
	} else {
		attrs := []any{"listen", srv.URL(), "state_dir", stateDir, "backends", len(reg.List())}
		if fingerprint != "" {
			attrs = append(attrs, "tls_sha256", fingerprint)
		}
		s.logger.Info("devproxy relay: listening", attrs...)
		for _, l := range lines {
			fmt.Fprintln(s.stderr, l)
		}
	}
	return s.run(cmdContext(cmd))
}

// relayStatus summarizes agents for the UI header.
func relayStatus(relay *invert.Relay, reg *invert.Registry) string {
	bs := reg.List()
	if len(bs) == 0 {
		return "no backends registered"
	}
	var parts []string
	for _, b := range bs {
		st := relay.Status(b.ID)
		switch {
		case st.Agents == 0:
			parts = append(parts, b.ID+": no agent")
		default:
			parts = append(parts, fmt.Sprintf("%s: %d agent(s) %s", b.ID, st.Agents, strings.Join(st.Transports, "+")))
		}
	}
	return strings.Join(parts, " · ")
}

// addConfigBackends registers the backends declared in the config file:
//
//	backends:
//	  - id: web
//	    pathPrefixes: ["/"]
//	    hosts: ["app.example.com"]      # optional
//	    access: public                  # or {tokens: ["…"]}
//	    agentToken: "…"                 # or agentTokenEnv: WEB_AGENT_TOKEN
//	    rules: ["path:/x => status 418"] # optional, in the --rule syntax
func addConfigBackends(cmd *cobra.Command, reg *invert.Registry) error {
	v := configViper(cmd)
	if v == nil || !v.IsSet("backends") {
		return nil
	}
	raw, err := json.Marshal(v.Get("backends"))
	if err != nil {
		return fmt.Errorf("config: backends: %v", err)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("config: backends must be a list of maps (id, pathPrefixes, hosts, access, agentToken, rules): %v", err)
	}
	for i, m := range list {
		// viper lower-cases keys; accept any case.
		get := func(key string) json.RawMessage {
			for k, val := range m {
				if strings.EqualFold(k, key) {
					return val
				}
			}
			return nil
		}
		for k := range m {
			switch strings.ToLower(k) {
			case "id", "pathprefixes", "hosts", "access", "agenttoken", "agenttokenenv", "agentauth", "rules":
			default:
				return fmt.Errorf("config: backends[%d]: unknown key %q (allowed: id, pathPrefixes, hosts, access, agentToken, agentTokenEnv, agentAuth, rules)", i, k)
			}
		}
		var b invert.Backend
		var tok, tokEnv string
		for _, f := range []struct {
			key string
			dst any
		}{{"id", &b.ID}, {"pathPrefixes", &b.PathPrefixes}, {"hosts", &b.Hosts}, {"agentToken", &tok}, {"agentTokenEnv", &tokEnv}, {"agentAuth", &b.AgentAuth}, {"rules", &b.Rules}} {
			if val := get(f.key); val != nil {
				if err := json.Unmarshal(val, f.dst); err != nil {
					return fmt.Errorf("config: backends[%d].%s: %v", i, f.key, err)
				}
			}
		}
		if tokEnv != "" {
			tok = os.Getenv(tokEnv)
			if tok == "" {
				return fmt.Errorf("config: backends[%d] (%s): $%s is empty", i, b.ID, tokEnv)
			}
		}
		access, err := invert.ParseAccess(get("access"))
		if err != nil {
			return fmt.Errorf("config: backends[%d] (%s): %v", i, b.ID, err)
		}
		b.Access = access
		if err := reg.AddStatic(b, tok); err != nil {
			return fmt.Errorf("config: backends[%d]: %v", i, err)
		}
	}
	return nil
}
