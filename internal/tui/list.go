package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/record"
)

// entry is the UI's copy of one exchange. x is replaced, never modified,
// when the exchange changes, so background work may read an
// *record.Exchange it was handed without locks.
//
// x is nil while the exchange is not read: a Lister source (a session on
// disk) may hold more exchanges than memory should, so the model keeps a
// summary of each (enough to place and sort it) and reads the exchanges
// near the screen, dropping them again when they scroll far away.
type entry struct {
	id  uint64
	x   *record.Exchange // nil while not read
	sum summary          // what is known of it while x is nil
	hp  string           // host+path, sanitized; the host alone while x is nil
	up  string           // the upstream that answered (its mark), kept while x is nil
	// outcome is how the exchange ended as the model's tally counts it.
	outcome outcome

	gone     bool  // removed from the model
	fetching bool  // a read of x is under way
	misses   uint8 // reads that found nothing (written to disk yet?)
}

// summary is what the list keeps of an exchange it has not read.
type summary struct {
	version uint64
	status  int32
	dur     int64 // ns; -1 unknown
	size    int64 // -1 without a response
}

// rowKey is everything a rendered row depends on.
type rowKey struct {
	version uint64
	cols    columns
	gen     int
	frame   int    // spinner frame and clock, for rows in flight
	host    string // the host left out of the URL column
	ups     upstreamLayout
	marked  bool
	read    bool   // x was there
	held    string // the held cell, "" when not held
}

// memoRow is a rendered row and what it was rendered from.
type memoRow struct {
	key rowKey
	s   string
}

func newEntry(x *record.Exchange) *entry {
	return &entry{id: x.ID, x: x, hp: hostPath(x), up: upstreamMark(x)}
}

// newUnreadEntry is the entry of an exchange known by its summary only.
func newUnreadEntry(s Summary) *entry {
	return &entry{id: s.ID, hp: sanitizeLine(s.Host), sum: summary{
		version: s.Version, status: int32(s.Status), dur: int64(s.Dur), size: s.Size,
	}}
}

// version is the version of the exchange the entry holds or summarizes.
func (e *entry) version() uint64 {
	if e.x != nil {
		return e.x.Version
	}
	return e.sum.version
}

// unload drops x, keeping its summary: the exchange can be read again
// from the source.
func (e *entry) unload(now time.Time) {
	x := e.x
	if x == nil {
		return
	}
	d := int64(-1)
	if !x.End.IsZero() {
		d = int64(x.Duration(now))
	}
	e.sum = summary{version: x.Version, status: int32(x.Status()), dur: d, size: x.ResponseSize()}
	e.x = nil
}

// columns is the list's column layout for one width; a zero width hides a
// column.
type columns struct {
	width                                               int
	id, time, method, status, url, up, dur, size, ctype int
}

const (
	colTime   = 8
	colMethod = 7
	colDur    = 6
	colSize   = 5
	// colStatus and colType are the widest the status and type columns
	// get (a gRPC status widens the status further, widenStatus); each is
	// as wide as its widest cell on screen, and at least its header.
	colStatus = 12
	colType   = 12
)

// The URL widths below which layoutColumns drops a column: the upstream
// shows only beside a URL of readableURL cells, the time, the type and
// the size go one after another as the URL gets narrower than each of
// these.
const (
	readableURL   = 26
	dropTimeURL   = 20
	dropTypeURL   = 16
	dropSizeURL   = 12
	minStatusCell = len("STATUS")
	minTypeCell   = len("TYPE")
)

// layoutColumns fits the columns into width. status and ctype are the
// widths of the widest status and type cells on screen (at least their
// headers, at most colStatus and colType); up is the upstream column's
// (0 when it is not shown). The URL takes what is left: rather than
// squeezing it, the upstream goes first (it shows only where the URL
// keeps readableURL cells beside every other column), then the time, the
// type and the size, each below a narrower URL. 80 columns keep the type
// and the size.
func layoutColumns(width int, maxID uint64, up, status, ctype int) columns {
	c := columns{width: width}
	c.id = max(len(strconv.FormatUint(maxID, 10))+1, 3)
	c.time, c.method, c.dur, c.size = colTime, colMethod, colDur, colSize
	c.status = min(max(status, minStatusCell), colStatus)
	c.ctype = min(max(ctype, minTypeCell), colType)
	if up > 0 {
		u := c
		u.up = up
		if u.url = width - u.fixed(); u.url >= readableURL {
			return u
		}
	}
	for {
		c.url = width - c.fixed()
		switch {
		case c.time > 0 && c.url < dropTimeURL:
			c.time = 0
		case c.ctype > 0 && c.url < dropTypeURL:
			c.ctype = 0
		case c.size > 0 && c.url < dropSizeURL:
			c.size = 0
		default:
			c.url = max(c.url, 1)
			return c
		}
	}
}

// minURLWidened is the narrowest the URL column gets to make room for a
// gRPC status.
const minURLWidened = 20

// widenStatus makes the status column w cells wide, when it is narrower,
// taking the cells from the URL column down to minURLWidened.
func (c *columns) widenStatus(w int) {
	extra := min(w-c.status, c.url-minURLWidened)
	if extra > 0 {
		c.status += extra
		c.url -= extra
	}
}

// cellWidths are the widths of the widest status and type cells among the
// rows in view (height lines with the header).
func (l *listView) cellWidths(height int) (status, ctype int) {
	for i := l.offset; i < len(l.rows) && i < l.offset+height-1; i++ {
		e := l.rows[i]
		var st, ty string
		switch {
		case l.held[e.id] != nil:
			st = heldCell(l.held[e.id])
		case e.x == nil:
			st = unreadStatus(e)
		default:
			st, _, _ = statusCell(e.x, spinner[0])
			ty = typeCell(e.x)
		}
		status, ctype = max(status, cellWidth(st)), max(ctype, cellWidth(ty))
	}
	return status, ctype
}

// fixed is the width of everything but the URL: a one-cell gutter (where
// a mark shows) and a space after each shown column (the URL's included).
func (c columns) fixed() int {
	n := 2
	for _, w := range []int{c.id, c.time, c.method, c.status, c.up, c.dur, c.size, c.ctype} {
		if w > 0 {
			n += w + 1
		}
	}
	return n
}

// hostCounts counts exchanges by host, so that the list knows at once
// whether every exchange has the same one.
type hostCounts map[string]int

// add counts n more (or, negative, fewer) exchanges at hp's host.
func (h hostCounts) add(hp string, n int) {
	host := hostOf(hp)
	if h[host] += n; h[host] <= 0 {
		delete(h, host)
	}
}

// only is the host of every exchange counted, or "" when they differ.
func (h hostCounts) only() string {
	if len(h) != 1 {
		return ""
	}
	for host := range h {
		return host
	}
	return ""
}

// hostOf is the host part of a URL column text (host and path).
func hostOf(hp string) string {
	if i := strings.IndexAny(hp, "/?#"); i >= 0 {
		return hp[:i]
	}
	return hp
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
	// host, when every exchange has the same one, is left out of the URL
	// column and named in its header instead.
	host string
	// ups is how the upstream column shows, when it does.
	ups upstreamLayout
	// order is the sort order; sorted keeps the rows in it.
	order  order
	sorted sortedRows
	// marked are the exchanges marked with the mark key, by ID. Marks on
	// exchanges that are gone are dropped by the model (pruneMarks).
	marked map[uint64]struct{}
	// memo holds the rendered rows near the screen, by exchange ID.
	memo map[uint64]memoRow
	// held are the exchanges breakpoints hold (the model's map), shown
	// with a badge in the status column.
	held map[uint64]*Held
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

// indexOf returns the row index of exchange id, or where it would be: in
// time order its place by ID, in another order the cursor's row.
func (l *listView) indexOf(id uint64) (int, bool) {
	if l.order == byTime {
		return searchEntries(l.rows, id)
	}
	for i, e := range l.rows {
		if e.id == id {
			return i, true
		}
	}
	return l.cursor, false
}

// has reports whether rows, a run of the list's rows, hold exchange id.
func (l *listView) has(rows []*entry, id uint64) bool {
	if l.order == byTime {
		_, ok := searchEntries(rows, id)
		return ok
	}
	for _, e := range rows {
		if e.id == id {
			return true
		}
	}
	return false
}

// isMarked reports whether exchange id is marked.
func (l *listView) isMarked(id uint64) bool {
	_, ok := l.marked[id]
	return ok
}

// toggleMark marks the selected exchange, or unmarks it.
func (l *listView) toggleMark() {
	e := l.selected()
	if e == nil {
		return
	}
	if l.isMarked(e.id) {
		delete(l.marked, e.id)
		return
	}
	if l.marked == nil {
		l.marked = map[uint64]struct{}{}
	}
	l.marked[e.id] = struct{}{}
}

// searchEntries binary-searches rows (ordered by ID) for id.
func searchEntries(rows []*entry, id uint64) (int, bool) {
	lo, hi := 0, len(rows)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if rows[mid].id < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(rows) && rows[lo].id == id
}

// Render draws the column header and the visible rows, exactly height lines
// of exactly width cells.
func (l *listView) Render(width, height int) string {
	st := l.ctx.st
	var maxID uint64
	if n := len(l.rows); n > 0 {
		maxID = l.rows[n-1].id
	}
	status, ctype := l.cellWidths(height)
	if l.order == byStatus {
		status = max(status, cellWidth(statusHeader)+1) // and the arrow
	}
	cols := layoutColumns(width, maxID, l.ups.width, status, ctype)
	cols.widenStatus(status)
	var b strings.Builder
	b.Grow((width + 16) * height)
	b.WriteString(st.colHeader.Render(fit(cols.header(l.order, l.host), width)))
	lines := 1
	if len(l.rows) == 0 {
		for _, s := range l.emptyLines(width) {
			if lines >= height {
				break
			}
			b.WriteByte('\n')
			b.WriteString(st.muted.Render(fit(s, width)))
			lines++
		}
	}
	for i := l.offset; i < len(l.rows) && lines < height; i++ {
		b.WriteByte('\n')
		e := l.rows[i]
		switch {
		case i == l.cursor && l.dim:
			b.WriteString(st.selDim.Render(fit(l.rowText(e, cols), width)))
		case i == l.cursor:
			b.WriteString(st.sel.Render(fit(l.rowText(e, cols), width)))
		default:
			b.WriteString(l.row(e, cols))
		}
		lines++
	}
	for ; lines < height; lines++ {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", width))
	}
	l.pruneMemo(height)
	return b.String()
}

// pruneMemo forgets the rendered rows far from the screen once there are
// many, so that the memo holds about a screenful.
func (l *listView) pruneMemo(height int) {
	if len(l.memo) <= 4*height+64 {
		return
	}
	lo, hi := max(0, l.offset-height), min(len(l.rows), l.offset+2*height)
	keep := make(map[uint64]memoRow, hi-lo)
	for _, e := range l.rows[lo:hi] {
		if r, ok := l.memo[e.id]; ok {
			keep[e.id] = r
		}
	}
	l.memo = keep
}

// emptyLines are what an empty list says: that it waits for traffic (or
// that nothing matches the filter), then the hints, wrapped rather than cut
// so that a command or a fingerprint can be copied whole.
func (l *listView) emptyLines(width int) []string {
	if l.filtered {
		return []string{"  No exchange matches the filter."}
	}
	out := wrapWords("  "+l.empty, width, 4)
	if len(l.hints) > 0 {
		out = append(out, "")
	}
	for _, h := range l.hints {
		// A hint indented as a command keeps its continuation lines
		// indented under it.
		indent := 4 + len(h) - len(strings.TrimLeft(h, " "))
		out = append(out, wrapWords("  "+sanitizeLine(h), width, indent)...)
	}
	return out
}

// wrapWords wraps s at spaces only, so that a token or a URL stays whole
// when it fits on a line (ansi.Wrap also breaks at hyphens); a word longer
// than a line is broken. Lines after the first are indented.
func wrapWords(s string, width, indent int) []string {
	if ansi.StringWidth(s) <= width {
		return []string{s}
	}
	if indent >= width/2 {
		indent = 0
	}
	pad := strings.Repeat(" ", indent)
	var out []string
	line := strings.Repeat(" ", len(s)-len(strings.TrimLeft(s, " ")))
	empty := true // no word on the line yet
	for _, w := range strings.Fields(s) {
		if !empty && ansi.StringWidth(line)+1+ansi.StringWidth(w) > width {
			out = append(out, line)
			line, empty = pad, true
		}
		if !empty {
			line += " "
		}
		for ansi.StringWidth(line)+ansi.StringWidth(w) > width {
			head := ansi.Truncate(w, width-ansi.StringWidth(line), "")
			if head == "" {
				break // no room for even one rune: let fit cut it
			}
			out = append(out, line+head)
			w = w[len(head):]
			line = pad
		}
		line += w
		empty = false
	}
	return append(out, line)
}

// row returns e's styled row, from the memo when nothing it shows changed.
func (l *listView) row(e *entry, cols columns) string {
	k := rowKey{version: e.version(), cols: cols, gen: l.ctx.st.gen, host: l.host, ups: l.ups, marked: l.isMarked(e.id), read: e.x != nil}
	if h := l.held[e.id]; h != nil {
		k.held = heldCell(h)
	}
	if e.x != nil && e.x.State == record.InFlight {
		k.frame = l.ctx.frame
	}
	if r, ok := l.memo[e.id]; ok && r.key == k {
		return r.s
	}
	s := styledRow(l.rowCells(e), cols, l.ctx.st)
	if l.memo == nil {
		l.memo = map[uint64]memoRow{}
	}
	l.memo[e.id] = memoRow{key: k, s: s}
	return s
}

// statusHeader is the status column's header.
const statusHeader = "STATUS"

// header is the column header line. The sorted column carries an arrow
// (largest first); with host set the URL column says it is left out.
func (c columns) header(by order, host string) string {
	var b strings.Builder
	b.WriteByte(' ')
	cell := func(s string, w int, right bool) { writeCell(&b, s, w, right) }
	sorted := func(s string, o order) string {
		if by == o {
			return s + "▼"
		}
		return s
	}
	url := "HOST/PATH"
	if host != "" {
		url = "PATH on " + host
	}
	cell("#", c.id, false)
	cell("TIME", c.time, false)
	cell("METHOD", c.method, false)
	cell(sorted(statusHeader, byStatus), c.status, false)
	cell(url, c.url, false)
	cell("UPSTREAM", c.up, false)
	cell(sorted("DUR", byDuration), c.dur, true)
	cell(sorted("SIZE", bySize), c.size, true)
	cell("TYPE", c.ctype, false)
	return b.String()
}

// cells are a row's column texts before styling.
type cells struct {
	mark, id, time, method, status, replay, url, up, dur, size, ctype string
	code                                                              int
	failed, inflight, slow                                            bool
	// held says a breakpoint holds the exchange: the status column says
	// so, in the intercept colour.
	held bool
	// health says the exchange is a route's health check (serve
	// --show-health), tagged before its URL.
	health bool
}

// healthTag is the tag before the URL of a health check.
const healthTag = "health "

// markGlyph is drawn in the gutter of a marked row.
const markGlyph = "●"

// rowCells are e's column texts as this list shows them: marked or not,
// and without the host when every row has the same one.
func (l *listView) rowCells(e *entry) cells {
	c := rowCells(e, l.ctx)
	if l.isMarked(e.id) {
		c.mark = markGlyph
	}
	if l.host != "" {
		if c.url = strings.TrimPrefix(c.url, l.host); c.url == "" {
			c.url = "/"
		}
	}
	if l.ups.width > 0 && e.up != "" {
		c.up = l.ups.label(e.up)
	}
	if h := l.held[e.id]; h != nil {
		c.status, c.held, c.inflight = heldCell(h), true, false
	}
	return c
}

func rowCells(e *entry, ctx *uiContext) cells {
	x := e.x
	if x == nil {
		return unreadCells(e)
	}
	c := cells{id: x.Label(), method: x.Request.Method, url: e.hp}
	if !x.Start.IsZero() {
		c.time = x.Start.Format("15:04:05")
	}
	if x.ReplayOf != 0 {
		c.replay = "↻#" + strconv.FormatUint(x.ReplayOf, 10) + " "
	}
	c.health = isHealthCheck(x)
	c.code = x.Status()
	c.status, c.failed, c.inflight = statusCell(x, spinner[ctx.frame%len(spinner)])
	if isGRPC(x) {
		if rpc := grpcMethod(x); rpc != "" {
			c.url = rpc
		}
	}
	d := x.Duration(ctx.now)
	if x.End.IsZero() && ctx.now.IsZero() {
		d = -1
	}
	c.dur = compactDur(d)
	c.slow = d >= time.Second
	if x.Response != nil {
		c.size = compactSize(x.ResponseSize())
		c.ctype = typeCell(x)
	}
	return c
}

// statusCell is the status column of x: its code, ERR and the cause of a
// failure, spin while in flight, a gRPC call's status after the code.
func statusCell(x *record.Exchange, spin string) (s string, failed, inflight bool) {
	code := x.Status()
	switch {
	case x.Err != nil && x.Err.Kind == record.ErrCanceled:
		s, failed = strconv.Itoa(code), true
		if code == 0 {
			s = "cancel"
		}
	case x.Err != nil:
		s, failed = "ERR "+shortCause(x.Err), true
	case x.State == record.InFlight && x.Response != nil:
		s, inflight = strconv.Itoa(x.Response.Status)+" "+spin, true
	case x.State == record.InFlight:
		s, inflight = spin, true
	default:
		s = strconv.Itoa(code)
	}
	if isGRPC(x) {
		if gs := grpcStatus(x); gs != "" && !failed {
			s = strconv.Itoa(code) + " " + gs
		}
	}
	return s, failed, inflight
}

// typeCell is the type column of x: the response's media type, short, or
// the protocol of an upgraded exchange.
func typeCell(x *record.Exchange) string {
	if x.Response == nil {
		return ""
	}
	if x.Upgraded {
		if up := x.Response.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
			return strings.ToLower(up)
		}
		return "websocket"
	}
	return shortType(x.ContentType())
}

// unreadCells are the cells of an exchange not read yet (it is, a moment
// after it comes into view): what its summary says.
func unreadCells(e *entry) cells {
	c := cells{id: "#" + strconv.FormatUint(e.id, 10), url: e.hp + " …", code: int(e.sum.status)}
	c.status = unreadStatus(e)
	if e.misses > 0 {
		c.url = e.hp + " (not in the session yet)"
	}
	if e.sum.dur >= 0 {
		c.dur = compactDur(time.Duration(e.sum.dur))
		c.slow = time.Duration(e.sum.dur) >= time.Second
	}
	if e.sum.size >= 0 {
		c.size = compactSize(e.sum.size)
	}
	return c
}

// unreadStatus is the status cell of an exchange not read yet.
func unreadStatus(e *entry) string {
	if e.sum.status == 0 {
		return "…"
	}
	return strconv.Itoa(int(e.sum.status))
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// rowText is a row without colours, for the selected row (which is drawn
// in the selection style as a whole).
func (l *listView) rowText(e *entry, cols columns) string {
	c := l.rowCells(e)
	var b strings.Builder
	b.WriteString(fit(c.mark, 1))
	cell := func(s string, w int, right bool) { writeCell(&b, s, w, right) }
	cell(c.id, cols.id, false)
	cell(c.time, cols.time, false)
	cell(c.method, cols.method, false)
	cell(c.status, cols.status, false)
	cell(c.prefix()+c.url, cols.url, false)
	cell(c.up, cols.up, false)
	cell(c.dur, cols.dur, true)
	cell(c.size, cols.size, true)
	cell(c.ctype, cols.ctype, false)
	return b.String()
}

// styledRow is a row with each column coloured.
func styledRow(c cells, cols columns, st *styles) string {
	p := &st.row
	var b strings.Builder
	b.Grow(cols.width + 160) // the text and about 20 bytes of escapes a column
	b.WriteString(p.accent.Render(fit(c.mark, 1)))
	sep := func() { b.WriteByte(' ') }
	b.WriteString(p.muted.Render(fit(c.id, cols.id)))
	sep()
	if cols.time > 0 {
		b.WriteString(p.muted.Render(fit(c.time, cols.time)))
		sep()
	}
	b.WriteString(st.methodPaint(c.method).Render(fit(c.method, cols.method)))
	sep()
	status := st.statusPaint(c.code)
	switch {
	case c.held:
		status = &p.intercept
	case c.failed && c.code == 499:
		status = &p.clientErr
	case c.failed:
		status = &p.err
	case c.inflight:
		status = &p.inflight
	}
	b.WriteString(status.Render(fit(c.status, cols.status)))
	sep()
	url := c.url
	if pre := c.prefix(); pre != "" {
		pp := &p.replay
		if c.health {
			pp = &p.muted
		}
		rw := len([]rune(pre))
		if rw >= cols.url {
			b.WriteString(pp.Render(fit(pre, cols.url)))
		} else {
			b.WriteString(pp.Render(pre))
			b.WriteString(p.text.Render(fit(url, cols.url-rw)))
		}
	} else {
		b.WriteString(p.text.Render(fit(url, cols.url)))
	}
	sep()
	if cols.up > 0 {
		b.WriteString(p.muted.Render(fit(c.up, cols.up)))
		sep()
	}
	dur := &p.muted
	if c.slow {
		dur = &p.slow
	}
	b.WriteString(dur.Render(fitRight(c.dur, cols.dur)))
	sep()
	if cols.size > 0 {
		b.WriteString(p.muted.Render(fitRight(c.size, cols.size)))
		sep()
	}
	if cols.ctype > 0 {
		b.WriteString(p.muted.Render(fit(c.ctype, cols.ctype)))
		sep()
	}
	return b.String()
}

// prefix is what the URL column shows before the URL: the health tag,
// then the exchange replayed.
func (c *cells) prefix() string {
	if c.health {
		return healthTag + c.replay
	}
	return c.replay
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
