package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// target is the exchange an action applies to: the one in the detail view,
// else the one under the list cursor.
func (m *Model) target() *record.Exchange {
	if m.detailOpen() && m.detail.x != nil {
		return m.detail.x
	}
	m.list.rows = m.rows()
	if e := m.list.selected(); e != nil {
		return e.x
	}
	return nil
}

// replayDoneMsg reports a replay (edited or not).
type replayDoneMsg struct {
	of, newID uint64
	edited    bool
	err       error
}

func (m *Model) replay() tea.Cmd {
	x := m.target()
	if x == nil || m.cfg.Replayer == nil {
		return nil
	}
	rp, ctx, id := m.cfg.Replayer, m.runCtx, x.ID
	m.setStatus(fmt.Sprintf("replaying #%d…", id), false)
	return func() tea.Msg {
		newID, err := rp.Replay(ctx, id)
		return replayDoneMsg{of: id, newID: newID, err: err}
	}
}

// editReadyMsg says the request text is in a temp file, ready for the
// editor.
type editReadyMsg struct {
	id     uint64
	path   string
	orig   []byte
	editor []string
	err    error
}

// editExitMsg says the editor exited.
type editExitMsg struct {
	id   uint64
	path string
	orig []byte
	err  error
}

// editCanceledMsg says the edit was given up without sending anything.
type editCanceledMsg struct {
	id     uint64
	reason string
}

func (m *Model) edit() tea.Cmd {
	x := m.target()
	if x == nil || m.cfg.Replayer == nil {
		return nil
	}
	if err := export.RawEditable(x.Request); err != nil {
		m.setStatus(fmt.Sprintf("cannot edit #%d: %v", x.ID, err), true)
		return nil
	}
	src, id := m.src, x.ID
	return func() tea.Msg {
		// The check above saw the body the UI holds; a source that reads
		// bodies lazily hands the bytes over only now.
		full, err := withBodies(src, x)
		if err == nil {
			err = export.RawEditable(full.Request)
		}
		if err != nil {
			return editReadyMsg{id: id, err: err}
		}
		text := export.FormatRaw(full.Request)
		f, err := os.CreateTemp("", fmt.Sprintf("devproxy-%d-*.http", id))
		if err != nil {
			return editReadyMsg{id: id, err: err}
		}
		_, werr := f.Write(text)
		cerr := f.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(f.Name())
			return editReadyMsg{id: id, err: err}
		}
		return editReadyMsg{id: id, path: f.Name(), orig: text, editor: editorCommand()}
	}
}

// editorCommand is $EDITOR split into words (it may carry flags, as in
// "code --wait"), or vi.
func editorCommand() []string {
	if f := strings.Fields(os.Getenv("EDITOR")); len(f) > 0 {
		return f
	}
	return []string{"vi"}
}

// finishEdit reads what the editor saved and sends it, unless it is
// unchanged or empty.
func (m *Model) finishEdit(msg editExitMsg) tea.Cmd {
	rp, ctx := m.cfg.Replayer, m.runCtx
	return func() tea.Msg {
		defer os.Remove(msg.path)
		if msg.err != nil {
			return editCanceledMsg{id: msg.id, reason: "the editor failed: " + msg.err.Error()}
		}
		text, err := os.ReadFile(msg.path)
		if err != nil {
			return editCanceledMsg{id: msg.id, reason: err.Error()}
		}
		switch {
		case len(bytes.TrimSpace(text)) == 0:
			return editCanceledMsg{id: msg.id, reason: "the file was empty"}
		case bytes.Equal(text, msg.orig):
			return editCanceledMsg{id: msg.id, reason: "the request was not changed"}
		}
		newID, err := rp.ReplayRaw(ctx, msg.id, text)
		return replayDoneMsg{of: msg.id, newID: newID, edited: true, err: err}
	}
}

// curlMsg carries the curl command line for an exchange.
type curlMsg struct {
	id   uint64
	text string
	err  error
}

func (m *Model) curl() tea.Cmd {
	x := m.target()
	if x == nil {
		return nil
	}
	src := m.src
	return func() (msg tea.Msg) {
		defer func() {
			if r := recover(); r != nil {
				msg = curlMsg{id: x.ID, err: fmt.Errorf("%v", r)}
			}
		}()
		full, err := withBodies(src, x)
		if err != nil {
			return curlMsg{id: x.ID, err: err}
		}
		return curlMsg{id: x.ID, text: export.Curl(*full)}
	}
}

// exportDoneMsg reports a HAR export.
type exportDoneMsg struct {
	path   string
	n      int
	redact redact.Level
	err    error
}

// openExport asks where to write the HAR file, offering a name in the
// export directory.
func (m *Model) openExport() {
	name := "devproxy-" + m.ctx.now.Format("20060102-150405") + ".har"
	in := newInput("", &m.keys.Edit)
	in.SetValue(filepath.Join(m.cfg.ExportDir, name))
	in.Focus()
	var note string
	if m.filter != nil {
		note = fmt.Sprintf("%d exchanges that match the filter", len(m.visible))
	} else {
		note = fmt.Sprintf("all %d exchanges", len(m.entries))
	}
	note += " · redaction: " + string(m.cfg.Redact)
	k := &m.keys.Input
	m.pushDialog(&promptDialog{ctx: &m.ctx, keys: &m.keys, title: "Export HAR", label: "File:", note: note, input: in,
		footer:  k.Accept.Help().Key + " export · " + k.Cancel.Help().Key + " cancel",
		onEnter: m.export})
}

func (m *Model) export(path string) tea.Cmd {
	path = strings.TrimSpace(path)
	if path == "" {
		m.setStatus("export canceled: no file name", true)
		return nil
	}
	var xs []*record.Exchange
	if m.filter != nil {
		for _, e := range m.visible {
			xs = append(xs, e.x)
		}
	}
	filtered, src := m.filter != nil, m.src
	opts := har.Options{Redact: m.cfg.Redact, Version: m.cfg.Version}
	m.setStatus("exporting to "+path+"…", false)
	return func() (msg tea.Msg) {
		defer func() {
			if r := recover(); r != nil {
				msg = exportDoneMsg{path: path, err: fmt.Errorf("%v", r)}
			}
		}()
		if strings.HasPrefix(path, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				path = filepath.Join(home, path[2:])
			}
		}
		if !filtered {
			all := src.Snapshot()
			xs = make([]*record.Exchange, len(all))
			for i := range all {
				xs[i] = &all[i]
			}
		}
		list := make([]record.Exchange, len(xs))
		for i, x := range xs {
			full, err := withBodies(src, x)
			if err != nil {
				return exportDoneMsg{path: path, err: fmt.Errorf("reading %s: %w", x.Label(), err)}
			}
			list[i] = *full
		}
		err := har.WriteFile(path, list, opts)
		return exportDoneMsg{path: path, n: len(list), redact: opts.Redact, err: err}
	}
}

func (m *Model) togglePause() {
	ps, ok := m.src.(Pauser)
	if !ok {
		return
	}
	p := !m.stats.Paused
	ps.SetPaused(p)
	m.stats.Paused = p
	if p {
		m.setStatus("capture paused: traffic still flows but is not recorded (p resumes)", false)
	} else {
		m.setStatus("capture resumed", false)
	}
}

// handleAction handles the results of action commands.
func (m *Model) handleAction(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case replayDoneMsg:
		verb := "replay"
		if msg.edited {
			verb = "edited replay"
		}
		var raw *export.RawError
		switch {
		case errors.As(msg.err, &raw):
			m.setStatus(fmt.Sprintf("%s of #%d not sent: line %d: %s", verb, msg.of, raw.Line, raw.Msg), true)
		case errors.Is(msg.err, context.Canceled):
		case msg.err != nil:
			m.setStatus(fmt.Sprintf("%s of #%d failed: %v", verb, msg.of, msg.err), true)
		default:
			m.setStatus(fmt.Sprintf("%s of #%d → #%d", verb, msg.of, msg.newID), false)
		}
	case editReadyMsg:
		if msg.err != nil {
			m.setStatus(fmt.Sprintf("cannot edit #%d: %v", msg.id, msg.err), true)
			return nil
		}
		c := exec.Command(msg.editor[0], append(msg.editor[1:], msg.path)...)
		return tea.ExecProcess(c, func(err error) tea.Msg {
			return editExitMsg{id: msg.id, path: msg.path, orig: msg.orig, err: err}
		})
	case editExitMsg:
		m.setStatus(fmt.Sprintf("sending the edited #%d…", msg.id), false)
		return m.finishEdit(msg)
	case editCanceledMsg:
		m.setStatus(fmt.Sprintf("edit of #%d canceled: %s", msg.id, msg.reason), false)
	case curlMsg:
		if msg.err != nil {
			m.setStatus(fmt.Sprintf("cannot render #%d as curl: %v", msg.id, msg.err), true)
			return nil
		}
		m.pushDialog(newCurlDialog(&m.ctx, &m.keys, msg.text))
		return tea.SetClipboard(msg.text)
	case exportDoneMsg:
		if msg.err != nil {
			m.setStatus(fmt.Sprintf("export to %s failed: %v", msg.path, msg.err), true)
			return nil
		}
		m.setStatus(fmt.Sprintf("wrote %d entries to %s (redaction: %s)", msg.n, msg.path, msg.redact), false)
	}
	return nil
}
