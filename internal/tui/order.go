package tui

import (
	"slices"
	"time"
)

// order is how the list sorts the exchanges: the s key cycles through them.
// Every order but byTime puts the largest first, so that what stands out
// (the slowest, the biggest, the failures) is at the top.
type order uint8

const (
	byTime     order = iota // oldest first, as they started (by ID)
	byDuration              // slowest first
	bySize                  // largest response first
	byStatus                // highest status first: 5xx, then 4xx, … in flight last
	numOrders
)

// describe is the order as the status line shows it.
func (o order) describe() string {
	switch o {
	case byDuration:
		return "slowest first"
	case bySize:
		return "largest first"
	case byStatus:
		return "by status, 5xx first"
	}
	return "oldest first"
}

// name is the order in a sentence: "sorted by duration".
func (o order) name() string {
	return [...]string{"time", "duration", "size", "status"}[o]
}

// sortKey is what order o compares e by, larger first.
func (o order) sortKey(e *entry, now time.Time) int64 {
	x := e.x
	if x == nil {
		switch o {
		case byDuration:
			return e.sum.dur
		case bySize:
			return e.sum.size
		case byStatus:
			return int64(e.sum.status)
		}
		return 0
	}
	switch o {
	case byDuration:
		return int64(x.Duration(now))
	case bySize:
		return x.ResponseSize()
	case byStatus:
		return int64(x.Status())
	}
	return 0
}

// sortedRows keeps the list's rows in a non-time order. Sorting is redone
// only when the rows it was made from changed (another exchange, or a new
// version of one); an exchange in flight keeps the place its duration gave
// it when last sorted.
type sortedRows struct {
	by   order
	sig  uint64
	rows []*entry
}

// of returns base (ordered by ID) in order by, at now.
func (s *sortedRows) of(base []*entry, by order, now time.Time) []*entry {
	if by == byTime {
		s.rows = nil
		return base
	}
	sig := signature(base)
	if s.rows != nil && s.by == by && s.sig == sig {
		return s.rows
	}
	type keyed struct {
		key int64
		e   *entry
	}
	ks := make([]keyed, len(base))
	for i, e := range base {
		ks[i] = keyed{by.sortKey(e, now), e}
	}
	// Largest first; ties keep the order they started in.
	slices.SortStableFunc(ks, func(a, b keyed) int {
		switch {
		case a.key > b.key:
			return -1
		case a.key < b.key:
			return 1
		}
		return 0
	})
	rows := make([]*entry, len(ks))
	for i, k := range ks {
		rows[i] = k.e
	}
	s.by, s.sig, s.rows = by, sig, rows
	return rows
}

// signature is a hash of which exchanges base holds, at which versions.
func signature(base []*entry) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037) ^ uint64(len(base))
	for _, e := range base {
		h = (h ^ e.id) * prime
		h = (h ^ e.version()) * prime
	}
	return h
}
