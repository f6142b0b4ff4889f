package bodyview

import (
	"unicode/utf8"

	"github.com/clipperhouse/displaywidth"
)

// tabWidth is the cells a tab takes.
const tabWidth = 4

// glyph returns how rune r, decoded from size bytes, is drawn: control
// characters as their Unicode pictures, tabs as spaces, bytes that are not
// UTF-8 as U+FFFD, so that nothing in a body can move the cursor or change
// the terminal.
func glyph(r rune, size int) string {
	switch {
	case r == utf8.RuneError && size <= 1:
		return "\uFFFD"
	case r == '\t':
		return "    "
	case r < 0x20:
		return string(0x2400 + r)
	case r == 0x7f:
		return "␡"
	case r >= 0x80 && r < 0xa0:
		return "·"
	}
	return string(r)
}

// glyphWidth is the cells glyph(r, size) takes.
func glyphWidth(r rune, size int) int {
	switch {
	case r == utf8.RuneError && size <= 1:
		return 1
	case r == '\t':
		return tabWidth
	case r < 0xa0:
		return 1
	}
	return max(displaywidth.Rune(r), 0)
}
