package tui

import (
	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/record"
)

// This file keeps the model's own list of exchanges in step with the
// recorder: batches from the pump, resyncs after a lag, and the filter.

// rebuild replaces every entry with xs (a snapshot, oldest first).
func (m *Model) rebuild(xs []record.Exchange) {
	old := m.byID
	m.entries = make([]*entry, 0, len(xs))
	m.byID = make(map[uint64]*entry, len(xs))
	for i := range xs {
		x := &xs[i]
		e := old[x.ID]
		if e == nil || e.x.Version != x.Version {
			e = newEntry(x)
		}
		m.entries = append(m.entries, e)
		m.byID[x.ID] = e
	}
	m.refilter()
}

// refilter recomputes the visible entries with the applied filter, at once.
func (m *Model) refilter() {
	if m.filter == nil {
		m.visible = nil
		return
	}
	m.visible = m.visible[:0]
	for _, e := range m.entries {
		if m.filter.Match(e.x) {
			m.visible = append(m.visible, e)
		}
	}
}

// apply merges one batch from the pump.
func (m *Model) apply(b batchMsg) {
	m.stats = b.stats
	selID, hadSel := uint64(0), false
	if e := m.list.selected(); e != nil {
		selID, hadSel = e.x.ID, true
	}
	if m.detailOpen && m.detail.x != nil {
		selID, hadSel = m.detail.x.ID, true
	}
	switch {
	case b.resync != nil:
		m.lags++
		m.rebuild(b.resync)
	default:
		if b.cleared {
			m.entries, m.visible = nil, nil
			clear(m.byID)
		}
		m.remove(b.removed)
		for i := range b.updates {
			m.upsert(&b.updates[i])
		}
	}
	m.list.rows = m.rows()
	switch {
	case m.list.follow && !m.detailOpen:
		m.list.cursor = len(m.list.rows) - 1
	case hadSel:
		m.list.cursor, _ = m.list.indexOf(selID)
	}
	m.list.clampCursor()
}

// remove drops the entries with the given IDs. Evictions take the oldest,
// which are at the front: those are sliced off without touching the rest;
// anything else is compacted in one pass.
func (m *Model) remove(ids []uint64) {
	n := 0
	for _, id := range ids {
		if e, ok := m.byID[id]; ok {
			delete(m.byID, id)
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

// upsert adds or replaces the entry for x.
func (m *Model) upsert(x *record.Exchange) {
	if e, ok := m.byID[x.ID]; ok {
		if x.Version <= e.x.Version {
			return
		}
		// Replace the pointer, never the pointee: background work may be
		// reading the old copy.
		if x.Request.URL != e.x.Request.URL || x.Request.Host != e.x.Request.Host {
			e.hp = hostPath(x)
		}
		e.x = x
		if m.filter != nil {
			m.setVisible(e, m.filter.Match(x))
		}
		return
	}
	e := newEntry(x)
	m.byID[x.ID] = e
	m.entries = insertEntry(m.entries, e)
	if m.filter != nil && m.filter.Match(x) {
		m.visible = insertEntry(m.visible, e)
	}
}

// setVisible puts e in or takes it out of the visible entries.
func (m *Model) setVisible(e *entry, show bool) {
	i, found := searchEntries(m.visible, e.x.ID)
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
	if n := len(es); n == 0 || es[n-1].x.ID < e.x.ID {
		return append(es, e)
	}
	i, found := searchEntries(es, e.x.ID)
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
	m.list.cursor, m.list.offset = 0, 0
}

// filterDoneMsg is a filter applied to a snapshot of the entries off the
// event loop: ok[i] says whether xs[i] matched.
type filterDoneMsg struct {
	seq  int
	f    *record.Filter
	text string
	xs   []*record.Exchange
	ok   []bool
}

// setFilterText parses s; a good filter starts matching, a bad one leaves
// the last good filter applied and shows the error.
func (m *Model) setFilterText(s string) tea.Cmd {
	f, err := record.ParseFilter(s)
	if err != nil {
		m.filterErr = err
		return nil
	}
	m.filterErr = nil
	return m.startFilter(f, s)
}

// startFilter matches f against every entry in a command. Until the answer
// comes the list keeps showing the previous filter's rows.
func (m *Model) startFilter(f *record.Filter, text string) tea.Cmd {
	m.filterSeq++
	if f.Empty() {
		m.filter, m.filterText, m.visible, m.filterBusy = nil, "", nil, false
		return nil
	}
	m.filterBusy = true
	seq := m.filterSeq
	xs := make([]*record.Exchange, len(m.entries))
	for i, e := range m.entries {
		xs[i] = e.x
	}
	return func() tea.Msg {
		ok := make([]bool, len(xs))
		for i, x := range xs {
			ok[i] = f.Match(x)
		}
		return filterDoneMsg{seq: seq, f: f, text: text, xs: xs, ok: ok}
	}
}

// filterDone applies a filter's results. Entries that changed or arrived
// after the snapshot are matched here; they are few.
func (m *Model) filterDone(msg filterDoneMsg) {
	if msg.seq != m.filterSeq {
		return
	}
	m.filterBusy = false
	sel := m.list.selected()
	m.filter, m.filterText = msg.f, msg.text
	vis := make([]*entry, 0, len(m.entries)/2+1)
	j := 0
	for _, e := range m.entries {
		for j < len(msg.xs) && msg.xs[j].ID < e.x.ID {
			j++
		}
		var ok bool
		if j < len(msg.xs) && msg.xs[j] == e.x {
			ok = msg.ok[j]
		} else {
			ok = msg.f.Match(e.x)
		}
		if ok {
			vis = append(vis, e)
		}
	}
	m.visible = vis
	m.list.rows = vis
	if m.list.follow && !m.detailOpen {
		m.list.cursor = len(vis) - 1
	} else if sel != nil {
		m.list.cursor, _ = m.list.indexOf(sel.x.ID)
	}
	m.list.clampCursor()
}

// clearFilter drops the filter and shows every exchange.
func (m *Model) clearFilter() {
	sel := m.list.selected()
	m.filterSeq++
	m.filter, m.filterText, m.filterErr, m.visible, m.filterBusy = nil, "", nil, nil, false
	m.filterInput.SetValue("")
	m.list.rows = m.entries
	if m.list.follow && !m.detailOpen {
		m.list.cursor = len(m.entries) - 1
	} else if sel != nil {
		m.list.cursor, _ = m.list.indexOf(sel.x.ID)
	}
	m.list.clampCursor()
}
