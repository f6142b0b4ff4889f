package tui

import (
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// lineInput is a one-line text field: the filter, the body search and the
// export path. It is deliberately small (no blinking cursor, no clipboard
// access of its own), so it renders the same every time.
type lineInput struct {
	prompt  string
	value   []rune
	pos     int // cursor, in runes
	focused bool
	width   int // cells for prompt and text; 0 = unbounded
	keys    *EditKeys

	promptStyle, textStyle, cursorStyle lipgloss.Style
}

func newInput(prompt string, keys *EditKeys) lineInput {
	return lineInput{prompt: prompt, keys: keys}
}

// Value returns the text.
func (in *lineInput) Value() string { return string(in.value) }

// SetValue replaces the text and puts the cursor at its end.
func (in *lineInput) SetValue(s string) {
	in.value = []rune(s)
	in.pos = len(in.value)
}

func (in *lineInput) Focus()          { in.focused = true }
func (in *lineInput) Blur()           { in.focused = false }
func (in *lineInput) SetWidth(w int)  { in.width = w }
func (in *lineInput) insert(s string) { in.insertRunes([]rune(sanitizeInput(s))) }
func (in *lineInput) insertRunes(r []rune) {
	v := make([]rune, 0, len(in.value)+len(r))
	v = append(v, in.value[:in.pos]...)
	v = append(v, r...)
	v = append(v, in.value[in.pos:]...)
	in.value = v
	in.pos += len(r)
}

// sanitizeInput drops control characters (a pasted newline, say).
func sanitizeInput(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// Update edits the text for a key press or a paste; it reports whether the
// text changed.
func (in *lineInput) Update(msg tea.Msg) bool {
	before := string(in.value)
	switch msg := msg.(type) {
	case tea.PasteMsg:
		in.insert(msg.Content)
	case tea.KeyPressMsg:
		k := in.keys
		switch {
		case matches(msg, k.Left):
			in.pos = max(in.pos-1, 0)
		case matches(msg, k.Right):
			in.pos = min(in.pos+1, len(in.value))
		case matches(msg, k.Home):
			in.pos = 0
		case matches(msg, k.End):
			in.pos = len(in.value)
		case matches(msg, k.WordLeft):
			in.pos = in.wordLeft()
		case matches(msg, k.WordRight):
			in.pos = in.wordRight()
		case matches(msg, k.DeleteBack):
			if in.pos > 0 {
				in.value = append(in.value[:in.pos-1], in.value[in.pos:]...)
				in.pos--
			}
		case matches(msg, k.DeleteForward):
			if in.pos < len(in.value) {
				in.value = append(in.value[:in.pos], in.value[in.pos+1:]...)
			}
		case matches(msg, k.DeleteToStart):
			in.value = in.value[in.pos:]
			in.pos = 0
		case matches(msg, k.DeleteToEnd):
			in.value = in.value[:in.pos]
		case matches(msg, k.DeleteWordBack):
			w := in.wordLeft()
			in.value = append(in.value[:w], in.value[in.pos:]...)
			in.pos = w
		case matches(msg, k.Space):
			in.insertRunes([]rune{' '})
		default:
			if msg.Text != "" && msg.Mod&^(tea.ModShift) == 0 {
				in.insert(msg.Text)
			}
		}
	}
	return string(in.value) != before
}

func (in *lineInput) wordLeft() int {
	i := in.pos
	for i > 0 && in.value[i-1] == ' ' {
		i--
	}
	for i > 0 && in.value[i-1] != ' ' {
		i--
	}
	return i
}

func (in *lineInput) wordRight() int {
	i := in.pos
	for i < len(in.value) && in.value[i] == ' ' {
		i++
	}
	for i < len(in.value) && in.value[i] != ' ' {
		i++
	}
	return i
}

// start is the first rune View shows: the text scrolls left to keep the
// cursor in view.
func (in *lineInput) start() int {
	room := in.width - ansi.StringWidth(in.prompt) - 1
	start := 0
	if in.width > 0 && room > 0 {
		// Keep the cursor in view: drop runes from the left as needed.
		for start < in.pos && ansi.StringWidth(string(in.value[start:in.pos])) > room {
			start++
		}
	}
	return start
}

// cellOf is the cell, counted from the input's left edge, at which View
// draws rune i of the text (i at the end: the cell after it), and whether
// that cell is in view.
func (in *lineInput) cellOf(i int) (int, bool) {
	start := in.start()
	if i < start || i > len(in.value) {
		return 0, false
	}
	x := ansi.StringWidth(in.prompt) + ansi.StringWidth(string(in.value[start:i]))
	if in.width > 0 && x >= in.width {
		return 0, false
	}
	return x, true
}

// View draws the prompt and the text, scrolled so the cursor is visible,
// with the cursor as a reverse-video cell when focused.
func (in *lineInput) View() string {
	room := in.width - ansi.StringWidth(in.prompt) - 1
	v := in.value
	start := in.start()
	var b strings.Builder
	b.WriteString(in.promptStyle.Render(in.prompt))
	before := string(v[start:in.pos])
	b.WriteString(in.textStyle.Render(before))
	if in.focused {
		under := " "
		if in.pos < len(v) {
			under = string(v[in.pos])
		}
		b.WriteString(in.cursorStyle.Render(under))
		if in.pos < len(v) {
			rest := string(v[in.pos+1:])
			if in.width > 0 && room > 0 {
				rest = ansi.Truncate(rest, max(room-ansi.StringWidth(before)-1, 0), "…")
			}
			b.WriteString(in.textStyle.Render(rest))
		}
	} else {
		rest := string(v[in.pos:])
		b.WriteString(in.textStyle.Render(rest))
	}
	return b.String()
}
