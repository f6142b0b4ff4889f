// Command devproxy is a terminal tool for seeing and shaping HTTP traffic
// during development: a reverse proxy with a live UI, and an inverting proxy
// (relay and agent) for backends without an inbound port.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	// DEVPROXY_CPUPROFILE=FILE writes a CPU profile of the whole run (for
	// devproxy's own developers, with bench/wrk.sh).
	if path := os.Getenv("DEVPROXY_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	root := newRootCmd()
	err := root.Execute()
	pprof.StopCPUProfile()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "devproxy:", msg)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit status for an error a command returned: an
// exitError's code, else 2 (the command could not do its job: bad flags, a
// port in use, a session another process writes).
func exitCode(err error) int {
	var ex exitError
	if errors.As(err, &ex) {
		return ex.code
	}
	return 2
}

// exitError ends the process with a specific code (replay: 1 when statuses
// differ).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
