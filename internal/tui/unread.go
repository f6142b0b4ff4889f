package tui

import (
	"fmt"
	"log/slog"
	"slices"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/record"
)

// This file reads the exchanges of a Lister source (a session on disk)
// that the list shows: the model holds a summary of every exchange, reads
// the ones on and near the screen in the background, and drops them again
// once they are far away, so that a session of any size takes about a
// screenful of memory.

const (
	// maxRead is how many exchanges read from a Lister the model keeps;
	// past it the ones read longest ago, away from the screen, are
	// dropped.
	maxRead = 1500
	// maxMisses is how many reads may find an exchange missing before the
	// list lets it go: an exchange just moved out of memory may not be
	// written yet, but one the session dropped (its disk fell behind) or
	// deleted never comes.
	maxMisses = 10
	// fetchChunk is the most exchanges one read asks for.
	fetchChunk = 500
)

// fetchedMsg is a read of exchanges for the list.
type fetchedMsg struct {
	ids []uint64 // asked for, in order
	xs  []record.Exchange
	err error
}

// lister is the source as a Lister, or nil.
func (m *Model) lister() Lister {
	ls, _ := m.src.(Lister)
	return ls
}

// readWindow is the range of list rows kept read: the screen, a screen
// above it and one below. It is empty when the rows changed under an
// offset not yet moved to them.
func (m *Model) readWindow() (lo, hi int) {
	h := m.listRows()
	hi = min(len(m.list.rows), m.list.offset+2*h)
	return min(max(0, m.list.offset-h), hi), hi
}

// ensureRead starts reading the unread entries in the read window. An
// entry a read missed is tried again at the next tick.
func (m *Model) ensureRead() tea.Cmd {
	ls := m.lister()
	if ls == nil {
		return nil
	}
	retry := m.retryDue
	m.retryDue = false
	lo, hi := m.readWindow()
	var ids []uint64
	for _, e := range m.list.rows[lo:hi] {
		if e.x == nil && !e.fetching && (e.misses == 0 || retry) {
			e.fetching = true
			ids = append(ids, e.id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return fetchCmd(ls, ids)
}

// fetchCmd reads ids (sorted) from ls.
func fetchCmd(ls Lister, ids []uint64) tea.Cmd {
	return func() tea.Msg {
		xs, err := ls.Fetch(ids)
		return fetchedMsg{ids: ids, xs: xs, err: err}
	}
}

// fetched takes in a read: each entry still unread gets its exchange, and
// one that was not found is counted as a miss.
func (m *Model) fetched(msg fetchedMsg) {
	if msg.err != nil {
		m.logEvent(slog.LevelError, fmt.Sprintf("reading exchanges from the session: %v", msg.err))
	}
	k := 0
	var gone []uint64
	for _, id := range msg.ids {
		e := m.byID[id]
		for k < len(msg.xs) && msg.xs[k].ID < id {
			k++
		}
		if e == nil {
			continue
		}
		e.fetching = false
		if e.x != nil {
			continue // a newer copy came from the source meanwhile
		}
		if k < len(msg.xs) && msg.xs[k].ID == id {
			m.attach(e, own(&msg.xs[k]))
			continue
		}
		if msg.err == nil {
			if e.misses++; e.misses >= maxMisses {
				gone = append(gone, id)
			}
		}
	}
	m.remove(gone)
	m.trimRead()
}

// attach gives the unread entry e its exchange x, read from the source.
func (m *Model) attach(e *entry, x *record.Exchange) {
	if hp := hostPath(x); hp != e.hp {
		m.hosts.add(e.hp, -1)
		e.hp = hp
		m.hosts.add(e.hp, 1)
	}
	m.setUpstream(e, x)
	e.x, e.misses = x, 0
	m.recount(e)
	m.readLog = append(m.readLog, e.id)
}

// readNow reads e's exchange at once, on the event loop, for an action on
// it (open, replay, copy) that cannot wait for the background read: one
// exchange without its bodies, a single indexed read. It returns nil when
// the source no longer holds it.
func (m *Model) readNow(e *entry) *record.Exchange {
	if e.x != nil {
		return e.x
	}
	ls := m.lister()
	if ls == nil {
		return nil
	}
	xs, err := ls.Fetch([]uint64{e.id})
	if err != nil {
		m.setStatus(fmt.Sprintf("reading #%d from the session: %v", e.id, err), true)
		return nil
	}
	if len(xs) != 1 || xs[0].ID != e.id {
		m.setStatus(fmt.Sprintf("#%d is not in the session (not written yet, or dropped)", e.id), true)
		return nil
	}
	m.attach(e, &xs[0])
	return e.x
}

// trimRead drops the exchanges read longest ago once more than maxRead
// are held, except those in the read window, the selected one and the one
// the detail view shows.
func (m *Model) trimRead() {
	if len(m.readLog) <= maxRead {
		return
	}
	keep := map[uint64]bool{}
	lo, hi := m.readWindow()
	for _, e := range m.list.rows[lo:hi] {
		keep[e.id] = true
	}
	if id, ok := m.selectedID(); ok {
		keep[id] = true
	}
	if m.detail.x != nil {
		keep[m.detail.x.ID] = true
	}
	log := m.readLog
	m.readLog = nil
	drop := len(log) - maxRead*3/4
	for _, id := range log {
		e := m.byID[id]
		switch {
		case e == nil || e.x == nil:
		case drop > 0 && !keep[id]:
			e.unload(m.ctx.now)
			drop--
		default:
			m.readLog = append(m.readLog, id)
		}
	}
}

// readExchanges fills in the nil exchanges of xs (listed by ids) from the
// source, in chunks; exchanges the source no longer holds stay nil.
func readExchanges(src Source, ids []uint64, xs []*record.Exchange) error {
	ls, _ := src.(Lister)
	var want []uint64
	at := map[uint64]int{}
	flush := func() error {
		if len(want) == 0 {
			return nil
		}
		got, err := ls.Fetch(want)
		if err != nil {
			return err
		}
		for i := range got {
			xs[at[got[i].ID]] = &got[i]
		}
		want = want[:0]
		clear(at)
		return nil
	}
	for i, x := range xs {
		if x != nil {
			continue
		}
		if ls == nil {
			if got, ok := src.Get(ids[i]); ok {
				xs[i] = &got
			}
			continue
		}
		want = append(want, ids[i])
		at[ids[i]] = i
		if len(want) == fetchChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
