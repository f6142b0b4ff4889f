package tui

import (
	"github.com/devproxy/devproxy/internal/bodyview"
)

// bodyPalette is the escape codes of each body class and of search
// matches in these styles.
func (st *styles) bodyPalette() *bodyview.Palette { return st.body }

// bodyPaletteOf turns st into escape codes for each body class and for
// search matches; newStyles keeps the result.
func bodyPaletteOf(st *styles) *bodyview.Palette {
	p := &bodyview.Palette{}
	pairs := []struct {
		c bodyview.Class
		s [2]string
	}{
		{bodyview.Key, pair(affixes(st.jsonKey))},
		{bodyview.String, pair(affixes(st.jsonStr))},
		{bodyview.Number, pair(affixes(st.jsonNum))},
		{bodyview.Literal, pair(affixes(st.jsonLit))},
		{bodyview.Punct, pair(affixes(st.jsonPunct))},
		{bodyview.Tag, pair(affixes(st.jsonKey))},
		{bodyview.Attr, pair(affixes(st.hdrName))},
		{bodyview.Comment, pair(affixes(st.muted))},
		{bodyview.Offset, pair(affixes(st.hexOffset))},
		{bodyview.ASCII, pair(affixes(st.hexASCII))},
		{bodyview.Muted, pair(affixes(st.muted))},
	}
	for _, x := range pairs {
		p.Class[x.c] = x.s
	}
	p.Match = pair(affixes(st.match))
	p.Current = pair(affixes(st.curMatch))
	return p
}

func pair(pre, suf string) [2]string { return [2]string{pre, suf} }
