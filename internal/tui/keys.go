package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyMap is every key binding of the UI, grouped by where it applies. The
// footer's short help, the ? screen and the README's key table (Markdown)
// are all generated from it. It implements help.KeyMap.
type KeyMap struct {
	// Nav moves in the list, and scrolls the detail view and the help.
	Nav NavKeys
	// List applies to the exchange list.
	List ListKeys
	// Detail applies to the detail view.
	Detail DetailKeys
	// Actions apply to the selected exchange and the capture, from the list
	// and the detail view.
	Actions ActionKeys
	// Holds act on the exchanges breakpoint rules hold, from the list and
	// the detail view; they are off where nothing can be held (view).
	Holds HoldKeys
	// Rules open the rules pane and set the intercept, from the list and
	// the detail view, and edit the rules in the pane; they are off where
	// nothing is proxied (view).
	Rules RuleKeys
	// Input applies while typing a filter, a search or a pop-up's prompt.
	Input InputKeys
	// Edit edits the text of those inputs.
	Edit EditKeys
	// Dialog applies to pop-ups.
	Dialog DialogKeys

	// Help shows every binding; Quit leaves the program from the list (in
	// the detail view Detail.Back goes back instead); ForceQuit leaves from
	// anywhere. Events shows the event log; Redraw repaints the screen.
	Help, Quit, ForceQuit, Events, Redraw key.Binding
}

// NavKeys move the list cursor, or scroll the detail view or the help.
type NavKeys struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
}

// ListKeys apply to the exchange list.
type ListKeys struct {
	// Follow toggles follow mode: the newest exchange stays selected.
	Follow key.Binding
	// Open shows the selected exchange's detail.
	Open key.Binding
	// Filter edits the list filter; ClearFilter drops it.
	Filter, ClearFilter key.Binding
	// Mark toggles the selected exchange's mark; Delete drops the marked
	// exchanges (or the selected one); Sort cycles the list order.
	Mark, Delete, Sort key.Binding
}

// DetailKeys apply to the detail view.
type DetailKeys struct {
	// Tabs.
	NextTab, PrevTab, TabRequest, TabResponse, TabTiming, TabMessages key.Binding
	// Mode cycles how the body is shown (auto, text, hex, JSON, …);
	// SaveBody writes the shown body to a file; Pager opens it in $PAGER.
	Mode, SaveBody, Pager key.Binding
	// PrevExchange and NextExchange move the detail view along the list.
	PrevExchange, NextExchange key.Binding
	// Search finds text in the body; NextMatch and PrevMatch cycle.
	Search, NextMatch, PrevMatch key.Binding
	// Back returns to the list.
	Back key.Binding
}

// ActionKeys act on the selected exchange and the capture.
type ActionKeys struct {
	Replay, Edit, Curl, Export, Pause, Clear key.Binding
}

// HoldKeys act on held exchanges (breakpoints): Resume lets the selected
// one go on unchanged, ResumeAll every one, Abort answers its client with a
// 502, and Edit (the edit-and-replay key) edits it in $EDITOR, then
// resumes it as edited.
type HoldKeys struct {
	Resume, ResumeAll, Abort, Edit key.Binding
}

// RuleKeys edit the rules that shape traffic. Open shows the rules pane
// and Intercept asks for an intercept matcher, from the list and the
// detail view; the others apply in the pane: Add asks for a rule, Toggle
// switches the selected one on or off, Delete drops it, MoveUp and
// MoveDown move it (the rules are tried in order).
type RuleKeys struct {
	Open, Intercept                       key.Binding
	Add, Toggle, Delete, MoveUp, MoveDown key.Binding
}

// InputKeys end the typing of a filter, a search or a prompt: Accept keeps
// what was typed, Cancel drops it.
type InputKeys struct {
	Accept, Cancel key.Binding
}

// EditKeys move the cursor in a line of text and delete from it.
type EditKeys struct {
	Left, Right, Home, End, WordLeft, WordRight                           key.Binding
	DeleteBack, DeleteForward, DeleteToStart, DeleteToEnd, DeleteWordBack key.Binding
	// Space types a space (the key has a name of its own).
	Space key.Binding
}

// DialogKeys answer pop-ups: Close closes one that only shows something;
// Yes and No answer a question.
type DialogKeys struct {
	Close, Yes, No key.Binding
	// Keep keeps the temporary session file when quitting.
	Keep key.Binding
	// Grpcurl and Curl choose how c copies a gRPC call.
	Grpcurl, Curl key.Binding
}

// DefaultKeyMap returns the standard bindings.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, help, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Nav: NavKeys{
			Up:       b([]string{"k", "up"}, "↑/k", "up"),
			Down:     b([]string{"j", "down"}, "↓/j", "down"),
			PageUp:   b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
			PageDown: b([]string{"pgdown", "ctrl+d"}, "pgdn", "page down"),
			Top:      b([]string{"g", "home"}, "g/home", "top"),
			Bottom:   b([]string{"G", "end"}, "G/end", "bottom"),
		},
		List: ListKeys{
			Follow:      b([]string{"F"}, "F", "follow"),
			Open:        b([]string{"enter"}, "enter", "open"),
			Filter:      b([]string{"/"}, "/", "filter"),
			ClearFilter: b([]string{"esc"}, "esc", "clear filter"),
			Mark:        b([]string{"space"}, "space", "mark"),
			Delete:      b([]string{"d"}, "d", "delete"),
			Sort:        b([]string{"s"}, "s", "sort"),
		},
		Detail: DetailKeys{
			NextTab:      b([]string{"tab", "l", "right"}, "tab/l", "next tab"),
			PrevTab:      b([]string{"shift+tab", "h", "left"}, "shift+tab/h", "previous tab"),
			TabRequest:   b([]string{"1"}, "1", "request tab"),
			TabResponse:  b([]string{"2"}, "2", "response tab"),
			TabTiming:    b([]string{"3"}, "3", "timing tab"),
			TabMessages:  b([]string{"4"}, "4", "messages tab"),
			Mode:         b([]string{"m"}, "m", "view mode"),
			SaveBody:     b([]string{"b"}, "b", "save body"),
			Pager:        b([]string{"o"}, "o", "open in $PAGER"),
			PrevExchange: b([]string{"["}, "[", "previous exchange"),
			NextExchange: b([]string{"]"}, "]", "next exchange"),
			Search:       b([]string{"/"}, "/", "search body"),
			NextMatch:    b([]string{"n"}, "n", "next match"),
			PrevMatch:    b([]string{"N"}, "N", "previous match"),
			Back:         b([]string{"esc", "q"}, "esc/q", "back"),
		},
		Actions: ActionKeys{
			Replay: b([]string{"r"}, "r", "replay"),
			Edit:   b([]string{"e"}, "e", "edit & replay"),
			Curl:   b([]string{"c"}, "c", "copy curl"),
			Export: b([]string{"x"}, "x", "export HAR"),
			Pause:  b([]string{"p"}, "p", "pause"),
			Clear:  b([]string{"C"}, "C", "clear all"),
		},
		Holds: HoldKeys{
			Resume:    b([]string{"a"}, "a", "resume"),
			ResumeAll: b([]string{"A"}, "A", "resume all"),
			Abort:     b([]string{"X"}, "X", "abort"),
			Edit:      b([]string{"e"}, "e", "edit & resume"),
		},
		Rules: RuleKeys{
			Open:      b([]string{"R"}, "R", "rules"),
			Intercept: b([]string{"i"}, "i", "intercept"),
			Add:       b([]string{"n", "a"}, "n/a", "add"),
			Toggle:    b([]string{"space", "t"}, "space/t", "on/off"),
			Delete:    b([]string{"d"}, "d", "delete"),
			MoveUp:    b([]string{"K", "shift+up"}, "K/shift+↑", "move up"),
			MoveDown:  b([]string{"J", "shift+down"}, "J/shift+↓", "move down"),
		},
		Input: InputKeys{
			Accept: b([]string{"enter"}, "enter", "keep"),
			Cancel: b([]string{"esc"}, "esc", "clear"),
		},
		Edit: EditKeys{
			Left:           b([]string{"left", "ctrl+b"}, "←", "left"),
			Right:          b([]string{"right", "ctrl+f"}, "→", "right"),
			Home:           b([]string{"home", "ctrl+a"}, "home", "start"),
			End:            b([]string{"end", "ctrl+e"}, "end", "end"),
			WordLeft:       b([]string{"alt+left", "ctrl+left", "alt+b"}, "alt+←", "word left"),
			WordRight:      b([]string{"alt+right", "ctrl+right", "alt+f"}, "alt+→", "word right"),
			DeleteBack:     b([]string{"backspace", "ctrl+h"}, "backspace", "delete left"),
			DeleteForward:  b([]string{"delete", "ctrl+d"}, "delete", "delete right"),
			DeleteToStart:  b([]string{"ctrl+u"}, "ctrl+u", "delete to start"),
			DeleteToEnd:    b([]string{"ctrl+k"}, "ctrl+k", "delete to end"),
			DeleteWordBack: b([]string{"ctrl+w", "alt+backspace"}, "ctrl+w", "delete word"),
			Space:          b([]string{"space"}, "space", "space"),
		},
		Dialog: DialogKeys{
			Close:   b([]string{"esc", "q", "enter"}, "esc", "close"),
			Yes:     b([]string{"y", "Y"}, "y", "clear"),
			No:      b([]string{"n", "N", "esc", "q"}, "n/esc", "keep"),
			Keep:    b([]string{"k", "K"}, "k", "keep the session"),
			Grpcurl: b([]string{"g"}, "g", "copy as grpcurl"),
			Curl:    b([]string{"c"}, "c", "copy as curl"),
		},
		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q"}, "q", "quit"),
		ForceQuit: b([]string{"ctrl+c"}, "ctrl+c", "quit now"),
		Events:    b([]string{"E"}, "E", "event log"),
		Redraw:    b([]string{"ctrl+l"}, "ctrl+l", "repaint"),
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
			{k.Nav.Up, "up"},
			{k.Nav.Down, "down"},
			{k.Nav.PageUp, "page up"},
			{k.Nav.PageDown, "page down"},
			{k.Nav.Top, "oldest / top of the body"},
			{k.Nav.Bottom, "newest, following / bottom of the body"},
		}},
		{"List", []keyRow{
			{k.List.Follow, "toggle follow mode (newest stays in view)"},
			{k.List.Open, "open the detail view"},
			{k.List.Filter, "filter the list as you type"},
			{k.List.ClearFilter, "clear the filter"},
			{k.List.Mark, "mark / unmark, then move down"},
			{k.List.Delete, "delete the marked exchanges, or the selected one"},
			{k.List.Sort, "sort by time, duration, size, status"},
		}},
		{"Detail", []keyRow{
			{k.Detail.NextTab, "next tab"},
			{k.Detail.PrevTab, "previous tab"},
			{k.Detail.TabRequest, "Request tab"},
			{k.Detail.TabResponse, "Response tab"},
			{k.Detail.TabTiming, "Timing tab"},
			{k.Detail.TabMessages, "Messages tab (WebSocket, gRPC)"},
			{k.Detail.Mode, "show the body another way: auto, text, hex, JSON, XML/HTML, form, image, wire bytes"},
			{k.Detail.SaveBody, "save the shown body to a file"},
			{k.Detail.Pager, "open the shown body in $PAGER"},
			{k.Detail.PrevExchange, "previous exchange"},
			{k.Detail.NextExchange, "next exchange"},
			{k.Detail.Search, "search the body"},
			{k.Detail.NextMatch, "next match"},
			{k.Detail.PrevMatch, "previous match"},
			{k.Detail.Back, "back to the list"},
		}},
		{"Actions", []keyRow{
			{k.Actions.Replay, "replay the exchange (gRPC: unary calls)"},
			{k.Actions.Edit, "edit in $EDITOR, then replay (gRPC: as JSON)"},
			{k.Actions.Curl, "copy as curl, or gRPC as grpcurl (clipboard and pop-up)"},
			{k.Actions.Export, "export HAR (the marked, else the filtered set)"},
			{k.Actions.Pause, "pause / resume capture"},
			{k.Actions.Clear, "clear all exchanges (asks first)"},
		}},
		{"Breakpoints (held exchanges, ⏸ in the list)", []keyRow{
			{k.Holds.Resume, "resume the held exchange as it is"},
			{k.Holds.ResumeAll, "resume every held exchange"},
			{k.Holds.Abort, "abort it: its client gets a 502"},
			{k.Holds.Edit, "edit it in $EDITOR, then resume it"},
		}},
		{"Rules (R, i; the rest in the rules pane)", []keyRow{
			{k.Rules.Open, "rules pane: the rules that shape traffic, in order"},
			{k.Rules.Intercept, "intercept: hold what a filter matches (empty clears)"},
			{k.Rules.Add, "add a rule (MATCHER => ACTION …), checked as typed"},
			{k.Rules.Toggle, "switch the selected rule on or off"},
			{k.Rules.Delete, "delete the selected rule"},
			{k.Rules.MoveUp, "move it up (rules are tried in order)"},
			{k.Rules.MoveDown, "move it down"},
		}},
		{"General", []keyRow{
			{k.Help, "this help"},
			{k.Events, "event log: connections, agents, TLS failures, refusals, warnings"},
			{k.Quit, "quit (asks about exchanges never exported; in the detail view: back)"},
			{k.ForceQuit, "quit from anywhere, at once"},
			{k.Redraw, "repaint the screen"},
		}},
	}
}

// ShortHelp is the footer help of the list, most useful first: it is cut
// where the terminal ends (the ? help stays).
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.List.Open, k.List.Filter, k.Quit, k.Actions.Replay, k.Actions.Curl, k.Actions.Export,
		k.List.Mark, k.List.Sort, k.List.Delete, k.Actions.Edit, k.Actions.Pause, k.List.Follow, k.Actions.Clear,
		k.Rules.Open, k.Rules.Intercept}
}

// detailHelp is the footer help of the detail view.
func (k KeyMap) detailHelp() []key.Binding {
	return []key.Binding{k.Detail.Back, k.Detail.NextTab, k.Detail.Search, k.Detail.NextMatch, k.Detail.Mode, k.Detail.SaveBody, k.Detail.Pager, k.Detail.PrevExchange, k.Detail.NextExchange, k.Actions.Replay, k.Actions.Edit, k.Actions.Curl}
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
