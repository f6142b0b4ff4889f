package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// handleKey routes a key press: the top dialog first, then whatever the
// mode gives the keys to.
func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	if matches(msg, m.keys.ForceQuit) {
		return m.quit()
	}
	if matches(msg, m.keys.Redraw) {
		return tea.ClearScreen
	}
	if m.topDialog() != nil {
		return m.updateDialog(msg)
	}
	switch m.mode {
	case modeFilter:
		return m.filterKey(msg)
	case modeSearch:
		return m.searchKey(msg)
	case modeDetail:
		return m.detailKey(msg)
	case modeEvents:
		return m.eventsKey(msg)
	case modeRules:
		return m.rulesKey(msg)
	}
	return m.listKey(msg)
}

func (m *Model) listKey(msg tea.KeyPressMsg) tea.Cmd {
	k, nav := &m.keys.List, &m.keys.Nav
	l := &m.list
	l.rows = m.rows()
	page := max(m.listRows()-1, 1)
	switch {
	case matches(msg, nav.Up):
		l.move(-1)
	case matches(msg, nav.Down):
		l.move(1)
	case matches(msg, nav.PageUp):
		l.move(-page)
	case matches(msg, nav.PageDown):
		l.move(page)
	case matches(msg, nav.Top):
		l.cursor, l.follow = 0, false
	case matches(msg, nav.Bottom):
		l.cursor, l.follow = len(l.rows)-1, m.live() && l.order == byTime
		l.clampCursor()
	case matches(msg, k.Follow):
		if l.order != byTime {
			// Following means the newest at the bottom: time order.
			l.order, l.follow = byTime, false
			m.setStatus("sorted by time again, to follow", false)
			l.rows = m.rows()
		}
		l.follow = !l.follow
		if l.follow {
			l.cursor = len(l.rows) - 1
			l.clampCursor()
		}
	case matches(msg, k.Mark):
		m.mark()
	case matches(msg, k.Delete):
		m.deleteExchanges()
	case matches(msg, k.Sort):
		m.cycleSort()
	case matches(msg, k.Open):
		m.openDetail(l.selected())
	case matches(msg, k.Filter):
		m.mode = modeFilter
		m.filterInput.SetValue(m.filterText)
		m.filterInput.Focus()
	case matches(msg, k.ClearFilter):
		if m.filter != nil || m.filterText != "" {
			m.clearFilter()
		}
	case matches(msg, m.keys.Quit):
		return m.requestQuit()
	default:
		return m.actionKey(msg)
	}
	return nil
}

// actionKey handles the bindings shared by the list and the detail view.
func (m *Model) actionKey(msg tea.KeyPressMsg) tea.Cmd {
	if cmd, ok := m.holdKey(msg); ok {
		return cmd
	}
	k := &m.keys.Actions
	switch {
	case matches(msg, k.Replay):
		return m.replay()
	case matches(msg, k.Edit):
		return m.edit()
	case matches(msg, k.Curl):
		return m.curl()
	case matches(msg, k.Export):
		m.openExport("")
	case matches(msg, k.Pause):
		m.togglePause()
	case matches(msg, k.Clear):
		m.confirmClear()
	case matches(msg, m.keys.Help):
		m.openHelp()
	case matches(msg, m.keys.Events):
		m.openEvents()
	case matches(msg, m.keys.Rules.Open):
		m.openRules()
	case matches(msg, m.keys.Rules.Intercept):
		m.openIntercept()
	default:
		m.unavailable(msg)
	}
	return nil
}

// unavailable explains a key whose binding is switched off, rather than
// ignoring it silently.
func (m *Model) unavailable(msg tea.KeyPressMsg) {
	noTarget := m.cfg.Replayer == nil
	for _, b := range []struct {
		b   key.Binding
		off bool
		why string
	}{
		{m.keys.Actions.Replay, noTarget, "replay is not available here: there is no live target (" + m.cfg.Role + ")"},
		{m.keys.Actions.Edit, noTarget, "edit and replay is not available here: there is no live target (" + m.cfg.Role + ")"},
		{m.keys.Actions.Pause, !m.live(), "nothing to pause: this is a file, not a live capture"},
		{m.keys.List.Follow, !m.live(), "nothing to follow: this is a file, not a live capture"},
		{m.keys.Rules.Open, m.cfg.Rules == nil, "rules are not available here: nothing is proxied (" + m.cfg.Role + ")"},
		{m.keys.Rules.Intercept, m.cfg.Rules == nil, "intercept is not available here: nothing is proxied (" + m.cfg.Role + ")"},
	} {
		if !b.off {
			continue
		}
		// A disabled binding matches nothing: ask about its keys.
		b.b.SetEnabled(true)
		if matches(msg, b.b) {
			m.setStatus(b.why, true)
			return
		}
	}
}

func (m *Model) detailKey(msg tea.KeyPressMsg) tea.Cmd {
	k, nav := &m.keys.Detail, &m.keys.Nav
	d := &m.detail
	h := m.detailRows()
	switch {
	case matches(msg, k.Back):
		m.closeDetail()
	case matches(msg, k.NextTab):
		m.setTab((d.tab + 1) % d.tabs())
	case matches(msg, k.PrevTab):
		m.setTab((d.tab + d.tabs() - 1) % d.tabs())
	case matches(msg, k.TabRequest):
		m.setTab(tabRequest)
	case matches(msg, k.TabResponse):
		m.setTab(tabResponse)
	case matches(msg, k.TabTiming):
		m.setTab(tabTiming)
	case matches(msg, k.TabMessages):
		if d.tabs() > tabMessages {
			m.setTab(tabMessages)
		}
	case matches(msg, k.Mode):
		m.cycleMode()
	case matches(msg, k.SaveBody):
		return m.saveBody()
	case matches(msg, k.Pager):
		return m.openPager()
	case matches(msg, nav.Up):
		d.scrollBy(-1, h)
	case matches(msg, nav.Down):
		d.scrollBy(1, h)
	case matches(msg, nav.PageUp):
		d.scrollBy(-max(h-1, 1), h)
	case matches(msg, nav.PageDown):
		d.scrollBy(max(h-1, 1), h)
	case matches(msg, nav.Top):
		d.offset, d.stick, d.pendingEnd = 0, false, false
	case matches(msg, nav.Bottom):
		d.toEnd(h)
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
		m.mode = modeSearch
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
	switch {
	case matches(msg, m.keys.Input.Accept):
		m.acceptFilter()
		return nil
	case matches(msg, m.keys.Input.Cancel):
		m.mode = modeList
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
	switch {
	case matches(msg, m.keys.Input.Accept):
		m.mode = modeDetail
		m.searchInput.Blur()
		return nil
	case matches(msg, m.keys.Input.Cancel):
		m.mode = modeDetail
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
	if m.topDialog() != nil {
		return m.updateDialog(msg)
	}
	switch m.mode {
	case modeFilter:
		if m.filterInput.Update(msg) {
			return m.setFilterText(m.filterInput.Value())
		}
	case modeSearch:
		if m.searchInput.Update(msg) {
			m.setQuery(m.searchInput.Value())
		}
	}
	return nil
}

// wheelStep is how many rows one wheel notch moves.
const wheelStep = 3

func (m *Model) handleWheel(msg tea.MouseWheelMsg) tea.Cmd {
	if m.topDialog() != nil {
		return m.updateDialog(msg)
	}
	delta := 0
	switch msg.Button {
	case tea.MouseWheelUp:
		delta = -wheelStep
	case tea.MouseWheelDown:
		delta = wheelStep
	default:
		return nil
	}
	if m.mode == modeEvents {
		m.events.scroll(delta, m.width, m.listRows())
		return nil
	}
	if m.mode == modeRules {
		m.rulesPane.move(delta / wheelStep)
		return nil
	}
	a := m.area()
	if m.detailOpen() && msg.X >= a.detailX {
		m.detail.scrollBy(delta, m.detailRows())
		return nil
	}
	if a.listW > 0 {
		m.list.rows = m.rows()
		m.list.move(delta)
		if m.detailOpen() {
			if e := m.list.selected(); e != nil {
				m.showInDetail(e)
			}
		}
	}
	return nil
}

func (m *Model) handleClick(msg tea.MouseClickMsg) tea.Cmd {
	if m.topDialog() != nil {
		return m.updateDialog(msg)
	}
	if msg.Button != tea.MouseLeft || m.mode == modeFilter || m.mode == modeSearch || m.mode == modeEvents || m.mode == modeRules {
		return nil
	}
	a := m.area()
	if m.detailOpen() && msg.X >= a.detailX {
		if msg.Y == 1 {
			for i, sp := range tabBarSpans(m.detail.tabs()) {
				if x := msg.X - a.detailX; x >= sp[0] && x < sp[1] {
					m.setTab(tab(i))
				}
			}
		}
		return nil
	}
	if a.listW == 0 || msg.X >= a.listW {
		return nil
	}
	row := msg.Y - 2 // header bar, column header
	if row < 0 || row >= m.listRows() {
		return nil
	}
	m.list.rows = m.rows()
	i := m.list.offset + row
	if i >= len(m.list.rows) {
		return nil
	}
	if i == m.list.cursor && !m.detailOpen() {
		m.openDetail(m.list.selected())
		return nil
	}
	if i < m.list.cursor {
		m.list.follow = false
	}
	m.list.cursor = i
	if m.list.cursor != len(m.list.rows)-1 {
		m.list.follow = false
	}
	if m.detailOpen() {
		m.showInDetail(m.list.rows[i])
	}
	return nil
}
