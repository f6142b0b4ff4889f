package cache

import (
	"container/list"
	"net/http"
	"slices"
	"sync"
	"time"
)

// entry is one stored response. It never changes once stored, so a flow
// may keep reading it after the lock is released: a revalidation stores a
// new entry in its place.
type entry struct {
	key      string // the target URI
	status   int
	header   http.Header
	body     []byte
	vary     []string // request fields the response varies on (varyNames)
	varyVals []string // their normalised values in the request that stored it
	cc       directives
	lifetime time.Duration
	age      ageClock
	size     int64

	elem *list.Element // in store.lru; guarded by store.mu
}

// entryOverhead approximates the bytes an entry costs beyond its key,
// headers and body.
const entryOverhead = 256

// matches reports whether the entry may answer a request with header h:
// every field named by Vary has the same normalised value (RFC 9111 §4.1).
func (e *entry) matches(h http.Header) bool {
	return slices.Equal(varyValues(h, e.vary), e.varyVals)
}

// fresh reports whether the entry may be served at now without validation
// to a request with directives req, and its current age.
func (e *entry) fresh(now time.Time, req directives) (bool, time.Duration) {
	age := e.age.at(now)
	switch {
	case e.cc.noCache || req.noCache:
		return false, age
	case age >= e.lifetime:
		return false, age
	case req.maxAge.set && (req.maxAge.bad || age > time.Duration(req.maxAge.secs)*time.Second):
		return false, age
	case req.minFresh.set && (req.minFresh.bad || e.lifetime-age < time.Duration(req.minFresh.secs)*time.Second):
		return false, age
	}
	return true, age
}

// computeSize sets e.size from what the entry holds.
func (e *entry) computeSize() {
	n := int64(entryOverhead + len(e.key) + len(e.body))
	for k, vs := range e.header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	for i := range e.vary {
		n += int64(len(e.vary[i]) + len(e.varyVals[i]))
	}
	e.size = n
}

// store holds the entries, bounded in bytes, evicting the least recently
// used first.
type store struct {
	maxSize, maxEntry int64

	mu    sync.Mutex
	size  int64
	byKey map[string][]*entry // a URI's variants, newest first
	lru   list.List           // *entry, most recently used at the front
}

func newStore(maxSize, maxEntry int64) *store {
	return &store{maxSize: maxSize, maxEntry: maxEntry, byKey: make(map[string][]*entry)}
}

// lookup returns the newest entry for key that matches the request header
// h, and whether any entry is stored for key at all.
func (s *store) lookup(key string, h http.Header) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	variants := s.byKey[key]
	for _, e := range variants {
		if e.matches(h) {
			s.lru.MoveToFront(e.elem)
			return e, true
		}
	}
	return nil, len(variants) > 0
}

// put stores e, made for a request with header h, in place of the entries
// for the same URI that request would have selected. It reports false when
// e is larger than one entry may be.
func (s *store) put(e *entry, h http.Header) bool {
	e.computeSize()
	if e.size > s.maxEntry {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range slices.Clone(s.byKey[e.key]) {
		if old.matches(h) {
			s.removeLocked(old)
		}
	}
	e.elem = s.lru.PushFront(e)
	s.byKey[e.key] = append([]*entry{e}, s.byKey[e.key]...)
	s.size += e.size
	for s.size > s.maxSize {
		s.removeLocked(s.lru.Back().Value.(*entry))
	}
	return true
}

// invalidate removes every entry stored for key (RFC 9111 §4.4).
func (s *store) invalidate(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range slices.Clone(s.byKey[key]) {
		s.removeLocked(e)
	}
}

func (s *store) removeLocked(e *entry) {
	s.lru.Remove(e.elem)
	s.size -= e.size
	variants := slices.DeleteFunc(s.byKey[e.key], func(v *entry) bool { return v == e })
	if len(variants) == 0 {
		delete(s.byKey, e.key)
	} else {
		s.byKey[e.key] = variants
	}
}

// stats counts the entries and their bytes.
func (s *store) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Entries: s.lru.Len(), Bytes: s.size}
}
