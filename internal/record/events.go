package record

import "sync"

// EventKind says what changed.
type EventKind uint8

// Event kinds.
const (
	EventStarted      EventKind = iota + 1 // a new exchange
	EventRequestBody                       // the request body grew or ended
	EventResponse                          // response headers arrived
	EventResponseBody                      // the response body grew (or upgraded bytes moved)
	EventDone                              // the exchange finished
	EventEvicted                           // the exchange was dropped from the buffer
	EventCleared                           // every exchange was dropped
	EventLagged                            // events were lost: resync from Snapshot
	// EventOffloaded says the exchange left memory but its source still
	// holds it (in a session file on disk): readers keep it in their list
	// and read it back when they need it. The recorder never sends it; a
	// source that puts a recorder in front of a session does, in place of
	// the recorder's EventEvicted.
	EventOffloaded
)

var eventNames = [...]string{"", "started", "request-body", "response", "response-body", "done", "evicted", "cleared", "lagged", "offloaded"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is a small notice that exchange ID changed; read the exchange itself
// with Recorder.Get.
type Event struct {
	Kind EventKind
	ID   uint64
}

// DefaultQueue is the subscription queue length used when none is given.
const DefaultQueue = 4096

// Subscription is a bounded, lossy queue of events. When the reader falls
// behind and the queue fills, queued events are dropped and the next Drain
// returns a single EventLagged: the reader should resync from Snapshot.
// The recorder never waits for a subscription.
type Subscription struct {
	r      *Recorder
	mu     sync.Mutex
	q      []Event
	max    int
	lagged bool
	lags   uint64
	closed bool
	ready  chan struct{}
}

// Subscribe returns a subscription with a queue of n events (DefaultQueue
// when n <= 0).
func (r *Recorder) Subscribe(n int) *Subscription {
	if n <= 0 {
		n = DefaultQueue
	}
	s := &Subscription{r: r, max: n, ready: make(chan struct{}, 1)}
	r.mu.Lock()
	r.subs = append(r.subs, s)
	r.mu.Unlock()
	return s
}

// Ready receives a value when events are waiting.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Drain appends the waiting events to dst and returns it. After an overflow
// it returns just one EventLagged.
func (s *Subscription) Drain(dst []Event) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lagged {
		s.lagged = false
		s.q = s.q[:0]
		return append(dst, Event{Kind: EventLagged})
	}
	dst = append(dst, s.q...)
	s.q = s.q[:0]
	return dst
}

// Lags counts how often this subscription overflowed.
func (s *Subscription) Lags() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lags
}

// Close stops delivery.
func (s *Subscription) Close() {
	r := s.r
	r.mu.Lock()
	for i, o := range r.subs {
		if o == s {
			r.subs = append(r.subs[:i], r.subs[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.q = nil
	s.mu.Unlock()
}

func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	switch {
	case s.closed:
	case s.lagged:
	case len(s.q) > 0 && s.q[len(s.q)-1] == ev:
		// The same notice twice in a row says nothing new (a body growing
		// chunk after chunk).
	case len(s.q) >= s.max:
		s.lagged = true
		s.lags++
		s.q = s.q[:0]
	default:
		s.q = append(s.q, ev)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// emit tells every subscriber. Callers hold r.mu.
func (r *Recorder) emit(ev Event) {
	for _, s := range r.subs {
		s.push(ev)
	}
}
