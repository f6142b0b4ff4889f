package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/match"
)

// Holds is what the UI needs of the exchanges that breakpoint rules hold:
// to list them, and to resume, edit or abort them. cmd/devproxy implements
// it over the rule engine's holds. Its methods are called off the UI's
// event loop and must be safe for concurrent use.
type Holds interface {
	// List returns the held exchanges, oldest first.
	List() []Held
	// Changed receives a value when the set of held exchanges changes;
	// values may coalesce, so the UI reads List after each.
	Changed() <-chan struct{}
	// Resume lets held exchange id go on: unchanged when raw is "", else
	// as raw (the edited Held.Text). Text that does not parse is an
	// error wrapping an *export.RawError (with the line), and the
	// exchange stays held.
	Resume(id uint64, raw string) error
	// ResumeAll lets every held exchange go on unchanged.
	ResumeAll()
	// Abort ends held exchange id: its client gets a 502 saying it was
	// aborted in devproxy.
	Abort(id uint64) error
}

// Held is one held exchange as the UI shows it.
type Held struct {
	// ID is the exchange's ID in the Source (an exchange recorded while
	// capture was paused has one the list does not hold).
	ID uint64
	// Phase is where it is held: match.PhaseRequest (before the upstream
	// is called) or match.PhaseResponse (before the response goes to the
	// client).
	Phase match.Phase
	// Rule names the rule whose breakpoint holds it.
	Rule string
	// Since is when the hold began; at Deadline it goes on unchanged.
	Since, Deadline time.Time
	// Method and URL are the request's; Status the response's (response
	// phase only).
	Method, URL string
	Status      int
	// BodyEditable says whether Text holds the body; when it does not,
	// only the start line and headers can be edited and Note says why.
	BodyEditable bool
	Note         string
	// Text is the held message as HTTP/1.1 text, what e opens in $EDITOR.
	Text string
}

// heldMsg is the held exchanges after a change, read off the event loop.
// watch says it came from the watcher, which is then started again.
type heldMsg struct {
	list  []Held
	watch bool
}

// watchHolds waits until h changes (or ctx ends), then reads its list.
func watchHolds(ctx context.Context, h Holds) tea.Cmd {
	return func() tea.Msg {
		select {
		case <-ctx.Done():
			return nil
		case <-h.Changed():
		}
		return heldMsg{list: h.List(), watch: true}
	}
}

// readHolds reads h's list now.
func readHolds(h Holds) tea.Cmd {
	return func() tea.Msg { return heldMsg{list: h.List()} }
}

// setHeld replaces the held exchanges the UI knows of.
func (m *Model) setHeld(list []Held) {
	clear(m.held)
	for i := range list {
		h := list[i]
		m.held[h.ID] = &h
	}
	for id := range m.drafts {
		if _, ok := m.held[id]; !ok {
			delete(m.drafts, id)
		}
	}
}

// heldOf is the hold of exchange id, or nil.
func (m *Model) heldOf(id uint64) *Held {
	if m.held == nil {
		return nil
	}
	return m.held[id]
}

// targetID is the exchange an action applies to: the one in the detail
// view, else the one under the list cursor.
func (m *Model) targetID() (uint64, bool) {
	if m.detailOpen() && m.detail.x != nil {
		return m.detail.x.ID, true
	}
	m.list.rows = m.rows()
	return m.selectedID()
}

// heldTarget is the held exchange an action applies to; when the target
// is not held it says so and returns nil.
func (m *Model) heldTarget() *Held {
	id, ok := m.targetID()
	if !ok {
		m.setStatus("no exchange is selected", false)
		return nil
	}
	h := m.heldOf(id)
	if h == nil {
		if n := len(m.held); n > 0 {
			m.setStatus(fmt.Sprintf("#%d is not held (%d %s held; the list shows ⏸)", id, n, oneOrMany(n, "exchange is", "exchanges are")), false)
		} else {
			m.setStatus(fmt.Sprintf("#%d is not held: nothing is", id), false)
		}
	}
	return h
}

// holdDoneMsg reports a resume, edit or abort of held exchanges, with the
// list as it is afterwards.
type holdDoneMsg struct {
	id   uint64
	verb string // "resumed", "resumed as edited", "aborted", "resumed all"
	n    int    // for "resumed all": how many were held
	err  error
	// draft is edited text that did not parse, kept for the next edit.
	draft string
	list  []Held
}

func (m *Model) resumeHeld() tea.Cmd {
	h := m.heldTarget()
	if h == nil {
		return nil
	}
	hs, id := m.cfg.Holds, h.ID
	return func() tea.Msg {
		err := hs.Resume(id, "")
		return holdDoneMsg{id: id, verb: "resumed", err: err, list: hs.List()}
	}
}

func (m *Model) resumeAllHeld() tea.Cmd {
	n := len(m.held)
	if n == 0 {
		m.setStatus("nothing is held", false)
		return nil
	}
	hs := m.cfg.Holds
	return func() tea.Msg {
		hs.ResumeAll()
		return holdDoneMsg{verb: "resumed all", n: n, list: hs.List()}
	}
}

func (m *Model) abortHeld() tea.Cmd {
	h := m.heldTarget()
	if h == nil {
		return nil
	}
	hs, id := m.cfg.Holds, h.ID
	return func() tea.Msg {
		err := hs.Abort(id)
		return holdDoneMsg{id: id, verb: "aborted", err: err, list: hs.List()}
	}
}

// editHeld opens the held message (or the draft that did not parse) in
// $EDITOR; finishEdit resumes it as edited.
func (m *Model) editHeld(h *Held) tea.Cmd {
	text := h.Text
	if d, ok := m.drafts[h.ID]; ok {
		text = d
	}
	id, orig := h.ID, []byte(h.Text)
	return func() tea.Msg {
		path, err := editFile(fmt.Sprintf("devproxy-held-%d-*.http", id), []byte(text))
		if err != nil {
			return editReadyMsg{id: id, held: true, err: err}
		}
		return editReadyMsg{id: id, held: true, path: path, orig: orig, editor: editorCommand()}
	}
}

// finishHeldEdit resumes a held exchange with what the editor saved;
// unchanged or empty text leaves it held.
func (m *Model) finishHeldEdit(msg editExitMsg) tea.Cmd {
	hs := m.cfg.Holds
	return func() tea.Msg {
		defer os.Remove(msg.path)
		if msg.err != nil {
			return editCanceledMsg{id: msg.id, held: true, reason: "the editor failed: " + msg.err.Error()}
		}
		text, err := os.ReadFile(msg.path)
		if err != nil {
			return editCanceledMsg{id: msg.id, held: true, reason: err.Error()}
		}
		switch {
		case len(bytes.TrimSpace(text)) == 0:
			return editCanceledMsg{id: msg.id, held: true, reason: "the file was empty"}
		case bytes.Equal(text, msg.orig):
			return editCanceledMsg{id: msg.id, held: true, reason: "nothing was changed"}
		}
		err = hs.Resume(msg.id, string(text))
		done := holdDoneMsg{id: msg.id, verb: "resumed as edited", err: err, list: hs.List()}
		var raw *export.RawError
		if errors.As(err, &raw) {
			done.draft = string(text)
		}
		return done
	}
}

// holdDone reports what a resume, edit or abort did.
func (m *Model) holdDone(msg holdDoneMsg) {
	m.setHeld(msg.list)
	var raw *export.RawError
	switch {
	case errors.As(msg.err, &raw):
		m.drafts[msg.id] = msg.draft
		m.setStatus(fmt.Sprintf("#%d is still held: the edited text does not parse: line %d: %s (e edits it again)", msg.id, raw.Line, raw.Msg), true)
	case msg.err != nil:
		m.setStatus(fmt.Sprintf("#%d: %v", msg.id, msg.err), true)
	case msg.verb == "resumed all":
		m.setStatus(fmt.Sprintf("resumed %d held %s", msg.n, oneOrMany(msg.n, "exchange", "exchanges")), false)
	case msg.verb == "aborted":
		delete(m.drafts, msg.id)
		m.setStatus(fmt.Sprintf("aborted #%d: its client got a 502", msg.id), false)
	default:
		delete(m.drafts, msg.id)
		m.setStatus(fmt.Sprintf("%s #%d", msg.verb, msg.id), false)
	}
}

// holdKey handles the breakpoint keys; it reports whether msg was one.
func (m *Model) holdKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := &m.keys.Holds
	switch {
	case matches(msg, k.Resume):
		return m.resumeHeld(), true
	case matches(msg, k.ResumeAll):
		return m.resumeAllHeld(), true
	case matches(msg, k.Abort):
		return m.abortHeld(), true
	case matches(msg, k.Edit):
		// e edits and replays an exchange that is not held.
		if id, ok := m.targetID(); ok {
			if h := m.heldOf(id); h != nil {
				return m.editHeld(h), true
			}
		}
	}
	return nil, false
}

// heldCell is the list's status cell of a held exchange.
func heldCell(h *Held) string {
	if h.Phase == match.PhaseResponse && h.Status != 0 {
		return "⏸ " + strconv.Itoa(h.Status) + " held"
	}
	return "⏸ held"
}

// heldLines are the lines the detail view shows above the content of a
// held exchange: where and why it is held, for how long, when it goes on
// by itself, what can be edited, and the keys.
func heldLines(h *Held, now time.Time, keys *KeyMap, width int) []string {
	var where string
	if h.Phase == match.PhaseResponse {
		where = "⏸ Held before the response goes to the client (response breakpoint"
	} else {
		where = "⏸ Held before the upstream is called (request breakpoint"
	}
	if h.Rule != "" {
		where += ", rule " + h.Rule
	}
	where += ")"
	left := h.Deadline.Sub(now)
	timing := "held for " + roundDur(now.Sub(h.Since))
	if left > 0 {
		timing += " · goes on unchanged in " + roundDur(left)
	} else {
		timing += " · timed out: going on unchanged"
	}
	part := "request"
	if h.Phase == match.PhaseResponse {
		part = "response"
	}
	edit := "e edits the " + part + " (start line, headers and body) as HTTP/1.1 text"
	if !h.BodyEditable {
		edit = "e edits the " + part + " as HTTP/1.1 text; "
		if h.Note != "" {
			edit += h.Note
		} else {
			edit += "only its start line and headers can be edited"
		}
	}
	k := keys.Holds
	help := k.Resume.Help().Key + " resume · " + k.Edit.Help().Key + " edit, then resume · " +
		k.Abort.Help().Key + " abort (502) · " + k.ResumeAll.Help().Key + " resume all"
	var out []string
	for _, s := range []string{where, timing, edit, help} {
		out = append(out, wrapProse(sanitizeLine(s), width, 2)...)
	}
	return out
}

// roundDur is d to the second ("4m48s", "12s"), or under a second.
func roundDur(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return d.Round(time.Second).String()
}
