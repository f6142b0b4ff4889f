//go:build unix

package session

import (
	"errors"
	"os"
	"syscall"
)

// removeWhileOpen: a Unix file can be removed while it is open and locked.
const removeWhileOpen = true

// lockFD takes an exclusive flock on f without waiting.
func lockFD(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return err
}
