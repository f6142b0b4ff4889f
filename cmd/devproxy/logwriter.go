package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/devproxy/devproxy/internal/eventlog"
)

// setupLog builds the role's logger. Headless, it writes one text (or JSON)
// line per record to stdout and, with --log-file, to the file. Under the
// terminal UI every record goes into the event log the UI shows (E), to the
// file if there is one, and to heldLog, which keeps the lines while the UI
// owns the terminal and prints them after it ends (unless the file has them
// already): nothing is printed over the UI.
func (s *roleRun) setupLog(tui bool, file io.Writer) {
	json := s.out.logFormat == "json"
	s.log = &heldLog{out: s.stdout}
	w := io.Writer(s.log)
	if file != nil {
		w = io.MultiWriter(file, s.log)
	}
	if !tui {
		opts := &slog.HandlerOptions{Level: slog.LevelInfo}
		var h slog.Handler = slog.NewTextHandler(w, opts)
		if json {
			h = slog.NewJSONHandler(w, opts)
		}
		s.logger = slog.New(h)
		return
	}
	if file != nil {
		s.log.elsewhere = s.out.logFile
	}
	s.events = eventlog.New(eventlog.DefaultMax)
	s.logger = slog.New(eventlog.NewHandler(s.events, eventlog.HandlerOptions{Source: string(s.role), Writer: w, JSON: json}))
}

// openLogFile opens --log-file for appending, readable by its owner only:
// the log names clients, URLs and backends.
func openLogFile(path, flag string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w; give a file in a directory you can write to", flag, path, unwrapPathError(err))
	}
	return f, nil
}

// routeStdLog sends the standard library's log package, which net/http,
// coder/websocket and others print to stderr with by default (and slog's
// default logger with it), to logger as warnings, so that no library writes
// over the UI. The returned func undoes it. Runs may overlap (tests run a
// relay and an agent in one process) and end in any order: the log package
// goes to the latest run still routing it, and back to what it was before
// the first once none is.
func routeStdLog(logger *slog.Logger) (restore func()) {
	stdLog.mu.Lock()
	defer stdLog.mu.Unlock()
	if len(stdLog.routes) == 0 {
		stdLog.w, stdLog.flags, stdLog.prefix = log.Writer(), log.Flags(), log.Prefix()
	}
	r := &stdRoute{w: slog.NewLogLogger(logger.Handler(), slog.LevelWarn).Writer()}
	stdLog.routes = append(stdLog.routes, r)
	stdLog.apply()
	return func() {
		stdLog.mu.Lock()
		defer stdLog.mu.Unlock()
		if i := slices.Index(stdLog.routes, r); i >= 0 {
			stdLog.routes = slices.Delete(stdLog.routes, i, i+1)
			stdLog.apply()
		}
	}
}

// stdRoute is one run's routing of the log package.
type stdRoute struct{ w io.Writer }

// stdLogState is the log package's state before the first routeStdLog,
// and the runs routing it now, oldest first.
type stdLogState struct {
	mu     sync.Mutex
	w      io.Writer
	flags  int
	prefix string
	routes []*stdRoute
}

var stdLog stdLogState

// apply points the log package at the latest route, or puts it back as
// it was. Callers hold l.mu.
func (l *stdLogState) apply() {
	if n := len(l.routes); n > 0 {
		log.SetOutput(l.routes[n-1].w)
		log.SetFlags(0)
		log.SetPrefix("")
		return
	}
	log.SetOutput(l.w)
	log.SetFlags(l.flags)
	log.SetPrefix(l.prefix)
}

// heldLog is where the session's log lines go: straight to the terminal,
// except while the terminal UI owns the screen, when they are kept (the
// last heldLogMax bytes) and printed once the UI has ended, so that a log
// line never tears the UI.
type heldLog struct {
	mu      sync.Mutex
	out     io.Writer
	holding bool
	// elsewhere names the --log-file, if any: lines held are in it
	// already, so they are counted rather than kept, and release says
	// where they are.
	elsewhere string
	held      bytes.Buffer
	dropped   bool
	lines     int
}

const heldLogMax = 64 << 10

func (l *heldLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.holding {
		return l.out.Write(p)
	}
	if l.elsewhere != "" {
		l.lines += bytes.Count(p, []byte{'\n'})
		return len(p), nil
	}
	l.held.Write(p)
	if over := l.held.Len() - heldLogMax; over > 0 {
		b := l.held.Bytes()[over:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		rest := append([]byte(nil), b...)
		l.held.Reset()
		l.held.Write(rest)
		l.dropped = true
	}
	return len(p), nil
}

// hold keeps log lines from now on.
func (l *heldLog) hold() {
	l.mu.Lock()
	l.holding = true
	l.mu.Unlock()
}

// release prints what was kept (or where it is) and writes through again.
func (l *heldLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holding = false
	if l.elsewhere != "" {
		if l.lines > 0 {
			_, _ = fmt.Fprintf(l.out, "devproxy: %d log lines from while the UI ran are in %s\n", l.lines, l.elsewhere)
		}
		l.lines = 0
		return
	}
	if l.dropped {
		_, _ = io.WriteString(l.out, "devproxy: (older log lines from while the UI ran were dropped)\n")
	}
	_, _ = l.out.Write(l.held.Bytes())
	l.held.Reset()
	l.dropped = false
}
