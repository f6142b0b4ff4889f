package record

import "sync/atomic"

// Sink receives every exchange the recorder finishes, once, as a copy that
// it may keep: the on-disk session store is one. Offer is called on the
// proxy's path, without the recorder's lock held, so it must never block
// or wait for I/O: a sink hands the exchange to its own goroutine, and when
// it cannot keep up it returns false. The recorder counts what each sink
// refused, so a loss is visible rather than silent.
//
// Exchanges are offered in the order they finish, which is not the order
// of their IDs. An exchange evicted from memory while in flight is still
// offered when it finishes (with what was captured before it was evicted).
type Sink interface {
	Offer(x Exchange) bool
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Exchange) bool

// Offer calls f.
func (f SinkFunc) Offer(x Exchange) bool { return f(x) }

type sink struct {
	s       Sink
	refused atomic.Uint64
}

// AddSink starts offering finished exchanges to s. It returns a function
// that reports how many exchanges s has refused so far.
func (r *Recorder) AddSink(s Sink) (refused func() uint64) {
	k := &sink{s: s}
	r.mu.Lock()
	// Replace the slice: Finish reads it after releasing the lock.
	r.sinks = append(r.sinks[:len(r.sinks):len(r.sinks)], k)
	r.mu.Unlock()
	return k.refused.Load
}

// offer hands a finished exchange to each sink. Callers do not hold r.mu.
func (r *Recorder) offer(sinks []*sink, x *Exchange) {
	if x == nil {
		return
	}
	for _, k := range sinks {
		if !k.s.Offer(*x) {
			k.refused.Add(1)
		}
	}
}
