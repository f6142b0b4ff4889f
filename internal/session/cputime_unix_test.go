//go:build unix

package session

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used (user and system): what a
// benchmark costs on a machine other work shares, where elapsed time
// says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
