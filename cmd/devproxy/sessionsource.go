package main

import (
	"slices"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
	"github.com/devproxy/devproxy/internal/tui"
)

// sessionPage is how many exchanges one read of a session file returns.
const sessionPage = 500

// sessionSource is a session file opened read-only, seen by the UI as a
// tui.Source and a tui.StatsReader. The list (every exchange without its
// body bytes, and the messages of WebSockets) is read once when it opens;
// bodies are read from the file when the UI needs one. Nothing changes
// afterwards: there is nothing to subscribe to.
type sessionSource struct {
	store *session.Store
	xs    []record.Exchange // ID order
	stats record.Stats
}

// newSessionSource reads the list of store's exchanges.
func newSessionSource(store *session.Store) (*sessionSource, error) {
	src := &sessionSource{store: store}
	var after uint64
	for {
		page, err := store.Range(after, sessionPage)
		if err != nil {
			return nil, err
		}
		for i := range page {
			x := &page[i]
			if x.Upgraded || x.MessagesDropped > 0 {
				if x.Messages, err = store.Messages(x.ID); err != nil {
					return nil, err
				}
			}
			src.count(x)
		}
		src.xs = append(src.xs, page...)
		if len(page) < sessionPage {
			break
		}
		after = page[len(page)-1].ID
	}
	return src, nil
}

// count adds x to the header's counters.
func (s *sessionSource) count(x *record.Exchange) {
	s.stats.Total++
	s.stats.Kept++
	if x.Err != nil {
		if x.Err.Kind == record.ErrCanceled {
			s.stats.Canceled++
		} else {
			s.stats.Errors++
		}
	}
}

// Snapshot returns every exchange, without body bytes, oldest first.
func (s *sessionSource) Snapshot() []record.Exchange { return slices.Clone(s.xs) }

// Get returns exchange id as the list holds it.
func (s *sessionSource) Get(id uint64) (record.Exchange, bool) {
	i, ok := slices.BinarySearchFunc(s.xs, id, func(x record.Exchange, id uint64) int {
		switch {
		case x.ID < id:
			return -1
		case x.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return record.Exchange{}, false
	}
	return s.xs[i], true
}

// Subscribe returns a subscription that never fires: the file is read
// once.
func (s *sessionSource) Subscribe(int) tui.Subscription { return stillSubscription{} }

// Body reads one body of x from the file.
func (s *sessionSource) Body(x *record.Exchange, part tui.BodyPart) (record.Body, error) {
	p := session.RequestBody
	if part == tui.ResponseBody {
		if x.Response == nil {
			return record.Body{}, nil
		}
		p = session.ResponseBody
	}
	return s.store.Body(x.ID, p)
}

// Stats returns the header's counters: the file's exchanges and errors.
func (s *sessionSource) Stats() record.Stats { return s.stats }

// stillSubscription is a subscription to something that never changes.
type stillSubscription struct{}

func (stillSubscription) Ready() <-chan struct{}                  { return nil }
func (stillSubscription) Drain(dst []record.Event) []record.Event { return dst }
func (stillSubscription) Close()                                  {}
