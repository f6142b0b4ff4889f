package tui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/record"
)

// detailView shows one exchange in tabs: what it shows, where it is
// scrolled, and the body search. The content itself is rendered off the
// event loop and handed in.
type detailView struct {
	ctx *uiContext
	// x is the exchange shown. It stays after the exchange is evicted from
	// the recorder, so the view does not vanish under the reader.
	x       *record.Exchange
	evicted bool
	tab     tab
	offset  int
	// stick keeps the view at the bottom while the content grows (a
	// streaming body), like tail -f; it is set by going to the bottom.
	stick   bool
	content *content
	key     contentKey // what content was rendered for

	query   string
	matches []hit
	cur     int      // index of the current match
	matched *content // content the matches were found in
	fresh   bool     // the next matches are for a new query: jump to one
}

// hit is a search hit: a line and a cell range in it.
type hit struct{ line, start, end int }

// tabBarSpans returns each tab label's cell range on the tab bar, relative
// to the pane's left edge.
func tabBarSpans() [numTabs][2]int {
	var out [numTabs][2]int
	x := 1
	for i, name := range tabNames {
		w := len(name) + 2
		out[i] = [2]int{x, x + w}
		x += w + 1
	}
	return out
}

// reset starts the view over for other content (another exchange or
// tab): back at the top, nothing rendered yet, the query kept but its
// matches to be found again.
func (d *detailView) reset() {
	d.offset, d.stick = 0, false
	d.content = nil
	d.resetMatches()
}

// resetMatches drops the matches; a query still set is searched again and
// jumps to its first match in view.
func (d *detailView) resetMatches() {
	d.matches, d.matched, d.cur, d.fresh = nil, nil, 0, d.query != ""
}

// scrollBy moves the view by delta lines within height.
func (d *detailView) scrollBy(delta, height int) {
	d.offset += delta
	d.clamp(height)
	d.stick = d.atBottom(height)
	if delta < 0 {
		d.stick = false
	}
}

func (d *detailView) lineCount() int {
	if d.content == nil {
		return 0
	}
	return len(d.content.lines)
}

func (d *detailView) maxOffset(height int) int { return max(0, d.lineCount()-height) }

func (d *detailView) atBottom(height int) bool { return d.offset >= d.maxOffset(height) }

func (d *detailView) clamp(height int) {
	if d.stick {
		d.offset = d.maxOffset(height)
	}
	d.offset = min(d.offset, d.maxOffset(height))
	d.offset = max(d.offset, 0)
}

// showMatch scrolls so the current match is in view, a few lines from the
// top when the view has to move.
func (d *detailView) showMatch(height int) {
	if d.cur < 0 || d.cur >= len(d.matches) {
		return
	}
	line := d.matches[d.cur].line
	if line < d.offset || line >= d.offset+height {
		d.offset = line - min(3, height/4)
		d.stick = false
		d.clamp(height)
	}
}

// Render draws the tab bar and the visible content: exactly height lines
// of exactly width cells.
func (d *detailView) Render(width, height int) string {
	st := d.ctx.st
	var b strings.Builder
	b.WriteString(d.tabBar(width))
	body := height - 1
	if d.content == nil {
		b.WriteByte('\n')
		b.WriteString(st.muted.Render(fit("  Rendering…", width)))
		body--
	} else {
		lines := d.content.lines
		for i := d.offset; i < len(lines) && body > 0; i++ {
			b.WriteByte('\n')
			b.WriteByte(' ')
			b.WriteString(fit(d.highlight(i, lines[i]), width-1))
			body--
		}
	}
	for ; body > 0; body-- {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", width))
	}
	return b.String()
}

// highlight marks the search matches on line i.
func (d *detailView) highlight(i int, line string) string {
	if len(d.matches) == 0 || d.matched != d.content {
		return line
	}
	// Matches are ordered by line: find this line's first with a binary
	// search.
	lo, hi := 0, len(d.matches)
	for lo < hi {
		mid := (lo + hi) / 2
		if d.matches[mid].line < i {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	var ranges []lipgloss.Range
	for j := lo; j < len(d.matches) && d.matches[j].line == i; j++ {
		st := d.ctx.st.match
		if j == d.cur {
			st = d.ctx.st.curMatch
		}
		ranges = append(ranges, lipgloss.NewRange(d.matches[j].start, d.matches[j].end, st))
	}
	if len(ranges) == 0 {
		return line
	}
	return lipgloss.StyleRanges(line, ranges...)
}

func (d *detailView) tabBar(width int) string {
	st := d.ctx.st
	var b strings.Builder
	b.WriteByte(' ')
	for i, name := range tabNames {
		label := " " + name + " "
		if tab(i) == d.tab {
			b.WriteString(st.tabActive.Render(label))
		} else {
			b.WriteString(st.tab.Render(label))
		}
		b.WriteByte(' ')
	}
	used := ansi.StringWidth(b.String())
	if d.x != nil && width-used > 4 {
		b.WriteString(" ")
		b.WriteString(d.title(width - used - 1))
	}
	return fit(b.String(), width)
}

// title summarises the exchange on the tab bar.
func (d *detailView) title(w int) string {
	st := d.ctx.st
	x := d.x
	var parts []string
	parts = append(parts, st.muted.Render(x.Label()), st.methodStyle(x.Request.Method).Render(x.Request.Method))
	c := rowCells(&entry{x: x, hp: hostPath(x)}, d.ctx)
	status := st.statusStyle(c.code)
	if c.failed {
		status = st.err
	} else if c.inflight {
		status = st.inflight
	}
	tail := status.Render(c.status) + st.muted.Render(" · "+c.dur)
	if d.evicted {
		tail += st.warnNote.Render(" · evicted")
	}
	head := strings.Join(parts, " ") + " "
	room := w - ansi.StringWidth(head) - ansi.StringWidth(tail) - 1
	if room < 8 {
		return truncate(head+tail, w)
	}
	return head + st.text.Render(truncate(hostPath(x), room)) + " " + tail
}

// position describes the scroll position and search state for the footer.
func (d *detailView) position(height int) string {
	n := d.lineCount()
	var s string
	if n > 0 {
		last := min(n, d.offset+height)
		s = "lines " + strconv.Itoa(d.offset+1) + "–" + strconv.Itoa(last) + " of " + strconv.Itoa(n)
	}
	if d.query != "" {
		if len(d.matches) == 0 {
			s = "no match · " + s
		} else {
			s = "match " + strconv.Itoa(d.cur+1) + "/" + strconv.Itoa(len(d.matches)) + " · " + s
		}
	}
	return s
}

// findMatches finds query, case-insensitively, in each plain line. Ranges
// are in cells, as StyleRanges wants them.
func findMatches(lines []string, query string) []hit {
	q := strings.ToLower(query)
	if q == "" {
		return nil
	}
	var out []hit
	for i, line := range lines {
		if len(line) < len(q) {
			continue
		}
		low := strings.ToLower(line)
		if len(low) != len(line) { // lower-casing changed byte lengths: index the original
			low = line
		}
		from := 0
		for {
			j := strings.Index(low[from:], q)
			if j < 0 {
				break
			}
			j += from
			start := ansi.StringWidth(line[:j])
			end := start + ansi.StringWidth(line[j:j+len(q)])
			out = append(out, hit{line: i, start: start, end: end})
			from = j + len(q)
		}
	}
	return out
}
