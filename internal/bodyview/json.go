package bodyview

import "strings"

// jsonGen pretty-prints JSON as json.Indent would, two spaces a level, one
// token a line, without parsing the whole body first: a line is found from
// its state (an offset and the nesting depth) alone. It never fails:
// bytes that are not JSON are shown as they are, one run a line.
type jsonGen struct{ data []byte }

// Tokens a piece can be cut inside of (state.tok).
const (
	tokNone uint8 = iota
	tokString
	tokRaw
)

// maxIndent caps the indentation, so that hostile nesting cannot make a
// line of spaces.
const maxIndent = 32

// indents are the indentation strings, made once.
var indents = func() [maxIndent + 1]string {
	var out [maxIndent + 1]string
	for i := range out {
		out[i] = strings.Repeat("  ", i)
	}
	return out
}()

func indent(depth int32) Seg {
	return made(indents[min(max(int(depth), 0), maxIndent)], Plain)
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func skipJSONSpace(d []byte, i int) int {
	for i < len(d) && isJSONSpace(d[i]) {
		i++
	}
	return i
}

// isDelim reports whether b ends a bare token.
func isDelim(b byte) bool {
	return isJSONSpace(b) || b == ',' || b == ':' || b == '{' || b == '}' || b == '[' || b == ']' || b == '"'
}

func (g jsonGen) next(st state) (piece, state, bool) {
	d := g.data
	segs := make([]Seg, 0, 6) // indent, key, colon, space, value, comma
	depth := st.depth
	off := st.off
	budget := pieceMax
	switch st.tok {
	case tokString:
		end, cut := g.scanString(off, budget, true)
		segs = append(segs, seg(d, off, end, String))
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokString}, true
		}
		return g.afterValue(segs, end, depth, true)
	case tokRaw:
		end, cut := g.scanRaw(off, budget)
		segs = append(segs, seg(d, off, end, classOfBare(d[off:end])))
		if cut {
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokRaw}, true
		}
		return g.afterValue(segs, end, depth, false)
	}
	off = skipJSONSpace(d, off)
	if off >= len(d) {
		return piece{}, state{off: off}, false
	}
	switch c := d[off]; c {
	case '}', ']':
		depth--
		segs = append(segs, indent(depth), seg(d, off, off+1, Punct))
		return g.afterValue(segs, off+1, depth, false)
	case ',', ':':
		// Out of place: shown on a line of its own.
		segs = append(segs, indent(depth), seg(d, off, off+1, Punct))
		return piece{segs: segs, eol: true}, state{off: off + 1, depth: depth}, true
	}
	segs = append(segs, indent(depth))
	return g.value(segs, off, depth, true)
}

// value shows the value (or key) at off and what follows it on its line.
func (g jsonGen) value(segs []Seg, off int, depth int32, keyOK bool) (piece, state, bool) {
	d := g.data
	switch c := d[off]; c {
	case '{', '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		segs = append(segs, seg(d, off, off+1, Punct))
		if j := skipJSONSpace(d, off+1); j < len(d) && d[j] == closer {
			segs = append(segs, seg(d, j, j+1, Punct))
			return g.afterValue(segs, j+1, depth, false)
		}
		return piece{segs: segs, eol: true}, state{off: off + 1, depth: depth + 1}, true
	case '"':
		end, cut := g.scanString(off+1, pieceMax, false)
		if cut {
			segs = append(segs, seg(d, off, end, String))
			return piece{segs: segs}, state{off: end, depth: depth, tok: tokString}, true
		}
		class := String
		if j := skipJSONSpace(d, end); keyOK && j < len(d) && d[j] == ':' {
			class = Key
		}
		segs = append(segs, seg(d, off, end, class))
		return g.afterValue(segs, end, depth, keyOK)
	case '}', ']', ',', ':':
		// A value was due: end the line; the next starts at this byte.
		return piece{segs: segs, eol: true}, state{off: off, depth: depth}, true
	}
	end, cut := g.scanRaw(off, pieceMax)
	segs = append(segs, seg(d, off, end, classOfBare(d[off:end])))
	if cut {
		return piece{segs: segs}, state{off: end, depth: depth, tok: tokRaw}, true
	}
	return g.afterValue(segs, end, depth, false)
}

// afterValue finishes a line after a token ending at off: a colon and the
// value after a key, a comma, then the end of the line.
func (g jsonGen) afterValue(segs []Seg, off int, depth int32, keyOK bool) (piece, state, bool) {
	d := g.data
	j := skipJSONSpace(d, off)
	if keyOK && j < len(d) && d[j] == ':' {
		segs = append(segs, seg(d, j, j+1, Punct), made(" ", Plain))
		v := skipJSONSpace(d, j+1)
		if v >= len(d) {
			return piece{segs: segs, eol: true}, state{off: v, depth: depth}, true
		}
		return g.value(segs, v, depth, false)
	}
	if j < len(d) && d[j] == ',' {
		segs = append(segs, seg(d, j, j+1, Punct))
		j++
	}
	return piece{segs: segs, eol: true}, state{off: j, depth: depth}, true
}

// scanString returns the end of the string whose contents begin at i (just
// after the opening quote): after the closing quote, or, with cut set, a
// point at most budget bytes on where the piece is cut (never inside a
// rune or an escape).
func (g jsonGen) scanString(i, budget int, resumed bool) (end int, cut bool) {
	d := g.data
	start := i
	for i < len(d) {
		if i-start >= budget {
			c := runeStart(d, start, i)
			if c > start && d[c-1] == '\\' && !escaped(d, start, c-1) {
				c--
			}
			if c > start {
				return c, true
			}
		}
		switch d[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i + 1, false
		case '\n':
			// Not JSON: a string does not span lines.
			return i, false
		}
		i++
	}
	_ = resumed
	return len(d), false
}

// escaped reports whether the byte at i is escaped by the backslashes
// before it (counting from start).
func escaped(d []byte, start, i int) bool {
	n := 0
	for j := i - 1; j >= start && d[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// scanRaw returns the end of the bare token (number, literal or junk) at
// i, or a cut point budget bytes on.
func (g jsonGen) scanRaw(i, budget int) (end int, cut bool) {
	d := g.data
	start := i
	i++ // the first byte is part of the token whatever it is
	for i < len(d) && !isDelim(d[i]) {
		if i-start >= budget {
			if c := runeStart(d, start, i); c > start {
				return c, true
			}
		}
		i++
	}
	return i, false
}

func classOfBare(b []byte) Class {
	switch {
	case len(b) == 0:
		return Plain
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		return Number
	}
	switch string(b) {
	case "true", "false", "null":
		return Literal
	}
	return Plain
}
