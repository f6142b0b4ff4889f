package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/devproxy/devproxy/internal/eventlog"
	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/rules"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// roleRun is one running role: its servers, its recorder and its output.
type roleRun struct {
	role   record.Role
	rec    *record.Recorder
	out    outputOptions
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
	log    *heldLog // where logger writes on the terminal
	// events is the event log the UI shows; nil headless.
	events *eventlog.Log
	// logFile is --log-file, open for the run; nil without.
	logFile *os.File
	// session is the session file the recorder writes to; nil for view.
	session *runSession
	// servers are the role's listeners; a reload may replace one while it
	// runs (serversMu), and errc hears of one that stopped by itself.
	servers   []*proxy.Server
	serversMu sync.Mutex
	retired   map[*proxy.Server]bool
	errc      chan error
	shutdown  time.Duration
	// ui describes the run for the terminal UI header.
	listen, target string
	replayer       any
	// source, when set, is the tui.Source the UI shows instead of the
	// recorder (view of a session file).
	source any
	status func() string
	// listenNow, when set, is where the role listens now (a reload may
	// move serve's listener).
	listenNow func() string
	// rules are the role's rules and holds the exchanges breakpoint rules
	// hold, which the UI edits and resumes; both are set for a proxying
	// role with the UI, and nil headless.
	rules *rules.Set
	holds *rules.Holds
	// name is the command that runs the role, which the UI header shows
	// ("demo" runs the serve role).
	name string
	// grpc are the role's gRPC schemas (--proto, --descriptor-set,
	// --grpc-reflection), which the UI and HAR files decode messages with.
	grpc grpcSchemas
	// selfSignedTLS says the listener serves HTTPS with a self-signed
	// certificate (--tls without --cert).
	selfSignedTLS bool
	// banner is the one-line summary the UI header shows; it is in the
	// UI's event log, and printed nowhere (on exit, a line says what the
	// run recorded instead).
	banner string
	// hints are what a user needs to get going (example commands, a new
	// admin token): printed in headless mode, shown in the UI's empty list.
	hints []string
	// hintsNow, when set, is the hints as they are now: the UI polls it
	// (the relay's follow the backends registered).
	hintsNow func() []string
	// background work stopped on exit (demo traffic, agent loops).
	background []func(ctx context.Context)
	// listening, when set, runs once the listener's address is known
	// (demo's hints and traffic need the real port of --listen :0).
	listening func(url string)
	// drain runs before the servers shut down; closers after.
	drain, closers []func()
	// memory is the role's --max-memory and its split (none for view);
	// restoreMemory puts back the soft memory limit it replaced.
	memory        memoryBudget
	restoreMemory func()
}

// newRoleRun returns a role's run with its recorder and logger (see
// setupLog); it opens --log-file, which closeLog closes. A recording role's
// hot window and session queue are sized from --max-memory, which becomes
// Go's soft memory limit until close.
func newRoleRun(cmd *cobra.Command, role record.Role, limits record.Limits, out outputOptions) (*roleRun, error) {
	limits, memory, err := memoryFrom(cmd, limits)
	if err != nil {
		return nil, err
	}
	s := &roleRun{
		name:   cmd.Name(),
		role:   role,
		rec:    record.NewRecorder(limits),
		memory: memory,
		out:    out,
		stdout: cmd.OutOrStdout(),
		stderr: cmd.ErrOrStderr(),
	}
	var file io.Writer
	if out.logFile != "" {
		f, err := openLogFile(out.logFile, flagSource(cmd, "log-file"))
		if err != nil {
			return nil, err
		}
		s.logFile, file = f, f
	}
	s.setupLog(s.useTUI(), file)
	if out.session != nil {
		if err := s.openSession(out.session); err != nil {
			s.closeLog()
			return nil, err
		}
	}
	s.restoreMemory = memory.setLimit()
	return s, nil
}

// close releases what newRoleRun opened, for a role that ends before or
// without run: the session (a temporary one is deleted) and --log-file.
// run does the same on its way out; a second call does nothing.
func (s *roleRun) close() {
	if err := s.closeSession(); err != nil {
		fmt.Fprintln(s.stderr, "devproxy:", err)
	}
	s.closeLog()
	if s.restoreMemory != nil {
		s.restoreMemory()
		s.restoreMemory = nil
	}
}

// closeLog closes --log-file, if open.
func (s *roleRun) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
		s.logFile = nil
	}
}

// useTUI reports whether the terminal UI runs: stdout is a terminal and
// --no-tui was not given.
func (s *roleRun) useTUI() bool {
	if s.out.noTUI || runUI == nil {
		return false
	}
	f, ok := s.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runUI runs the terminal UI; set by ui.go.
var runUI func(ctx context.Context, s *roleRun) error

// run serves until a signal (or the UI quits), then shuts down gracefully:
// stop accepting, let in-flight exchanges finish up to the shutdown timeout,
// write the HAR file. A second signal exits at once.
func (s *roleRun) run(parent context.Context) error {
	stopOn := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if s.useTUI() {
		// The terminal went away: end as Ctrl-C would. (Headless, SIGHUP
		// reloads serve's routes instead.)
		stopOn = append(stopOn, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(parent, stopOn...)
	defer stop()
	defer s.closeLog()
	defer routeStdLog(s.logger)()
	if s.useTUI() {
		// From before the first server or agent starts, nothing is printed
		// to the terminal until the UI has ended.
		s.log.hold()
		defer s.log.release()
		s.noteStart()
	}

	errc := make(chan error, 1)
	s.serversMu.Lock()
	s.errc = errc
	for _, srv := range s.servers {
		s.serveLocked(srv)
	}
	s.serversMu.Unlock()
	var wg sync.WaitGroup
	bgctx, bgcancel := context.WithCancel(ctx)
	defer bgcancel()
	for _, fn := range s.background {
		wg.Add(1)
		go func() { defer wg.Done(); fn(bgctx) }()
	}

	var runErr error
	if s.useTUI() {
		uiDone := make(chan error, 1)
		go func() { uiDone <- runUI(ctx, s) }()
		select {
		case runErr = <-uiDone:
		case err := <-errc:
			stop()
			<-uiDone
			runErr = err
		}
	} else {
		xlog := record.NewExchangeLog(s.rec, s.logger)
		defer xlog.Close()
		logDone := make(chan struct{})
		logCtx, logCancel := context.WithCancel(context.Background())
		go func() { xlog.Run(logCtx); close(logDone) }()
		select {
		case <-ctx.Done():
		case runErr = <-errc:
		}
		defer func() {
			logCancel()
			<-logDone
			xlog.Flush()
		}()
	}
	stop()

	// A second signal during shutdown exits at once.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			fmt.Fprintln(s.stderr, "devproxy: second signal, exiting now")
			s.abandonSession()
			os.Exit(130)
		}
	}()

	bgcancel()
	if n := s.rec.Stats().InFlight; n > 0 && !s.useTUI() {
		s.logger.Info("shutting down", "in_flight", n, "wait", s.shutdown.String())
	}
	for _, fn := range s.drain {
		fn()
	}
	sdctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	var sdwg sync.WaitGroup
	s.serversMu.Lock()
	servers := append([]*proxy.Server(nil), s.servers...)
	s.serversMu.Unlock()
	for _, srv := range servers {
		sdwg.Add(1)
		go func() {
			defer sdwg.Done()
			if err := srv.Shutdown(sdctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.logger.Warn("shutdown", "error", err)
			}
		}()
	}
	sdwg.Wait()
	for _, fn := range s.closers {
		fn()
	}
	wg.Wait()
	// The servers are down: every exchange has been offered to the session.
	if err := s.closeSession(); err != nil && runErr == nil {
		runErr = err
	}
	if err := s.writeHAR(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// noteStart puts the banner and the hints (the relay's registration
// commands, a TLS certificate's fingerprint) into the event log, whole:
// the UI shows them cut to the width of the screen. They go to the event
// log only: a new admin token is among them, and belongs in no file.
func (s *roleRun) noteStart() {
	if s.events == nil {
		return
	}
	if s.banner != "" {
		s.events.Add(eventlog.Event{Level: slog.LevelInfo, Source: string(s.role), Message: s.banner})
	}
	if len(s.hints) > 0 {
		s.events.Add(eventlog.Event{Level: slog.LevelInfo, Source: string(s.role), Message: strings.Join(s.hints, "\n")})
	}
}

// writeHAR writes --har, if asked; a failed write is reported and leaves no
// partial file.
func (s *roleRun) writeHAR() error {
	if s.out.har == "" {
		return nil
	}
	xs := s.rec.Snapshot()
	opts := har.Options{Redact: s.out.redact, Version: version, DecodeMessage: tui.MessageDecoder(s.grpc.schemas, s.target)}
	if err := har.WriteFile(s.out.har, xs, opts); err != nil {
		return fmt.Errorf("--har %s: %w (the exchanges were not saved)", s.out.har, err)
	}
	fmt.Fprintf(s.stderr, "devproxy: wrote %d exchanges to %s (redaction: %s)\n", len(xs), s.out.har, s.out.redact)
	return nil
}

// serveLocked serves srv until it stops; a server that stops unasked ends
// the run, one retired by a reload does not. Callers hold serversMu.
func (s *roleRun) serveLocked(srv *proxy.Server) {
	go func() {
		err := srv.Serve()
		s.serversMu.Lock()
		retired := s.retired[srv]
		s.serversMu.Unlock()
		if !retired {
			select {
			case s.errc <- err:
			default:
			}
		}
	}()
}

// replaceServer serves next instead of old: old stops accepting at once and
// its exchanges in flight finish (up to the shutdown timeout); connections
// it holds stay open until then.
func (s *roleRun) replaceServer(old, next *proxy.Server) {
	s.serversMu.Lock()
	for i, srv := range s.servers {
		if srv == old {
			s.servers[i] = next
		}
	}
	if s.retired == nil {
		s.retired = map[*proxy.Server]bool{}
	}
	s.retired[old] = true
	if s.errc != nil {
		s.serveLocked(next)
	}
	s.serversMu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
		defer cancel()
		_ = old.Shutdown(ctx)
	}()
}
