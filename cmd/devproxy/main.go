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
		var ex exitError
		if errors.As(err, &ex) {
			if ex.msg != "" {
				fmt.Fprintln(os.Stderr, "devproxy:", ex.msg)
			}
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "devproxy:", err)
		os.Exit(2)
	}
}

// exitError ends the process with a specific code (replay: 1 when statuses
// differ).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
