// Package eventlog keeps what happens to devproxy itself, as opposed to the
// traffic it carries: connections, agents connecting, dropping and retrying,
// TLS handshake failures, requests refused before the handler, the UI
// falling behind, exports written, warnings. A Log is a bounded ring of
// events that the terminal UI shows; a Handler fills it from an slog.Logger,
// so every role logs into it while the UI owns the terminal.
package eventlog

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultMax is how many events a Log keeps unless told otherwise.
const DefaultMax = 5000

// Event is one thing that happened.
type Event struct {
	// Seq numbers events in the order they were added, from 1, with no
	// gaps: a reader that saw up to n asks for Since(n).
	Seq   uint64
	Time  time.Time
	Level slog.Level
	// Source is who logged it: a role ("serve", "relay", "agent") or "ui".
	Source  string
	Message string
	// Attrs are the record's attributes as key=value text, the way slog's
	// text handler writes them ("" for none).
	Attrs string
}

// Log is a bounded ring of events, safe for concurrent use. When full, each
// new event drops the oldest. Adding never blocks on a reader: it is a
// short critical section, and readers copy what they ask for.
type Log struct {
	mu      sync.Mutex
	ring    []Event // grows to max, then wraps
	start   int     // index of the oldest event once the ring is full
	last    uint64  // Seq of the newest event; 0 before the first
	dropped uint64
	max     int
}

// New returns a Log that keeps the newest max events (DefaultMax if max is
// not positive).
func New(max int) *Log {
	if max <= 0 {
		max = DefaultMax
	}
	return &Log{max: max}
}

// Add appends e, giving it the next Seq and, if it has none, the current
// time; it returns the Seq.
func (l *Log) Add(e Event) uint64 {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last++
	e.Seq = l.last
	if len(l.ring) < l.max {
		l.ring = append(l.ring, e)
		return e.Seq
	}
	l.ring[l.start] = e
	l.start = (l.start + 1) % l.max
	l.dropped++
	return e.Seq
}

// Since returns copies of the events added after seq, oldest first. Events
// dropped meanwhile are missing: the first one's Seq is then more than
// seq+1.
func (l *Log) Since(seq uint64) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := uint64(len(l.ring))
	if seq >= l.last {
		return nil
	}
	want := min(l.last-seq, n)
	out := make([]Event, 0, want)
	for i := n - want; i < n; i++ {
		out = append(out, l.ring[(uint64(l.start)+i)%n])
	}
	return out
}

// Last is the Seq of the newest event, 0 if there is none.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Dropped is how many events were dropped to make room for newer ones.
func (l *Log) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Max is how many events the Log keeps.
func (l *Log) Max() int { return l.max }
