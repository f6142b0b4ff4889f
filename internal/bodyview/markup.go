package bodyview

import (
	"bytes"
	"strings"
)

// markupGen indents XML and HTML: a tag a line, text on a line of its own
// (or inline, between an opening tag and its closing one, when short),
// comments and declarations as they are. Like jsonGen it needs only an
// offset and a depth to find a line, and never fails.
type markupGen struct {
	data []byte
	html bool // void elements (br, img, …) do not nest
}

// Cut tokens of markup (state.tok).
const (
	tokText uint8 = iota + 10
	tokTag
	tokComment
	tokRawText // the contents of <script> or <style>
)

// inlineMax is the longest text kept on its element's line.
const inlineMax = 120

var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true,
	"link": true, "meta": true, "param": true, "source": true, "track": true, "wbr": true,
}

func (g markupGen) next(st state) (piece, state, bool) {
	d := g.data
	off := st.off
	depth := st.depth
	switch st.tok {
	case tokText, tokRawText:
		return g.text(nil, off, depth, st.tok)
	case tokTag:
		end, cut := g.scanTo(off, ">", pieceMax)
		segs := []Seg{seg(d, off, end, Tag)}
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokTag}, true
		}
		return piece{segs: segs, eol: true}, state{off: end, depth: depth}, true
	case tokComment:
		end, cut := g.scanTo(off, "-->", pieceMax)
		segs := []Seg{seg(d, off, end, Comment)}
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokComment}, true
		}
		return piece{segs: segs, eol: true}, state{off: end, depth: depth}, true
	}
	off = skipSpace(d, off)
	if off >= len(d) {
		return piece{}, state{off: off}, false
	}
	if d[off] != '<' {
		return g.text([]Seg{indent(depth)}, off, depth, tokText)
	}
	rest := d[off:]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		end, cut := g.scanTo(off, "-->", pieceMax)
		segs := []Seg{indent(depth), seg(d, off, end, Comment)}
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokComment}, true
		}
		return piece{segs: segs, eol: true}, state{off: end, depth: depth}, true
	case bytes.HasPrefix(rest, []byte("<!")) || bytes.HasPrefix(rest, []byte("<?")):
		end, cut := g.scanTo(off, ">", pieceMax)
		segs := []Seg{indent(depth), seg(d, off, end, Comment)}
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokTag}, true
		}
		return piece{segs: segs, eol: true}, state{off: end, depth: depth}, true
	case bytes.HasPrefix(rest, []byte("</")):
		depth = max(depth-1, 0)
		segs, end, cut := g.tag([]Seg{indent(depth)}, off)
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokTag}, true
		}
		return piece{segs: segs, eol: true}, state{off: end, depth: depth}, true
	}
	segs, end, cut := g.tag([]Seg{indent(depth)}, off)
	if cut {
		return piece{segs: segs}, state{off: end, depth: depth + 1, tok: tokTag}, true
	}
	name := strings.ToLower(tagName(d[off+1 : end]))
	selfClosing := end >= 2 && d[end-2] == '/'
	if selfClosing || name == "" || (g.html && voidElements[name]) {
		return piece{segs: segs, eol: true}, state{off: end, depth: depth}, true
	}
	if g.html && (name == "script" || name == "style") {
		return piece{segs: segs, eol: true}, state{off: end, depth: depth + 1, tok: tokRawText}, true
	}
	// Short text and the closing tag stay on this line.
	if lt := bytes.IndexByte(d[end:min(len(d), end+inlineMax+1)], '<'); lt >= 0 {
		text := d[end : end+lt]
		closeAt := end + lt
		if bytes.IndexByte(text, '\n') < 0 && bytes.HasPrefix(d[closeAt:], []byte("</")) &&
			strings.EqualFold(tagName(d[closeAt+2:min(len(d), closeAt+2+len(name)+1)]), name) {
			if len(text) > 0 {
				segs = append(segs, seg(d, end, closeAt, Plain))
			}
			segs2, end2, cut2 := g.tag(segs, closeAt)
			if !cut2 {
				return piece{segs: segs2, eol: true}, state{off: end2, depth: depth}, true
			}
		}
	}
	return piece{segs: segs, eol: true}, state{off: end, depth: depth + 1}, true
}

// text shows the text at off up to the next tag, a line of it a line;
// raw text (script, style) runs to its closing tag.
func (g markupGen) text(segs []Seg, off int, depth int32, tok uint8) (piece, state, bool) {
	d := g.data
	if tok == tokRawText {
		// The closing tag is looked for a piece ahead only, so that each
		// line costs its own length.
		off = skipSpace(d, off)
		window := d[off:min(len(d), off+pieceMax+16)]
		closeAt := indexFold(window, "</script")
		if c := indexFold(window, "</style"); c >= 0 && (closeAt < 0 || c < closeAt) {
			closeAt = c
		}
		end := len(d)
		if closeAt >= 0 {
			end = off + closeAt
		}
		start := skipSpace(d[:end], off)
		if start >= end {
			return g.next(state{off: end, depth: depth})
		}
		limit := min(start+pieceMax, end)
		if nl := bytes.IndexByte(d[start:limit], '\n'); nl >= 0 {
			return piece{segs: append(segs, indent(depth), seg(d, start, trimRight(d, start, start+nl), Plain)), eol: true},
				state{off: start + nl + 1, depth: depth, tok: tokRawText}, true
		}
		if limit == end {
			return piece{segs: append(segs, indent(depth), seg(d, start, trimRight(d, start, end), Plain)), eol: true},
				state{off: end, depth: depth}, true
		}
		cut := runeStart(d, start, limit)
		return piece{segs: append(segs, seg(d, start, cut, Plain))}, state{off: cut, depth: depth, tok: tokRawText}, true
	}
	if off < len(d) && d[off] == '<' {
		// A cut fell just before a tag.
		return g.next(state{off: off, depth: depth})
	}
	limit := min(off+pieceMax, len(d))
	stop := limit
	if lt := bytes.IndexByte(d[off:limit], '<'); lt >= 0 {
		stop = off + lt
	}
	if nl := bytes.IndexByte(d[off:stop], '\n'); nl >= 0 {
		return piece{segs: append(segs, seg(d, off, trimRight(d, off, off+nl), Plain)), eol: true},
			state{off: off + nl + 1, depth: depth}, true
	}
	if stop < limit || limit == len(d) {
		return piece{segs: append(segs, seg(d, off, trimRight(d, off, stop), Plain)), eol: true}, state{off: stop, depth: depth}, true
	}
	cut := runeStart(d, off, limit)
	return piece{segs: append(segs, seg(d, off, cut, Plain))}, state{off: cut, depth: depth, tok: tokText}, true
}

// tag appends the tag at off (its name, attributes and values classed)
// and returns the offset after its '>', or a cut point.
func (g markupGen) tag(segs []Seg, off int) ([]Seg, int, bool) {
	d := g.data
	i := off + 1
	if i < len(d) && d[i] == '/' {
		i++
	}
	segs = append(segs, seg(d, off, i, Punct))
	n := i
	for n < len(d) && !isMarkupDelim(d[n]) {
		n++
	}
	if n > i {
		segs = append(segs, seg(d, i, n, Tag))
	}
	i = n
	var quote byte
	from := i
	class := Plain
	flush := func(to int, next Class) {
		if to > from {
			segs = append(segs, seg(d, from, to, class))
		}
		from, class = to, next
	}
	for i < len(d) {
		if i-off >= pieceMax && quote == 0 {
			c := runeStart(d, from, i)
			flush(c, Plain)
			return segs, c, true
		}
		b := d[i]
		switch {
		case quote != 0:
			if b == quote {
				flush(i+1, Plain)
				quote = 0
			}
		case b == '"' || b == '\'':
			flush(i, String)
			quote = b
		case b == '>':
			start := i
			if i > from && d[i-1] == '/' {
				start = i - 1
			}
			flush(start, Punct)
			flush(i+1, Plain)
			return segs, i + 1, false
		case b == '=':
			flush(i, Punct)
			flush(i+1, Plain)
		case isMarkupSpace(b):
			if class != Plain {
				flush(i, Plain)
			}
		default:
			if class == Plain && (i == from || isMarkupSpace(d[i-1])) {
				flush(i, Attr)
			}
		}
		i++
	}
	flush(len(d), Plain)
	return segs, len(d), false
}

// scanTo returns the offset after the next end (or the body's end), or a
// cut point budget bytes on.
func (g markupGen) scanTo(off int, end string, budget int) (int, bool) {
	d := g.data
	limit := min(off+budget, len(d))
	if i := bytes.Index(d[off:limit], []byte(end)); i >= 0 {
		return off + i + len(end), false
	}
	if limit == len(d) {
		return len(d), false
	}
	// Do not cut inside the terminator.
	c := runeStart(d, off, limit-len(end)+1)
	if c <= off {
		c = limit
	}
	return c, true
}

func tagName(b []byte) string {
	n := 0
	for n < len(b) && !isMarkupDelim(b[n]) {
		n++
	}
	return string(b[:n])
}

func isMarkupSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

func isMarkupDelim(b byte) bool { return isMarkupSpace(b) || b == '>' || b == '/' || b == '<' }

func skipSpace(d []byte, i int) int {
	for i < len(d) && isMarkupSpace(d[i]) {
		i++
	}
	return i
}

func trimRight(d []byte, from, to int) int {
	for to > from && isMarkupSpace(d[to-1]) {
		to--
	}
	return to
}

// indexFold is bytes.Index, ignoring ASCII case.
func indexFold(d []byte, s string) int {
	n := len(s)
	for i := 0; i+n <= len(d); i++ {
		if d[i] == '<' && strings.EqualFold(string(d[i:i+n]), s) {
			return i
		}
	}
	return -1
}
