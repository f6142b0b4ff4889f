package tui

import (
	"log/slog"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/eventlog"
)

// eventsView is the event log pane (E): what happened to devproxy itself
// (connections, agents, TLS failures, refusals, lag, exports, warnings),
// oldest at the top, newest at the bottom, followed while the view is at
// the bottom. Long messages wrap, so every one is readable in full.
type eventsView struct {
	ctx *uiContext
	// events is the UI's copy of the log, oldest first, at most max.
	events []eventlog.Event
	seq    uint64 // the newest Seq seen
	max    int

	// lines are events rendered at width with style generation gen;
	// counts[i] is how many of them events[i] takes. Nil until the pane
	// is first drawn.
	lines      []string
	counts     []int
	width, gen int

	offset int  // first line shown
	stick  bool // at the bottom: new events stay in view
}

// eventsMsg carries the events added since the last poll, read off the
// event loop on each tick.
type eventsMsg []eventlog.Event

// add takes the events newer than those seen, oldest first, and lets the
// oldest go beyond max.
func (v *eventsView) add(evs []eventlog.Event) {
	start := len(v.events)
	for _, e := range evs {
		if e.Seq > v.seq {
			v.events = append(v.events, e)
			v.seq = e.Seq
		}
	}
	if v.lines != nil {
		for _, e := range v.events[start:] {
			ls := v.render(e)
			v.lines = append(v.lines, ls...)
			v.counts = append(v.counts, len(ls))
		}
	}
	if over := len(v.events) - v.max; v.max > 0 && over > 0 {
		v.events = append(v.events[:0], v.events[over:]...)
		if v.lines != nil {
			n := 0
			for _, c := range v.counts[:over] {
				n += c
			}
			v.lines = append(v.lines[:0], v.lines[n:]...)
			v.counts = append(v.counts[:0], v.counts[over:]...)
			v.offset = max(v.offset-n, 0)
		}
	}
}

// dropped is how many events came before the oldest one kept.
func (v *eventsView) dropped() uint64 {
	if len(v.events) == 0 {
		return 0
	}
	return v.events[0].Seq - 1
}

// layout renders every event again when the width or the styles changed.
func (v *eventsView) layout(width int) {
	if v.lines != nil && v.width == width && v.gen == v.ctx.st.gen {
		return
	}
	v.width, v.gen = width, v.ctx.st.gen
	v.lines, v.counts = make([]string, 0, len(v.events)), make([]int, 0, len(v.events))
	for _, e := range v.events {
		ls := v.render(e)
		v.lines = append(v.lines, ls...)
		v.counts = append(v.counts, len(ls))
	}
}

// eventIndent is where an event's text starts: after "15:04:05 LEVEL
// source ".
const eventIndent = 21

// render draws one event as lines v.width wide at most: the time, the
// level in its colour, the source, then the message and its attributes,
// wrapped under the message.
func (v *eventsView) render(e eventlog.Event) []string {
	st := v.ctx.st
	indent := min(eventIndent, v.width/2)
	avail := max(v.width-indent-1, 10) // one cell of right margin
	lvl := strings.ToUpper(e.Level.String())
	prefix := st.muted.Render(e.Time.Format("15:04:05")) + " " +
		v.levelStyle(e.Level).Render(padRight(lvl, 5)) + " " +
		st.accent.Render(padRight(e.Source, 5)) + " "
	if pw := ansi.StringWidth(prefix); pw < indent {
		prefix += strings.Repeat(" ", indent-pw)
	}
	text := e.Message
	if e.Attrs != "" {
		text += "  " + e.Attrs
	}
	var out []string
	for _, part := range strings.Split(text, "\n") {
		part = strings.TrimRight(sanitizeLine(part), " ")
		for _, l := range strings.Split(ansi.Wrap(part, avail, ""), "\n") {
			if len(out) == 0 {
				out = append(out, fit(prefix+st.text.Render(l), v.width))
			} else {
				out = append(out, fit(strings.Repeat(" ", indent)+st.text.Render(l), v.width))
			}
		}
	}
	return out
}

// levelStyle colours a level: errors red, warnings orange, information
// blue, debug faint.
func (v *eventsView) levelStyle(l slog.Level) lipgloss.Style {
	st := v.ctx.st
	switch {
	case l >= slog.LevelError:
		return st.evError
	case l >= slog.LevelWarn:
		return st.evWarn
	case l >= slog.LevelInfo:
		return st.evInfo
	}
	return st.evDebug
}

func padRight(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func (v *eventsView) maxOffset(rows int) int { return max(len(v.lines)-rows, 0) }

// scroll moves the view by delta lines; reaching the bottom follows again.
func (v *eventsView) scroll(delta, width, rows int) {
	v.layout(width)
	v.offset = min(max(v.offset+delta, 0), v.maxOffset(rows))
	v.stick = v.offset >= v.maxOffset(rows)
}

// top and bottom jump to the oldest and the newest event.
func (v *eventsView) top()    { v.offset, v.stick = 0, false }
func (v *eventsView) bottom() { v.stick = true }

// Render draws the pane, width×height: a title line and the events.
func (v *eventsView) Render(width, height int) string {
	v.layout(width)
	rows := max(height-1, 0)
	if v.stick {
		v.offset = v.maxOffset(rows)
	}
	v.offset = min(max(v.offset, 0), v.maxOffset(rows))
	st := v.ctx.st
	title := " Event log · " + plural(len(v.events), "event")
	if d := v.dropped(); d > 0 {
		title += " (" + strconv.FormatUint(d, 10) + " older dropped)"
	}
	out := make([]string, 0, height)
	out = append(out, st.colHeader.Render(fit(title, width)))
	if len(v.events) == 0 && rows > 0 {
		out = append(out, fit(st.muted.Render("  Nothing has happened yet: connections, agents, TLS failures, refusals and warnings show up here."), width))
	}
	for i := v.offset; i < len(v.lines) && len(out) < height; i++ {
		out = append(out, v.lines[i])
	}
	for len(out) < height {
		out = append(out, strings.Repeat(" ", width))
	}
	return strings.Join(out, "\n")
}

// position is "lines 3–20 of 40" for the status line, "following" added
// while the newest event stays in view.
func (v *eventsView) position(rows int) string {
	n := len(v.lines)
	if n == 0 {
		return ""
	}
	s := "lines " + strconv.Itoa(v.offset+1) + "–" + strconv.Itoa(min(n, v.offset+rows)) + " of " + strconv.Itoa(n)
	if v.stick {
		s += " · following"
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// openEvents shows the event log, following the newest event.
func (m *Model) openEvents() {
	if m.mode == modeEvents {
		return
	}
	m.eventsBack = m.mode
	m.mode = modeEvents
	m.events.bottom()
}

// closeEvents goes back to where E was pressed.
func (m *Model) closeEvents() {
	m.mode = m.eventsBack
}

// eventsKey handles a key in the event log pane.
func (m *Model) eventsKey(msg tea.KeyPressMsg) tea.Cmd {
	nav, v := &m.keys.Nav, &m.events
	rows := m.listRows()
	switch {
	case matches(msg, m.keys.Detail.Back), matches(msg, m.keys.Events):
		m.closeEvents()
	case matches(msg, nav.Up):
		v.scroll(-1, m.width, rows)
	case matches(msg, nav.Down):
		v.scroll(1, m.width, rows)
	case matches(msg, nav.PageUp):
		v.scroll(-max(rows-1, 1), m.width, rows)
	case matches(msg, nav.PageDown):
		v.scroll(max(rows-1, 1), m.width, rows)
	case matches(msg, nav.Top):
		v.top()
	case matches(msg, nav.Bottom):
		v.bottom()
	case matches(msg, m.keys.Help):
		m.openHelp()
	}
	return nil
}

// eventsHelp is the footer help of the event log pane.
func (k KeyMap) eventsHelp() []key.Binding {
	return []key.Binding{k.Detail.Back, k.Nav.Up, k.Nav.Down, k.Nav.PageUp, k.Nav.PageDown, k.Nav.Top, k.Nav.Bottom}
}

// logEvent adds what the UI itself has to say to the event log, if there
// is one; the next tick brings it into the pane.
func (m *Model) logEvent(level slog.Level, msg string) {
	if m.cfg.Events != nil {
		m.cfg.Events.Add(eventlog.Event{Time: m.ctx.now, Level: level, Source: "ui", Message: msg})
	}
}

// logLag notes that the UI fell behind and resynced from a snapshot of n
// exchanges.
func (m *Model) logLag(n int) {
	m.logEvent(slog.LevelWarn, "the UI fell behind the traffic and resynced from a snapshot of "+plural(n, "exchange")+" (lag #"+strconv.FormatUint(m.lags, 10)+")")
}

// pollEvents reads the events added after seq; it runs off the event loop.
func pollEvents(l *eventlog.Log, seq uint64) eventsMsg {
	if l == nil {
		return nil
	}
	return l.Since(seq)
}
