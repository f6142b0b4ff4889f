package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/devproxy/devproxy/internal/session"
)

// A temporary session is deleted when its process exits, unless kept;
// a process that was killed leaves it behind. Each new temporary session
// looks for such left-overs beside it: those older than a week are
// deleted, the others named in one hint line.

// leftoverMaxAge is how long a temporary session left by a process that
// did not exit stays, from the last time it was written.
const leftoverMaxAge = 7 * 24 * time.Hour

// tempSessionName matches the names createTempSession gives:
// <role>-<YYYYMMDD-HHMMSS>-<pid>.db, with -N before .db when that was
// taken.
var tempSessionName = regexp.MustCompile(`^[a-z]+-[0-9]{8}-[0-9]{6}-[0-9]+(-[0-9]+)?\.db$`)

// pruneTempSessions deletes the temporary sessions in dir that a devproxy
// process left when it was killed and that were last written more than
// leftoverMaxAge before now, logging each, and prints one line to hint
// about the younger ones. It never touches self (the new session), a
// session a process writes, one that was closed (a kept session), or a
// file that is not named as createTempSession names them. Errors only
// leave files where they are: pruning must not keep a role from starting.
func pruneTempSessions(dir, self string, now time.Time, logger *slog.Logger, hint io.Writer) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var (
		young  int
		newest string
		latest time.Time
	)
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() || !tempSessionName.MatchString(e.Name()) || path == self {
			continue
		}
		if left, err := session.Abandoned(path); err != nil || !left {
			continue
		}
		written, ok := lastWritten(path)
		if !ok {
			continue
		}
		if now.Sub(written) <= leftoverMaxAge {
			young++
			if written.After(latest) {
				newest, latest = path, written
			}
			continue
		}
		if err := session.Remove(path); err != nil {
			logger.Warn("session: could not delete a temporary session left by a devproxy that did not exit", "session", path, "error", err)
			continue
		}
		logger.Info("session: deleted a temporary session left by a devproxy that did not exit", "session", path,
			"last_written", written.Format(time.DateTime))
	}
	if young > 0 {
		fmt.Fprintf(hint, "devproxy: %d temporary %s left by devproxy processes that did not exit (deleted after %d days); the newest: devproxy view %s\n",
			young, plural(young, "session was", "sessions were"), int(leftoverMaxAge/(24*time.Hour)), shellQuote(newest))
	}
}

// lastWritten is when the session at path was last written: the later of
// the file's and its write-ahead log's modification times.
func lastWritten(path string) (time.Time, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}, false
	}
	t := st.ModTime()
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.ModTime().After(t) {
		t = wal.ModTime()
	}
	return t, true
}
