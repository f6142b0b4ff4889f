package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/eventlog"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/devproxy/devproxy/internal/session"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every recording role writes the exchanges it finishes into a session
// file: the one --session names, which is kept and continued, or else a
// temporary one in the state directory, deleted on exit unless the user
// keeps it (--keep-session, or k in the UI's quit question).

// defaultTempSessionMax is the disk budget of a temporary session when
// --max-session-size is not given: the user did not ask for the file, so
// it must not fill the disk.
const defaultTempSessionMax = 1 << 30

func addSessionFlags(fs *pflag.FlagSet) {
	fs.String("session", "", "record into this session file (SQLite), kept on exit; an existing session is continued (default: a temporary session, deleted on exit unless kept)")
	sizeFlag(fs, "max-session-size", 0, "disk budget of the session file; past it the oldest exchanges are deleted, and the event log says which (default 1GiB for a temporary session, no limit for --session; 0 means no limit)")
	fs.String("session-redact", "none", "hide secrets before they reach the session file: none, default (auth headers and cookies) or strict; replay needs the real requests")
	fs.Bool("keep-session", false, "keep the temporary session on exit and print where it is")
	fs.Bool("no-session", false, "record to memory only, with no session file (nothing on disk; the fastest under heavy load)")
}

// sessionOptions are the session flags, validated.
type sessionOptions struct {
	// path is --session; "" records into a temporary session.
	path string
	// src names where path came from, for errors ("--session", "$DEVPROXY_SESSION", …).
	src string
	// maxSize is the disk budget in bytes; 0 means none.
	maxSize int64
	redact  redact.Level
	// keep keeps the temporary session on exit (--keep-session).
	keep bool
}

// sessionFrom reads the session flags; it returns nil options for
// --no-session.
func sessionFrom(cmd *cobra.Command) (*sessionOptions, error) {
	fs := cmd.Flags()
	o := &sessionOptions{src: flagSource(cmd, "session")}
	o.path, _ = fs.GetString("session")
	if off, _ := fs.GetBool("no-session"); off {
		if o.path != "" {
			return nil, fmt.Errorf("%s and %s: pick one (a session file, or none)", o.src, flagSource(cmd, "no-session"))
		}
		return nil, nil
	}
	o.keep, _ = fs.GetBool("keep-session")
	o.maxSize = getSize(cmd, "max-session-size")
	if !fs.Changed("max-session-size") && o.path == "" {
		o.maxSize = defaultTempSessionMax
	}
	if o.maxSize != 0 && o.maxSize < 1<<20 {
		return nil, fmt.Errorf("%s %s: too small for a session; at least 1MiB, or 0 for no limit", flagSource(cmd, "max-session-size"), formatSize(o.maxSize))
	}
	red, _ := fs.GetString("session-redact")
	switch redact.Level(red) {
	case redact.None, redact.Default, redact.Strict:
		o.redact = redact.Level(red)
	default:
		return nil, fmt.Errorf("%s %q: must be none, default or strict", flagSource(cmd, "session-redact"), red)
	}
	return o, nil
}

// stateHome is devproxy's directory for state that outlives a run:
// $XDG_STATE_HOME/devproxy, else ~/.local/state/devproxy; "" when there is
// no home directory.
func stateHome() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "devproxy")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "devproxy")
	}
	return ""
}

// createTempSession creates an empty file, mode 0600, for a temporary
// session in the state directory's sessions/ (mode 0700), named by the
// role, the time and the process id. The state directory rather than the
// cache: a session the user keeps stays where it is, and a cache may be
// cleaned out from under it.
func createTempSession(role string, now time.Time) (string, error) {
	home := stateHome()
	if home == "" {
		return "", errors.New("no home directory for a temporary session; name a file with --session")
	}
	dir := filepath.Join(home, "sessions")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("temporary session: %w; name a file with --session", err)
	}
	base := fmt.Sprintf("%s-%s-%d", role, now.Format("20060102-150405"), os.Getpid())
	for i := 0; ; i++ {
		name := base + ".db"
		if i > 0 {
			name = fmt.Sprintf("%s-%d.db", base, i)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("temporary session: %w; name a file with --session", err)
		}
		return path, f.Close()
	}
}

// removeSessionFiles deletes a session file and the files SQLite and the
// lock keep beside it.
func removeSessionFiles(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sqliteHeader starts every SQLite database file, so every session file.
const sqliteHeader = "SQLite format 3\x00"

// isSessionFile reports whether path holds a session (an SQLite database)
// rather than, presumably, a HAR file. A file it cannot read is not one:
// the HAR reader then says what is wrong with it.
func isSessionFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, []byte(sqliteHeader))
}

// runSession is the session file a running role records into.
type runSession struct {
	store *session.Store
	path  string
	// temp says the file is a temporary session, deleted on exit unless
	// keep is set (--keep-session, or k in the UI's quit question).
	temp bool
	keep atomic.Bool
	// lazy says the search index waits for the first search: a temporary
	// session may never be searched (session.Options.LazyIndex).
	lazy bool
	// closed is set once closeSession ran.
	closed bool
	// onEvict, when set, is also told of the session's evictions (the
	// UI's source, which takes the exchanges off its list).
	onEvict atomic.Pointer[func(session.Eviction)]
}

// openSession opens the role's session (o.path, or a new temporary one),
// continues its IDs, and makes the store a sink of the recorder. Write
// errors and evictions go to the log (the event log under the UI).
func (s *roleRun) openSession(o *sessionOptions) error {
	path, temp := o.path, o.path == ""
	if temp {
		p, err := createTempSession(s.name, time.Now())
		if err != nil {
			return err
		}
		path = p
		pruneTempSessions(filepath.Dir(p), p, time.Now(), s.logger, s.stderr)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // what the messages name, as the store does
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s %s: is a directory; name a file in it, e.g. %s", o.src, path, filepath.Join(path, "session.db"))
	}
	rs := &runSession{path: path, temp: temp, lazy: temp && !o.keep}
	rs.keep.Store(o.keep)
	store, err := session.Open(path, session.Options{
		MaxSize:    o.maxSize,
		QueueBytes: s.memory.queue,
		Redact:     o.redact,
		LazyIndex:  rs.lazy,
		OnError: func(err error) {
			s.logger.Error("session: writing failed; exchanges are kept in memory only from now on", "session", rs.path, "error", err)
		},
		OnEvict: func(e session.Eviction) {
			s.logger.Warn(e.String(), "session", rs.path)
			if f := rs.onEvict.Load(); f != nil {
				(*f)(e)
			}
		},
	})
	if err != nil {
		if temp {
			_ = removeSessionFiles(path)
		}
		if !temp && o.src != "--session" {
			return fmt.Errorf("%s: %w", o.src, err)
		}
		return err
	}
	last, err := store.MaxID()
	if err != nil {
		_ = store.Close()
		if temp {
			_ = removeSessionFiles(path)
		}
		return err
	}
	rs.store = store
	s.session = rs
	s.rec.StartAfter(last)
	s.rec.AddSink(store)
	s.background = append(s.background, s.watchSession)
	s.noteSession(last, o.keep)
	return nil
}

// noteSession says where the exchanges go: in the log, or under the UI
// in the event log only (nothing is printed to the terminal the UI is
// about to take).
func (s *roleRun) noteSession(last uint64, keep bool) {
	rs := s.session
	var msg string
	switch {
	case rs.temp && keep:
		msg = "session: recording to a new file, kept on exit (--keep-session)"
	case rs.temp:
		msg = "session: recording to a temporary file, deleted on exit unless kept (--session FILE or --keep-session keeps one)"
	case last > 0:
		msg = fmt.Sprintf("session: continuing after #%d", last)
	default:
		msg = "session: recording to a new file"
	}
	if s.events != nil {
		s.events.Add(eventlog.Event{Level: slog.LevelInfo, Source: string(s.role), Message: msg + " " + rs.path})
		return
	}
	s.logger.Info(msg, "session", rs.path)
}

// sessionPollInterval is how often the log is told about exchanges the
// session could not keep up with.
const sessionPollInterval = time.Second

// watchSession logs, while the role runs, each time more exchanges were
// not saved because the disk fell behind.
func (s *roleRun) watchSession(ctx context.Context) {
	t := time.NewTicker(sessionPollInterval)
	defer t.Stop()
	var seen session.Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := s.session.store.Stats()
		if st.Dropped > seen.Dropped || st.BodiesDropped > seen.BodiesDropped {
			s.logger.Warn("session: the disk is behind; exchanges are missing from the session (all are in memory while they fit)",
				"session", s.session.path, "not_saved", st.Dropped, "saved_without_bodies", st.BodiesDropped)
			seen = st
		}
	}
}

// sessionStatus is the UI header's word on the session: empty while all
// is well, else what went wrong.
func (s *roleRun) sessionStatus() string {
	if s.session == nil {
		return ""
	}
	st := s.session.store.Stats()
	switch {
	case s.session.store.Err() != nil:
		return "session: write failed (E)"
	case st.Dropped > 0 && st.BodiesDropped > 0:
		return fmt.Sprintf("session: %d not saved, %d without bodies", st.Dropped, st.BodiesDropped)
	case st.Dropped > 0:
		return fmt.Sprintf("session: %d not saved", st.Dropped)
	case st.BodiesDropped > 0:
		return fmt.Sprintf("session: %d saved without bodies", st.BodiesDropped)
	}
	return ""
}

// closeSession writes what is queued, closes the session and says where
// it is, or deletes a temporary one that was not kept. Call it after the
// servers have shut down, so that exchanges in flight are in it. It runs
// once; later calls do nothing.
func (s *roleRun) closeSession() error {
	rs := s.session
	if rs == nil || rs.closed {
		return nil
	}
	rs.closed = true
	_ = rs.store.Flush() // a write error was logged when it happened
	if rs.lazy && rs.keep.Load() {
		s.indexKept(rs.store)
	}
	total, _ := rs.store.Count()
	closeErr := rs.store.Close()
	// Read the counters once the writer has stopped: all is told.
	st := rs.store.Stats()
	writeErr := rs.store.Err()
	if lost := st.Dropped + st.Failed; lost > 0 || st.BodiesDropped > 0 {
		msg := fmt.Sprintf("devproxy: the session is missing %d exchanges", lost)
		if st.BodiesDropped > 0 {
			msg += fmt.Sprintf(", and %d were saved without their bodies", st.BodiesDropped)
		}
		if writeErr != nil {
			msg += fmt.Sprintf(" (writing failed: %v)", writeErr)
		} else {
			msg += " (the disk was behind)"
		}
		fmt.Fprintln(s.stderr, msg)
	}
	if _, err := os.Stat(rs.path); err != nil {
		fmt.Fprintf(s.stderr, "devproxy: the session file %s is gone (%v)\n", rs.path, unwrapPathError(err))
		if rs.temp {
			_ = removeSessionFiles(rs.path)
		}
		return closeErr
	}
	switch {
	case !rs.temp:
		fmt.Fprintf(s.stderr, "devproxy: session %s holds %d %s (%d from this run); open it with: devproxy view %s\n",
			rs.path, total, plural(total, "exchange", "exchanges"), st.Written, shellQuote(rs.path))
	case rs.keep.Load():
		fmt.Fprintf(s.stderr, "devproxy: kept the session %s (%d %s); open it with: devproxy view %s\n",
			rs.path, total, plural(total, "exchange", "exchanges"), shellQuote(rs.path))
	default:
		if err := removeSessionFiles(rs.path); err != nil {
			return fmt.Errorf("temporary session: %w", err)
		}
		if total > 0 {
			fmt.Fprintf(s.stderr, "devproxy: deleted the temporary session (%d %s); keep one with --session FILE or --keep-session\n",
				total, plural(total, "exchange", "exchanges"))
		}
	}
	return closeErr
}

// keptIndexTime bounds how long exiting waits to index a temporary session
// the user chose to keep in the UI's quit question.
const keptIndexTime = 30 * time.Second

// indexKept indexes a temporary session that was kept although its index
// waited for a first search: whoever opens it later with devproxy view
// reads it only, and would otherwise read every exchange for each search.
// What is not indexed within keptIndexTime is indexed by the next devproxy
// that records into the file.
func (s *roleRun) indexKept(store *session.Store) {
	st := store.Stats()
	if st.Written <= st.Indexed {
		return
	}
	fmt.Fprintf(s.stderr, "devproxy: indexing the kept session for search (%d exchanges, at most %s)\n", st.Written-st.Indexed, keptIndexTime)
	ctx, cancel := context.WithTimeout(context.Background(), keptIndexTime)
	defer cancel()
	_ = store.Index(ctx)
}

// abandonSession deletes a temporary session that was not kept without
// closing it, for an exit that cannot wait (a second signal).
func (s *roleRun) abandonSession() {
	if rs := s.session; rs != nil && rs.temp && !rs.keep.Load() {
		_ = removeSessionFiles(rs.path)
	}
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters, so a printed command works when pasted.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%,=", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
