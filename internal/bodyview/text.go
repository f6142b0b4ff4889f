package bodyview

import (
	"bytes"
	"unicode/utf8"
)

// textGen shows a body as lines of text, cut at newlines; a carriage
// return before a newline is not shown.
type textGen struct{ data []byte }

func (g textGen) next(st state) (piece, state, bool) {
	d := g.data
	off := st.off
	if off >= len(d) {
		return piece{}, st, false
	}
	limit := min(off+pieceMax, len(d))
	if nl := bytes.IndexByte(d[off:limit], '\n'); nl >= 0 {
		end := off + nl
		text := end
		if text > off && d[text-1] == '\r' {
			text--
		}
		p := piece{eol: true}
		if text > off {
			p.segs = []Seg{seg(d, off, text, Plain)}
		}
		return p, state{off: end + 1}, true
	}
	if limit == len(d) {
		return piece{segs: []Seg{seg(d, off, limit, Plain)}, eol: true}, state{off: limit}, true
	}
	cut := runeStart(d, off, limit)
	return piece{segs: []Seg{seg(d, off, cut, Plain)}}, state{off: cut}, true
}

// runeStart moves cut back to the start of the rune it falls in, but not
// to or before off.
func runeStart(d []byte, off, cut int) int {
	for i := 0; i < utf8.UTFMax && cut-i > off; i++ {
		if utf8.RuneStart(d[cut-i]) {
			return cut - i
		}
	}
	return cut
}
