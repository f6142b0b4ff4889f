package eventlog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Source names who logs through the handler, e.g. the role.
	Source string
	// Level is the least level kept. Default slog.LevelInfo.
	Level slog.Leveler
	// Writer, when set, also receives every kept record as one line, as
	// slog's text handler (or, with JSON, its JSON handler) writes it: a
	// log file, say.
	Writer io.Writer
	JSON   bool
}

// Handler is an slog.Handler that adds each record to a Log and, if asked,
// writes it to a Writer too.
type Handler struct {
	log    *Log
	source string
	level  slog.Leveler
	// attrs formats a record's attributes (with those of WithAttrs and
	// WithGroup) into buf, under mu: a text handler that leaves out the
	// time, level and message.
	attrs slog.Handler
	mu    *sync.Mutex
	buf   *bytes.Buffer
	// out writes to HandlerOptions.Writer; nil without one.
	out slog.Handler
}

// NewHandler returns a handler that adds to l.
func NewHandler(l *Log, o HandlerOptions) *Handler {
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	h := &Handler{log: l, source: o.Source, level: o.Level, mu: new(sync.Mutex), buf: new(bytes.Buffer)}
	h.attrs = slog.NewTextHandler(h.buf, &slog.HandlerOptions{
		Level: slog.LevelDebug - 100, // the handler decides; this only formats
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	if o.Writer != nil {
		ho := &slog.HandlerOptions{Level: o.Level}
		if o.JSON {
			h.out = slog.NewJSONHandler(o.Writer, ho)
		} else {
			h.out = slog.NewTextHandler(o.Writer, ho)
		}
	}
	return h
}

// Enabled reports whether records at level are kept.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// Handle adds r to the log and writes it to the Writer, if any.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.buf.Reset()
	_ = h.attrs.Handle(ctx, r)
	attrs := strings.TrimSpace(h.buf.String())
	h.mu.Unlock()
	h.log.Add(Event{Time: r.Time, Level: r.Level, Source: h.source, Message: r.Message, Attrs: attrs})
	if h.out != nil {
		return h.out.Handle(ctx, r)
	}
	return nil
}

// WithAttrs returns a handler whose records carry attrs too.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = h.attrs.WithAttrs(attrs)
	if h.out != nil {
		c.out = h.out.WithAttrs(attrs)
	}
	return &c
}

// WithGroup returns a handler that puts the attributes that follow in a
// group.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.attrs = h.attrs.WithGroup(name)
	if h.out != nil {
		c.out = h.out.WithGroup(name)
	}
	return &c
}
