package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/route"
	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

func init() { extraConfigKeys["routes"] = true }

// addRouteFlags adds serve's --route.
func addRouteFlags(fs *pflag.FlagSet) {
	fs.Bool("show-health", false, "list the routes' active health checks as exchanges (they are not otherwise: they are not your traffic)")
	fs.StringArray("route", nil, "add a route: 'PATH=URL[,URL…]' or 'HOST/PATH=URL' (repeatable; longest path wins; routes with health checks, retries, cache, rate limits and auth go in the config file's routes:)")
}

// routing is serve's route table when it has more than one upstream or any
// route: the specs given on the command line and the config file's, which
// a reload reads again.
type routing struct {
	// flagSpecs are the routes from --route and --target, which a reload
	// keeps; configSpecs those read from the config file.
	flagSpecs, configSpecs []route.Spec
	// configPath is the config file the routes came from, watched for
	// changes; "" when it had none.
	configPath string
	// showHealth records health checks as exchanges (--show-health).
	showHealth bool
	// ln is serve's listener, which a reload may move or give a new
	// certificate; nil until serve listens.
	ln *listener
}

// listener is what a reload may change of serve's listener: the address
// (when the config file gives it) and the certificate files (read again on
// every reload, so a renewed certificate is picked up).
type listener struct {
	srv      *proxy.Server
	opts     proxy.ServerOptions
	handler  http.Handler
	url      atomic.Pointer[string]
	cert     atomic.Pointer[tls.Certificate]
	certFile string
	keyFile  string
}

// prepareListener makes serve's TLS certificate replaceable: with --cert
// and --key, the listener asks for the current one on every handshake.
func (r *routing) prepareListener(cmd *cobra.Command, o *proxy.ServerOptions) {
	r.ln = &listener{}
	r.ln.certFile, _ = cmd.Flags().GetString("cert")
	r.ln.keyFile, _ = cmd.Flags().GetString("key")
	if o.TLS == nil || r.ln.certFile == "" || len(o.TLS.Certificates) == 0 {
		return
	}
	r.ln.cert.Store(&o.TLS.Certificates[0])
	o.TLS = o.TLS.Clone()
	o.TLS.Certificates = nil
	o.TLS.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.ln.cert.Load(), nil }
}

// listening notes the server serve started with.
func (l *listener) listening(srv *proxy.Server, opts proxy.ServerOptions, h http.Handler) {
	l.srv, l.opts, l.handler = srv, opts, h
	u := srv.URL()
	l.url.Store(&u)
}

// URL is where serve listens now.
func (l *listener) URL() string { return *l.url.Load() }

// fromConfig is the value of a flag's key in the reloaded file v when the
// flag's value came from the config file (the command line and the
// environment win over the file), else the value in use.
func fromConfig(cmd *cobra.Command, v *viper.Viper, name, current string) string {
	if !strings.HasPrefix(flagSource(cmd, name), "config file") {
		return current
	}
	if v.IsSet(name) {
		return v.GetString(name)
	}
	if f := cmd.Flags().Lookup(name); f != nil {
		return f.DefValue
	}
	return current
}

// reloadListener opens what the reloaded file v asks of the listener, without
// serving yet: a new listener when the address changed, a new certificate
// when TLS comes from files. commit puts them in service.
func (s *roleRun) reloadListener(cmd *cobra.Command, l *listener, v *viper.Viper) (commit func(), err error) {
	if l == nil || l.srv == nil {
		return func() {}, nil
	}
	var cert *tls.Certificate
	if l.certFile != "" {
		certFile := fromConfig(cmd, v, "cert", l.certFile)
		keyFile := fromConfig(cmd, v, "key", l.keyFile)
		c, err := proxy.LoadKeyPair(certFile, keyFile, "cert", "key")
		if err != nil {
			return nil, err
		}
		cert = &c
		l.certFile, l.keyFile = certFile, keyFile
	}
	addr, err := parseListen(fromConfig(cmd, v, "listen", l.opts.Listen))
	if err != nil {
		return nil, fmt.Errorf("listen %w", err)
	}
	var next *proxy.Server
	if addr != l.opts.Listen {
		opts := l.opts
		opts.Listen = addr
		if next, err = proxy.Listen(opts, l.handler); err != nil {
			return nil, err
		}
	}
	return func() {
		if cert != nil {
			l.cert.Store(cert)
		}
		if next == nil {
			return
		}
		old := l.srv
		l.opts.Listen = addr
		l.listening(next, l.opts, l.handler)
		s.replaceServer(old, next)
		s.logger.Info("listening on "+next.URL()+"; "+old.URL()+" takes no new connections and closes when its exchanges finish", "listen", next.URL())
	}, nil
}

func (r *routing) specs() []route.Spec {
	return append(append([]route.Spec(nil), r.flagSpecs...), r.configSpecs...)
}

// routingFrom reads --target (repeatable), --route and the config file's
// routes:. It returns nil when there is exactly one target and no route:
// serve then sends everything to that target, as it always has.
func routingFrom(cmd *cobra.Command) (*routing, *url.URL, error) {
	fs := cmd.Flags()
	raws, _ := fs.GetStringArray("target")
	var targets []*url.URL
	for _, raw := range raws {
		for _, one := range strings.Split(raw, ",") {
			t, err := parseTarget(strings.TrimSpace(one), flagSource(cmd, "target"))
			if err != nil {
				return nil, nil, err
			}
			targets = append(targets, t)
		}
	}
	r := &routing{}
	r.showHealth, _ = fs.GetBool("show-health")
	flags, _ := fs.GetStringArray("route")
	for _, raw := range flags {
		spec, err := route.ParseFlag(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %q: %w", flagSource(cmd, "route"), raw, err)
		}
		r.flagSpecs = append(r.flagSpecs, spec)
	}
	if v := configViper(cmd); v != nil && v.IsSet("routes") {
		path := v.ConfigFileUsed()
		specs, err := route.Decode(v.Get("routes"))
		if err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", path, err)
		}
		r.configSpecs, r.configPath = specs, path
	}
	switch {
	case len(r.flagSpecs) == 0 && len(r.configSpecs) == 0 && len(targets) == 0:
		_, err := parseTarget("", flagSource(cmd, "target"))
		return nil, nil, err
	case len(r.flagSpecs) == 0 && len(r.configSpecs) == 0 && len(targets) == 1:
		return nil, targets[0], nil
	}
	if len(targets) > 0 {
		// The targets are one pool behind every path no route takes.
		spec := route.Spec{Name: "target", Match: route.MatchSpec{Path: "/"}}
		for _, t := range targets {
			spec.Upstreams = append(spec.Upstreams, t.String())
		}
		r.flagSpecs = append(r.flagSpecs, spec)
	}
	return r, nil, nil
}

// newRouteTable builds a table for specs with serve's transport and logger.
func (s *roleRun) newRouteTable(specs []route.Spec, transport http.RoundTripper, showHealth bool) (*route.Table, error) {
	o := route.Options{Logger: s.logger, Transport: transport}
	if showHealth {
		o.HealthClient = &http.Client{
			Transport:     proxy.RecordTransport(s.rec, record.RoleServe, []record.Mark{{Stage: "route", Name: "health", Value: "check"}}, transport),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return route.New(specs, o)
}

// healthStatus is the UI header's text for the pools: "api 2/3 up" for
// each route with more than one upstream or with health checks that took
// one down.
func healthStatus(sw *route.Switch) func() string {
	return func() string {
		var parts []string
		for _, p := range sw.Health() {
			if p.Total < 2 && p.Up == p.Total {
				continue
			}
			parts = append(parts, p.Route+" "+strconv.Itoa(p.Up)+"/"+strconv.Itoa(p.Total)+" up")
		}
		return strings.Join(parts, " · ")
	}
}

// routeWatch is what a running serve listens on for reloads: changes of
// the config file, and SIGHUP when headless. It is set up before serve says it listens, so
// a change made right after is not missed.
type routeWatch struct {
	hup     chan os.Signal
	watcher *fsnotify.Watcher // nil when the file is not watched
}

func (s *roleRun) newRouteWatch(r *routing) *routeWatch {
	w := &routeWatch{hup: make(chan os.Signal, 1)}
	if !s.useTUI() {
		// With the UI, SIGHUP is the terminal going away, which ends the
		// run; the file is still watched.
		signal.Notify(w.hup, syscall.SIGHUP)
	}
	if r.configPath == "" {
		return w
	}
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		// The directory, not the file: editors that save by replacing the
		// file would end a watch on the file itself.
		if err = fw.Add(filepath.Dir(r.configPath)); err != nil {
			fw.Close()
		}
	}
	if err != nil {
		s.logger.Warn("routes: not watching the config file; reload with SIGHUP (headless) or a restart", "file", r.configPath, "error", err)
		return w
	}
	w.watcher = fw
	return w
}

func (w *routeWatch) close() {
	signal.Stop(w.hup)
	if w.watcher != nil {
		w.watcher.Close()
	}
}

// watchRoutes reloads the routes when the config file changes or on SIGHUP,
// until ctx ends. A reload reads and validates the whole file, builds a new
// table and swaps it in: exchanges in flight finish on the old one, and
// connections stay open. A bad file keeps the running routes and says why.
func (s *roleRun) watchRoutes(ctx context.Context, cmd *cobra.Command, r *routing, w *routeWatch, sw *route.Switch, transport http.RoundTripper) {
	defer w.close()
	var events <-chan fsnotify.Event
	if w.watcher != nil {
		events = w.watcher.Events
	}
	want, _ := filepath.Abs(r.configPath)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.hup:
			s.reloadRoutes(cmd, r, sw, transport, "SIGHUP")
		case ev := <-events:
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if name, _ := filepath.Abs(ev.Name); name == want {
				// One save is often several events: reload once they stop.
				debounce.Reset(150 * time.Millisecond)
			}
		case <-debounce.C:
			if _, err := os.Stat(r.configPath); err != nil {
				continue // removed for a moment by an editor's save: wait for it
			}
			s.reloadRoutes(cmd, r, sw, transport, "the config file changed")
		}
	}
}

// reloadRoutes reads the config file again and swaps in its routes.
func (s *roleRun) reloadRoutes(cmd *cobra.Command, r *routing, sw *route.Switch, transport http.RoundTripper, why string) {
	if err := s.tryReload(cmd, r, sw, transport); err != nil {
		s.logger.Error("routes: reload failed, the previous routes stay in use: "+err.Error(), "reason", why)
		if !s.useTUI() {
			fmt.Fprintln(s.stderr, "devproxy: reload failed, the previous routes stay in use:", err)
		}
		return
	}
	names := make([]string, 0)
	for _, p := range sw.Health() {
		names = append(names, p.Route)
	}
	s.logger.Info("routes: reloaded ("+why+"): "+strings.Join(names, ", "), "file", r.configPath)
}

func (s *roleRun) tryReload(cmd *cobra.Command, r *routing, sw *route.Switch, transport http.RoundTripper) error {
	if r.configPath == "" {
		return errors.New("the routes come from the command line only; put them in a config file (--config) to reload them")
	}
	v := viper.New()
	v.RegisterAlias("address", "listen")
	if err := readConfigFile(v, cmd, r.configPath); err != nil {
		return err
	}
	next := *r
	next.configSpecs = nil
	if v.IsSet("routes") {
		specs, err := route.Decode(v.Get("routes"))
		if err != nil {
			return fmt.Errorf("config file %s: %w", r.configPath, err)
		}
		next.configSpecs = specs
	}
	specs := next.specs()
	if len(specs) == 0 {
		return fmt.Errorf("config file %s: no routes left and no --target: keep at least one route", r.configPath)
	}
	t, err := s.newRouteTable(specs, transport, r.showHealth)
	if err != nil {
		return fmt.Errorf("config file %s: %w", r.configPath, err)
	}
	commit, err := s.reloadListener(cmd, r.ln, v)
	if err != nil {
		t.Close()
		return fmt.Errorf("config file %s: %w", r.configPath, err)
	}
	commit()
	t.Start(context.Background())
	*r = next
	old := sw.Swap(t)
	// Flows pinned to the old table finish on it; closing only stops its
	// health checks.
	old.Close()
	return nil
}

// routesName is what the header and the log call the upstream side of a
// routed serve: "api, web (2 routes)", or the one route's name.
func routesName(t *route.Table) string {
	var names []string
	for _, p := range t.Health() {
		names = append(names, p.Route)
	}
	if len(names) == 1 {
		return "route " + names[0]
	}
	return fmt.Sprintf("%d routes: %s", len(names), strings.Join(names, ", "))
}
