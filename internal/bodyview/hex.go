package bodyview

import "strings"

// hexGen shows bytes as a hex dump: an offset, the bytes in hex and as
// ASCII, per bytes a row.
type hexGen struct {
	data []byte
	per  int
}

// hexPer is the bytes a hex row shows at width: 16 when it fits, else 8,
// else 4.
func hexPer(width int) int {
	switch {
	case width >= 10+16*3+1+18:
		return 16
	case width >= 10+8*3+10:
		return 8
	}
	return 4
}

const hexDigits = "0123456789abcdef"

func (g hexGen) next(st state) (piece, state, bool) {
	i := st.off / g.per
	if st.off >= len(g.data) {
		return piece{}, st, false
	}
	return piece{segs: g.row(i).Segs, eol: true}, state{off: (i + 1) * g.per}, true
}

func (g hexGen) rowCount() int { return (len(g.data) + g.per - 1) / g.per }

func (g hexGen) rowOf(src int) int { return min(max(src, 0)/g.per, max(g.rowCount()-1, 0)) }

func (g hexGen) row(i int) Row {
	off := i * g.per
	end := min(off+g.per, len(g.data))
	segs := make([]Seg, 0, 2*g.per+4)
	var o [8]byte
	for k, v := 7, off; k >= 0; k, v = k-1, v>>4 {
		o[k] = hexDigits[v&15]
	}
	segs = append(segs, made(string(o[:])+"  ", Offset))
	for j := off; j < off+g.per; j++ {
		sep := " "
		if (j-off)%8 == 7 && j-off < g.per-1 {
			sep = "  "
		}
		if j >= end {
			segs = append(segs, made("  "+sep, Plain))
			continue
		}
		b := g.data[j]
		segs = append(segs, Seg{Text: string([]byte{hexDigits[b>>4], hexDigits[b&15]}), Class: Plain, Src: j, Span: 1}, made(sep, Plain))
	}
	segs = append(segs, made("|", ASCII))
	for j := off; j < end; j++ {
		b := g.data[j]
		if b < 0x20 || b >= 0x7f {
			segs = append(segs, Seg{Text: ".", Class: ASCII, Src: j, Span: 1})
		} else {
			segs = append(segs, Seg{Text: string(rune(b)), Class: ASCII, Src: j, Span: 1})
		}
	}
	segs = append(segs, made(strings.Repeat(" ", off+g.per-end)+"|", ASCII))
	return Row{Segs: segs}
}
