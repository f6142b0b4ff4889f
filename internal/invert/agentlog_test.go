package invert

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// logLines is an slog.Handler that hands each record, as "LEVEL msg k=v…",
// to a channel.
type logLines chan string

func (c logLines) Enabled(context.Context, slog.Level) bool { return true }
func (c logLines) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c logLines) WithGroup(string) slog.Handler            { return c }
func (c logLines) Handle(_ context.Context, r slog.Record) error {
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

// next waits for a line that contains every one of subs, skipping others.
func (c logLines) next(t *testing.T, subs ...string) string {
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

// TestAgentLogsItsConnection: an agent says when it connects, when it loses
// the relay and why, each retry with its delay, and when it is back.
func TestAgentLogsItsConnection(t *testing.T) {
	r := newRig(t, ModeTunnel)
	logs := make(logLines, 1000)
	target, _ := url.Parse(r.backend.URL)
	h, err := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: record.Discard, TrustForwarded: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	relayURL, _ := url.Parse(r.relaySrv.URL)
	a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: "web", Token: r.token, Mode: ModeTunnel, Handler: h, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	logs.next(t, "INFO agent: connected to the relay", "transport=tunnel", "backend=web")
	r.relay.Close()
	logs.next(t, "WARN agent: disconnected from the relay", "reason=", "connected_for=")
	logs.next(t, "WARN agent: retrying", "retry_in=", "reason=", "attempt=1")
	r.startRelay()
	logs.next(t, "INFO agent: connected to the relay")
}

func TestYamuxLogLevels(t *testing.T) {
	logs := make(logLines, 10)
	y := yamuxLog{slog.New(logs)}
	y.Printf("[ERR] yamux: keepalive failed: %v", "i/o deadline reached")
	y.Printf("[WARN] yamux: frame for missing stream: %d", 3)
	y.Print("yamux: something else")
	for _, want := range []string{
		"WARN yamux: keepalive failed: i/o deadline reached",
		"WARN yamux: frame for missing stream: 3",
		"INFO yamux: something else",
	} {
		if got := <-logs; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
