package tui

import (
	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/record"
)

// This file keeps the model's mirror of the source in step: the entries (a
// copy of every exchange the source holds, by ID), from the first snapshot,
// the pump's batches and the resyncs after a lag. Which entries the filter
// lets through is filter.go's business; the mirror tells it what changed.

// rebuild replaces every entry with those of index (a Lister's summaries,
// unread) and xs (a snapshot, oldest first), and returns the filter work
// it needs. An exchange in both is taken whole from xs.
func (m *Model) rebuild(index []Summary, xs []record.Exchange) tea.Cmd {
	old := m.byID
	m.entries = make([]*entry, 0, len(index)+len(xs))
	m.byID = make(map[uint64]*entry, len(index)+len(xs))
	clear(m.hosts)
	clear(m.ups)
	m.outcomes = outcomeCounts{}
	add := func(e *entry) {
		m.entries = append(m.entries, e)
		m.byID[e.id] = e
		m.hosts.add(e.hp, 1)
		m.ups.add(e.up, 1)
		m.count(e)
	}
	j := 0
	for i := range index {
		s := &index[i]
		for j < len(xs) && xs[j].ID < s.ID {
			add(m.keptEntry(old, &xs[j]))
			j++
		}
		if j < len(xs) && xs[j].ID == s.ID {
			continue // read whole below
		}
		if e := old[s.ID]; e != nil && e.version() == s.Version {
			add(e) // keep what was read
			continue
		}
		add(newUnreadEntry(*s))
	}
	for ; j < len(xs); j++ {
		add(m.keptEntry(old, &xs[j]))
	}
	return m.refilter()
}

// keptEntry is the entry for x: the old one if it holds this version.
func (m *Model) keptEntry(old map[uint64]*entry, x *record.Exchange) *entry {
	if e := old[x.ID]; e != nil && e.x != nil && e.x.Version == x.Version {
		return e
	}
	return newEntry(own(x))
}

// own is a copy of x, an element of a slice of exchanges (a snapshot, a
// read), allocated on its own. An entry pointing into the slice would keep
// all of it alive, and with it the bodies of exchanges the source has let
// go and the UI unloaded: under a load of large bodies, tens of MiB.
func own(x *record.Exchange) *record.Exchange {
	c := *x
	return &c
}

// apply merges one batch from the pump and returns the filter work it
// needs.
func (m *Model) apply(b batchMsg) tea.Cmd {
	m.stats = b.stats
	selID, hadSel := m.selectedID()
	if m.detailOpen() && m.detail.x != nil {
		selID, hadSel = m.detail.x.ID, true
	}
	var cmd tea.Cmd
	switch {
	case b.resync != nil:
		m.lags++
		m.logLag(len(b.resync) + len(b.index))
		cmd = m.rebuild(b.index, b.resync)
	default:
		if b.cleared {
			m.entries, m.visible = nil, nil
			clear(m.byID)
			clear(m.hosts)
			clear(m.ups)
			m.outcomes = outcomeCounts{}
			m.forgetVerdicts()
		}
		m.remove(b.removed)
		for _, x := range b.updates {
			m.upsert(x)
		}
		cmd = m.evalPending()
	}
	m.followOrReselect(selID, hadSel)
	// Once the rows are in place: what is near the screen stays read.
	m.offload(b.offloaded)
	return cmd
}

// remove drops the entries with the given IDs. Evictions take the oldest,
// which are at the front: those are sliced off without touching the rest;
// anything else is compacted in one pass.
func (m *Model) remove(ids []uint64) {
	n := 0
	for _, id := range ids {
		if e, ok := m.byID[id]; ok {
			delete(m.byID, id)
			m.hosts.add(e.hp, -1)
			m.ups.add(e.up, -1)
			m.uncount(e)
			m.forgetVerdict(id)
			e.gone = true
			n++
		}
	}
	if n == 0 {
		return
	}
	drop := func(es []*entry) []*entry {
		k := 0
		for k < len(es) && es[k].gone {
			es[k] = nil
			k++
		}
		es = es[k:]
		if k == n {
			return es
		}
		out := es[:0]
		for _, e := range es {
			if !e.gone {
				out = append(out, e)
			}
		}
		clear(es[len(out):])
		return out
	}
	m.entries = drop(m.entries)
	if m.filter != nil {
		m.visible = drop(m.visible)
	}
}

// offload drops the exchanges the source moved out of memory; they stay
// in the list, read again when needed. One the detail view shows stays
// read until another is shown. One in the read window (on or near the
// screen) keeps all but its body bytes, which the source reads back when
// they are needed: unloading it would have it read again at once, a read
// of the source and one more frame for each batch under load, with the
// row shown unread in between. Both are dropped later, by trimRead.
func (m *Model) offload(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	lo, hi := m.readWindow()
	window := m.list.rows[lo:hi]
	for _, id := range ids {
		e := m.byID[id]
		if e == nil || e.x == nil {
			continue
		}
		switch {
		case m.detail.x != nil && m.detail.x.ID == id:
			m.readLog = append(m.readLog, id)
		case len(e.x.Messages) == 0 && m.list.has(window, id):
			// Messages are left to a read: a copy without their
			// payloads would show them empty.
			e.x = withoutBodyBytes(e.x)
			m.readLog = append(m.readLog, id)
		default:
			e.unload(m.ctx.now)
		}
	}
	m.trimRead()
}

// withoutBodyBytes is a copy of x without the bytes of its bodies, as a
// Lister reads it.
func withoutBodyBytes(x *record.Exchange) *record.Exchange {
	c := *x
	c.Request.Body.Bytes = nil
	if x.Response != nil {
		r := *x.Response
		r.Body.Bytes = nil
		c.Response = &r
	}
	return &c
}

// upsert adds or replaces the entry for x. The filter judges it at once if
// it reads only headers; one that reads bodies judges it later, off the
// event loop (see evalPending).
func (m *Model) upsert(x *record.Exchange) {
	if e, ok := m.byID[x.ID]; ok {
		if e.x != nil && x.Version <= e.x.Version {
			return
		}
		// Replace the pointer, never the pointee: background work may be
		// reading the old copy.
		if e.x == nil || x.Request.URL != e.x.Request.URL || x.Request.Host != e.x.Request.Host {
			m.hosts.add(e.hp, -1)
			e.hp = hostPath(x)
			m.hosts.add(e.hp, 1)
		}
		m.setUpstream(e, x)
		e.x, e.misses = x, 0
		m.recount(e)
		m.judge(e)
		return
	}
	e := newEntry(x)
	m.byID[x.ID] = e
	m.hosts.add(e.hp, 1)
	m.ups.add(e.up, 1)
	m.count(e)
	m.entries = insertEntry(m.entries, e)
	m.judge(e)
}

// setUpstream notes the upstream that answered x, the new copy of e's
// exchange.
func (m *Model) setUpstream(e *entry, x *record.Exchange) {
	if up := upstreamMark(x); up != e.up {
		m.ups.add(e.up, -1)
		e.up = up
		m.ups.add(up, 1)
	}
}

// setVisible puts e in or takes it out of the visible entries.
func (m *Model) setVisible(e *entry, show bool) {
	i, found := searchEntries(m.visible, e.id)
	switch {
	case show && !found:
		m.visible = insertEntry(m.visible, e)
	case !show && found:
		m.visible = append(m.visible[:i], m.visible[i+1:]...)
	}
}

// insertEntry inserts e into es, ordered by ID. New exchanges have the
// highest IDs, so this is nearly always an append.
func insertEntry(es []*entry, e *entry) []*entry {
	if n := len(es); n == 0 || es[n-1].id < e.id {
		return append(es, e)
	}
	i, found := searchEntries(es, e.id)
	if found {
		es[i] = e
		return es
	}
	es = append(es, nil)
	copy(es[i+1:], es[i:])
	es[i] = e
	return es
}

// resetEntries forgets every exchange (after Clear).
func (m *Model) resetEntries() {
	m.entries, m.visible = nil, nil
	clear(m.byID)
	clear(m.hosts)
	clear(m.ups)
	m.outcomes = outcomeCounts{}
	m.forgetVerdicts()
	m.list.cursor, m.list.offset = 0, 0
}
