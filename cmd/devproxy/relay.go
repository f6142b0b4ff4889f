package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/regstore"
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
  DEVPROXY_ADMIN_TOKEN=… devproxy relay --no-tui
  devproxy relay --listen 0.0.0.0:9001 --public-url http://10.0.0.1:9001 --registry postgres://devproxy:secret@db:5432/devproxy   # one of a fleet behind a load balancer`,
		Args: cobra.NoArgs,
		RunE: runRelay,
	}
	fs := cmd.Flags()
	addListenFlags(fs, "127.0.0.1:9000")
	fs.String("state-dir", "", "where the backend registry and admin token hash live (default $XDG_STATE_HOME/devproxy/relay)")
	fs.String("registry", "", "keep the backend registry in PostgreSQL, shared by a fleet of relays: postgres://user:password@host:5432/dbname (tables are created on start); empty keeps it in a file in --state-dir")
	fs.String("public-url", "", "the URL clients and agents use to reach this relay (for the printed agent command); in a fleet, where agents reach this relay itself, not the load balancer (required)")
	fs.StringSlice("fleet", nil, "the `URL,URL…` of every relay of a fleet behind one load balancer (their --public-url): agents keep a tunnel to each; with --registry postgres://… the relays find each other there instead")
	fs.Duration("agent-wait", 10*time.Second, "how long a request waits for its backend's agent to (re)connect before 503")
	fs.String("admin-token", "", "admin API token (else generated on first start and printed once)")
	fs.Duration("flush-interval", 0, "batch response flushes this often; 0 flushes every write")
	// The relay asks a backend's server reflection through one of its
	// agents' tunnels (the agent records that call, as any it carries).
	addSchemaFlags(fs, true)
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

	// The rules and the gRPC schema files are checked before an admin
	// token is made that their errors would hide. The relay asks a
	// backend's gRPC reflection through one of its agents' tunnels, once
	// the relay exists (queries start at the first gRPC message decoded,
	// after it serves).
	rs, err := rulesFrom(cmd)
	if err != nil {
		return err
	}
	var relay *invert.Relay
	grpc, err := schemasFrom(cmd, backendsTransport(func(r *http.Request) (*http.Response, error) {
		return relay.BackendTransport().RoundTrip(r)
	}))
	if err != nil {
		return err
	}
	defer grpc.schemas.Close()

	registryURL, _ := fs.GetString("registry")
	store, err := openRegistryStore(cmd, registryURL, stateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	reg, err := invert.NewRegistry(store)
	if err != nil {
		return err
	}
	if err := addConfigBackends(cmd, reg); err != nil {
		return err
	}
	adminToken, _ := fs.GetString("admin-token")
	generated, err := reg.EnsureAdminToken(adminToken)
	if err != nil {
		return err
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
	stages, err := s.rulesStagesOf(cmd, rs)
	if err != nil {
		return err
	}
	s.useSchemas(grpc)
	fleet, err := fleetFrom(cmd, publicURL, registryURL, store)
	if err != nil {
		return err
	}
	relay, err = invert.NewRelay(invert.RelayOptions{Registry: reg, Tap: s.rec, AgentWait: agentWait, FlushInterval: flush, Logger: s.logger, StreamWindow: s.memory.window, Stages: stages, Holds: s.holds, Fleet: fleet})
	if err != nil {
		return err
	}
	srvOpts.Tap, srvOpts.Role, srvOpts.Logger = s.rec, record.RoleRelay, s.logger
	srv, err := proxy.Listen(srvOpts, relay)
	if err != nil {
		relay.Close() // it joined the fleet: leave it
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
	if registryURL != "" {
		// Other relays change the registry too: follow them, and say when
		// PostgreSQL goes away and comes back.
		s.background = append(s.background, func(ctx context.Context) {
			reg.Run(ctx, func(readOnly bool, err error) {
				if readOnly {
					s.logger.Warn(fmt.Sprintf("registry read-only: %v; serving the backends as last read, changes fail until PostgreSQL is back", err))
				} else {
					s.logger.Info("registry back: backends can be changed again")
				}
			})
		})
	}

	hints := relayHints(reg, base, fingerprint, generated)
	lines := hints()
	s.hints, s.hintsNow = lines, hints
	if s.useTUI() {
		s.banner = fmt.Sprintf("devproxy relay: listening on %s (%s)", srv.URL(), registryName(store, stateDir))
	} else {
		attrs := []any{"listen", srv.URL(), "state_dir", stateDir, "backends", len(reg.List())}
		if registryURL != "" {
			attrs = append(attrs, "registry", store.String())
		}
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

// relayHints returns the relay's hints, a function of the backends
// registered when it is called (through this relay's admin API, in the
// config file, or by another relay of the fleet that shares the registry):
// how to register one while there is none, then the agent command of each.
// An agent token is shown once, by the admin API: the commands say
// <TOKEN>, and a line says where it came from.
func relayHints(reg *invert.Registry, base, fingerprint, generatedAdmin string) func() []string {
	adminTok := "$ADMIN_TOKEN"
	if generatedAdmin != "" {
		adminTok = generatedAdmin
	}
	register := func(id, prefix string) string {
		return fmt.Sprintf(`  curl -s -H "Authorization: Bearer %s" -d '{"id":"%s","pathPrefixes":["%s"]}' %s/api/backends`, adminTok, id, prefix, base)
	}
	return func() []string {
		var lines []string
		if fingerprint != "" {
			lines = append(lines, "TLS certificate SHA-256: "+fingerprint)
		}
		if generatedAdmin != "" {
			lines = append(lines,
				adminTokenHint+", stored hashed): "+generatedAdmin,
				"  keep it, or set your own with --admin-token / $DEVPROXY_ADMIN_TOKEN")
		}
		bs := reg.List()
		if len(bs) == 0 {
			return append(lines,
				"no backends yet; register one:",
				register("web", "/"),
				"then, beside the private service, with the agentToken from the answer:",
				fmt.Sprintf("  devproxy agent --proxy %s --backend web --token <agentToken> --target http://localhost:3000", base))
		}
		lines = append(lines, fmt.Sprintf("%d %s registered; beside each private service, run its agent:", len(bs), plural(len(bs), "backend", "backends")))
		var fromAPI, fromConfig []string
		for _, b := range bs {
			route := strings.Join(b.PathPrefixes, " ")
			if len(b.Hosts) > 0 {
				route = strings.Join(b.Hosts, " ") + " " + route
			}
			token := " --token <TOKEN>"
			switch {
			case b.AgentAuth == "none":
				token = ""
			case b.Static:
				fromConfig = append(fromConfig, b.ID)
			default:
				fromAPI = append(fromAPI, b.ID)
			}
			lines = append(lines,
				fmt.Sprintf("backend %s (%s):", b.ID, route),
				fmt.Sprintf("  devproxy agent --proxy %s --backend %s%s --target http://localhost:3000", base, b.ID, token))
		}
		if len(fromAPI) > 0 {
			id := "ID"
			if len(fromAPI) == 1 {
				id = fromAPI[0]
			}
			lines = append(lines, fmt.Sprintf("<TOKEN> of %s: the agentToken in the admin API's answer that registered it (shown once; lost, DELETE %s/api/backends/%s and register it again)", strings.Join(fromAPI, ", "), base, id))
		}
		if len(fromConfig) > 0 {
			lines = append(lines, fmt.Sprintf("<TOKEN> of %s: its agentToken (or agentTokenEnv) in the config file", strings.Join(fromConfig, ", ")))
		}
		next := "api"
		for i := 2; ; i++ {
			if _, taken := reg.Get(next); !taken {
				break
			}
			next = fmt.Sprintf("api%d", i)
		}
		return append(lines, "register another:", register(next, "/"+next))
	}
}

// openRegistryStore opens the registry's store: PostgreSQL when --registry
// names it, else the file in stateDir.
func openRegistryStore(cmd *cobra.Command, registryURL, stateDir string) (regstore.Store, error) {
	if registryURL == "" {
		return regstore.OpenFile(stateDir)
	}
	src := flagSource(cmd, "registry")
	shown, err := regstore.RedactURL(registryURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if !regstore.IsPGURL(registryURL) {
		return nil, fmt.Errorf("%s %q: use a PostgreSQL URL, postgres://user:password@host:5432/dbname, or nothing for the file in --state-dir", src, shown)
	}
	ctx, cancel := context.WithTimeout(cmdContext(cmd), time.Minute)
	defer cancel()
	return regstore.OpenPG(ctx, registryURL)
}

// registryName says where the registry lives, for the UI header.
func registryName(store regstore.Store, stateDir string) string {
	if _, ok := store.(*regstore.FileStore); ok {
		return "state " + stateDir
	}
	return "registry " + store.String()
}

// fleetFrom makes the relay one of a fleet: a --fleet list, or the
// relays of a PostgreSQL registry. Either needs --public-url.
func fleetFrom(cmd *cobra.Command, publicURL, registryURL string, store regstore.Store) (*invert.FleetOptions, error) {
	fs := cmd.Flags()
	list, _ := fs.GetStringSlice("fleet")
	if len(list) == 0 && registryURL == "" {
		return nil, nil
	}
	if publicURL == "" {
		why := flagSource(cmd, "fleet") + " makes this relay one of a fleet"
		if len(list) == 0 {
			why = flagSource(cmd, "registry") + " (PostgreSQL) makes this relay one of the fleet of relays that share it"
		}
		return nil, fmt.Errorf("%s: give --public-url, the URL agents reach this relay at directly (not the load balancer's), e.g. --public-url http://10.0.0.5:9000", why)
	}
	o := &invert.FleetOptions{URL: publicURL}
	for _, u := range list {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if _, err := parseTarget(u, flagSource(cmd, "fleet")); err != nil {
			return nil, err
		}
		o.Static = append(o.Static, u)
	}
	if len(o.Static) == 0 {
		o.Store = store
	}
	return o, nil
}

// relayStatus summarizes agents for the UI header: in a fleet, its size,
// then per backend the agents connected to this relay.
func relayStatus(relay *invert.Relay, reg *invert.Registry) string {
	var parts []string
	if st, ok := relay.Fleet(); ok {
		fleet := fmt.Sprintf("fleet: %d relays", len(st.Members))
		if st.Err != nil {
			fleet += " (registry unreachable: as last seen)"
		}
		parts = append(parts, fleet)
	}
	bs := reg.List()
	if len(bs) == 0 {
		return strings.Join(append(parts, "no backends registered"), " · ")
	}
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

// backendsTransport is a RoundTripper made of a function: the relay's
// transport to its backends, which exists only once the relay does.
type backendsTransport func(*http.Request) (*http.Response, error)

func (f backendsTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
