//go:build windows

package session

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// removeWhileOpen: Windows does not remove a file that is open.
const removeWhileOpen = false

// lockFD locks one byte of f far past its end without waiting: a lock on
// the bytes the holder wrote would keep others from reading them.
func lockFD(f *os.File) error {
	ol := &windows.Overlapped{OffsetHigh: 0x7fffffff}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLockHeld
	}
	return err
}
