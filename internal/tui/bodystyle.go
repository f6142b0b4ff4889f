package tui

import (
	"sync"

	"github.com/devproxy/devproxy/internal/bodyview"
)

// palettes memoizes each styles' body palette: styles never change once
// made (a new theme makes new styles).
var palettes sync.Map // *styles → *bodyview.Palette

// bodyPalette is the escape codes of each body class and of search
// matches in these styles.
func (st *styles) bodyPalette() *bodyview.Palette {
	if p, ok := palettes.Load(st); ok {
		return p.(*bodyview.Palette)
	}
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
	palettes.Store(st, p)
	return p
}

func pair(pre, suf string) [2]string { return [2]string{pre, suf} }
