package record

import (
	"sort"
	"strconv"
	"sync"
	"time"
)

// Limits bound the memory a Recorder uses.
type Limits struct {
	// MaxExchanges is how many exchanges are kept; the oldest is evicted
	// first. Default 1000.
	MaxExchanges int
	// MaxBodyCapture is how many bytes of each body (request and response
	// separately) are captured. Default (0) 1 MiB; negative captures none.
	MaxBodyCapture int64
	// MaxCaptureTotal bounds the captured body bytes of all kept exchanges;
	// the oldest exchanges are evicted to make room. Default 128 MiB.
	MaxCaptureTotal int64
}

// Default limits.
const (
	DefaultMaxExchanges    = 1000
	DefaultMaxBodyCapture  = 1 << 20
	DefaultMaxCaptureTotal = 128 << 20
)

// MaxMessages is how many messages (Exchange.Messages) an exchange keeps:
// the first ones, like a body's first bytes, so that what a UI or an export
// already showed stays put; later ones are counted in MessagesDropped.
const MaxMessages = 10_000

func (l Limits) withDefaults() Limits {
	if l.MaxExchanges <= 0 {
		l.MaxExchanges = DefaultMaxExchanges
	}
	switch {
	case l.MaxBodyCapture == 0:
		l.MaxBodyCapture = DefaultMaxBodyCapture
	case l.MaxBodyCapture < 0:
		l.MaxBodyCapture = 0 // headers only
	}
	if l.MaxCaptureTotal <= 0 {
		l.MaxCaptureTotal = DefaultMaxCaptureTotal
	}
	if l.MaxBodyCapture > l.MaxCaptureTotal {
		l.MaxBodyCapture = l.MaxCaptureTotal
	}
	return l
}

// Stats are the recorder's counters.
type Stats struct {
	Total           uint64 // exchanges recorded since start
	Kept            int    // exchanges in the buffer now
	InFlight        int    // recorded exchanges not yet finished (kept or evicted)
	Errors          uint64 // exchanges that failed (client cancellations not counted)
	Canceled        uint64 // exchanges the client abandoned
	Evicted         uint64 // exchanges dropped to stay within limits
	TruncatedBodies uint64 // bodies captured only in part
	CapturedBytes   int64  // body bytes held now
	Paused          bool   // capture paused: traffic flows, nothing is recorded
	Skipped         uint64 // exchanges not recorded while paused
}

// Getter finds a recorded exchange by ID: a Recorder, or something that
// also reads the exchanges it no longer holds from a session on disk.
type Getter interface {
	Get(id uint64) (Exchange, bool)
}

// Recorder keeps the most recent exchanges in bounded memory and tells
// subscribers what changed. It is safe for concurrent use; the proxy's calls
// take a short lock and never wait for readers.
type Recorder struct {
	mu       sync.Mutex
	limits   Limits
	nextID   uint64
	ring     []*entry // ordered by ID, oldest first
	captured int64
	stats    Stats
	subs     []*Subscription
	sinks    []*sink
	now      func() time.Time
}

// NewRecorder returns a recorder with the given limits (zero fields take the
// defaults).
func NewRecorder(l Limits) *Recorder {
	return &Recorder{limits: l.withDefaults(), now: time.Now}
}

// Limits returns the limits in force.
func (r *Recorder) Limits() Limits { return r.limits }

// Stats returns the current counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Kept = len(r.ring)
	s.CapturedBytes = r.captured
	return s
}

// StartAfter makes the exchanges recorded from now on take IDs after last,
// so that a run writing into an existing session file goes on with its
// numbering instead of repeating it. IDs never go back: a last below the
// newest ID already given out changes nothing.
func (r *Recorder) StartAfter(last uint64) {
	r.mu.Lock()
	r.nextID = max(r.nextID, last)
	r.mu.Unlock()
}

// SetPaused pauses or resumes capture. While paused, new exchanges pass
// through the proxy unrecorded; exchanges already begun keep recording.
func (r *Recorder) SetPaused(p bool) {
	r.mu.Lock()
	r.stats.Paused = p
	r.mu.Unlock()
}

// Snapshot returns copies of all kept exchanges, oldest first. Body bytes are
// shared read-only with the recorder.
func (r *Recorder) Snapshot() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Exchange, len(r.ring))
	for i, e := range r.ring {
		out[i] = e.ex.clone()
	}
	return out
}

// Get returns a copy of exchange id, if it is still kept.
func (r *Recorder) Get(id uint64) (Exchange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.find(id); e != nil {
		return e.ex.clone(), true
	}
	return Exchange{}, false
}

// Clear drops every kept exchange. Exchanges still in flight finish without
// being recorded.
func (r *Recorder) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.ring {
		e.kept = false
		r.ring[i] = nil
	}
	r.ring = r.ring[:0]
	r.captured = 0
	r.emit(Event{Kind: EventCleared})
}

// Add stores a finished exchange (e.g. one read from a HAR file) under a new
// ID, applying the capture limits, and returns the ID.
func (r *Recorder) Add(x Exchange) uint64 {
	r.mu.Lock()
	id, done, sinks := r.addLocked(x)
	r.mu.Unlock()
	r.offer(sinks, done)
	return id
}

func (r *Recorder) addLocked(x Exchange) (uint64, *Exchange, []*sink) {
	r.nextID++
	x.ID = r.nextID
	x.Version = 1
	x.State = Done
	e := &entry{r: r, ex: x, kept: true, finished: true}
	reqBody := x.Request.Body
	e.ex.Request.Body = Body{Complete: reqBody.Complete}
	var respBody Body
	if x.Response != nil {
		resp := *x.Response
		respBody = resp.Body
		resp.Body = Body{Complete: respBody.Complete}
		e.ex.Response = &resp
	}
	r.insert(e)
	r.stats.Total++
	if x.Err != nil {
		if x.Err.Kind == ErrCanceled {
			r.stats.Canceled++
		} else {
			r.stats.Errors++
		}
	}
	e.fill(&e.ex.Request.Body, reqBody)
	if e.ex.Response != nil {
		e.fill(&e.ex.Response.Body, respBody)
	}
	e.ex.Messages = nil
	for _, m := range x.Messages {
		// Copy what may be kept: the caller keeps its exchange.
		m.Size = max(m.Size, int64(len(m.Payload)))
		m.Payload = append([]byte(nil), m.Payload[:min(int64(len(m.Payload)), r.limits.MaxBodyCapture)]...)
		e.addMessage(m)
	}
	r.emit(Event{Kind: EventStarted, ID: x.ID})
	r.emit(Event{Kind: EventDone, ID: x.ID})
	if len(r.sinks) == 0 {
		return x.ID, nil, nil
	}
	c := e.ex.clone()
	return x.ID, &c, r.sinks
}

// Begin implements Tap.
func (r *Recorder) Begin(b Begin) Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stats.Paused {
		r.stats.Skipped++
		return nopRecording{}
	}
	r.nextID++
	e := &entry{r: r, kept: true}
	e.ex = Exchange{
		ID:         r.nextID,
		Version:    1,
		Role:       b.Role,
		Start:      b.Start,
		State:      InFlight,
		ClientAddr: b.ClientAddr,
		ReplayOf:   b.ReplayOf,
		Request:    b.Request,
		Timings:    NoTimings,
		Marks:      append([]Mark(nil), b.Marks...),
	}
	if e.ex.Start.IsZero() {
		e.ex.Start = r.now()
	}
	e.ex.Request.Body = Body{}
	if b.ContentLength == 0 {
		e.ex.Request.Body.Complete = true
	} else if b.ContentLength > 0 {
		e.reqHint = b.ContentLength
	}
	r.stats.Total++
	r.stats.InFlight++
	r.insert(e)
	r.emit(Event{Kind: EventStarted, ID: e.ex.ID})
	return e
}

// insert appends e and evicts by count. Callers hold r.mu.
func (r *Recorder) insert(e *entry) {
	for len(r.ring) >= r.limits.MaxExchanges {
		r.evict(0)
	}
	r.ring = append(r.ring, e)
}

// evict drops ring[i]. Callers hold r.mu.
func (r *Recorder) evict(i int) {
	e := r.ring[i]
	e.kept = false
	r.captured -= e.held()
	if i == 0 {
		// The usual case, once per exchange when the ring is full: drop the
		// front rather than move every other entry; append reallocates the
		// ring from time to time instead.
		r.ring[0] = nil
		r.ring = r.ring[1:]
	} else {
		copy(r.ring[i:], r.ring[i+1:])
		r.ring[len(r.ring)-1] = nil
		r.ring = r.ring[:len(r.ring)-1]
	}
	r.stats.Evicted++
	r.emit(Event{Kind: EventEvicted, ID: e.ex.ID})
}

// Delete drops the given exchanges from the buffer at the user's request.
// Subscribers get the EventEvicted they get for an eviction, but
// Stats.Evicted does not count them: nothing was dropped to stay within
// the limits. Ids not kept are ignored; an exchange still in flight goes
// on without being recorded, as after Clear.
func (r *Recorder) Delete(ids ...uint64) {
	if len(ids) == 0 {
		return
	}
	drop := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		drop[id] = struct{}{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// One pass, so that deleting many is not quadratic.
	kept := r.ring[:0]
	for _, e := range r.ring {
		if _, ok := drop[e.ex.ID]; !ok {
			kept = append(kept, e)
			continue
		}
		e.kept = false
		r.captured -= e.held()
		r.emit(Event{Kind: EventEvicted, ID: e.ex.ID})
	}
	clear(r.ring[len(kept):])
	r.ring = kept
}

// find returns the kept entry with the given id. Callers hold r.mu.
func (r *Recorder) find(id uint64) *entry {
	i := sort.Search(len(r.ring), func(i int) bool { return r.ring[i].ex.ID >= id })
	if i < len(r.ring) && r.ring[i].ex.ID == id {
		return r.ring[i]
	}
	return nil
}

// entry is a kept exchange and the Recording the proxy writes through.
type entry struct {
	r        *Recorder
	ex       Exchange
	kept     bool // still in the ring
	finished bool
	reqHint  int64
	respHint int64
	msgBytes int64 // payload bytes of the kept messages
}

func (e *entry) ID() uint64 { return e.ex.ID }

// held is how many captured bytes (bodies and message payloads) e counts
// against the total budget.
func (e *entry) held() int64 {
	n := int64(len(e.ex.Request.Body.Bytes)) + e.msgBytes
	if e.ex.Response != nil {
		n += int64(len(e.ex.Response.Body.Bytes))
	}
	return n
}

func (e *entry) Upstream(url string) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	e.ex.Request.UpstreamURL = url
	e.ex.Version++
}

func (e *entry) Sent(s SentRequest) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	e.ex.Request.Sent = &s
	e.ex.Version++
	e.r.emit(Event{Kind: EventResponse, ID: e.ex.ID})
}

func (e *entry) Mark(m Mark) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	// Replace the slice, never append in place: snapshots share it.
	e.ex.Marks = append(e.ex.Marks[:len(e.ex.Marks):len(e.ex.Marks)], m)
	e.ex.Version++
	e.r.emit(Event{Kind: EventResponse, ID: e.ex.ID})
}

func (e *entry) RequestBody(p []byte) {
	if len(p) == 0 {
		return
	}
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	e.captureLocked(&e.ex.Request.Body, e.reqHint, p, EventRequestBody)
}

func (e *entry) RequestEnd(trailer Fields) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	e.ex.Request.Body.Complete = true
	e.ex.Request.Trailer = trailer
	e.shrink(&e.ex.Request.Body)
	e.ex.Version++
	e.r.emit(Event{Kind: EventRequestBody, ID: e.ex.ID})
}

func (e *entry) Response(resp Response, serverAddr string) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	resp.Body = Body{}
	e.ex.Response = &resp
	if serverAddr != "" {
		e.ex.ServerAddr = serverAddr
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n > 0 {
		e.respHint = n
	}
	e.ex.Version++
	e.r.emit(Event{Kind: EventResponse, ID: e.ex.ID})
}

func (e *entry) ResponseBody(p []byte) {
	if len(p) == 0 {
		return
	}
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished || e.ex.Response == nil {
		return
	}
	e.captureLocked(&e.ex.Response.Body, e.respHint, p, EventResponseBody)
}

// captureLocked adds p to body b, sizing the buffer from the declared length
// hint on the first bytes, and tells subscribers. Callers hold r.mu.
func (e *entry) captureLocked(b *Body, hint int64, p []byte, kind EventKind) {
	e.appendBody(b, hint, p)
	e.ex.Version++
	e.r.emit(Event{Kind: kind, ID: e.ex.ID})
}

func (e *entry) Upgraded(up, down int64) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished {
		return
	}
	e.ex.Upgraded = true
	e.ex.UpgradeUp, e.ex.UpgradeDn = up, down
	e.ex.Version++
	e.r.emit(Event{Kind: EventResponseBody, ID: e.ex.ID})
}

func (e *entry) Message(m Message) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.finished || !e.kept {
		return
	}
	e.addMessage(m)
	e.ex.Version++
	e.r.emit(Event{Kind: EventResponseBody, ID: e.ex.ID})
}

// addMessage keeps m within the message count, the per-body cap and the
// total budget, or counts it as dropped. Messages are appended in place:
// copies handed out are capped at their length (see clone), so they never
// see the append. Callers hold r.mu.
func (e *entry) addMessage(m Message) {
	if len(e.ex.Messages) >= MaxMessages {
		e.ex.MessagesDropped++
		return
	}
	m.Size = max(m.Size, int64(len(m.Payload)))
	n := e.reserve(min(int64(len(m.Payload)), e.r.limits.MaxBodyCapture))
	// Copy when part is left out or the buffer has much room to spare, so
	// that the memory held stays close to the bytes counted (as shrink).
	if c := int64(cap(m.Payload)); n < int64(len(m.Payload)) || (c-n > 4096 && c-n > n/4) {
		m.Payload = append([]byte(nil), m.Payload[:n]...)
	}
	m.Payload = m.Payload[:n:n]
	m.Truncated = m.Truncated || m.Size > n
	e.msgBytes += n
	e.r.captured += n
	e.ex.Messages = append(e.ex.Messages, m)
}

func (e *entry) Finish(f Finish) {
	e.r.mu.Lock()
	done, sinks := e.finishLocked(f)
	e.r.mu.Unlock()
	e.r.offer(sinks, done)
}

// finishLocked ends the exchange and returns it for the sinks, if it was
// not finished already. Callers hold r.mu.
func (e *entry) finishLocked(f Finish) (*Exchange, []*sink) {
	if e.finished {
		return nil, nil
	}
	e.finished = true
	r := e.r
	r.stats.InFlight--
	if f.Err != nil {
		if f.Err.Kind == ErrCanceled {
			r.stats.Canceled++
		} else {
			r.stats.Errors++
		}
	}
	e.ex.End = f.End
	if e.ex.End.IsZero() {
		e.ex.End = r.now()
	}
	e.ex.State = Done
	e.ex.Timings = f.Timings
	e.ex.Err = f.Err
	if e.ex.Response != nil {
		e.ex.Response.Trailer = f.Trailer
		e.ex.Response.Body.Complete = f.ResponseComplete
		e.shrink(&e.ex.Response.Body)
	}
	e.ex.Version++
	r.emit(Event{Kind: EventDone, ID: e.ex.ID})
	if len(r.sinks) == 0 {
		return nil, nil
	}
	x := e.ex.clone()
	return &x, r.sinks
}

// appendBody captures p into b within the per-body and total limits,
// evicting the oldest other exchanges to make room. The first bytes size
// the buffer from hint, the body's declared length (0: unknown). Callers
// hold r.mu.
func (e *entry) appendBody(b *Body, hint int64, p []byte) {
	r := e.r
	b.Size += int64(len(p))
	n := int64(len(p))
	if room := r.limits.MaxBodyCapture - int64(len(b.Bytes)); n > room {
		n = room
	}
	n = e.reserve(n)
	if n > 0 {
		if int64(cap(b.Bytes)-len(b.Bytes)) < n {
			want := max(2*int64(cap(b.Bytes)), int64(len(b.Bytes))+n, 512)
			if b.Bytes == nil && hint > 0 {
				want = max(hint, n)
			}
			want = min(want, r.limits.MaxBodyCapture)
			grown := make([]byte, len(b.Bytes), want)
			copy(grown, b.Bytes)
			b.Bytes = grown
		}
		b.Bytes = append(b.Bytes, p[:n]...)
		r.captured += n
	}
	if b.Size > int64(len(b.Bytes)) && !b.Truncated {
		b.Truncated = true
		r.stats.TruncatedBodies++
	}
}

// reserve makes room for n more captured bytes within the total budget,
// evicting the oldest other exchanges, and returns how many of them e may
// capture: n, or less when e alone fills the budget, or none when e is no
// longer kept. The caller adds what it captures to r.captured. Callers
// hold r.mu.
func (e *entry) reserve(n int64) int64 {
	r := e.r
	if !e.kept || n <= 0 {
		return 0
	}
	for r.captured+n > r.limits.MaxCaptureTotal {
		victim := -1
		for i, o := range r.ring {
			if o != e {
				victim = i
				break
			}
		}
		if victim < 0 {
			return max(0, r.limits.MaxCaptureTotal-r.captured)
		}
		r.evict(victim)
	}
	return n
}

// fill captures a whole body read from elsewhere (a HAR file), keeping its
// recorded total size. Callers hold r.mu.
func (e *entry) fill(b *Body, from Body) {
	e.appendBody(b, 0, from.Bytes)
	if from.Size > b.Size {
		b.Size = from.Size
	}
	if (from.Size > int64(len(b.Bytes)) || from.Truncated) && !b.Truncated {
		b.Truncated = true
		e.r.stats.TruncatedBodies++
	}
	e.shrink(b)
}

// shrink gives back capture capacity a finished body does not use, so the
// memory held stays close to the bytes counted. Callers hold r.mu.
func (e *entry) shrink(b *Body) {
	if c, l := cap(b.Bytes), len(b.Bytes); c-l > 4096 && c-l > l/4 {
		b.Bytes = append(make([]byte, 0, l), b.Bytes...)
	}
}
