package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/record"
)

// View draws the whole screen: header bar, list and/or detail, status line
// and short help, with any pop-up on top. It only reads state and memos.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "devproxy " + m.cfg.Role
	return v
}

// minimum usable terminal.
const minWidth, minHeight = 40, 8

func (m *Model) render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.width < minWidth || m.height < minHeight {
		msg := fmt.Sprintf("devproxy needs at least %d×%d (this is %d×%d)", minWidth, minHeight, m.width, m.height)
		lines := make([]string, m.height)
		for i := range lines {
			lines[i] = strings.Repeat(" ", m.width)
		}
		lines[0] = fit(msg, m.width)
		return strings.Join(lines, "\n")
	}
	a := m.area()
	var b strings.Builder
	b.Grow(m.width * m.height * 2)
	b.WriteString(m.headerBar(m.width))
	b.WriteByte('\n')
	switch {
	case a.split:
		list := strings.Split(m.list.Render(a.listW, a.bodyH), "\n")
		det := strings.Split(m.detail.Render(a.detailW, a.bodyH), "\n")
		sep := m.ctx.st.border.Render("│")
		for i := 0; i < a.bodyH; i++ {
			b.WriteString(list[i])
			b.WriteString(sep)
			b.WriteString(det[i])
			b.WriteByte('\n')
		}
	case m.detailOpen():
		b.WriteString(m.detail.Render(a.detailW, a.bodyH))
		b.WriteByte('\n')
	case m.mode == modeEvents:
		b.WriteString(m.events.Render(m.width, a.bodyH))
		b.WriteByte('\n')
	case m.mode == modeRules:
		b.WriteString(m.rulesPane.Render(m.width, a.bodyH))
		b.WriteByte('\n')
	default:
		b.WriteString(m.list.Render(a.listW, a.bodyH))
		b.WriteByte('\n')
	}
	for _, l := range m.statusLines(m.width) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(m.helpLine(m.width))
	return m.drawDialogs(b.String())
}

// headerBar is the top line: role and addresses, counters, badges. On a
// narrow terminal it sheds detail in steps (schemes, long labels, the
// title, the rate, the addresses, the labels of the counts) before it
// truncates anything; the role always stays, first.
func (m *Model) headerBar(width int) string {
	k := headerKey{width: width, gen: m.ctx.st.gen, stats: m.stats, outcomes: m.outcomes, rate: formatRate(m.rate.rate()), lags: m.lags,
		ext: m.extStatus, follow: m.list.follow, filter: m.filter != nil, held: len(m.held), intercept: m.intercept}
	if k == m.headerMemo.key && m.headerMemo.s != "" {
		return m.headerMemo.s
	}
	s := m.renderHeaderBar(width)
	m.headerMemo.key, m.headerMemo.s = k, s
	return s
}

// headerKey is everything the header bar shows.
type headerKey struct {
	width, gen     int
	stats          record.Stats
	outcomes       outcomeCounts
	rate, ext      string
	lags           uint64
	follow, filter bool
	held           int
	intercept      string
}

// headerLevels is how many levels of detail the header bar has.
const headerLevels = 9

func (m *Model) renderHeaderBar(width int) string {
	st := m.ctx.st
	var l, r string
	var rw int
	for level := 0; level < headerLevels; level++ {
		l, r = m.headerLeft(level), m.headerBadges(level)
		rw = ansi.StringWidth(r)
		if ansi.StringWidth(l)+rw+1 <= width {
			break
		}
	}
	lw := max(width-rw-1, 0)
	if ansi.StringWidth(l) > lw {
		l = ansi.Truncate(l, lw, "…")
	}
	gap := width - ansi.StringWidth(l) - rw
	return fit(l+st.bar.Render(strings.Repeat(" ", max(gap, 0)))+r, width)
}

// headerBadges are the badges on the right of the header bar: the
// intercept, the filter, follow mode and paused capture (the intercept and
// paused capture shorter at the last level).
func (m *Model) headerBadges(level int) string {
	st := m.ctx.st
	var right []string
	if m.intercept != "" {
		// The intercept holds exchanges: it stays at every level.
		text := " intercept: " + truncate(sanitizeLine(m.intercept), 32) + " "
		if level >= headerLevels-1 {
			text = " INTERCEPT "
		}
		right = append(right, st.bar.Foreground(st.intercept.GetForeground()).Bold(true).Reverse(!st.mono).Render(text))
	}
	if m.filter != nil {
		right = append(right, st.badgeWarn.Reverse(!st.mono).Render(" FILTER "))
	}
	if m.list.follow {
		right = append(right, st.badgeFollow.Render(" FOLLOW "))
	}
	if m.stats.Paused {
		paused := " CAPTURE PAUSED "
		if level >= headerLevels-1 {
			paused = " PAUSED "
		}
		right = append(right, st.badgePaused.Render(paused))
	}
	return strings.Join(right, st.bar.Render(" "))
}

// headerLeft is the left part of the header bar at a level of detail: 0 is
// everything, each level up drops a little more: the schemes (1), the long
// labels and the counts that are 0 (2), the title (3), the rate (4), the
// in-flight count when it is 0 (5), the addresses (6), the label of the
// total (7), a few letters (8).
func (m *Model) headerLeft(level int) string {
	st := m.ctx.st
	s := m.stats
	var b strings.Builder
	w := func(style lipgloss.Style, text string) { b.WriteString(style.Render(text)) }
	if level < 3 {
		w(st.barTitle, " devproxy ")
	} else {
		w(st.bar, " ")
	}
	w(st.barTitle.UnsetBold(), m.cfg.Role+" ")
	if level < 6 {
		if a := m.addresses(level >= 1); a != "" {
			w(st.bar, a+" ")
		}
	}
	w(st.barMuted, "│ ")
	compact := level >= 2
	if level >= 7 {
		w(st.bar, strconv.FormatUint(s.Total, 10))
	} else {
		w(st.bar, strconv.FormatUint(s.Total, 10)+" total")
	}
	last := level >= headerLevels-1
	switch {
	case !m.live(), level >= 5 && s.InFlight == 0:
	case compact:
		w(st.bar, " · "+strconv.Itoa(s.InFlight)+" live")
	default:
		w(st.bar, " · "+strconv.Itoa(s.InFlight)+" in flight")
	}
	// How the listed exchanges ended: no answer, 4xx, 5xx; compact, only
	// the counts that are not 0.
	failed := " failed"
	if last {
		failed = " fail"
	}
	for _, c := range []struct {
		o     outcome
		label string
		color lipgloss.Style
	}{
		{outcomeFailed, failed, st.serverErr},
		{outcomeClient, " 4xx", st.clientErr},
		{outcomeServer, " 5xx", st.serverErr},
	} {
		n := m.outcomes[c.o]
		if n == 0 && compact {
			continue
		}
		style := st.bar
		if n > 0 {
			style = style.Foreground(c.color.GetForeground()).Bold(true)
		}
		w(style, " · "+strconv.Itoa(n)+c.label)
	}
	if n := len(m.held); n > 0 {
		// Held exchanges wait for the user: the count stays at every level.
		w(st.bar.Foreground(st.intercept.GetForeground()).Bold(true), " · "+strconv.Itoa(n)+" held")
	}
	if m.live() && level < 4 {
		rate := formatRate(m.rate.rate())
		if compact {
			rate = strings.Replace(rate, " req/s", "/s", 1)
		}
		w(st.bar, " · "+rate)
	}
	if s.Evicted > 0 {
		w(st.badgeWarn, " · evicted "+strconv.FormatUint(s.Evicted, 10))
	}
	if m.lags > 0 {
		w(st.badgeWarn, " · lagged "+strconv.FormatUint(m.lags, 10))
	}
	if m.extStatus != "" {
		w(st.bar, " │ "+sanitizeLine(m.extStatus))
	}
	w(st.bar, " ")
	return b.String()
}

// addresses is "listen → target", shortened when short is set.
func (m *Model) addresses(short bool) string {
	l, t := m.cfg.Listen, m.cfg.Target
	if short {
		for _, p := range []string{"http://", "https://"} {
			l, t = strings.TrimPrefix(l, p), strings.TrimPrefix(t, p)
		}
	}
	switch {
	case l != "" && t != "":
		return l + " → " + t
	case t != "" && m.cfg.Role == "view":
		return t
	case t != "":
		return "→ " + t
	}
	return l
}

func formatRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64) + " req/s"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + " req/s"
}

// maxStatusLines is how many lines a long message may take.
const maxStatusLines = 3

// statusHeight is how many lines statusLines draws.
func (m *Model) statusHeight(width int) int {
	if lines := m.messageLines(width); len(lines) > 1 {
		return len(lines)
	}
	return 1
}

// messageLines are the status message, wrapped, when one is shown; a
// message longer than maxStatusLines lines is cut.
func (m *Model) messageLines(width int) []string {
	if m.status == "" || m.mode == modeFilter || m.mode == modeSearch {
		return nil
	}
	lines := wrapProse(" "+sanitizeLine(m.status), width, 1)
	if len(lines) > maxStatusLines {
		lines = lines[:maxStatusLines]
		lines[maxStatusLines-1] = truncate(lines[maxStatusLines-1]+" …", width)
	}
	return lines
}

// statusLines are the lines above the help (one, unless a message needs
// more): the filter or search input, a message, or the filter in force;
// on the right, the position, the sort order and the marks.
func (m *Model) statusLines(width int) []string {
	if lines := m.messageLines(width); len(lines) > 1 {
		style := m.ctx.st.statusInfo
		if m.statusErr {
			style = m.ctx.st.statusErr
		}
		for i, l := range lines {
			lines[i] = style.Render(fit(l, width))
		}
		return lines
	}
	return []string{m.statusLine(width)}
}

// statusLine is the one status line: the input, message or filter, and
// the position on the right.
func (m *Model) statusLine(width int) string {
	st := m.ctx.st
	var left, right string
	switch {
	case m.mode == modeFilter:
		m.filterInput.SetWidth(max(width/2, 20))
		left = m.filterInput.View()
		if m.filterErr != nil {
			left += "  " + st.inputErr.Render("✗ "+strings.TrimPrefix(m.filterErr.Error(), "filter: "))
		} else {
			right = m.matchCount()
		}
	case m.mode == modeSearch:
		m.searchInput.SetWidth(max(width/3, 20))
		left = m.searchInput.View()
		right = m.detail.position(m.detailRows())
	case m.status != "":
		style := st.statusInfo
		if m.statusErr {
			style = st.statusErr
		}
		left = style.Render(" " + sanitizeLine(m.status))
	case m.filter != nil:
		left = st.muted.Render(" filter: ") + st.accent.Render(m.filterText) + st.muted.Render("  (/ edit · esc clear)")
	}
	if right == "" && m.mode != modeFilter {
		if m.detailOpen() {
			right = m.detail.position(m.detailRows())
		} else if m.mode == modeEvents {
			right = m.events.position(m.listRows())
		} else if m.mode == modeRules {
			right = m.rulesPane.position()
		} else {
			right = m.listPosition()
		}
	}
	if right != "" {
		right = st.muted.Render(right + " ")
	}
	rw := ansi.StringWidth(right)
	if ansi.StringWidth(left)+rw+1 > width {
		right, rw = "", 0
	}
	return fit(left, width-rw) + right
}

// listPosition is the right of the status line under the list: how many
// exchanges are marked, the sort order unless it is by time, and the
// cursor's row.
func (m *Model) listPosition() string {
	var parts []string
	if n := len(m.list.marked); n > 0 {
		parts = append(parts, strconv.Itoa(n)+" marked")
	}
	if m.list.order != byTime {
		parts = append(parts, m.list.order.describe())
	}
	if s := m.matchCount(); s != "" {
		parts = append(parts, s)
	}
	return strings.Join(parts, " · ")
}

// matchCount is "12/40" (cursor of rows), with "of N" when filtered.
func (m *Model) matchCount() string {
	n := len(m.list.rows)
	var s string
	if n > 0 {
		s = strconv.Itoa(m.list.cursor+1) + "/" + strconv.Itoa(n)
	}
	if m.filter != nil {
		s += " (" + strconv.Itoa(len(m.entries)) + " recorded)"
	}
	if m.filterBusy() {
		s = "filtering… " + s
	}
	return s
}

// helpLine is the short help; "? help" is pinned at the end so that it
// survives truncation on a narrow terminal.
func (m *Model) helpLine(width int) string {
	mode := int(m.mode)
	if m.topDialog() != nil {
		mode = -1
	}
	k := [4]int{width, m.ctx.st.gen, mode, min(len(m.held), 1)}
	if k == m.helpMemo.key && m.helpMemo.s != "" {
		return m.helpMemo.s
	}
	s := m.renderHelpLine(width)
	m.helpMemo.key, m.helpMemo.s = k, s
	return s
}

func (m *Model) renderHelpLine(width int) string {
	st := m.ctx.st
	var keys []key.Binding
	in := helpText(m.keys.Input.Accept) + " · " + helpText(m.keys.Input.Cancel)
	switch {
	case m.topDialog() != nil:
		return strings.Repeat(" ", width)
	case m.mode == modeFilter:
		return fit(st.muted.Render(" "+in+" · "+filterHint), width)
	case m.mode == modeSearch:
		return fit(st.muted.Render(" "+in+" · then "+m.keys.Detail.NextMatch.Help().Key+"/"+m.keys.Detail.PrevMatch.Help().Key+" for next/previous match"), width)
	case m.mode == modeDetail:
		keys = m.keys.detailHelp()
	case m.mode == modeEvents:
		keys = m.keys.eventsHelp()
	case m.mode == modeRules:
		keys = m.keys.rulesHelp()
	default:
		keys = m.keys.ShortHelp()
	}
	if len(m.held) > 0 && m.mode != modeEvents && m.mode != modeRules {
		// Something waits for the user: the breakpoint keys come first.
		h := m.keys.Holds
		rest := keys
		keys = []key.Binding{h.Resume, h.Edit, h.Abort, h.ResumeAll}
		for _, b := range rest {
			if !slices.Equal(b.Keys(), h.Edit.Keys()) { // e says what it does above
				keys = append(keys, b)
			}
		}
	}
	return fit(" "+m.shortHelp(keys, width-1), width)
}

// shortHelp lays keys out as "key desc · key desc", as many as fit in
// width, then "…" when some did not, and "? help" last, always.
func (m *Model) shortHelp(keys []key.Binding, width int) string {
	hs := m.help.Styles
	sep := hs.ShortSeparator.Render(m.help.ShortSeparator)
	sepW := ansi.StringWidth(sep)
	item := func(b key.Binding) string {
		h := b.Help()
		return hs.ShortKey.Render(h.Key) + " " + hs.ShortDesc.Render(h.Desc)
	}
	pinned := item(m.keys.Help)
	room := width - sepW - ansi.StringWidth(pinned)
	const more = " …"
	moreW := ansi.StringWidth(more)
	var items []string
	total := 0
	for _, k := range keys {
		if k.Enabled() {
			items = append(items, item(k))
			total += sepW + ansi.StringWidth(items[len(items)-1])
		}
	}
	n := len(items)
	if total-sepW > room {
		// Keep what fits with the ellipsis after it.
		n = 0
		for used := 0; n < len(items); n++ {
			w := ansi.StringWidth(items[n])
			if n > 0 {
				w += sepW
			}
			if used+w+moreW > room {
				break
			}
			used += w
		}
	}
	if n == 0 {
		return pinned
	}
	s := strings.Join(items[:n], sep)
	if n < len(items) {
		s += hs.Ellipsis.Render(more)
	}
	return s + sep + pinned
}

const filterHint = `text method:GET status:5xx host: path:/api/* header:x=y body: dur:>200ms size:>1mb type:json error replay -neg "quoted"`

// rateMeter measures requests per second over the last few seconds from
// samples of a running total.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	t time.Time
	n uint64
}

func (r *rateMeter) add(t time.Time, n uint64) {
	r.samples = append(r.samples, rateSample{t, n})
	// Keep one sample older than the window as the baseline.
	i := 0
	for i+1 < len(r.samples) && t.Sub(r.samples[i+1].t) >= rateWindow {
		i++
	}
	if i > 0 {
		r.samples = append(r.samples[:0], r.samples[i:]...)
	}
}

func (r *rateMeter) rate() float64 {
	if len(r.samples) < 2 {
		return 0
	}
	a, b := r.samples[0], r.samples[len(r.samples)-1]
	dt := b.t.Sub(a.t).Seconds()
	if dt <= 0 || b.n < a.n {
		return 0
	}
	return float64(b.n-a.n) / dt
}
