package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// dialog is a pop-up over the views: the help screen, the curl command, a
// prompt, a question. The root keeps open dialogs on a stack and routes
// key presses, pastes and the mouse to the top one; nothing under it sees
// them. A dialog acts on the model only through the callbacks it was made
// with, so the root stays the one place state changes.
type dialog interface {
	// Update handles a message routed to the dialog (and tea.WindowSizeMsg,
	// which every open dialog gets). It returns a command to run, and done
	// when the dialog is to close.
	Update(msg tea.Msg) (cmd tea.Cmd, done bool)
	// Render draws the box for a width×height screen; the root centres it.
	Render(width, height int) string
}

// pushDialog opens d on top of any other dialog.
func (m *Model) pushDialog(d dialog) {
	d.Update(tea.WindowSizeMsg{Width: m.width, Height: m.height})
	m.dialogs = append(m.dialogs, d)
}

// topDialog is the dialog that has the keys, or nil.
func (m *Model) topDialog() dialog {
	if n := len(m.dialogs); n > 0 {
		return m.dialogs[n-1]
	}
	return nil
}

// updateDialog routes msg to the top dialog and closes it when it is done.
// It removes that dialog by identity: its callbacks may have opened
// another on top.
func (m *Model) updateDialog(msg tea.Msg) tea.Cmd {
	d := m.topDialog()
	if d == nil {
		return nil
	}
	cmd, done := d.Update(msg)
	if done {
		for i := len(m.dialogs) - 1; i >= 0; i-- {
			if m.dialogs[i] == d {
				m.dialogs = append(m.dialogs[:i], m.dialogs[i+1:]...)
				break
			}
		}
	}
	return cmd
}

// screenDialog is a dialog drawn on a cleared screen, under the header
// bar, as the help is: it is read at length, and the list showing at its
// edges would be read into it.
type screenDialog interface {
	dialog
	clearsScreen()
}

// drawDialogs puts the open dialogs in the middle of the screen, bottom of
// the stack first, each with a blank cell around it (or, a screenDialog,
// on a cleared screen) so that what is under it does not run into its
// border.
func (m *Model) drawDialogs(base string) string {
	for _, d := range m.dialogs {
		if _, ok := d.(screenDialog); ok {
			base = clearBelowHeader(base, m.width)
		}
		base = place(base, d.Render(m.width, m.height), m.width, m.height)
	}
	return base
}

// clearBelowHeader blanks every line of screen but the first.
func clearBelowHeader(screen string, width int) string {
	head, rest, ok := strings.Cut(screen, "\n")
	if !ok {
		return screen
	}
	blank := strings.Repeat(" ", width)
	n := strings.Count(rest, "\n") + 1
	var b strings.Builder
	b.Grow(len(head) + n*(width+1))
	b.WriteString(head)
	for range n {
		b.WriteByte('\n')
		b.WriteString(blank)
	}
	return b.String()
}

// place draws box over base, centred, with a blank cell on every side
// where the screen has room for it.
func place(base, box string, width, height int) string {
	lines := strings.Split(base, "\n")
	bl := strings.Split(box, "\n")
	bw := 0
	for _, l := range bl {
		bw = max(bw, ansi.StringWidth(l))
	}
	bw = min(bw, width)
	if len(bl) > height {
		bl = bl[:height]
	}
	x := max((width-bw)/2, 0)
	y := max((height-len(bl))/2, 0)
	// The margin: a cell left and right, a line above and below (not
	// over the header bar, which stays whole).
	mx, mw := max(x-1, 0), min(x+bw+1, width)
	for i := max(y-1, min(y, 1)); i <= y+len(bl); i++ {
		if i >= len(lines) {
			break
		}
		cell := strings.Repeat(" ", mw-mx)
		if j := i - y; j >= 0 && j < len(bl) {
			cell = strings.Repeat(" ", x-mx) + "\x1b[m" + fit(bl[j], bw) + "\x1b[m" + strings.Repeat(" ", mw-x-bw)
		}
		row := lines[i]
		lines[i] = ansi.Truncate(row, mx, "") + "\x1b[m" + cell + ansi.TruncateLeft(row, mw, "")
	}
	return strings.Join(lines, "\n")
}

// boxWidth is the inner width a pop-up may use on a screen width wide.
func boxWidth(want, width int) int {
	return max(min(want, width-6), 20)
}

// frame draws a pop-up: a title, the body lines and a footer, inner cells
// wide inside the border.
func frame(st *styles, title string, body []string, footer string, inner int) string {
	lines := make([]string, 0, len(body)+4)
	lines = append(lines, st.popupTitle.Render(truncate(title, inner)), "")
	for _, l := range body {
		lines = append(lines, fit(l, inner))
	}
	if footer != "" {
		lines = append(lines, "")
		for _, l := range wrapPhrases(footer, inner) {
			lines = append(lines, st.muted.Render(l))
		}
	}
	return st.popupBox().Width(inner + 4).Render(strings.Join(lines, "\n"))
}

// phraseSep separates the phrases of a footer: "y quit · n/esc stay".
const phraseSep = " · "

// wrapPhrases lays a footer out in lines of width cells, breaking between
// its phrases (separated by phraseSep), and inside a phrase only when it
// is wider than a line by itself.
func wrapPhrases(s string, width int) []string {
	var out []string
	line := ""
	for _, p := range strings.Split(s, phraseSep) {
		switch {
		case line == "":
			line = p
		case cellWidth(line)+cellWidth(phraseSep)+cellWidth(p) <= width:
			line += phraseSep + p
		default:
			out = append(out, line)
			line = p
		}
		if cellWidth(line) > width {
			ls := wrapWords(line, width, 2)
			out = append(out, ls[:len(ls)-1]...)
			line = ls[len(ls)-1]
		}
	}
	return append(out, line)
}

// textDialog shows text to read (and select), such as a curl command.
type textDialog struct {
	ctx           *uiContext
	keys          *KeyMap
	title, footer string
	text          string
}

func (d *textDialog) Update(msg tea.Msg) (tea.Cmd, bool) {
	k, ok := msg.(tea.KeyPressMsg)
	return nil, ok && matches(k, d.keys.Dialog.Close)
}

func (d *textDialog) Render(width, height int) string {
	inner := boxWidth(100, width)
	var body []string
	for _, l := range strings.Split(d.text, "\n") {
		body = append(body, wrapPlain(sanitizeLine(l), inner, 2)...)
	}
	// Leave room for the frame, title and footer.
	if max := height - 8; len(body) > max && max > 0 {
		body = append(body[:max-1], d.ctx.st.muted.Render("…"))
	}
	return frame(d.ctx.st, d.title, body, d.footer, inner)
}

// newCopyDialog shows an exchange as a command line (curl, grpcurl),
// copied to the clipboard.
func newCopyDialog(ctx *uiContext, keys *KeyMap, title, text string) *textDialog {
	return &textDialog{ctx: ctx, keys: keys, title: title, text: text,
		footer: "Copied to the clipboard (OSC 52) · else select the text above · " + helpText(keys.Dialog.Close)}
}

// menuDialog offers a few things to do, each on its own key. An entry
// that is off says why in place of what it does.
type menuDialog struct {
	ctx     *uiContext
	keys    *KeyMap
	title   string
	entries []menuEntry
}

// menuEntry is one choice of a menuDialog.
type menuEntry struct {
	key         key.Binding
	label, desc string
	off         string // why the entry is unavailable; "" when it is not
	do          func() tea.Cmd
}

func (d *menuDialog) Update(msg tea.Msg) (tea.Cmd, bool) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil, false
	}
	for _, e := range d.entries {
		if matches(k, e.key) {
			if e.off != "" {
				return nil, false // the menu says why already
			}
			return e.do(), true
		}
	}
	return nil, matches(k, d.keys.Dialog.Close)
}

func (d *menuDialog) Render(width, _ int) string {
	st := d.ctx.st
	inner := boxWidth(72, width)
	keyW, labelW := 0, 0
	for _, e := range d.entries {
		keyW = max(keyW, cellWidth(e.key.Help().Key))
		labelW = max(labelW, cellWidth(e.label))
	}
	var body []string
	for _, e := range d.entries {
		k := e.key.Help().Key
		head := k + strings.Repeat(" ", keyW-cellWidth(k)+2) + e.label + strings.Repeat(" ", labelW-cellWidth(e.label)+2)
		text, style := e.desc, st.popupTitle.UnsetBold()
		if e.off != "" {
			text, style = e.off, st.muted
		}
		for i, l := range wrapWords(text, max(inner-cellWidth(head), 10), 0) {
			if i == 0 {
				body = append(body, st.key.Render(k)+strings.Repeat(" ", keyW-cellWidth(k)+2)+e.label+strings.Repeat(" ", labelW-cellWidth(e.label)+2)+style.Render(l))
			} else {
				body = append(body, strings.Repeat(" ", cellWidth(head))+style.Render(l))
			}
		}
	}
	return frame(st, d.title, body, helpText(d.keys.Dialog.Close), inner)
}

// confirmDialog asks a yes/no question, maybe with more answers: yes runs
// onYes, no runs onNo (if set), each of more runs its own.
type confirmDialog struct {
	ctx   *uiContext
	keys  *KeyMap
	title string
	// lines are the question, asked again at each frame so that counts
	// stay current.
	lines func() []string
	// yes and no describe the answers in the footer (the bindings' own
	// descriptions if empty).
	yes, no string
	onYes   func() tea.Cmd
	onNo    func() tea.Cmd
	// more are answers besides yes and no, listed in the footer after
	// them, in order.
	more []answer
}

// answer is one more answer to a confirmDialog: its key, how the footer
// describes it, and what it does.
type answer struct {
	key  key.Binding
	desc string
	do   func() tea.Cmd
}

func (d *confirmDialog) Update(msg tea.Msg) (tea.Cmd, bool) {
	k, ok := msg.(tea.KeyPressMsg)
	switch {
	case !ok:
	case matches(k, d.keys.Dialog.Yes):
		return d.onYes(), true
	case matches(k, d.keys.Dialog.No):
		if d.onNo != nil {
			return d.onNo(), true
		}
		return nil, true
	default:
		for _, a := range d.more {
			if matches(k, a.key) {
				return a.do(), true
			}
		}
	}
	return nil, false
}

func (d *confirmDialog) Render(width, _ int) string {
	describe := func(b key.Binding, desc string) string {
		if desc == "" {
			return helpText(b)
		}
		return b.Help().Key + " " + desc
	}
	footer := describe(d.keys.Dialog.Yes, d.yes) + " · " + describe(d.keys.Dialog.No, d.no)
	for _, a := range d.more {
		footer += " · " + describe(a.key, a.desc)
	}
	inner := boxWidth(56, width)
	var body []string
	for _, l := range d.lines() {
		body = append(body, wrapProse(l, inner, 0)...)
	}
	return frame(d.ctx.st, d.title, body, footer, inner)
}

// promptDialog asks for one line of text; enter hands it to onEnter.
type promptDialog struct {
	ctx     *uiContext
	keys    *KeyMap
	title   string
	label   string // above the input
	note    string // below the input
	footer  string
	input   lineInput
	onEnter func(string) tea.Cmd
	// onCancel, if set, runs when the prompt is canceled.
	onCancel func()
}

func (d *promptDialog) Update(msg tea.Msg) (tea.Cmd, bool) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, d.keys.Input.Accept):
			d.input.Blur()
			return d.onEnter(d.input.Value()), true
		case matches(k, d.keys.Input.Cancel):
			d.input.Blur()
			if d.onCancel != nil {
				d.onCancel()
			}
			return nil, true
		}
	}
	switch msg.(type) {
	case tea.KeyPressMsg, tea.PasteMsg:
		d.input.Update(msg)
	}
	return nil, false
}

func (d *promptDialog) Render(width, _ int) string {
	inner := boxWidth(72, width)
	d.ctx.st.styleInput(&d.input)
	d.input.SetWidth(inner - 2)
	return frame(d.ctx.st, d.title, []string{
		d.label,
		d.input.View(),
		"",
		d.ctx.st.muted.Render(d.note),
	}, d.footer, inner)
}

// helpDialog is the full key list and the filter syntax, from the KeyMap.
type helpDialog struct {
	ctx    *uiContext
	keys   *KeyMap
	height int // of the screen, for paging
	offset int // first body line shown
}

func (d *helpDialog) clearsScreen() {}

func (d *helpDialog) Update(msg tea.Msg) (tea.Cmd, bool) {
	k := d.keys
	page := max(d.height/2, 1)
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		d.height = msg.Height
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			d.offset = max(d.offset-wheelStep, 0)
		case tea.MouseWheelDown:
			d.offset += wheelStep
		}
	case tea.KeyPressMsg:
		switch {
		case matches(msg, k.Nav.Down):
			d.offset++
		case matches(msg, k.Nav.Up):
			d.offset = max(d.offset-1, 0)
		case matches(msg, k.Nav.PageDown):
			d.offset += page
		case matches(msg, k.Nav.PageUp):
			d.offset = max(d.offset-page, 0)
		case matches(msg, k.Dialog.Close), matches(msg, k.Help):
			return nil, true
		}
	}
	return nil, false
}

func (d *helpDialog) Render(width, height int) string {
	st := d.ctx.st
	inner := boxWidth(110, width)
	var blocks []string
	for _, s := range d.keys.sections() {
		var lines []string
		lines = append(lines, st.section.Render(s.title))
		kw := 0
		for _, r := range s.rows {
			if r.b.Enabled() {
				kw = max(kw, ansi.StringWidth(r.b.Help().Key))
			}
		}
		if kw == 0 {
			continue // every binding of the section is off
		}
		for _, r := range s.rows {
			if !r.b.Enabled() {
				continue
			}
			lines = append(lines, st.key.Render(fit(r.b.Help().Key, kw))+"  "+st.keyDesc.Render(truncate(r.desc, inner-kw-2)))
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	// Lay the sections out in as many columns as fit.
	var rows []string
	var row []string
	roww := 0
	for _, blk := range blocks {
		w := lipgloss.Width(blk) + 3
		if roww+w > inner && len(row) > 0 {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, roww = nil, 0
		}
		row = append(row, lipgloss.NewStyle().PaddingRight(3).Render(blk))
		roww += w
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	body := strings.Split(strings.Join(rows, "\n\n"), "\n")
	body = append(body, "", st.section.Render("Filter"))
	for _, l := range filterHelp {
		body = append(body, wrapPlain(l, inner, 16)...)
	}
	visible := max(height-8, 3)
	d.offset = min(d.offset, max(len(body)-visible, 0))
	footer := d.keys.Dialog.Close.Help().Key + "/" + d.keys.Help.Help().Key + " close"
	if len(body) > visible {
		body = body[d.offset:min(d.offset+visible, len(body))]
		footer = "↑/↓ scroll · " + footer
	}
	return frame(st, "Keys", body, footer, inner)
}

var filterHelp = []string{
	"text          URL, headers or bodies contain text (any case)",
	"method:GET    method; GET,POST for either",
	"status:404    also 5xx, >=400, 200-299, 404,5xx",
	"host:api      host contains api; *.example.com globs",
	"path:/api     path starts with /api; /api/*/items globs",
	"header:x-id   header present; header:x-id=42 value contains 42",
	"body:text     request or response body contains text",
	"dur:>200ms    duration; size:>1mb response size",
	"type:json     response content type contains json",
	"error replay  failed exchanges; replays",
	`-token        negates; "quoted text" for spaces; tokens AND together`,
}

// confirmClear asks before dropping every exchange.
func (m *Model) confirmClear() {
	m.pushDialog(&confirmDialog{ctx: &m.ctx, keys: &m.keys, title: "Clear the capture?",
		lines: func() []string {
			return []string{
				fmt.Sprintf("Drop all %d recorded exchanges?", len(m.entries)),
				"Traffic in flight keeps flowing; it is not recorded.",
			}
		},
		onYes: func() tea.Cmd {
			if c, ok := m.src.(Clearer); ok {
				c.Clear()
			}
			m.resetEntries()
			m.closeDetail()
			m.detail.x = nil
			m.setStatus("cleared every exchange", false)
			return nil
		},
	})
}

// openHelp shows every key binding.
func (m *Model) openHelp() {
	m.pushDialog(&helpDialog{ctx: &m.ctx, keys: &m.keys})
}

// helpText is a binding as the footers show it: "esc close".
func helpText(b key.Binding) string {
	h := b.Help()
	return h.Key + " " + h.Desc
}
