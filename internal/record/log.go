package record

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// ExchangeLog writes one log line per finished exchange: the headless output
// for scripts, containers and CI. It reads the recorder through a
// subscription, so a slow log never slows the proxy; after a lag it catches
// up from a snapshot, so no finished exchange still in the buffer is skipped.
type ExchangeLog struct {
	rec    *Recorder
	sub    *Subscription
	logger *slog.Logger
	logged map[uint64]bool
	buf    []Event
}

// NewExchangeLog subscribes to rec at once, so nothing recorded after this
// call is missed.
func NewExchangeLog(rec *Recorder, logger *slog.Logger) *ExchangeLog {
	return &ExchangeLog{rec: rec, sub: rec.Subscribe(1 << 16), logger: logger, logged: map[uint64]bool{}}
}

// Run logs until ctx ends.
func (l *ExchangeLog) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.sub.Ready():
			l.Flush()
		}
	}
}

// Flush logs what finished since the last call. Call it once more after the
// server has shut down so the last exchanges are written.
func (l *ExchangeLog) Flush() {
	l.buf = l.sub.Drain(l.buf[:0])
	for _, ev := range l.buf {
		switch ev.Kind {
		case EventDone:
			if x, ok := l.rec.Get(ev.ID); ok {
				l.write(&x)
			}
		case EventLagged:
			for _, x := range l.rec.Snapshot() {
				if x.State == Done {
					l.write(&x)
				}
			}
		case EventCleared:
			clear(l.logged)
		}
	}
	if len(l.logged) > 4*l.rec.Limits().MaxExchanges {
		// Forget ids that can no longer come back from a snapshot.
		snap := l.rec.Snapshot()
		if len(snap) > 0 {
			oldest := snap[0].ID
			for id := range l.logged {
				if id < oldest {
					delete(l.logged, id)
				}
			}
		}
	}
}

// Close stops the subscription.
func (l *ExchangeLog) Close() { l.sub.Close() }

// Log writes the line for x now (once per exchange).
func (l *ExchangeLog) Log(x *Exchange) { l.write(x) }

func (l *ExchangeLog) write(x *Exchange) {
	if l.logged[x.ID] {
		return
	}
	l.logged[x.ID] = true
	status := x.Status()
	var out int64
	if x.Response != nil {
		out = x.Response.Body.Size
	}
	attrs := []slog.Attr{
		slog.Uint64("id", x.ID),
		slog.String("method", x.Request.Method),
		slog.String("url", x.Request.URL),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(x.Duration(x.End).Round(time.Microsecond))/float64(time.Millisecond)),
		slog.Int64("bytes_in", x.Request.Body.Size),
		slog.Int64("bytes_out", out),
	}
	if x.ReplayOf != 0 {
		attrs = append(attrs, slog.Uint64("replay_of", x.ReplayOf))
	}
	if x.Upgraded {
		attrs = append(attrs, slog.Bool("upgraded", true), slog.Int64("upgrade_up", x.UpgradeUp), slog.Int64("upgrade_down", x.UpgradeDn))
	}
	level := slog.LevelInfo
	if x.Err != nil {
		attrs = append(attrs, slog.String("error", x.Err.Message), slog.String("error_kind", string(x.Err.Kind)))
		if x.Err.Kind != ErrCanceled {
			level = slog.LevelWarn
		}
	}
	msg := x.Label() + " " + x.Request.Method + " " + x.Request.URL
	if status != 0 {
		msg += " → " + strconv.Itoa(status)
	}
	l.logger.LogAttrs(context.Background(), level, msg, attrs...)
}
