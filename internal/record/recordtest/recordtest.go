// Package recordtest has helpers for tests that drive the engine and watch
// what a Recorder records.
package recordtest

import (
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// WaitDone waits, up to timeout, until at least n exchanges are recorded as
// done, and returns the recorder's snapshot then. It wakes on the
// recorder's events rather than polling.
func WaitDone(t testing.TB, rec *record.Recorder, n int, timeout time.Duration) []record.Exchange {
	t.Helper()
	sub := rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(timeout)
	for {
		snap := rec.Snapshot()
		done := 0
		for _, x := range snap {
			if x.State == record.Done {
				done++
			}
		}
		if done >= n {
			return snap
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("timed out waiting for %d finished exchanges; have %d of %d", n, done, len(snap))
		}
	}
}

// WaitExchange waits, up to timeout, until the nth exchange recorded
// (from 1) is done, and returns it.
func WaitExchange(t testing.TB, rec *record.Recorder, n int, timeout time.Duration) record.Exchange {
	t.Helper()
	sub := rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(timeout)
	for {
		snap := rec.Snapshot()
		if len(snap) >= n && snap[n-1].State == record.Done {
			return snap[n-1]
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("timed out waiting for exchange %d to finish; %d recorded", n, len(snap))
		}
	}
}
