package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The lock that keeps two processes from writing one session file is a
// file beside it (the session's path plus ".lock") locked by the operating
// system: flock on Unix, LockFileEx on Windows. The system releases the
// lock when its holder exits, however it exits, so a holder that died
// (kill -9, a crash) never blocks the next one; there is no PID to check
// and no stale file to clean up. The holder writes its PID, command line
// and start time into the file, for the message a second writer gets.

// LockedError says another process holds a session file for writing.
type LockedError struct {
	Path string // the lock file
	// PID, Command and Started describe the holder, as it wrote them;
	// zero when it had not written them yet.
	PID     int
	Command string
	Started time.Time
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID != 0 {
		who = "process " + strconv.Itoa(e.PID)
		if e.Command != "" {
			who += " (" + e.Command + ")"
		}
		if !e.Started.IsZero() {
			who += ", started " + e.Started.Format(time.DateTime)
		}
	}
	return fmt.Sprintf("the session is being written by %s: stop it, use another file, or open this one read-only", who)
}

// errLockHeld is what the system lock returns when another process holds
// it.
var errLockHeld = errors.New("lock held")

// lockFile is a held lock.
type lockFile struct {
	f    *os.File
	path string
}

// acquireLock locks path (creating it, mode 0600) and writes this process
// into it, or returns a *LockedError naming the holder.
func acquireLock(path, command string) (*lockFile, error) {
	if command == "" {
		command = commandLine()
	}
	// A holder that exits removes the file; a lock taken on a file that
	// was removed meanwhile locks nothing, so check and try again.
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := lockFD(f); err != nil {
			defer f.Close()
			if errors.Is(err, errLockHeld) {
				return nil, holder(f, path)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if st, err := os.Stat(path); err != nil || !sameFile(f, st) {
			f.Close()
			continue
		}
		info := fmt.Sprintf("pid: %d\ncommand: %s\nstarted: %s\n", os.Getpid(), command, time.Now().Format(time.RFC3339))
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
		if _, err := f.WriteAt([]byte(info), 0); err != nil {
			f.Close()
			return nil, err
		}
		return &lockFile{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("lock %s: it keeps being replaced", path)
}

// sameFile reports whether the open file f is the one st describes.
func sameFile(f *os.File, st os.FileInfo) bool {
	fst, err := f.Stat()
	return err == nil && os.SameFile(fst, st)
}

// holder reads what the lock's holder wrote into it.
func holder(f *os.File, path string) *LockedError {
	e := &LockedError{Path: path}
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "pid":
			e.PID, _ = strconv.Atoi(v)
		case "command":
			e.Command = v
		case "started":
			e.Started, _ = time.Parse(time.RFC3339, v)
		}
	}
	return e
}

// release removes the lock file (where the system allows it while the
// file is open) and unlocks it.
func (l *lockFile) release() error {
	if removeWhileOpen {
		os.Remove(l.path)
	}
	return l.f.Close()
}

// commandLine is this process's command line, short enough for a message.
func commandLine() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	s := strings.Join(args, " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// Abandoned reports whether the session file at path was left by a writer
// that did not close it (killed, crashed): its lock file is there, but no
// process holds it. A writer that closes removes its lock file; where the
// system does not let it (Windows), its write-ahead log tells instead,
// which the last connection to close removes. A session that was never
// written, or was closed, is not abandoned; nor is one that a process
// writes now.
func Abandoned(path string) (bool, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the lock, if taken
	switch err := lockFD(f); {
	case errors.Is(err, errLockHeld):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if !removeWhileOpen {
		if _, err := os.Lstat(path + "-wal"); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// Remove deletes the session file at path with the files beside it
// (write-ahead log, its index, lock). It holds the file's lock meanwhile,
// so that no process starts writing the file as it goes, and fails with a
// *LockedError when a process writes it.
func Remove(path string) error {
	lock, err := acquireLock(path+".lock", "")
	if err != nil {
		return fmt.Errorf("remove session %s: %w", path, err)
	}
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, lock.release())
	if !removeWhileOpen {
		errs = append(errs, os.Remove(lock.path)) // unlocked: closed first
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove session %s: %w", path, err)
	}
	return nil
}
