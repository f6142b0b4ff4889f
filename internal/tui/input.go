package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

// handleKey routes a key press: pop-ups first, then the focused input,
// then the detail view or the list.
func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	if matches(msg, k.ForceQuit) {
		return m.quit()
	}
	switch {
	case m.overlay != overlayNone:
		return m.overlayKey(msg)
	case m.filtering:
		return m.filterKey(msg)
	case m.searching:
		return m.searchKey(msg)
	case m.detailOpen:
		return m.detailKey(msg)
	}
	return m.listKey(msg)
}

func (m *Model) listKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	l := &m.list
	l.rows = m.rows()
	page := max(m.listRows()-1, 1)
	switch {
	case matches(msg, k.Up):
		l.move(-1)
	case matches(msg, k.Down):
		l.move(1)
	case matches(msg, k.PageUp):
		l.move(-page)
	case matches(msg, k.PageDown):
		l.move(page)
	case matches(msg, k.Top):
		l.cursor, l.follow = 0, false
	case matches(msg, k.Bottom):
		l.cursor, l.follow = len(l.rows)-1, true
		l.clampCursor()
	case matches(msg, k.Follow):
		l.follow = !l.follow
		if l.follow {
			l.cursor = len(l.rows) - 1
			l.clampCursor()
		}
	case matches(msg, k.Open):
		m.openDetail(l.selected())
	case matches(msg, k.Filter):
		m.filtering = true
		m.filterInput.SetValue(m.filterText)
		m.filterInput.Focus()
	case matches(msg, k.ClearFilter):
		if m.filter != nil || m.filterText != "" {
			m.clearFilter()
		}
	case matches(msg, k.Quit):
		return m.quit()
	default:
		return m.actionKey(msg)
	}
	return nil
}

// actionKey handles the bindings shared by the list and the detail view.
func (m *Model) actionKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	switch {
	case matches(msg, k.Replay):
		return m.replay()
	case matches(msg, k.Edit):
		return m.edit()
	case matches(msg, k.Curl):
		return m.curl()
	case matches(msg, k.Export):
		m.openExport()
	case matches(msg, k.Pause):
		m.togglePause()
	case matches(msg, k.Clear):
		m.overlay = overlayConfirmClear
	case matches(msg, k.Help):
		m.overlay, m.helpOffset = overlayHelp, 0
	default:
		m.unavailable(msg)
	}
	return nil
}

// unavailable explains a key whose binding is switched off, rather than
// ignoring it silently.
func (m *Model) unavailable(msg tea.KeyPressMsg) {
	for _, b := range []struct {
		keys []string
		why  string
	}{
		{m.keys.Replay.Keys(), "replay is not available here: there is no live target (" + m.cfg.Role + ")"},
		{m.keys.Edit.Keys(), "edit and replay is not available here: there is no live target (" + m.cfg.Role + ")"},
	} {
		for _, name := range b.keys {
			if msg.String() == name && m.cfg.Replayer == nil {
				m.setStatus(b.why, true)
				return
			}
		}
	}
}

func (m *Model) detailKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	d := &m.detail
	h := m.detailRows()
	switch {
	case matches(msg, k.Back):
		m.closeDetail()
	case matches(msg, k.NextTab):
		m.setTab((d.tab + 1) % numTabs)
	case matches(msg, k.PrevTab):
		m.setTab((d.tab + numTabs - 1) % numTabs)
	case matches(msg, k.TabRequest):
		m.setTab(tabRequest)
	case matches(msg, k.TabResponse):
		m.setTab(tabResponse)
	case matches(msg, k.TabTiming):
		m.setTab(tabTiming)
	case matches(msg, k.Up):
		d.scrollBy(-1, h)
	case matches(msg, k.Down):
		d.scrollBy(1, h)
	case matches(msg, k.PageUp):
		d.scrollBy(-max(h-1, 1), h)
	case matches(msg, k.PageDown):
		d.scrollBy(max(h-1, 1), h)
	case matches(msg, k.Top):
		d.offset, d.stick = 0, false
	case matches(msg, k.Bottom):
		d.offset, d.stick = d.maxOffset(h), true
	case matches(msg, k.PrevExchange), matches(msg, k.NextExchange):
		delta := 1
		if matches(msg, k.PrevExchange) {
			delta = -1
		}
		m.list.rows = m.rows()
		i, found := m.list.indexOf(d.x.ID)
		switch {
		case found:
			m.list.cursor = i + delta
		case delta > 0: // gone from the list: i is the next newer one
			m.list.cursor = i
		default:
			m.list.cursor = i - 1
		}
		if delta < 0 {
			m.list.follow = false
		}
		m.list.clampCursor()
		if e := m.list.selected(); e != nil {
			m.showInDetail(e)
		}
	case matches(msg, k.Search):
		m.searching = true
		m.searchInput.SetValue(d.query)
		m.searchInput.Focus()
	case matches(msg, k.NextMatch), matches(msg, k.PrevMatch):
		if n := len(d.matches); n > 0 {
			if matches(msg, k.NextMatch) {
				d.cur = (d.cur + 1) % n
			} else {
				d.cur = (d.cur + n - 1) % n
			}
			d.showMatch(h)
		}
	default:
		return m.actionKey(msg)
	}
	return nil
}

func (m *Model) filterKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "enter":
		m.filtering = false
		m.filterInput.Blur()
		if m.filterErr != nil {
			m.setStatus("kept the last good filter; "+strings.TrimPrefix(m.filterErr.Error(), "filter: "), true)
			m.filterErr = nil
		}
		return nil
	case "esc":
		m.filtering = false
		m.filterInput.Blur()
		m.clearFilter()
		return nil
	}
	if m.filterInput.Update(msg) {
		return m.setFilterText(m.filterInput.Value())
	}
	return nil
}

func (m *Model) searchKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "enter":
		m.searching = false
		m.searchInput.Blur()
		return nil
	case "esc":
		m.searching = false
		m.searchInput.Blur()
		m.setQuery("")
		return nil
	}
	if m.searchInput.Update(msg) {
		m.setQuery(m.searchInput.Value())
	}
	return nil
}

func (m *Model) handlePaste(msg tea.PasteMsg) tea.Cmd {
	switch {
	case m.overlay == overlayExport:
		m.exportInput.Update(msg)
	case m.filtering:
		if m.filterInput.Update(msg) {
			return m.setFilterText(m.filterInput.Value())
		}
	case m.searching:
		if m.searchInput.Update(msg) {
			m.setQuery(m.searchInput.Value())
		}
	}
	return nil
}

func (m *Model) overlayKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	switch m.overlay {
	case overlayHelp:
		switch {
		case matches(msg, k.Down):
			m.helpOffset++
		case matches(msg, k.Up):
			m.helpOffset = max(m.helpOffset-1, 0)
		case matches(msg, k.PageDown):
			m.helpOffset += max(m.height/2, 1)
		case matches(msg, k.PageUp):
			m.helpOffset = max(m.helpOffset-max(m.height/2, 1), 0)
		case matches(msg, k.Back), matches(msg, k.Help), msg.String() == "enter":
			m.overlay = overlayNone
		}
	case overlayCurl:
		if matches(msg, k.Back) || msg.String() == "enter" {
			m.overlay = overlayNone
		}
	case overlayConfirmClear:
		switch msg.String() {
		case "y", "Y":
			m.overlay = overlayNone
			if c, ok := m.src.(Clearer); ok {
				c.Clear()
			}
			m.resetEntries()
			m.closeDetail()
			m.detail.x = nil
			m.setStatus("cleared every exchange", false)
		case "n", "N", "esc", "q":
			m.overlay = overlayNone
		}
	case overlayExport:
		switch msg.String() {
		case "enter":
			m.overlay = overlayNone
			m.exportInput.Blur()
			return m.export(m.exportInput.Value())
		case "esc":
			m.overlay = overlayNone
			m.exportInput.Blur()
			return nil
		}
		m.exportInput.Update(msg)
	}
	return nil
}

// wheelStep is how many rows one wheel notch moves.
const wheelStep = 3

func (m *Model) handleWheel(msg tea.MouseWheelMsg) {
	if m.overlay == overlayHelp {
		switch msg.Button {
		case tea.MouseWheelUp:
			m.helpOffset = max(m.helpOffset-wheelStep, 0)
		case tea.MouseWheelDown:
			m.helpOffset += wheelStep
		}
		return
	}
	if m.overlay != overlayNone {
		return
	}
	delta := 0
	switch msg.Button {
	case tea.MouseWheelUp:
		delta = -wheelStep
	case tea.MouseWheelDown:
		delta = wheelStep
	default:
		return
	}
	a := m.area()
	if m.detailOpen && msg.X >= a.detailX {
		m.detail.scrollBy(delta, m.detailRows())
		return
	}
	if a.listW > 0 {
		m.list.rows = m.rows()
		m.list.move(delta)
		if m.detailOpen {
			if e := m.list.selected(); e != nil {
				m.showInDetail(e)
			}
		}
	}
}

func (m *Model) handleClick(msg tea.MouseClickMsg) {
	if msg.Button != tea.MouseLeft || m.overlay != overlayNone || m.filtering || m.searching {
		return
	}
	a := m.area()
	if m.detailOpen && msg.X >= a.detailX {
		if msg.Y == 1 {
			for i, sp := range tabBarSpans() {
				if x := msg.X - a.detailX; x >= sp[0] && x < sp[1] {
					m.setTab(tab(i))
				}
			}
		}
		return
	}
	if a.listW == 0 || msg.X >= a.listW {
		return
	}
	row := msg.Y - 2 // header bar, column header
	if row < 0 || row >= m.listRows() {
		return
	}
	m.list.rows = m.rows()
	i := m.list.offset + row
	if i >= len(m.list.rows) {
		return
	}
	if i == m.list.cursor && !m.detailOpen {
		m.openDetail(m.list.selected())
		return
	}
	if i < m.list.cursor {
		m.list.follow = false
	}
	m.list.cursor = i
	if m.list.cursor != len(m.list.rows)-1 {
		m.list.follow = false
	}
	if m.detailOpen {
		m.showInDetail(m.list.rows[i])
	}
}
