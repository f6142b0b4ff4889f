package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyMap is every key binding of the UI. The footer's short help, the ?
// screen and the README's key table (Markdown) are all generated from it.
// It implements help.KeyMap.
type KeyMap struct {
	// Moving in the list, and scrolling in the detail view.
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	// Follow toggles follow mode: the newest exchange stays selected.
	Follow key.Binding
	// Open shows the selected exchange's detail.
	Open key.Binding
	// Filter edits the list filter; ClearFilter drops it.
	Filter, ClearFilter key.Binding

	// Detail view tabs.
	NextTab, PrevTab, TabRequest, TabResponse, TabTiming key.Binding
	// PrevExchange and NextExchange move the detail view along the list.
	PrevExchange, NextExchange key.Binding
	// Search finds text in the detail view; NextMatch and PrevMatch cycle.
	Search, NextMatch, PrevMatch key.Binding

	// Actions on the selected exchange and the capture.
	Replay, Edit, Curl, Export, Pause, Clear key.Binding

	// Help shows every binding; Back leaves a view or closes a pop-up; Quit
	// leaves the program from the list (in the detail view it goes back);
	// ForceQuit leaves from anywhere.
	Help, Back, Quit, ForceQuit key.Binding
}

// DefaultKeyMap returns the standard bindings.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, help, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Up:           b([]string{"k", "up"}, "↑/k", "up"),
		Down:         b([]string{"j", "down"}, "↓/j", "down"),
		PageUp:       b([]string{"pgup", "ctrl+u", "b"}, "pgup/b", "page up"),
		PageDown:     b([]string{"pgdown", "ctrl+d", "space"}, "pgdn/space", "page down"),
		Top:          b([]string{"g", "home"}, "g/home", "top"),
		Bottom:       b([]string{"G", "end"}, "G/end", "bottom"),
		Follow:       b([]string{"F"}, "F", "follow"),
		Open:         b([]string{"enter"}, "enter", "open"),
		Filter:       b([]string{"/"}, "/", "filter"),
		ClearFilter:  b([]string{"esc"}, "esc", "clear filter"),
		NextTab:      b([]string{"tab", "l", "right"}, "tab/l", "next tab"),
		PrevTab:      b([]string{"shift+tab", "h", "left"}, "shift+tab/h", "previous tab"),
		TabRequest:   b([]string{"1"}, "1", "request tab"),
		TabResponse:  b([]string{"2"}, "2", "response tab"),
		TabTiming:    b([]string{"3"}, "3", "timing tab"),
		PrevExchange: b([]string{"["}, "[", "previous exchange"),
		NextExchange: b([]string{"]"}, "]", "next exchange"),
		Search:       b([]string{"/"}, "/", "search body"),
		NextMatch:    b([]string{"n"}, "n", "next match"),
		PrevMatch:    b([]string{"N"}, "N", "previous match"),
		Replay:       b([]string{"r"}, "r", "replay"),
		Edit:         b([]string{"e"}, "e", "edit & replay"),
		Curl:         b([]string{"c"}, "c", "copy curl"),
		Export:       b([]string{"x"}, "x", "export HAR"),
		Pause:        b([]string{"p"}, "p", "pause"),
		Clear:        b([]string{"C"}, "C", "clear all"),
		Help:         b([]string{"?"}, "?", "help"),
		Back:         b([]string{"esc", "q"}, "esc/q", "back"),
		Quit:         b([]string{"q"}, "q", "quit"),
		ForceQuit:    b([]string{"ctrl+c"}, "ctrl+c", "quit now"),
	}
}

// keySection is a titled group of bindings for the help screen and the
// key table, each with a longer description than the footer's.
type keySection struct {
	title string
	rows  []keyRow
}

type keyRow struct {
	b    key.Binding
	desc string
}

func (k KeyMap) sections() []keySection {
	return []keySection{
		{"Move (list; scrolls the detail view)", []keyRow{
			{k.Up, "up"},
			{k.Down, "down"},
			{k.PageUp, "page up"},
			{k.PageDown, "page down"},
			{k.Top, "oldest / top of the body"},
			{k.Bottom, "newest, following / bottom of the body"},
		}},
		{"List", []keyRow{
			{k.Follow, "toggle follow mode (newest stays in view)"},
			{k.Open, "open the detail view"},
			{k.Filter, "filter the list as you type"},
			{k.ClearFilter, "clear the filter"},
		}},
		{"Detail", []keyRow{
			{k.NextTab, "next tab"},
			{k.PrevTab, "previous tab"},
			{k.TabRequest, "Request tab"},
			{k.TabResponse, "Response tab"},
			{k.TabTiming, "Timing tab"},
			{k.PrevExchange, "previous exchange"},
			{k.NextExchange, "next exchange"},
			{k.Search, "search the body"},
			{k.NextMatch, "next match"},
			{k.PrevMatch, "previous match"},
			{k.Back, "back to the list"},
		}},
		{"Actions", []keyRow{
			{k.Replay, "replay the exchange"},
			{k.Edit, "edit in $EDITOR, then replay"},
			{k.Curl, "copy as curl (clipboard and pop-up)"},
			{k.Export, "export HAR (the filtered set, if any)"},
			{k.Pause, "pause / resume capture"},
			{k.Clear, "clear all exchanges (asks first)"},
		}},
		{"General", []keyRow{
			{k.Help, "this help"},
			{k.Quit, "quit (in the detail view: back)"},
			{k.ForceQuit, "quit from anywhere"},
		}},
	}
}

// ShortHelp is the footer help of the list.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Open, k.Filter, k.Quit, k.Replay, k.Edit, k.Curl, k.Export, k.Pause, k.Follow, k.Clear}
}

// detailHelp is the footer help of the detail view.
func (k KeyMap) detailHelp() []key.Binding {
	return []key.Binding{k.Back, k.NextTab, k.Search, k.NextMatch, k.PrevExchange, k.NextExchange, k.Replay, k.Edit, k.Curl}
}

// FullHelp groups every binding by where it applies.
func (k KeyMap) FullHelp() [][]key.Binding {
	var out [][]key.Binding
	for _, s := range k.sections() {
		col := make([]key.Binding, len(s.rows))
		for i, r := range s.rows {
			col[i] = r.b
		}
		out = append(out, col)
	}
	return out
}

// Markdown renders the bindings as a Markdown table for the README: one row
// per binding, with where it applies, its keys and what it does. Disabled
// bindings are left out.
func (k KeyMap) Markdown() string {
	var b strings.Builder
	b.WriteString("| Where | Keys | Action |\n|---|---|---|\n")
	for _, s := range k.sections() {
		where, _, _ := strings.Cut(s.title, " (")
		for _, r := range s.rows {
			if !r.b.Enabled() {
				continue
			}
			keys := make([]string, 0, len(r.b.Keys()))
			for _, name := range r.b.Keys() {
				keys = append(keys, "`"+strings.ReplaceAll(name, "|", `\|`)+"`")
			}
			b.WriteString("| " + where + " | " + strings.Join(keys, " ") + " | " + r.desc + " |\n")
		}
	}
	return b.String()
}
