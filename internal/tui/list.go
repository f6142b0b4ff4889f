package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// entry is the UI's copy of one exchange and the memo of its list row.
// x is replaced, never modified, when the exchange changes, so background
// work may read an *record.Exchange it was handed without locks.
type entry struct {
	x    *record.Exchange
	hp   string // host+path, sanitized
	gone bool   // removed from the model

	row    string
	rowKey rowKey
}

// rowKey is everything a rendered row depends on.
type rowKey struct {
	version uint64
	cols    columns
	gen     int
	frame   int // spinner frame and clock, for rows in flight
}

func newEntry(x *record.Exchange) *entry {
	return &entry{x: x, hp: hostPath(x)}
}

// columns is the list's column layout for one width; a zero width hides a
// column.
type columns struct {
	width                                           int
	id, time, method, status, url, dur, size, ctype int
}

const (
	colTime   = 8
	colMethod = 7
	colStatus = 12
	colDur    = 6
	colSize   = 5
	colType   = 12
)

// layoutColumns fits the columns into width: the URL takes what is left,
// and the content type, then the size, then the time are dropped rather
// than squeezing the URL below a readable width.
func layoutColumns(width int, maxID uint64) columns {
	c := columns{width: width}
	c.id = len(strconv.FormatUint(maxID, 10)) + 1
	if c.id < 3 {
		c.id = 3
	}
	c.time, c.method, c.status, c.dur, c.size, c.ctype = colTime, colMethod, colStatus, colDur, colSize, colType
	for {
		c.url = width - c.fixed()
		switch {
		case c.url >= 44 || (c.ctype == 0 && c.size == 0 && c.time == 0):
		case c.ctype > 0:
			c.ctype = 0
			continue
		case c.url < 32 && c.size > 0:
			c.size = 0
			continue
		case c.url < 24 && c.time > 0:
			c.time = 0
			continue
		}
		break
	}
	if c.url < 1 {
		c.url = 1
	}
	return c
}

// fixed is the width of everything but the URL: a one-cell gutter and a
// space after each shown column (the URL's included).
func (c columns) fixed() int {
	n := 2
	for _, w := range []int{c.id, c.time, c.method, c.status, c.dur, c.size, c.ctype} {
		if w > 0 {
			n += w + 1
		}
	}
	return n
}

// listView is the exchange list: which rows are shown, the cursor, the
// scroll offset and follow mode. The model owns the rows; the list only
// draws them.
type listView struct {
	ctx    *uiContext
	rows   []*entry
	cursor int
	offset int
	follow bool
	// dim draws the selection without focus (the detail pane has it).
	dim bool
	// filtered and empty say which message an empty list shows.
	filtered bool
	empty    string
	hints    []string
}

// selected returns the entry under the cursor, or nil.
func (l *listView) selected() *entry {
	if l.cursor >= 0 && l.cursor < len(l.rows) {
		return l.rows[l.cursor]
	}
	return nil
}

// move moves the cursor by delta rows; moving up turns follow off.
func (l *listView) move(delta int) {
	if len(l.rows) == 0 {
		return
	}
	l.cursor += delta
	if delta < 0 {
		l.follow = false
	}
	l.clampCursor()
}

func (l *listView) clampCursor() {
	if l.cursor >= len(l.rows) {
		l.cursor = len(l.rows) - 1
	}
	if l.cursor < 0 {
		l.cursor = 0
	}
}

// scrollInto adjusts the offset so the cursor is within height rows.
func (l *listView) scrollInto(height int) {
	if height < 1 {
		height = 1
	}
	if l.follow && len(l.rows) > 0 {
		l.offset = max(0, len(l.rows)-height)
		if l.cursor < l.offset {
			l.offset = l.cursor
		}
	}
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+height {
		l.offset = l.cursor - height + 1
	}
	if maxOff := max(0, len(l.rows)-height); l.offset > maxOff {
		l.offset = maxOff
	}
	if l.offset < 0 {
		l.offset = 0
	}
}

// indexOf returns the row index of exchange id, or where it would be.
func (l *listView) indexOf(id uint64) (int, bool) {
	return searchEntries(l.rows, id)
}

// searchEntries binary-searches rows (ordered by ID) for id.
func searchEntries(rows []*entry, id uint64) (int, bool) {
	lo, hi := 0, len(rows)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if rows[mid].x.ID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(rows) && rows[lo].x.ID == id
}

// Render draws the column header and the visible rows, exactly height lines
// of exactly width cells.
func (l *listView) Render(width, height int) string {
	st := l.ctx.st
	var maxID uint64
	if n := len(l.rows); n > 0 {
		maxID = l.rows[n-1].x.ID
	}
	cols := layoutColumns(width, maxID)
	var b strings.Builder
	b.Grow((width + 16) * height)
	b.WriteString(st.colHeader.Render(fit(cols.header(), width)))
	lines := 1
	if len(l.rows) == 0 {
		msg := "  " + l.empty
		if l.filtered {
			msg = "  No exchange matches the filter."
		}
		b.WriteByte('\n')
		b.WriteString(st.muted.Render(fit(msg, width)))
		lines++
		if !l.filtered && len(l.hints) > 0 && lines+1 < height {
			b.WriteByte('\n')
			lines++
			for _, h := range l.hints {
				if lines >= height {
					break
				}
				b.WriteByte('\n')
				b.WriteString(st.muted.Render(fit("  "+h, width)))
				lines++
			}
		}
	}
	for i := l.offset; i < len(l.rows) && lines < height; i++ {
		b.WriteByte('\n')
		e := l.rows[i]
		switch {
		case i == l.cursor && l.dim:
			b.WriteString(st.selDim.Render(fit(rowText(e, cols, l.ctx), width)))
		case i == l.cursor:
			b.WriteString(st.sel.Render(fit(rowText(e, cols, l.ctx), width)))
		default:
			b.WriteString(l.row(e, cols))
		}
		lines++
	}
	for ; lines < height; lines++ {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", width))
	}
	return b.String()
}

// row returns e's styled row, from the memo when nothing it shows changed.
func (l *listView) row(e *entry, cols columns) string {
	k := rowKey{version: e.x.Version, cols: cols, gen: l.ctx.st.gen}
	if e.x.State == record.InFlight {
		k.frame = l.ctx.frame
	}
	if e.rowKey == k && e.row != "" {
		return e.row
	}
	e.row = styledRow(e, cols, l.ctx)
	e.rowKey = k
	return e.row
}

func (c columns) header() string {
	var b strings.Builder
	b.WriteByte(' ')
	cell := func(s string, w int, right bool) { writeCell(&b, s, w, right) }
	cell("#", c.id, false)
	cell("TIME", c.time, false)
	cell("METHOD", c.method, false)
	cell("STATUS", c.status, false)
	cell("HOST/PATH", c.url, false)
	cell("DUR", c.dur, true)
	cell("SIZE", c.size, true)
	cell("TYPE", c.ctype, false)
	return b.String()
}

// cells are a row's column texts before styling.
type cells struct {
	id, time, method, status, replay, url, dur, size, ctype string
	code                                                    int
	failed, inflight, slow                                  bool
}

func rowCells(e *entry, ctx *uiContext) cells {
	x := e.x
	c := cells{id: x.Label(), method: x.Request.Method, url: e.hp}
	if !x.Start.IsZero() {
		c.time = x.Start.Format("15:04:05")
	}
	if x.ReplayOf != 0 {
		c.replay = "↻#" + strconv.FormatUint(x.ReplayOf, 10) + " "
	}
	c.code = x.Status()
	spin := spinner[ctx.frame%len(spinner)]
	switch {
	case x.Err != nil && x.Err.Kind == record.ErrCanceled:
		c.status, c.failed = strconv.Itoa(c.code), true
		if c.code == 0 {
			c.status = "cancel"
		}
	case x.Err != nil:
		c.status, c.failed = "ERR "+shortCause(x.Err), true
	case x.State == record.InFlight && x.Response != nil:
		c.status, c.inflight = strconv.Itoa(x.Response.Status)+" "+spin, true
	case x.State == record.InFlight:
		c.status, c.inflight = spin, true
	default:
		c.status = strconv.Itoa(c.code)
	}
	d := x.Duration(ctx.now)
	if x.End.IsZero() && ctx.now.IsZero() {
		d = -1
	}
	c.dur = compactDur(d)
	c.slow = d >= time.Second
	if x.Response != nil {
		n := x.Response.Body.Size
		if x.Upgraded {
			n = x.UpgradeUp + x.UpgradeDn
		}
		c.size = compactSize(n)
		c.ctype = shortType(x.ContentType())
		if x.Upgraded {
			c.ctype = "websocket"
			if up := x.Response.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
				c.ctype = strings.ToLower(up)
			}
		}
	}
	return c
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// rowText is a row without colours, for the selected row (which is drawn
// in the selection style as a whole).
func rowText(e *entry, cols columns, ctx *uiContext) string {
	c := rowCells(e, ctx)
	var b strings.Builder
	b.WriteByte(' ')
	cell := func(s string, w int, right bool) { writeCell(&b, s, w, right) }
	cell(c.id, cols.id, false)
	cell(c.time, cols.time, false)
	cell(c.method, cols.method, false)
	cell(c.status, cols.status, false)
	cell(c.replay+c.url, cols.url, false)
	cell(c.dur, cols.dur, true)
	cell(c.size, cols.size, true)
	cell(c.ctype, cols.ctype, false)
	return b.String()
}

// styledRow is a row with each column coloured.
func styledRow(e *entry, cols columns, ctx *uiContext) string {
	st := ctx.st
	c := rowCells(e, ctx)
	var b strings.Builder
	b.WriteByte(' ')
	sep := func() { b.WriteByte(' ') }
	b.WriteString(st.muted.Render(fit(c.id, cols.id)))
	sep()
	if cols.time > 0 {
		b.WriteString(st.muted.Render(fit(c.time, cols.time)))
		sep()
	}
	b.WriteString(st.methodStyle(c.method).Render(fit(c.method, cols.method)))
	sep()
	statusStyle := st.statusStyle(c.code)
	switch {
	case c.failed && c.code == 499:
		statusStyle = st.clientErr
	case c.failed:
		statusStyle = st.err
	case c.inflight:
		statusStyle = st.inflight
	}
	b.WriteString(statusStyle.Render(fit(c.status, cols.status)))
	sep()
	url := c.url
	if c.replay != "" {
		rw := len([]rune(c.replay))
		if rw >= cols.url {
			b.WriteString(st.replay.Render(fit(c.replay, cols.url)))
		} else {
			b.WriteString(st.replay.Render(c.replay))
			b.WriteString(st.text.Render(fit(url, cols.url-rw)))
		}
	} else {
		b.WriteString(st.text.Render(fit(url, cols.url)))
	}
	sep()
	durStyle := st.muted
	if c.slow {
		durStyle = st.slow
	}
	b.WriteString(durStyle.Render(fitRight(c.dur, cols.dur)))
	sep()
	if cols.size > 0 {
		b.WriteString(st.muted.Render(fitRight(c.size, cols.size)))
		sep()
	}
	if cols.ctype > 0 {
		b.WriteString(st.muted.Render(fit(c.ctype, cols.ctype)))
		sep()
	}
	return b.String()
}

// writeCell writes s fitted to w cells (right-aligned if asked) and a
// separating space; a zero width drops the column.
func writeCell(b *strings.Builder, s string, w int, right bool) {
	if w == 0 {
		return
	}
	if right {
		b.WriteString(fitRight(s, w))
	} else {
		b.WriteString(fit(s, w))
	}
	b.WriteByte(' ')
}
