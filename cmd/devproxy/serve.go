package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --target URL",
		Short: "Reverse proxy in front of your service, with a live view of every exchange",
		Example: `  devproxy serve --target http://localhost:3000
  devproxy serve --target http://localhost:3000 --listen 127.0.0.1:9090 --no-tui
  devproxy serve --target https://api.example.com --tls
  devproxy serve --target http://127.0.0.1:50051 --proto ./protos   # a gRPC server: calls decoded (reflection too)
  DEVPROXY_TARGET=http://localhost:3000 devproxy serve --har session.har`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := serveOptionsFrom(cmd, true)
			if err != nil {
				return err
			}
			return runServe(cmd, &o, nil)
		},
	}
	fs := cmd.Flags()
	fs.StringArray("target", nil, "URL of the service to proxy to, e.g. http://localhost:3000 (required unless routes are given; repeat it for a pool of several, taken in turns)")
	addRouteFlags(fs)
	addRuleFlags(fs)
	addListenFlags(fs, "127.0.0.1:8080")
	addAllowedHostFlag(fs)
	addUpstreamFlags(fs)
	addSchemaFlags(fs, true)
	addRecorderFlags(fs)
	addSessionFlags(fs)
	addOutputFlags(fs)
	return cmd
}

// addAllowedHostFlag adds --allowed-host, for roles that guard a loopback
// listener against DNS rebinding.
func addAllowedHostFlag(fs *pflag.FlagSet) {
	fs.StringSlice("allowed-host", nil, "also serve this Host on a loopback listener (repeatable; '*.example.test' for subdomains, '*' for any); localhost, *.localhost and loopback IPs are always served")
}

// serveOptions is everything serve (and demo) need, validated.
type serveOptions struct {
	target          *url.URL
	routing         *routing // nil: every request goes to target
	server          proxy.ServerOptions
	tlsFingerprint  string
	transport       proxy.TransportOptions
	preserveHost    bool
	flushInterval   time.Duration
	shutdownTimeout time.Duration
	limits          record.Limits
	out             outputOptions
}

type outputOptions struct {
	noTUI     bool
	logFormat string
	logFile   string
	har       string
	redact    redact.Level
	// session is the session flags of a recording role; nil for view.
	session *sessionOptions
}

func serveOptionsFrom(cmd *cobra.Command, needTarget bool) (serveOptions, error) {
	fs := cmd.Flags()
	var o serveOptions
	if needTarget {
		r, t, err := routingFrom(cmd)
		if err != nil {
			return o, err
		}
		o.routing, o.target = r, t
	}
	srv, fp, err := serverOptionsFrom(cmd)
	if err != nil {
		return o, err
	}
	o.server, o.tlsFingerprint = srv, fp
	// serve and demo front a developer's own service: on loopback they
	// answer only local Host names, against DNS rebinding.
	o.server.CheckHost = true
	o.server.AllowedHostFlag = "--allowed-host"
	o.server.AllowedHosts, _ = fs.GetStringSlice("allowed-host")
	for _, h := range o.server.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ ") || strings.Contains(h, ":") && net.ParseIP(strings.Trim(h, "[]")) == nil {
			return o, fmt.Errorf("%s %q: give a host name without scheme, port or path, e.g. --allowed-host myapp.test, '*.myapp.test', or '*' for any", flagSource(cmd, "allowed-host"), h)
		}
	}
	if o.transport, o.preserveHost, o.flushInterval, err = upstreamFrom(cmd); err != nil {
		return o, err
	}
	o.shutdownTimeout, _ = fs.GetDuration("shutdown-timeout")
	if o.limits, o.out, err = recordingFrom(cmd); err != nil {
		return o, err
	}
	return o, nil
}

// upstreamErrorHints tell the user which flags help with an upstream failure.
var upstreamErrorHints = map[record.ErrorKind]string{
	record.ErrTLS: "use --ca FILE to trust its CA, or --insecure",
}

// upstreamFrom reads the flags that shape requests to the target.
func upstreamFrom(cmd *cobra.Command) (t proxy.TransportOptions, preserveHost bool, flush time.Duration, err error) {
	fs := cmd.Flags()
	t.Insecure, _ = fs.GetBool("insecure")
	t.CAFile, _ = fs.GetString("ca")
	t.ClientCertFile, _ = fs.GetString("client-cert")
	t.ClientKeyFile, _ = fs.GetString("client-key")
	t.ResponseHeaderTimeout, _ = fs.GetDuration("response-header-timeout")
	t.UpstreamH2C, _ = fs.GetBool("upstream-h2c")
	if t.ResponseHeaderTimeout < 0 {
		return t, false, 0, fmt.Errorf("%s %s: must not be negative (0 turns it off)", flagSource(cmd, "response-header-timeout"), t.ResponseHeaderTimeout)
	}
	preserveHost, _ = fs.GetBool("preserve-host")
	flush, _ = fs.GetDuration("flush-interval")
	if flush < 0 {
		return t, false, 0, fmt.Errorf("%s %s: must not be negative (0 flushes every write)", flagSource(cmd, "flush-interval"), flush)
	}
	return t, preserveHost, flush, nil
}

// parseTarget checks a --target URL and explains what is wrong with it.
func parseTarget(raw, src string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("--target is required: the URL of your service, e.g. --target http://localhost:3000")
	}
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("%s %q has no scheme; did you mean http://%s?", src, raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a valid URL: %v", src, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s %q: scheme %q is not supported; use http:// or https://", src, raw, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s %q has no host; e.g. http://localhost:3000", src, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s %q contains credentials; pass them in a header instead (they would be logged)", src, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s %q: a target may have a base path but no query or fragment", src, raw)
	}
	return u, nil
}

func serverOptionsFrom(cmd *cobra.Command) (proxy.ServerOptions, string, error) {
	fs := cmd.Flags()
	var o proxy.ServerOptions
	raw, _ := fs.GetString("listen")
	var err error
	if o.Listen, err = parseListen(raw); err != nil {
		return o, "", fmt.Errorf("%s %w", flagSource(cmd, "listen"), err)
	}
	o.ListenFlag = "--listen"
	o.ReadHeaderTimeout, _ = fs.GetDuration("read-header-timeout")
	o.IdleTimeout, _ = fs.GetDuration("idle-timeout")
	o.MaxHeaderBytes = int(getSize(cmd, "max-header-bytes"))
	for _, name := range []string{"read-header-timeout", "idle-timeout", "shutdown-timeout"} {
		if d, _ := fs.GetDuration(name); d <= 0 {
			return o, "", fmt.Errorf("%s %s: must be positive", flagSource(cmd, name), d)
		}
	}
	if o.MaxHeaderBytes < 1024 {
		return o, "", fmt.Errorf("%s %d: too small; at least 1KiB (default 64KiB)", flagSource(cmd, "max-header-bytes"), o.MaxHeaderBytes)
	}
	useTLS, _ := fs.GetBool("tls")
	certFile, _ := fs.GetString("cert")
	keyFile, _ := fs.GetString("key")
	if (certFile == "") != (keyFile == "") {
		return o, "", fmt.Errorf("--cert and --key go together: give both files, or neither for a self-signed certificate")
	}
	if certFile != "" && !useTLS {
		useTLS = true
	}
	if !useTLS {
		return o, "", nil
	}
	var cert tls.Certificate
	if certFile != "" {
		cert, err = proxy.LoadKeyPair(certFile, keyFile, "--cert", "--key")
	} else {
		cert, err = proxy.SelfSigned()
	}
	if err != nil {
		return o, "", err
	}
	o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return o, proxy.Fingerprint(cert), nil
}

func limitsFrom(cmd *cobra.Command) (record.Limits, error) {
	n, _ := cmd.Flags().GetInt("max-exchanges")
	l := record.Limits{
		MaxExchanges:    n,
		MaxBodyCapture:  getSize(cmd, "max-body-capture"),
		MaxCaptureTotal: getSize(cmd, "max-capture-total"),
	}
	if l.MaxExchanges < 1 {
		return l, fmt.Errorf("%s %d: keep at least 1 exchange", flagSource(cmd, "max-exchanges"), n)
	}
	if l.MaxCaptureTotal < l.MaxBodyCapture {
		return l, fmt.Errorf("%s %s is smaller than %s %s; raise the total or lower the per-body capture",
			flagSource(cmd, "max-capture-total"), formatSize(l.MaxCaptureTotal), flagSource(cmd, "max-body-capture"), formatSize(l.MaxBodyCapture))
	}
	if l.MaxBodyCapture == 0 {
		l.MaxBodyCapture = -1 // capture headers only
	}
	return l, nil
}

// recordingFrom reads the recorder limits and output flags every role has,
// and the session flags of those that record.
func recordingFrom(cmd *cobra.Command) (record.Limits, outputOptions, error) {
	limits, err := limitsFrom(cmd)
	if err != nil {
		return limits, outputOptions{}, err
	}
	out, err := outputFrom(cmd)
	if err != nil || cmd.Flags().Lookup("session") == nil {
		return limits, out, err
	}
	out.session, err = sessionFrom(cmd)
	return limits, out, err
}

func outputFrom(cmd *cobra.Command) (outputOptions, error) {
	fs := cmd.Flags()
	var o outputOptions
	o.noTUI, _ = fs.GetBool("no-tui")
	o.logFormat, _ = fs.GetString("log-format")
	if fs.Lookup("log-format") != nil && o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("%s %q: must be text or json", flagSource(cmd, "log-format"), o.logFormat)
	}
	o.logFile, _ = fs.GetString("log-file")
	o.har, _ = fs.GetString("har")
	red, _ := fs.GetString("har-redact")
	switch redact.Level(red) {
	case redact.Default, redact.Strict, redact.None:
		o.redact = redact.Level(red)
	default:
		return o, fmt.Errorf("%s %q: must be default, strict or none", flagSource(cmd, "har-redact"), red)
	}
	return o, nil
}
