package tui

import (
	"slices"
	"sync/atomic"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
)

// This file decides which entries the list shows: the filter, and the
// verdicts it gave.
//
// A filter that reads only headers is cheap, so a changed or new exchange
// is judged at once, in Update. A filter that reads bodies (free text,
// body:) may decode megabytes per exchange, so it never runs on the event
// loop: the exchanges it has yet to judge wait in pending, one worker at a
// time (a tea.Cmd) judges them and sends the verdicts back, and meanwhile
// the list shows what is known. Applying a new filter to everything goes
// through the same worker, whatever the filter reads.
//
// Verdicts are remembered by (filter, exchange ID, version), for the last
// few filters, so an exchange is judged once per version, and going back
// to a recent filter (a backspace while typing) shows its rows at once.
// A verdict that comes back for an older filter is kept in that cache but
// changes nothing on screen; one for an older version of an exchange is
// shown until the exchange is judged again.

// verdict says whether one version of an exchange passed a filter.
type verdict struct {
	id, version uint64
	ok          bool
}

// recentFilters is how many filters' verdicts are kept.
const recentFilters = 4

// verdictCache holds verdicts by filter (its canonical text) and exchange
// ID; each verdict says which version it is for.
type verdictCache struct {
	order []string // most recently applied last
	by    map[string]map[uint64]verdict
}

// table returns the verdicts of filter key, creating them if needed, and
// makes key the most recent filter.
func (c *verdictCache) table(key string) map[uint64]verdict {
	if c.by == nil {
		c.by = map[string]map[uint64]verdict{}
	}
	if i := slices.Index(c.order, key); i >= 0 {
		c.order = append(c.order[:i], c.order[i+1:]...)
	}
	c.order = append(c.order, key)
	for len(c.order) > recentFilters {
		delete(c.by, c.order[0])
		c.order = c.order[1:]
	}
	t := c.by[key]
	if t == nil {
		t = map[uint64]verdict{}
		c.by[key] = t
	}
	return t
}

// peek returns the verdicts of filter key, or nil if none are kept.
func (c *verdictCache) peek(key string) map[uint64]verdict { return c.by[key] }

// forget drops every verdict on exchange id.
func (c *verdictCache) forget(id uint64) {
	for _, t := range c.by {
		delete(t, id)
	}
}

// filterVerdictsMsg is a worker's verdicts on the exchanges it was given.
type filterVerdictsMsg struct {
	seq      int64  // the filter generation it judged for
	key      string // the filter's canonical text
	worker   int64
	verdicts []verdict
	err      error // reading the source failed; the verdicts are partial
}

// matchEnv is what the filter needs besides an exchange: the UI's clock,
// which in-flight durations run to, and the body decoder.
func (m *Model) matchEnv() match.Env { return match.Env{Now: m.now(), Bodies: m.bodies} }

// setFilterText parses s; a good filter starts matching, a bad one leaves
// the last good filter applied and shows the error.
func (m *Model) setFilterText(s string) tea.Cmd {
	f, err := match.Parse(s)
	if err != nil {
		m.filterErr = err
		return nil
	}
	m.filterErr = nil
	return m.startFilter(f, s)
}

// acceptFilter is Enter in the filter input. A filter that parses is kept
// and the input closes. One that does not keeps the input open with its
// error in view: closing would leave the last good filter applied, a
// different one from the text typed, with nothing on screen to say so.
// The error goes once the text is fixed or cleared.
func (m *Model) acceptFilter() {
	if m.filterErr != nil {
		return
	}
	m.mode = modeList
	m.filterInput.Blur()
}

// newFilterGeneration makes every verdict in flight stale, and stops the
// workers that are judging for an older filter.
func (m *Model) newFilterGeneration() {
	m.filterSeq++
	m.filterGen.Store(m.filterSeq)
	m.worker = 0
	clear(m.pending)
}

// startFilter applies f. Until its first verdicts come the list keeps the
// rows it showed, with "filtering…" in the footer; exchanges whose verdict
// is cached for their version need no judging again.
func (m *Model) startFilter(f *match.Matcher, text string) tea.Cmd {
	m.newFilterGeneration()
	if f.Empty() {
		m.filter, m.filterText, m.filterCanon, m.visible, m.filterFresh = nil, "", "", nil, false
		return nil
	}
	if m.filter == nil {
		m.visible = slices.Clone(m.entries)
	}
	m.filter, m.filterText, m.filterCanon, m.filterFresh = f, text, f.String(), true
	tbl := m.verdicts.table(m.filterCanon)
	for _, e := range m.entries {
		if v, ok := tbl[e.id]; !ok || v.version != e.version() {
			m.pending[e.id] = struct{}{}
		}
	}
	if len(m.pending) == 0 {
		m.showVerdicts()
		return nil
	}
	return m.evalPending()
}

// judge has the filter look at e again after it arrived or changed: at
// once if the filter reads only headers, else later, off the event loop.
// Until then a changed exchange keeps its last verdict and a new one is
// not shown.
func (m *Model) judge(e *entry) {
	if m.filter == nil {
		return
	}
	if m.filter.NeedsBodies() || e.x == nil {
		m.pending[e.id] = struct{}{}
		return
	}
	ok := m.filter.Match(e.x, m.matchEnv())
	m.verdicts.peek(m.filterCanon)[e.id] = verdict{id: e.id, version: e.x.Version, ok: ok}
	delete(m.pending, e.id)
	m.setVisible(e, ok)
}

// refilter judges the entries after a rebuild: what the cache does not
// know is judged as judge does.
func (m *Model) refilter() tea.Cmd {
	if m.filter == nil {
		m.visible = nil
		return nil
	}
	for _, t := range m.verdicts.by {
		for id := range t {
			if _, ok := m.byID[id]; !ok {
				delete(t, id)
			}
		}
	}
	clear(m.pending)
	tbl := m.verdicts.peek(m.filterCanon)
	env := m.matchEnv()
	for _, e := range m.entries {
		if v, ok := tbl[e.id]; ok && v.version == e.version() {
			continue
		}
		if m.filter.NeedsBodies() || e.x == nil {
			m.pending[e.id] = struct{}{}
			continue
		}
		tbl[e.id] = verdict{id: e.id, version: e.x.Version, ok: m.filter.Match(e.x, env)}
	}
	m.showVerdicts()
	return m.evalPending()
}

// evalPending starts a worker on the pending entries, unless one is
// running for this filter already (it starts the next when it is done).
func (m *Model) evalPending() tea.Cmd {
	if m.filter == nil || m.worker != 0 || len(m.pending) == 0 {
		return nil
	}
	if m.narrowed == nil || m.narrowed.seq != m.filterSeq {
		m.narrowed = &narrowing{seq: m.filterSeq}
	}
	m.judgeByIndex()
	// The newest first, a chunk at a time, so that the verdicts on a
	// large source show as they come.
	ids := make([]uint64, 0, min(len(m.pending), judgeChunk))
	for i := len(m.entries) - 1; i >= 0 && len(ids) < judgeChunk; i-- {
		if id := m.entries[i].id; m.isPending(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		clear(m.pending) // only exchanges that are gone
		return nil
	}
	slices.Reverse(ids)
	xs := make([]*record.Exchange, len(ids))
	vers := make([]uint64, len(ids))
	for i, id := range ids {
		e := m.byID[id]
		xs[i], vers[i] = e.x, e.version()
		delete(m.pending, id)
	}
	m.workers++
	m.worker = m.workers
	done := filterVerdictsMsg{seq: m.filterSeq, key: m.filterCanon, worker: m.worker}
	return judgeCmd(m.src, m.filter, m.matchEnv(), ids, vers, xs, m.narrowed, m.filterGen, done)
}

// isPending reports whether exchange id waits for the filter's verdict.
func (m *Model) isPending(id uint64) bool {
	_, ok := m.pending[id]
	return ok
}

// judgeByIndex gives the verdict on the unread exchanges the source's
// index says cannot match, once a worker has asked it (no worker runs
// now, so the answer is settled): they need no reading.
func (m *Model) judgeByIndex() {
	nw := m.narrowed
	if !nw.done || !nw.ok {
		return
	}
	tbl := m.verdicts.peek(m.filterCanon)
	if tbl == nil {
		return
	}
	for id := range m.pending {
		e := m.byID[id]
		if e == nil || e.x != nil || nw.may(id) {
			continue
		}
		delete(m.pending, id)
		tbl[id] = verdict{id: id, version: e.version()}
		if !m.filterFresh {
			m.setVisible(e, false)
		}
	}
}

// judgeChunk is the most exchanges one worker judges before it reports.
const judgeChunk = 2000

// narrowing is what a Searcher source said may match the current filter:
// worked out once per filter, by the first worker that reads unread
// exchanges for it, and used by the ones after it (one runs at a time).
type narrowing struct {
	seq  int64
	done bool
	ok   bool // ids narrows; else every exchange must be read
	ids  []uint64
	err  error
}

// may reports whether exchange id may match, as far as the index knows.
func (n *narrowing) may(id uint64) bool {
	if !n.ok {
		return true
	}
	_, found := slices.BinarySearch(n.ids, id)
	return found
}

// narrow asks src's index, once, which exchanges may match f.
func (n *narrowing) narrow(src Source, f *match.Matcher) {
	if n.done {
		return
	}
	n.done = true
	s, ok := src.(Searcher)
	if !ok {
		return
	}
	n.ids, n.ok, n.err = f.Narrow(func(text string, bodiesOnly bool) ([]uint64, bool, error) {
		return s.Candidates(text, bodiesOnly)
	})
}

// judgeCmd matches f against the exchanges ids in a command and answers
// with done and the verdicts. xs holds those the model has read; the
// others (nil) are read from src first, only the ones nw says may match
// when f reads bodies, and bodies are read through src when f needs them.
// It stops early when gen moves past done.seq: a newer filter makes its
// work moot.
func judgeCmd(src Source, f *match.Matcher, env match.Env, ids, vers []uint64, xs []*record.Exchange, nw *narrowing, gen *atomic.Int64, done filterVerdictsMsg) tea.Cmd {
	return func() tea.Msg {
		done.verdicts = make([]verdict, 0, len(xs))
		var readIDs []uint64
		var read []*record.Exchange
		for i, x := range xs {
			if x != nil {
				continue
			}
			if f.NeedsBodies() {
				nw.narrow(src, f)
				done.err = nw.err
				if !nw.may(ids[i]) {
					// The index says it cannot match: judged unread.
					done.verdicts = append(done.verdicts, verdict{id: ids[i], version: vers[i]})
					continue
				}
			}
			readIDs = append(readIDs, ids[i])
		}
		if len(readIDs) > 0 {
			read = make([]*record.Exchange, len(readIDs))
			if err := readExchanges(src, readIDs, read); err != nil {
				done.err = err
			}
		}
		judge := func(x *record.Exchange) {
			full, ok := x, true
			if f.NeedsBodies() {
				var err error
				full, err = withBodies(src, x)
				ok = err == nil
			}
			ok = ok && f.Match(full, env)
			done.verdicts = append(done.verdicts, verdict{id: x.ID, version: x.Version, ok: ok})
		}
		for _, group := range [][]*record.Exchange{xs, read} {
			for _, x := range group {
				if gen.Load() != done.seq {
					return done
				}
				if x != nil { // nil: not read, or no longer held
					judge(x)
				}
			}
		}
		return done
	}
}

// filterVerdicts takes in a worker's verdicts and starts the next worker
// if exchanges changed or arrived meanwhile.
func (m *Model) filterVerdicts(msg filterVerdictsMsg) tea.Cmd {
	tbl := m.verdicts.peek(msg.key)
	if tbl != nil {
		for _, v := range msg.verdicts {
			if cur, ok := tbl[v.id]; (!ok || v.version >= cur.version) && m.byID[v.id] != nil {
				tbl[v.id] = v
			}
		}
	}
	if msg.seq != m.filterSeq {
		return nil
	}
	if msg.worker == m.worker {
		m.worker = 0
	}
	if m.filterFresh {
		m.showVerdicts()
	} else {
		m.keepSelection(func() {
			for _, v := range msg.verdicts {
				if e := m.byID[v.id]; e != nil {
					m.setVisible(e, tbl[v.id].ok)
				}
			}
		})
	}
	if msg.err != nil && msg.seq == m.filterSeq {
		m.setStatus("filter: reading the session: "+msg.err.Error(), true)
	}
	for _, v := range msg.verdicts {
		if e := m.byID[v.id]; e != nil && tbl[v.id].version != e.version() {
			m.pending[v.id] = struct{}{} // it changed meanwhile: judge it again
		}
	}
	return m.evalPending()
}

// showVerdicts makes the visible entries those the current filter's
// verdicts pass, including verdicts on older versions not judged again yet.
func (m *Model) showVerdicts() {
	m.filterFresh = false
	tbl := m.verdicts.peek(m.filterCanon)
	m.keepSelection(func() {
		vis := make([]*entry, 0, len(m.entries)/2+1)
		for _, e := range m.entries {
			if v, ok := tbl[e.id]; ok && v.ok {
				vis = append(vis, e)
			}
		}
		m.visible = vis
	})
}

// keepSelection runs change to the visible entries and keeps the cursor on
// the exchange it was on, or on the newest when following.
func (m *Model) keepSelection(change func()) {
	id, ok := m.selectedID()
	change()
	m.followOrReselect(id, ok)
}

// filterBusy reports whether the filter has exchanges still to judge, so
// the rows shown may change.
func (m *Model) filterBusy() bool {
	return m.filter != nil && (m.filterFresh || m.worker != 0 || len(m.pending) > 0)
}

// forgetVerdict drops what the filter knows of exchange id (it is gone).
func (m *Model) forgetVerdict(id uint64) {
	m.verdicts.forget(id)
	delete(m.pending, id)
}

// forgetVerdicts drops every verdict (the source was cleared).
func (m *Model) forgetVerdicts() {
	for _, t := range m.verdicts.by {
		clear(t)
	}
	clear(m.pending)
}

// clearFilter drops the filter and shows every exchange.
func (m *Model) clearFilter() {
	m.keepSelection(func() {
		m.newFilterGeneration()
		m.filter, m.filterText, m.filterCanon, m.filterErr, m.visible, m.filterFresh = nil, "", "", nil, nil, false
		m.filterInput.SetValue("")
	})
}
