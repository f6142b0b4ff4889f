package bodyview

import (
	"context"
	"sort"
	"unicode/utf8"
)

const (
	// pieceMax bounds the body bytes in one piece, and so the work of
	// reaching any row from its mark.
	pieceMax = 8 << 10
	// markEvery is the distance in rows between marks.
	markEvery = 64
	// reachSlack is how many rows past the last mark a Layout walks on
	// the caller's goroutine; farther rows wait for the index.
	reachSlack = 4096
)

// state is where a generator resumes: an offset in its input and what the
// format needs to know there. The meaning of depth and tok is the
// generator's.
type state struct {
	off   int
	depth int32
	tok   uint8
}

// piece is a part of a line: a line is one or more pieces, the last with
// eol set.
type piece struct {
	segs []Seg
	eol  bool
}

// generator produces a body's lines in pieces. next returns the piece at
// st and the state after it; ok is false at the end. It must consume input
// (after.off > st.off) or end the line, so that a walk always ends.
type generator interface {
	next(st state) (p piece, after state, ok bool)
}

// randomRows is a generator whose rows can be reached directly (the hex
// dump): a layout uses it instead of walking.
type randomRows interface {
	rowCount() int
	row(i int) Row
	rowOf(src int) int
}

// cursor is where a row begins: the state of the piece that holds its
// first byte and the bytes of that piece's text before it.
type cursor struct {
	st   state
	skip int
}

// Index is the marks of a whole body at one width: the row count, and the
// way to any row or body offset. It is immutable and safe to share.
type Index struct {
	width int
	rows  int
	marks []cursor
	srcs  []int // the first body offset at or after each mark (non-decreasing)
}

// Rows is the number of rows of the body.
func (ix *Index) Rows() int { return ix.rows }

// Layout cuts a body's lines into rows of one width. Its methods are for
// one goroutine (the UI's event loop), except Index, which only reads what
// never changes and may run on any goroutine.
type Layout struct {
	gen    generator
	random randomRows
	width  int

	marks []cursor // marks[i] is the start of row i*markEvery
	srcs  []int
	known int  // rows walked so far
	done  bool // known is every row
}

// newLayout returns a layout of g's output at width cells.
func newLayout(g generator, width int) *Layout {
	l := &Layout{gen: g, width: max(width, 1)}
	if r, ok := g.(randomRows); ok {
		l.random = r
		l.known, l.done = r.rowCount(), true
		return l
	}
	l.marks = []cursor{{}}
	l.srcs = []int{0}
	return l
}

// Width is the layout's width in cells.
func (l *Layout) Width() int { return l.width }

// Count returns the rows known so far and whether that is all of them.
func (l *Layout) Count() (int, bool) { return l.known, l.done }

// Reachable reports whether row can be reached now without the index:
// it is known, or a short walk from the last mark.
func (l *Layout) Reachable(row int) bool {
	return l.done || row < l.known+reachSlack
}

// SetIndex gives the layout the marks of the whole body (from Index at the
// same width).
func (l *Layout) SetIndex(ix *Index) {
	if ix == nil || ix.width != l.width || l.random != nil {
		return
	}
	l.marks, l.srcs, l.known, l.done = ix.marks, ix.srcs, ix.rows, true
}

// Rows returns up to n rows from row from.
func (l *Layout) Rows(from, n int) []Row {
	if n <= 0 || from < 0 {
		return nil
	}
	if l.random != nil {
		out := make([]Row, 0, n)
		for i := from; i < from+n && i < l.known; i++ {
			out = append(out, clipRow(l.random.row(i), l.width))
		}
		return out
	}
	mi := from / markEvery
	if mi >= len(l.marks) && !l.done {
		l.extend(mi)
	}
	if mi >= len(l.marks) {
		return nil
	}
	skip := from - mi*markEvery
	out := make([]Row, 0, n)
	row := mi * markEvery
	l.walkFrom(l.marks[mi], row, true, func(i int, _ cursor, _ int, r Row) bool {
		if i-row >= skip {
			out = append(out, r)
		}
		return len(out) < n
	})
	return out
}

// extend walks on from the last mark until mark mi exists or the body
// ends, keeping marks.
func (l *Layout) extend(mi int) {
	last := len(l.marks) - 1
	base := last * markEvery
	end := l.walkFrom(l.marks[last], base, false, func(i int, c cursor, src int, _ Row) bool {
		if i > base && i%markEvery == 0 {
			l.marks = append(l.marks, c)
			l.srcs = append(l.srcs, max(src, l.srcs[len(l.srcs)-1]))
		}
		l.known = max(l.known, i+1)
		return len(l.marks) <= mi
	})
	if end {
		l.done = true
	}
}

// Index walks the whole body and returns its marks. It can be canceled
// through ctx; it reads only what the layout never changes.
func (l *Layout) Index(ctx context.Context) (*Index, error) {
	ix := &Index{width: l.width}
	if l.random != nil {
		ix.rows = l.random.rowCount()
		return ix, nil
	}
	ix.marks = []cursor{{}}
	ix.srcs = []int{0}
	var err error
	l.walkFrom(cursor{}, 0, false, func(i int, c cursor, src int, _ Row) bool {
		if i > 0 && i%markEvery == 0 {
			ix.marks = append(ix.marks, c)
			ix.srcs = append(ix.srcs, max(src, ix.srcs[len(ix.srcs)-1]))
			if len(ix.marks)%64 == 0 && ctx.Err() != nil {
				err = ctx.Err()
				return false
			}
		}
		ix.rows = i + 1
		return true
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// RowsOf returns the row that shows each body offset in offsets (sorted
// ascending), using ix for the layout's width. An offset in bytes the
// layout does not show maps to the next row that shows any.
func (l *Layout) RowsOf(ctx context.Context, ix *Index, offsets []int) ([]int, error) {
	out := make([]int, len(offsets))
	if l.random != nil {
		for i, o := range offsets {
			out[i] = l.random.rowOf(o)
		}
		return out, nil
	}
	if ix == nil || len(offsets) == 0 {
		return out, nil
	}
	k := 0
	for k < len(offsets) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The last mark at or before the offset.
		mi := sort.Search(len(ix.srcs), func(i int) bool { return ix.srcs[i] > offsets[k] }) - 1
		mi = max(mi, 0)
		before := k
		base := mi * markEvery
		last := base
		l.walkFrom(ix.marks[mi], base, true, func(i int, _ cursor, _ int, r Row) bool {
			last = i
			_, hi := r.SrcRange()
			for k < len(offsets) && hi > offsets[k] {
				out[k] = i
				k++
			}
			// Stop at the next mark: a later offset searches again.
			return k < len(offsets) && i < base+2*markEvery
		})
		switch {
		case k < len(offsets) && last >= ix.rows-1:
			for ; k < len(offsets); k++ {
				out[k] = max(ix.rows-1, 0)
			}
		case k == before:
			// Bytes no row shows: the next row that shows any.
			out[k] = last
			k++
		}
	}
	return out, nil
}

// walkFrom produces rows from cursor c (row number row), calling fn with
// each row's number, start, first body offset (-1 if none yet) and, when
// want is set, its segments, until fn returns false or the body ends. It
// reports whether the body ended.
func (l *Layout) walkFrom(c cursor, row int, want bool, fn func(i int, start cursor, src int, r Row) bool) bool {
	st := c.st
	p, after, ok := l.gen.next(st)
	if !ok {
		return true
	}
	skip := c.skip
	var cur Row
	col := 0
	start := c
	src := -1
	emit := func() bool {
		more := fn(row, start, src, cur)
		row++
		cur = Row{}
		col = 0
		src = -1
		return more
	}
	for {
		pos := 0
		for _, s := range p.segs {
			end := pos + len(s.Text)
			if end <= skip {
				pos = end
				continue
			}
			i := max(skip-pos, 0)
			run := i
			text := s.Text
			for i < len(text) {
				b := text[i]
				w, size := 1, 1
				if b < 0x20 || b >= 0x7f {
					var r rune
					r, size = utf8.DecodeRuneInString(text[i:])
					w = glyphWidth(r, size)
				}
				if col+w > l.width && col > 0 {
					if want && i > run {
						cur.Segs = append(cur.Segs, sub(s, run, i))
					}
					if !emit() {
						return false
					}
					start = cursor{st: st, skip: pos + i}
					run = i
				}
				if src < 0 && s.Src >= 0 {
					if s.verbatim() {
						src = s.Src + i
					} else {
						src = s.Src
					}
				}
				col += w
				i += size
			}
			if want && len(text) > run {
				cur.Segs = append(cur.Segs, sub(s, run, len(text)))
			}
			pos = end
		}
		skip = 0
		st = after
		eol := p.eol
		p, after, ok = l.gen.next(st)
		if eol || !ok {
			if !emit() {
				return !ok
			}
			start = cursor{st: st}
		}
		if !ok {
			return true
		}
	}
}

// sub is the part of s from byte i to byte j.
func sub(s Seg, i, j int) Seg {
	if i == 0 && j == len(s.Text) {
		return s
	}
	out := Seg{Text: s.Text[i:j], Class: s.Class, Src: s.Src, Span: s.Span}
	if s.verbatim() {
		out.Src, out.Span = s.Src+i, j-i
	}
	return out
}

// clipRow cuts a row to width cells (a hex row in a pane too narrow for
// it).
func clipRow(r Row, width int) Row {
	col := 0
	for k, s := range r.Segs {
		for i := 0; i < len(s.Text); {
			rn, size := utf8.DecodeRuneInString(s.Text[i:])
			w := glyphWidth(rn, size)
			if col+w > width {
				out := Row{Segs: append(r.Segs[:k:k], sub(s, 0, i))}
				return out
			}
			col += w
			i += size
		}
	}
	return r
}
