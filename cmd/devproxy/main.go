// Command devproxy is a terminal tool for seeing and shaping HTTP traffic
// during development: a reverse proxy with a live UI, and an inverting proxy
// (relay and agent) for backends without an inbound port.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
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
