package tui

import (
	"sort"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/bodyview"
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
	stick bool
	// pendingEnd is a jump to the end (G) waiting for the body's index.
	pendingEnd bool
	// mode is how the body is shown (m cycles); Auto for a new exchange.
	mode    bodyview.Mode
	content *content
	key     contentKey // what content was rendered for

	query       string
	matches     []hit
	moreMatches bool     // the search stopped at searchLimit
	cur         int      // index of the current match
	matched     *content // content the matches were found in
	fresh       bool     // the next matches are for a new query: jump to one

	// held is the hold of the exchange shown, if a breakpoint holds it:
	// lines about it go above the content. keys name the keys there.
	held *Held
	keys *KeyMap
}

// heldHeight is how many lines the hold takes at width (0 when the
// exchange is not held).
func (d *detailView) heldHeight(width int) int {
	if d.held == nil {
		return 0
	}
	return len(heldLines(d.held, d.ctx.now, d.keys, width-1))
}

// hit is a search hit on a row: in the head, a cell range of the line;
// in the body, the body bytes [src, srcEnd).
type hit struct {
	line, start, end int
	src, srcEnd      int // -1 for a hit in the head
}

// tabBarSpans returns each tab label's cell range on the tab bar, relative
// to the pane's left edge.
func tabBarSpans(n tab) [numTabs][2]int {
	var out [numTabs][2]int
	x := 1
	for i, name := range tabNames[:n] {
		w := len(name) + 2
		out[i] = [2]int{x, x + w}
		x += w + 1
	}
	return out
}

// tabs is how many tabs the exchange has: Messages only for one that
// switched protocols, carries messages or is a gRPC call.
func (d *detailView) tabs() tab {
	if d.x != nil && (d.x.Upgraded || len(d.x.Messages) > 0 || isGRPC(d.x)) {
		return numTabs
	}
	return tabMessages
}

// reset starts the view over for other content (another exchange or
// tab): back at the top, nothing rendered yet, the query kept but its
// matches to be found again.
func (d *detailView) reset() {
	d.offset, d.stick, d.pendingEnd = 0, false, false
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
	d.pendingEnd = false
	d.offset += delta
	d.clamp(height)
	d.stick = d.atBottom(height)
	if delta < 0 {
		d.stick = false
	}
}

// lineCount is the rows of the content known so far, and whether that is
// all of them (a big body's are counted by its index).
func (d *detailView) lineCount() (int, bool) {
	if d.content == nil {
		return 0, true
	}
	return d.content.rows()
}

// maxOffset is the farthest the view may scroll now: to the end when the
// rows are all known, else a screen past those known (the layout walks on
// as the view goes).
func (d *detailView) maxOffset(height int) int {
	n, exact := d.lineCount()
	if !exact {
		return n
	}
	return max(0, n-height)
}

func (d *detailView) atBottom(height int) bool {
	_, exact := d.lineCount()
	return exact && d.offset >= d.maxOffset(height)
}

func (d *detailView) clamp(height int) {
	// Sticking to the bottom waits for the rows to be counted: the end
	// of a body still being counted is not known yet.
	if _, exact := d.lineCount(); d.stick && exact {
		d.offset = d.maxOffset(height)
	}
	d.offset = min(d.offset, d.maxOffset(height))
	d.offset = max(d.offset, 0)
}

// toEnd goes to the bottom and stays there as the content grows; for a
// body whose rows are still being counted, once they are.
func (d *detailView) toEnd(height int) {
	if _, exact := d.lineCount(); !exact {
		d.pendingEnd = true
		return
	}
	d.pendingEnd = false
	d.offset, d.stick = d.maxOffset(height), true
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
	if d.held != nil {
		for i, l := range heldLines(d.held, d.ctx.now, d.keys, width-1) {
			if body <= 1 {
				break
			}
			style := st.muted
			if i == 0 {
				style = st.intercept
			}
			b.WriteByte('\n')
			b.WriteString(fit(" "+style.Render(l), width))
			body--
		}
	}
	if d.content == nil {
		b.WriteByte('\n')
		b.WriteString(st.muted.Render(fit("  Rendering…", width)))
		body--
	} else {
		c := d.content
		lines := c.lines
		i := d.offset
		for ; i < len(lines) && body > 0; i++ {
			b.WriteByte('\n')
			b.WriteByte(' ')
			b.WriteString(fit(d.highlight(i, lines[i]), width-1))
			body--
		}
		if c.body != nil && body > 0 {
			rows := c.body.layout.Rows(i-len(lines), body)
			spans := d.bodySpans(i, i+len(rows))
			pal := d.ctx.st.bodyPalette()
			pad := strings.Repeat(" ", 1+c.body.indent)
			for _, r := range rows {
				b.WriteByte('\n')
				b.WriteString(pad)
				b.WriteString(fit(bodyview.Render(r, pal, spans), width-len(pad)))
				body--
			}
		}
	}
	for ; body > 0; body-- {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", width))
	}
	return b.String()
}

// bodySpans are the body matches on rows [from, to), as body offsets.
func (d *detailView) bodySpans(from, to int) []bodyview.Span {
	if len(d.matches) == 0 || d.matched != d.content {
		return nil
	}
	j := sort.Search(len(d.matches), func(k int) bool { return d.matches[k].line >= from })
	var out []bodyview.Span
	for ; j < len(d.matches) && d.matches[j].line < to; j++ {
		if h := d.matches[j]; h.src >= 0 {
			out = append(out, bodyview.Span{From: h.src, To: h.srcEnd, Current: j == d.cur})
		}
	}
	// A match that runs onto the next rows starts on an earlier one.
	for k := j - 1; k >= 0 && k >= j-64 && len(out) == 0; k-- {
		if h := d.matches[k]; h.src >= 0 && h.line < from {
			out = append(out, bodyview.Span{From: h.src, To: h.srcEnd, Current: k == d.cur})
			break
		}
	}
	return out
}

// highlight marks the search matches on head line i.
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
	for j := lo; j < len(d.matches) && d.matches[j].line == i && d.matches[j].src < 0; j++ {
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
	for i, name := range tabNames[:d.tabs()] {
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
	if d.held != nil {
		c.status, status = heldCell(d.held), st.intercept
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
	return head + st.text.Render(truncate(c.url, room)) + " " + tail
}

// position describes the scroll position, the view mode and the search
// state for the footer.
func (d *detailView) position(height int) string {
	n, exact := d.lineCount()
	var s string
	if n > 0 {
		last := min(n, d.offset+height)
		total := strconv.Itoa(n)
		if !exact {
			total += "+ (counting…)"
		}
		s = "lines " + strconv.Itoa(d.offset+1) + "–" + strconv.Itoa(last) + " of " + total
	}
	if c := d.content; c != nil && c.body != nil && len(c.body.modes) > 1 {
		s = "m: " + c.body.view.Mode.String() + " · " + s
	}
	if d.pendingEnd {
		s = "going to the end… · " + s
	}
	if d.query != "" {
		switch {
		case len(d.matches) == 0 && d.matched == d.content:
			s = "no match · " + s
		case len(d.matches) == 0:
			s = "searching… · " + s
		default:
			more := ""
			if d.moreMatches {
				more = "+"
			}
			s = "match " + strconv.Itoa(d.cur+1) + "/" + strconv.Itoa(len(d.matches)) + more + " · " + s
		}
	}
	return s
}
