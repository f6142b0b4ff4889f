package main

import (
	"cmp"
	"slices"
	"sync"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
	"github.com/devproxy/devproxy/internal/tui"
)

// sessionPage is how many exchanges one read of a session file returns.
const sessionPage = 500

// The UI reads a session file through a tui.Lister: a summary of every
// exchange, and the exchanges themselves a screenful at a time, so that a
// session of any size takes about a screenful of memory. Two sources
// offer it: sessionSource, a file opened read-only (devproxy view), and
// liveSource, a running role's recorder in front of the session it
// writes, where the exchanges that leave the recorder's memory stay
// listed and are read back from the file.

// storeReader is what both sources read from a session.
type storeReader struct{ store *session.Store }

// Index lists every exchange in the file.
func (r storeReader) Index() ([]tui.Summary, error) {
	sums, err := r.store.Summaries(0, 0)
	if err != nil {
		return nil, err
	}
	out := make([]tui.Summary, len(sums))
	for i, s := range sums {
		out[i] = tui.Summary{ID: s.ID, Version: s.Version, Status: s.Status, Dur: s.Dur, Size: s.Size, Host: s.Host}
	}
	return out, nil
}

// Fetch reads the exchanges ids, without body bytes, with their messages.
func (r storeReader) Fetch(ids []uint64) ([]record.Exchange, error) {
	return r.store.GetMany(ids)
}

// Candidates asks the file's search index which exchanges contain text.
func (r storeReader) Candidates(text string, bodiesOnly bool) ([]uint64, bool, error) {
	if len([]rune(text)) < 3 {
		return nil, false, nil // the trigram index cannot answer
	}
	var in []session.Field
	if bodiesOnly {
		in = []session.Field{session.FieldRequest, session.FieldResponse}
	} else {
		in = []session.Field{session.FieldURL, session.FieldHeaders, session.FieldRequest, session.FieldResponse}
	}
	ids, err := r.store.Search(text, 0, in...)
	if err != nil {
		return nil, false, err
	}
	return ids, true, nil
}

// body reads one body of x from the file.
func (r storeReader) body(x *record.Exchange, part tui.BodyPart) (record.Body, error) {
	p := session.RequestBody
	if part == tui.ResponseBody {
		if x.Response == nil {
			return record.Body{}, nil
		}
		p = session.ResponseBody
	}
	return r.store.Body(x.ID, p)
}

// get reads exchange id, without body bytes, with its messages.
func (r storeReader) get(id uint64) (record.Exchange, bool) {
	xs, err := r.store.GetMany([]uint64{id})
	if err != nil || len(xs) != 1 {
		return record.Exchange{}, false
	}
	return xs[0], true
}

// sessionSource is a session file opened read-only, seen by the UI as a
// tui.Source, Lister, Searcher and StatsReader. Nothing changes
// afterwards: there is nothing to subscribe to.
type sessionSource struct {
	storeReader
	stats record.Stats
}

// newSessionSource is the UI's view of store, a session opened read-only.
func newSessionSource(store *session.Store) (*sessionSource, error) {
	src := &sessionSource{storeReader: storeReader{store}}
	n, err := store.Count()
	if err != nil {
		return nil, err
	}
	src.stats.Total, src.stats.Kept = uint64(n), n
	return src, nil
}

// Snapshot holds nothing: every exchange is listed by Index.
func (s *sessionSource) Snapshot() []record.Exchange { return nil }

// Get reads exchange id from the file.
func (s *sessionSource) Get(id uint64) (record.Exchange, bool) { return s.get(id) }

// Subscribe returns a subscription that never fires: the file is read,
// not written.
func (s *sessionSource) Subscribe(int) tui.Subscription { return stillSubscription{} }

// Body reads one body of x from the file.
func (s *sessionSource) Body(x *record.Exchange, part tui.BodyPart) (record.Body, error) {
	return s.body(x, part)
}

// Stats returns the header's counters: the file's exchanges.
func (s *sessionSource) Stats() record.Stats { return s.stats }

// stillSubscription is a subscription to something that never changes.
type stillSubscription struct{}

func (stillSubscription) Ready() <-chan struct{}                  { return nil }
func (stillSubscription) Drain(dst []record.Event) []record.Event { return dst }
func (stillSubscription) Close()                                  {}

// liveSource is a running role's recorder, which holds the recent
// exchanges in memory, in front of the session it writes them to, which
// holds every one. The UI lists both: the session's exchanges by summary
// and the recorder's whole. An exchange the recorder evicts to stay
// within its memory budget is offloaded, not gone: the UI keeps it listed
// and reads it back from the file. Deleting and clearing act on both.
type liveSource struct {
	storeReader
	rec *record.Recorder

	mu      sync.Mutex
	deleted map[uint64]struct{} // deleted by the user, their evictions not yet seen
	subs    []*liveSub
}

func newLiveSource(rec *record.Recorder, store *session.Store) *liveSource {
	return &liveSource{storeReader: storeReader{store}, rec: rec, deleted: map[uint64]struct{}{}}
}

// Snapshot is what the recorder holds.
func (s *liveSource) Snapshot() []record.Exchange { return s.rec.Snapshot() }

// Get reads exchange id from memory, else from the file.
func (s *liveSource) Get(id uint64) (record.Exchange, bool) {
	if x, ok := s.rec.Get(id); ok {
		return x, true
	}
	return s.get(id)
}

// Fetch reads the exchanges ids from the file, and those not written yet
// from memory.
func (s *liveSource) Fetch(ids []uint64) ([]record.Exchange, error) {
	xs, err := s.store.GetMany(ids)
	if err != nil || len(xs) == len(ids) {
		return xs, err
	}
	found := make(map[uint64]bool, len(xs))
	for i := range xs {
		found[xs[i].ID] = true
	}
	var more []record.Exchange
	for _, id := range ids {
		if found[id] {
			continue
		}
		if x, ok := s.rec.Get(id); ok {
			more = append(more, x)
		}
	}
	if len(more) == 0 {
		return xs, nil
	}
	xs = append(xs, more...)
	sortByID(xs)
	return xs, nil
}

// Body is x's body: in memory when x came from the recorder with its
// bytes, else read from the file.
func (s *liveSource) Body(x *record.Exchange, part tui.BodyPart) (record.Body, error) {
	b := part.Of(x)
	if len(b.Bytes) > 0 || b.Size == 0 {
		return b, nil
	}
	if mem, ok := s.rec.Get(x.ID); ok && mem.Version == x.Version {
		return part.Of(&mem), nil
	}
	return s.body(x, part)
}

// Stats are the recorder's counters. What it evicted is in the session
// (Evicted counts only what is lost: all of it once the session failed).
func (s *liveSource) Stats() record.Stats {
	st := s.rec.Stats()
	if s.store.Err() == nil {
		st.Evicted = 0
	}
	return st
}

// SetPaused pauses recording.
func (s *liveSource) SetPaused(p bool) { s.rec.SetPaused(p) }

// Clear drops every exchange, from memory and from the file.
func (s *liveSource) Clear() {
	s.rec.Clear() // tells the subscribers
	_ = s.store.Clear()
}

// Delete drops exchanges from memory and from the file. Those the
// recorder no longer holds get their EventEvicted from here.
func (s *liveSource) Delete(ids ...uint64) {
	s.mu.Lock()
	var cold []uint64
	for _, id := range ids {
		if _, ok := s.rec.Get(id); ok {
			s.deleted[id] = struct{}{}
		} else {
			cold = append(cold, id)
		}
	}
	s.mu.Unlock()
	s.rec.Delete(ids...)
	_ = s.store.Delete(ids...)
	for _, id := range cold {
		s.inject(record.Event{Kind: record.EventEvicted, ID: id})
	}
}

// evicted tells the UI about exchanges the session deleted to stay within
// its disk budget: the oldest, up to e.Last.
func (s *liveSource) evicted(e session.Eviction) {
	for id := e.First; id <= e.Last && id != 0; id++ {
		if _, ok := s.rec.Get(id); !ok {
			s.inject(record.Event{Kind: record.EventEvicted, ID: id})
		}
	}
}

// inject queues ev for every subscriber.
func (s *liveSource) inject(ev record.Event) {
	s.mu.Lock()
	subs := append([]*liveSub(nil), s.subs...)
	s.mu.Unlock()
	for _, sub := range subs {
		sub.add(ev)
	}
}

// Subscribe wraps a recorder subscription: evictions become offloads
// (unless the user deleted the exchange, or the session failed and cannot
// give it back), and the source's own events join them.
func (s *liveSource) Subscribe(queue int) tui.Subscription {
	if queue <= 0 {
		queue = record.DefaultQueue
	}
	sub := &liveSub{src: s, inner: s.rec.Subscribe(queue), max: queue, ready: make(chan struct{}, 1), stop: make(chan struct{})}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	go sub.forward()
	return sub
}

// translate turns the recorder's eviction of id into what it is for the
// UI.
func (s *liveSource) translate(ev record.Event) record.Event {
	if ev.Kind != record.EventEvicted {
		return ev
	}
	s.mu.Lock()
	_, del := s.deleted[ev.ID]
	delete(s.deleted, ev.ID)
	s.mu.Unlock()
	if del || s.store.Err() != nil {
		return ev
	}
	ev.Kind = record.EventOffloaded
	return ev
}

// liveSub is a liveSource subscription.
type liveSub struct {
	src   *liveSource
	inner *record.Subscription
	ready chan struct{}
	stop  chan struct{}
	once  sync.Once

	mu     sync.Mutex
	extra  []record.Event
	max    int
	lagged bool
}

// forward passes the recorder's readiness on.
func (l *liveSub) forward() {
	for {
		select {
		case <-l.stop:
			return
		case <-l.inner.Ready():
			l.wake()
		}
	}
}

func (l *liveSub) wake() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// add queues one of the source's own events; past the queue's size the
// reader is told it lagged, as the recorder's queue does.
func (l *liveSub) add(ev record.Event) {
	l.mu.Lock()
	if len(l.extra) >= l.max {
		l.lagged = true
		l.extra = l.extra[:0]
	} else if !l.lagged {
		l.extra = append(l.extra, ev)
	}
	l.mu.Unlock()
	l.wake()
}

// Ready receives a value when events are waiting.
func (l *liveSub) Ready() <-chan struct{} { return l.ready }

// Drain appends the waiting events to dst.
func (l *liveSub) Drain(dst []record.Event) []record.Event {
	l.mu.Lock()
	lagged, extra := l.lagged, l.extra
	l.lagged, l.extra = false, nil
	l.mu.Unlock()
	if lagged {
		l.inner.Drain(nil)
		return append(dst, record.Event{Kind: record.EventLagged})
	}
	start := len(dst)
	dst = l.inner.Drain(dst)
	for i := start; i < len(dst); i++ {
		dst[i] = l.src.translate(dst[i])
	}
	return append(dst, extra...)
}

// Close stops delivery.
func (l *liveSub) Close() {
	l.once.Do(func() {
		close(l.stop)
		l.inner.Close()
		l.src.mu.Lock()
		for i, o := range l.src.subs {
			if o == l {
				l.src.subs = append(l.src.subs[:i], l.src.subs[i+1:]...)
				break
			}
		}
		l.src.mu.Unlock()
	})
}

// sortByID orders xs by ID.
func sortByID(xs []record.Exchange) {
	slices.SortFunc(xs, func(a, b record.Exchange) int { return cmp.Compare(a.ID, b.ID) })
}

// history finds a recorded exchange for a replay: in memory, else, whole,
// in the session.
type history struct {
	rec   *record.Recorder
	store *session.Store // nil without a session
}

// history is where the run's replays find their exchanges.
func (s *roleRun) history() record.Getter {
	h := history{rec: s.rec}
	if s.session != nil {
		h.store = s.session.store
	}
	return h
}

// Get returns exchange id with its bodies.
func (h history) Get(id uint64) (record.Exchange, bool) {
	if x, ok := h.rec.Get(id); ok {
		return x, true
	}
	if h.store == nil {
		return record.Exchange{}, false
	}
	x, err := h.store.Load(id)
	return x, err == nil
}
