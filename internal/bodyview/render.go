package bodyview

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// Palette is the escape codes Render puts around each class of text, and
// around search matches (Current for the one the reader is on). The zero
// Palette renders plain text.
type Palette struct {
	Class          [NumClasses][2]string
	Match, Current [2]string
}

// Span is a range of body offsets to highlight: a search match.
type Span struct {
	From, To int
	Current  bool
}

// Render draws a row: each segment in its class's colours, control
// characters and tabs as glyphs, and the body bytes inside spans (sorted by
// From) highlighted. Its width is what the layout counted.
func Render(r Row, p *Palette, spans []Span) string {
	if p == nil {
		p = &Palette{}
	}
	var b strings.Builder
	for _, s := range r.Segs {
		cls := p.Class[s.Class]
		if s.Src < 0 || len(spans) == 0 {
			writeStyled(&b, cls, s.Text)
			continue
		}
		if !s.verbatim() {
			// Drawn from the bytes, not the bytes: all or nothing.
			if k, cur := spanAt(spans, s.Src, s.Src+s.Span); k {
				writeStyled(&b, markOf(p, cur), s.Text)
			} else {
				writeStyled(&b, cls, s.Text)
			}
			continue
		}
		// Split the text where the highlight changes.
		run, runStyle := 0, -1
		for i := 0; i < len(s.Text); {
			_, size := utf8.DecodeRuneInString(s.Text[i:])
			st := 0
			if k, cur := spanAt(spans, s.Src+i, s.Src+i+size); k {
				st = 1
				if cur {
					st = 2
				}
			}
			if st != runStyle {
				if i > run {
					writeStyled(&b, styleOf(p, cls, runStyle), s.Text[run:i])
				}
				run, runStyle = i, st
			}
			i += size
		}
		writeStyled(&b, styleOf(p, cls, runStyle), s.Text[run:])
	}
	return b.String()
}

// Text returns the row's text without styles.
func (r Row) Text() string { return Render(r, nil, nil) }

func styleOf(p *Palette, cls [2]string, st int) [2]string {
	switch st {
	case 1:
		return p.Match
	case 2:
		return p.Current
	}
	return cls
}

func markOf(p *Palette, cur bool) [2]string {
	if cur {
		return p.Current
	}
	return p.Match
}

// spanAt reports whether [from, to) overlaps a span, and whether that span
// is the current one.
func spanAt(spans []Span, from, to int) (bool, bool) {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].To > from })
	for ; i < len(spans) && spans[i].From < to; i++ {
		if spans[i].To > from {
			return true, spans[i].Current
		}
	}
	return false, false
}

// writeStyled writes text between the style's codes, drawing each rune as
// its glyph.
func writeStyled(b *strings.Builder, st [2]string, text string) {
	if text == "" {
		return
	}
	b.WriteString(st[0])
	writeGlyphs(b, text)
	b.WriteString(st[1])
}

func writeGlyphs(b *strings.Builder, text string) {
	clean := true
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		b.WriteString(text)
		return
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) && !(r == utf8.RuneError && size <= 1) && r != '\t' {
			b.WriteString(text[i : i+size])
		} else {
			b.WriteString(glyph(r, size))
		}
		i += size
	}
}
