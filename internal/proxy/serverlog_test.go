package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// logCatcher is an slog.Handler that hands each record's text to a channel.
type logCatcher chan string

func (c logCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (c logCatcher) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c logCatcher) WithGroup(string) slog.Handler            { return c }
func (c logCatcher) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	select {
	case c <- b.String():
	default:
	}
	return nil
}

// waitLog waits for a logged line containing every one of subs.
func waitLog(t *testing.T, c logCatcher, subs ...string) string {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case line := <-c:
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				return line
			}
		case <-deadline:
			t.Fatalf("nothing logged with %q", subs)
		}
	}
}

func TestServerLogsPlainHTTPOnTheTLSPort(t *testing.T) {
	cert, err := SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	logs := make(logCatcher, 16)
	srv, err := Listen(ServerOptions{Listen: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Logger: slog.New(logs)},
		http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })

	c, err := net.DialTimeout("tcp", srv.Addr().String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	_, _ = io.ReadAll(c)
	waitLog(t, logs, "WARN", "TLS handshake error", "HTTP request to an HTTPS server")
}

func TestServerLogsParserRefusals(t *testing.T) {
	logs := make(logCatcher, 16)
	s := newServed(t, nil, ServerOptions{Logger: slog.New(logs)})
	if out := s.raw("GET /bad HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", false); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Fatalf("want 400 from the parser, got:\n%s", out)
	}
	waitLog(t, logs, "WARN", "refused a request before the handler", "status=400", "request=GET /bad HTTP/1.1", "could not be parsed")
}

func TestServerWithoutLoggerIsQuiet(t *testing.T) {
	// No Logger: nothing reaches the process's default logger either.
	s := newServed(t, nil, ServerOptions{})
	if out := s.raw("GET /bad HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", false); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Fatalf("want 400 from the parser, got:\n%s", out)
	}
	if s.srv.srv.ErrorLog.Writer() != io.Discard {
		t.Error("the http.Server's error log is not discarded")
	}
}
