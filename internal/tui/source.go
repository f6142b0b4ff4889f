package tui

import (
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// Source is where the UI reads exchanges from: the in-memory recorder of a
// running proxy today (RecorderSource), a session file on disk tomorrow.
// Every method may be called from any goroutine; the UI calls Snapshot, Get
// and Body only off its event loop, except once in New for the first
// snapshot.
type Source interface {
	// Snapshot returns copies of every exchange, oldest (lowest ID) first.
	// A source that serves bodies lazily may leave Body.Bytes empty here
	// and hand the bytes out through Body.
	Snapshot() []record.Exchange
	// Get returns a copy of exchange id, if the source still holds it.
	Get(id uint64) (record.Exchange, bool)
	// Subscribe starts telling the caller which exchanges change, through a
	// bounded, lossy queue of queue events (0: a default size). When the
	// reader falls behind it gets a record.EventLagged and resyncs from a
	// Snapshot; the source never waits for it.
	Subscribe(queue int) Subscription
	// Body returns one body of x, an exchange this source handed out, with
	// its bytes. It is how everything that reads body bytes (the detail
	// view, the filter, curl and HAR export) gets them, so a source on disk
	// can read them when they are needed rather than keep them in memory.
	Body(x *record.Exchange, part BodyPart) (record.Body, error)
}

// Lister is a Source too big to copy whole: a session file of any size.
// The UI holds a Summary of each of its exchanges and reads the exchanges
// themselves, a screenful or a filter's batch at a time, with Fetch. Its
// Snapshot returns only what it holds in memory (a live recorder's recent
// exchanges), which the UI keeps whole until the source sends a
// record.EventOffloaded for one.
type Lister interface {
	// Index returns a summary of every exchange the source holds, in ID
	// order.
	Index() ([]Summary, error)
	// Fetch returns the exchanges with the given IDs, without body bytes,
	// in ID order; IDs the source no longer holds are left out.
	Fetch(ids []uint64) ([]record.Exchange, error)
}

// Summary is what the list needs to place and sort an exchange it has
// not read: its status, duration, response size and host.
type Summary struct {
	ID, Version uint64
	Status      int           // as record.Exchange.Status
	Dur         time.Duration // -1 when unknown
	Size        int64         // response body size (upgraded: bytes both ways); -1 without a response
	Host        string
}

// Searcher is a Lister with a text index: it narrows a search for text
// in the exchanges it holds (URL, headers, text bodies) to the ones that
// may contain it, so that a filter's free words and body: terms need not
// read every body. ok is false when the index cannot answer for text
// (too short); the UI then reads every exchange.
type Searcher interface {
	Candidates(text string, bodiesOnly bool) (ids []uint64, ok bool, err error)
}

// Subscription is a Source's queue of change notices; *record.Subscription
// implements it.
type Subscription interface {
	// Ready receives a value when events are waiting.
	Ready() <-chan struct{}
	// Drain appends the waiting events to dst and returns it.
	Drain(dst []record.Event) []record.Event
	// Close stops delivery.
	Close()
}

// BodyPart names one of an exchange's two bodies.
type BodyPart uint8

// Body parts.
const (
	RequestBody BodyPart = iota
	ResponseBody
)

// The optional abilities of a Source. The UI offers what the source can do
// and switches the other keys off.
type (
	// StatsReader gives the counters the header bar shows.
	StatsReader interface{ Stats() record.Stats }
	// Pauser pauses and resumes capture (the p key).
	Pauser interface{ SetPaused(paused bool) }
	// Clearer drops every exchange (the C key).
	Clearer interface{ Clear() }
	// Deleter drops the given exchanges (the d key). The source tells its
	// subscribers with a record.EventEvicted for each, as for an eviction.
	Deleter interface{ Delete(ids ...uint64) }
)

// RecorderSource adapts a live recorder to Source. It is the only place the
// UI names *record.Recorder: everything else reads through the Source.
func RecorderSource(rec *record.Recorder) Source { return recorderSource{rec} }

// recorderSource is the recorder seen as a Source, a StatsReader, a
// Pauser, a Clearer and a Deleter. The recorder's copies already hold their body bytes.
type recorderSource struct{ rec *record.Recorder }

func (s recorderSource) Snapshot() []record.Exchange           { return s.rec.Snapshot() }
func (s recorderSource) Get(id uint64) (record.Exchange, bool) { return s.rec.Get(id) }
func (s recorderSource) Subscribe(queue int) Subscription      { return s.rec.Subscribe(queue) }
func (s recorderSource) Stats() record.Stats                   { return s.rec.Stats() }
func (s recorderSource) SetPaused(p bool)                      { s.rec.SetPaused(p) }
func (s recorderSource) Clear()                                { s.rec.Clear() }
func (s recorderSource) Delete(ids ...uint64)                  { s.rec.Delete(ids...) }
func (s recorderSource) Body(x *record.Exchange, part BodyPart) (record.Body, error) {
	return part.Of(x), nil
}

// Of is the body x carries for part, as it is in memory (a source that
// reads bodies lazily may have left its bytes out); a missing response
// has none.
func (p BodyPart) Of(x *record.Exchange) record.Body {
	if p == RequestBody {
		return x.Request.Body
	}
	if x.Response == nil {
		return record.Body{}
	}
	return x.Response.Body
}

// withBodies returns x with both bodies read through src: x itself when
// the bytes were already there, else a copy. x is never modified (others
// may be reading it). Call it off the event loop.
func withBodies(src Source, x *record.Exchange) (*record.Exchange, error) {
	req, err := src.Body(x, RequestBody)
	if err != nil {
		return x, err
	}
	var resp record.Body
	if x.Response != nil {
		if resp, err = src.Body(x, ResponseBody); err != nil {
			return x, err
		}
	}
	if sameBody(req, x.Request.Body) && (x.Response == nil || sameBody(resp, x.Response.Body)) {
		return x, nil
	}
	c := *x
	c.Request.Body = req
	if x.Response != nil {
		r := *x.Response
		r.Body = resp
		c.Response = &r
	}
	return &c, nil
}

// sameBody reports whether a and b are the same captured bytes.
func sameBody(a, b record.Body) bool {
	return len(a.Bytes) == len(b.Bytes) && (len(a.Bytes) == 0 || &a.Bytes[0] == &b.Bytes[0]) &&
		a.Size == b.Size && a.Truncated == b.Truncated && a.Complete == b.Complete
}

// emptySource is what New reads when given no source: an empty recorder,
// as before there was a Source.
func emptySource() Source { return RecorderSource(record.NewRecorder(record.Limits{})) }

// readStats is src's counters, or zeros when it keeps none.
func readStats(src Source) record.Stats {
	if s, ok := src.(StatsReader); ok {
		return s.Stats()
	}
	return record.Stats{}
}
