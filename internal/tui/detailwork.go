package tui

import (
	"context"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/bodyview"
	"github.com/devproxy/devproxy/internal/record"
)

// This file is the detail view's work off the event loop: reading and
// decoding bodies (renderCmd), indexing a big body's rows (indexCmd) and
// searching it (searchCmd), and taking their results in.

// syncDetail brings the detail view's content in line with the exchange,
// tab, view mode and width it shows, starting the work it needs.
func (m *Model) syncDetail() tea.Cmd {
	d := &m.detail
	var cmds []tea.Cmd
	// One cell of left margin.
	want := contentKey{id: d.x.ID, version: d.x.Version, tab: d.tab, mode: d.mode, width: m.area().detailW - 1, gen: m.ctx.st.gen, schema: m.schemaGen}
	if c, ok := m.cache[want]; ok {
		if d.content != c {
			m.show(c, want)
		}
	} else if p := m.preparedFor(want); p != nil {
		// The same exchange at another width (a resize) or in another
		// mode: laid out again at once, without reading the body again.
		c := buildContent(p, want, m.ctx.st)
		m.store(want, c)
		m.show(c, want)
	} else if !m.renders[want] {
		m.renders[want] = true
		cmds = append(cmds, renderCmd(m.src, d.x, want, m.ctx.st, m.grpcEnv()))
	}
	d.clamp(m.detailRows())
	if c := d.content; c != nil && c.body != nil && c.body.ix == nil && !c.body.indexing {
		c.body.indexing = true
		ctx, stop := context.WithCancel(m.runCtx)
		m.indexStop = stop
		cmds = append(cmds, indexCmd(ctx, c))
	}
	if d.query != "" && d.content != nil && d.matched != d.content && !m.searchBusy {
		m.searchBusy = true
		cmds = append(cmds, searchCmd(m.runCtx, d.content, d.query))
	}
	return tea.Batch(cmds...)
}

// preparedFor finds a cached rendering of the same exchange version and
// tab whose prepared bodies can be laid out for k.
func (m *Model) preparedFor(k contentKey) *prepared {
	for ck, c := range m.cache {
		if ck.id == k.id && ck.version == k.version && ck.tab == k.tab && ck.schema == k.schema && c.prep != nil {
			return c.prep
		}
	}
	return nil
}

// show makes c the detail view's content. The index build of the body
// shown before, if any, stops unless it is this one's.
func (m *Model) show(c *content, k contentKey) {
	d := &m.detail
	if d.content == c {
		return
	}
	old := d.content
	d.content, d.key = c, k
	if old != nil && old.body != nil && old.body.ix == nil && old.body.indexing && m.indexStop != nil {
		m.indexStop()
		m.indexStop = nil
		old.body.indexing = false
	}
	if d.pendingEnd && c.body != nil && c.body.ix != nil {
		d.toEnd(m.detailRows())
	}
}

// store caches c under k, dropping the oldest renderings.
func (m *Model) store(k contentKey, c *content) {
	if _, ok := m.cache[k]; ok {
		return
	}
	m.cache[k] = c
	m.cacheOrder = append(m.cacheOrder, k)
	for len(m.cacheOrder) > contentCache {
		delete(m.cache, m.cacheOrder[0])
		m.cacheOrder = m.cacheOrder[1:]
	}
}

// contentMsg is a rendered detail tab.
type contentMsg struct {
	key contentKey
	c   *content
}

// renderCmd reads x's bodies through src, decodes the tab's body (or a
// gRPC call's messages, with env) and lays it out. Renders run side by
// side: a slow one never holds up another.
func renderCmd(src Source, x *record.Exchange, k contentKey, st *styles, env grpcEnv) tea.Cmd {
	return func() tea.Msg {
		return contentMsg{key: k, c: buildContent(prepare(src, x, k.tab, env), k, st)}
	}
}

func (m *Model) contentDone(msg contentMsg) {
	delete(m.renders, msg.key)
	m.store(msg.key, msg.c)
	d := &m.detail
	if d.x != nil && msg.key.id == d.x.ID && msg.key.tab == d.tab && msg.key.mode == d.mode {
		// Show it even if a newer version is on its way: a growing body
		// updates in place instead of flashing "Rendering…".
		m.show(msg.c, msg.key)
	}
}

// indexMsg carries the index of a content's body.
type indexMsg struct {
	c  *content
	ix *bodyview.Index
}

// indexCmd builds the row index of c's body: the row count, the way to
// the end and to search matches. It stops when ctx ends.
func indexCmd(ctx context.Context, c *content) tea.Cmd {
	l := c.body.layout
	return func() tea.Msg {
		ix, err := l.Index(ctx)
		if err != nil {
			return indexMsg{c: c}
		}
		return indexMsg{c: c, ix: ix}
	}
}

func (m *Model) indexDone(msg indexMsg) {
	b := msg.c.body
	b.indexing = false
	if msg.ix == nil || b.ix != nil {
		return
	}
	b.ix = msg.ix
	b.layout.SetIndex(msg.ix)
	d := &m.detail
	if d.content == msg.c {
		if d.pendingEnd {
			d.toEnd(m.detailRows())
		}
		d.clamp(m.detailRows())
	}
}

// searchLimit caps the matches a search finds.
const searchLimit = 100000

// searchDoneMsg carries the matches of query in content c.
type searchDoneMsg struct {
	c       *content
	query   string
	matches []hit
	more    bool
	ix      *bodyview.Index // the body's index, if the search built it
}

// searchCmd finds query in c: in the head's own lines (not its labels)
// and in the whole body's bytes, each body match placed on its row.
func searchCmd(ctx context.Context, c *content, query string) tea.Cmd {
	return func() tea.Msg {
		out := searchDoneMsg{c: c, query: query, matches: findMatches(c.plain, c.label, query)}
		if c.body == nil || query == "" {
			return out
		}
		offs, more, err := bodyview.Find(ctx, c.body.view.Data, query, searchLimit)
		if err != nil || len(offs) == 0 {
			return out
		}
		out.more = more
		ix := c.body.ix
		if ix == nil {
			if ix, err = c.body.layout.Index(ctx); err != nil {
				return out
			}
			out.ix = ix
		}
		rows, err := c.body.layout.RowsOf(ctx, ix, offs)
		if err != nil {
			return out
		}
		head := len(c.lines)
		for i, o := range offs {
			out.matches = append(out.matches, hit{line: head + rows[i], src: o, srcEnd: o + len(query)})
		}
		return out
	}
}

func (m *Model) searchDone(msg searchDoneMsg) {
	m.searchBusy = false
	if msg.ix != nil && msg.c.body != nil && msg.c.body.ix == nil {
		msg.c.body.ix = msg.ix
		msg.c.body.layout.SetIndex(msg.ix)
	}
	d := &m.detail
	if msg.query != d.query {
		return // the query changed meanwhile; sync searches again
	}
	// Matches for older content are kept until the new ones come: sync
	// searches again because matched is not the current content.
	d.matches, d.matched, d.moreMatches = msg.matches, msg.c, msg.more
	if d.cur >= len(d.matches) {
		d.cur = max(len(d.matches)-1, 0)
	}
	if d.fresh {
		// A new query starts at the first match at or below the top of
		// the view.
		d.fresh = false
		d.cur = sort.Search(len(d.matches), func(i int) bool { return d.matches[i].line >= d.offset })
		if d.cur == len(d.matches) {
			d.cur = 0
		}
		d.showMatch(m.detailRows())
	}
}

// setQuery sets the body search query; matches come from a search command.
func (m *Model) setQuery(q string) {
	d := &m.detail
	if q == d.query {
		return
	}
	d.query = q
	d.resetMatches()
}

// findMatches finds query, case-insensitively, in each plain line that is
// not a label. Ranges are in cells, as StyleRanges wants them.
func findMatches(lines []string, label []bool, query string) []hit {
	q := strings.ToLower(query)
	if q == "" {
		return nil
	}
	var out []hit
	for i, line := range lines {
		if len(line) < len(q) || (i < len(label) && label[i]) {
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
			start := cellWidth(line[:j])
			end := start + cellWidth(line[j:j+len(q)])
			out = append(out, hit{line: i, start: start, end: end, src: -1})
			from = j + len(q)
		}
	}
	return out
}

// Close stops the work the model runs in the background (a body's index
// build). Run calls it when the program ends; benchmarks and tests that
// drive a model themselves call it when done with it.
func (m *Model) Close() {
	if m.indexStop != nil {
		m.indexStop()
		m.indexStop = nil
	}
}
