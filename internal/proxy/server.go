package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// ServerOptions configure the listening side.
type ServerOptions struct {
	// Listen is host:port; default 127.0.0.1:8080.
	Listen string
	// TLS, when set, serves HTTPS (HTTP/2 and HTTP/1.1) with it. Without
	// it the listener serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c)
	// on the same port; h2c by "Upgrade: h2c" is not offered.
	TLS *tls.Config
	// ReadHeaderTimeout bounds reading request headers (slowloris). Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers. Default 64 KiB.
	MaxHeaderBytes int
	// ListenFlag names the flag that sets Listen, for error messages; the
	// command layer sets it. Empty: messages suggest an address alone.
	ListenFlag string

	// CheckHost refuses (403) requests whose Host is not a local name when
	// the listener is on loopback, so a web page whose DNS is rebound to
	// 127.0.0.1 cannot read the service behind devproxy. Listeners on other
	// addresses serve any Host: they are reached by name on purpose.
	CheckHost bool
	// AllowedHosts are further Host names a loopback listener serves with
	// CheckHost: exact names, "*.example.test" for a domain's subdomains,
	// or "*" for any.
	AllowedHosts []string
	// AllowedHostFlag names the flag that sets AllowedHosts, for the
	// refusal message.
	AllowedHostFlag string

	// Tap records what the server refuses before the handler sees it:
	// requests the HTTP parser rejects, headers that did not arrive in
	// time, smuggling attempts, foreign Hosts. Default: not recorded.
	Tap record.Tap
	// Role is recorded on those exchanges.
	Role record.Role

	// Logger receives what goes wrong before the handler sees a request:
	// TLS handshake failures (plain HTTP sent to a TLS listener among
	// them), requests the HTTP parser refuses, headers that did not arrive
	// in time, and the http.Server's own error log. Default: discarded.
	Logger *slog.Logger
}

// Server is an http.Server bound to a listener. There are deliberately no
// whole-request read or write timeouts: they would cut SSE streams,
// WebSockets and long uploads.
type Server struct {
	opts ServerOptions
	srv  *http.Server
	ln   net.Listener
	tls  bool
}

// Listen binds the address; errors name it and say what to do.
func Listen(o ServerOptions, h http.Handler) (*Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, listenError(o.Listen, o.ListenFlag, err)
	}
	s := &Server{opts: o, ln: ln, tls: o.TLS != nil}
	host, _, _ := net.SplitHostPort(o.Listen)
	g := &guard{next: h, srv: s, listenHost: strings.ToLower(host), hostCheck: o.CheckHost && isLoopbackListen(host)}
	s.srv = &http.Server{
		Handler:           g,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          errorLog(o.Logger),
		Protocols:         new(http.Protocols),
	}
	s.srv.Protocols.SetHTTP1(true)
	s.srv.Protocols.SetHTTP2(true)
	if o.TLS != nil {
		s.srv.TLSConfig = o.TLS.Clone()
	} else {
		// On plain listeners the raw request bytes are watched; net/http
		// needs a *tls.Conn for HTTPS, so TLS listeners are not wrapped.
		s.ln = &watchListener{Listener: ln, srv: s}
		s.srv.Protocols.SetUnencryptedHTTP2(true)
		s.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			if wc, ok := c.(*watchedConn); ok {
				return context.WithValue(ctx, connKey{}, wc)
			}
			return ctx
		}
		s.srv.ConnState = func(c net.Conn, st http.ConnState) {
			if wc, ok := c.(*watchedConn); ok && st == http.StateHijacked {
				wc.hijacked.Store(true)
			}
		}
	}
	return s, nil
}

// errorLog is the http.Server's error log: warnings on logger, or nowhere.
func errorLog(logger *slog.Logger) *log.Logger {
	if logger == nil {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}

// logRefusal tells the logger about a request refused before the handler
// (it is recorded as an exchange too).
func (s *Server) logRefusal(c net.Conn, requestLine string, e *record.Error) {
	if s.opts.Logger == nil {
		return
	}
	attrs := []any{"client", c.RemoteAddr().String(), "reason", e.Message}
	if requestLine != "" {
		// The line is the client's, of any length: enough to recognise it.
		if len(requestLine) > 200 {
			requestLine = strings.ToValidUTF8(requestLine[:200], "") + "…"
		}
		attrs = append(attrs, "request", requestLine)
	}
	if e.Status != 0 {
		attrs = append(attrs, "status", e.Status)
	}
	s.opts.Logger.Warn("refused a request before the handler", attrs...)
}

func listenError(addr, flag string, err error) error {
	host, port, _ := net.SplitHostPort(addr)
	with := func(a string) string {
		if flag == "" {
			return "e.g. " + a
		}
		return "with " + flag + " " + a
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		next := "8081"
		if p, perr := strconv.Atoi(port); perr == nil && p > 0 && p < 65535 {
			next = strconv.Itoa(p + 1)
		}
		return fmt.Errorf("cannot listen on %s: the address is already in use; is another devproxy running? Pick another address %s", addr, with(net.JoinHostPort(host, next)))
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: permission denied (ports below 1024 need privileges); pick another %s", addr, with("127.0.0.1:8080"))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("cannot listen on %s: no such address on this machine; listen %s", addr, with("127.0.0.1:"+port))
	}
	return fmt.Errorf("cannot listen on %s: %w (listen on host:port, %s)", addr, err, with("127.0.0.1:8080"))
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the base URL clients use.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for in-flight exchanges until ctx ends;
// then it closes what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}

// Close stops at once.
func (s *Server) Close() error { return s.srv.Close() }
