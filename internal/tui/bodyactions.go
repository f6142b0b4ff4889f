package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/bodyview"
	"github.com/devproxy/devproxy/internal/units"
)

// The detail view's body actions: m cycles the view mode, b saves the
// shown body to a file, o opens it in $PAGER.

// bodyMsg is a message for the body actions.
type bodyMsg interface{ bodyMsg() }

// shownBody is the body of the detail view's tab, if it has one.
func (m *Model) shownBody() *bodyContent {
	if c := m.detail.content; c != nil && c.body != nil {
		return c.body
	}
	return nil
}

// cycleMode shows the body in the next mode that fits it.
func (m *Model) cycleMode() {
	b := m.shownBody()
	if b == nil {
		m.setStatus("no body to show another way on this tab", true)
		return
	}
	d := &m.detail
	next := bodyview.Auto
	for i, md := range b.modes {
		if md == d.mode {
			next = b.modes[(i+1)%len(b.modes)]
			break
		}
	}
	d.mode = next
	d.offset, d.stick, d.pendingEnd = 0, false, false
	d.resetMatches()
	m.setStatus("view: "+next.String(), false)
}

// bodyName is a file name for the shown body: the exchange, the side and
// an extension that fits its mode.
func (m *Model) bodyName(b *bodyContent) string {
	side := "response"
	if m.detail.tab == tabRequest {
		side = "request"
	}
	ext := ".txt"
	switch b.view.Mode {
	case bodyview.JSON:
		ext = ".json"
	case bodyview.Markup:
		ext = ".xml"
	case bodyview.Hex, bodyview.Wire:
		ext = ".bin"
	case bodyview.Image:
		ext = ".img"
	}
	return fmt.Sprintf("devproxy-%d-%s%s", m.detail.x.ID, side, ext)
}

// saveBody asks where to write the shown body's bytes (decoded, or as on
// the wire in the wire mode).
func (m *Model) saveBody() tea.Cmd {
	b := m.shownBody()
	if b == nil || len(b.view.Data) == 0 {
		m.setStatus("no body to save on this tab", true)
		return nil
	}
	in := newInput("", &m.keys.Edit)
	in.SetValue(filepath.Join(m.cfg.ExportDir, m.bodyName(b)))
	in.Focus()
	data := b.view.Data
	what := "the body as decoded"
	if b.view.Mode == bodyview.Wire {
		what = "the body as it crossed the wire"
	}
	k := &m.keys.Input
	m.pushDialog(&promptDialog{ctx: &m.ctx, keys: &m.keys, title: "Save body", label: "File:",
		note:   fmt.Sprintf("%s · %s", what, units.Size(int64(len(data)))),
		input:  in,
		footer: k.Accept.Help().Key + " save · " + k.Cancel.Help().Key + " cancel",
		onEnter: func(path string) tea.Cmd {
			path = strings.TrimSpace(path)
			if path == "" {
				m.setStatus("save canceled: no file name", true)
				return nil
			}
			return saveCmd(path, data, false)
		},
	})
	return nil
}

// saveDoneMsg reports a body save; exists says the file was there and
// nothing was written.
type saveDoneMsg struct {
	path   string
	data   []byte
	n      int
	exists bool
	err    error
}

func (saveDoneMsg) bodyMsg() {}

// saveCmd writes data to path off the event loop; a file already there is
// replaced only when overwrite is set.
func saveCmd(path string, data []byte, overwrite bool) tea.Cmd {
	return func() tea.Msg {
		p := path
		if strings.HasPrefix(p, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				p = filepath.Join(home, p[2:])
			}
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if overwrite {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(p, flags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return saveDoneMsg{path: path, data: data, exists: true}
		}
		if err != nil {
			return saveDoneMsg{path: path, err: err}
		}
		n, err := f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return saveDoneMsg{path: path, n: n, err: err}
	}
}

// pagerReadyMsg says the body is in a file for the pager.
type pagerReadyMsg struct {
	path  string
	pager []string
	err   error
}

func (pagerReadyMsg) bodyMsg() {}

// pagerExitMsg says the pager ended.
type pagerExitMsg struct {
	path string
	err  error
}

func (pagerExitMsg) bodyMsg() {}

// pagerCommand is $PAGER split into words, or less.
func pagerCommand() []string {
	if f := strings.Fields(os.Getenv("PAGER")); len(f) > 0 {
		return f
	}
	return []string{"less"}
}

// pagerWidth is the width the body is laid out at for the pager: wide
// enough that lines are not wrapped (the pager does that).
const pagerWidth = 1 << 20

// openPager writes the shown body as the view shows it (indented JSON, a
// hex dump, …; text as it is) to a temporary file and opens $PAGER on it.
func (m *Model) openPager() tea.Cmd {
	b := m.shownBody()
	if b == nil || len(b.view.Data) == 0 {
		m.setStatus("no body to page on this tab", true)
		return nil
	}
	view, id := b.view, m.detail.x.ID
	pager := pagerCommand()
	return func() tea.Msg {
		f, err := os.CreateTemp("", fmt.Sprintf("devproxy-%d-*.txt", id))
		if err != nil {
			return pagerReadyMsg{err: err}
		}
		if view.Mode == bodyview.Text {
			_, err = f.Write(view.Data)
		} else {
			l := view.Layout(pagerWidth)
			if view.Mode == bodyview.Hex || view.Mode == bodyview.Wire || view.Mode == bodyview.Image {
				l = view.Layout(80)
			}
			for from := 0; err == nil; from += 512 {
				rows := l.Rows(from, 512)
				for _, r := range rows {
					if _, err = f.WriteString(r.Text() + "\n"); err != nil {
						break
					}
				}
				if len(rows) < 512 {
					break
				}
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
			return pagerReadyMsg{err: err}
		}
		return pagerReadyMsg{path: f.Name(), pager: pager}
	}
}

// bodyAction handles the body actions' messages.
func (m *Model) bodyAction(msg bodyMsg) tea.Cmd {
	switch msg := msg.(type) {
	case saveDoneMsg:
		switch {
		case msg.exists:
			m.pushDialog(&confirmDialog{ctx: &m.ctx, keys: &m.keys, title: "Replace file?",
				lines: func() []string { return []string{msg.path + " exists. Replace it with the body?"} },
				yes:   "replace", no: "keep it",
				onYes: func() tea.Cmd { return saveCmd(msg.path, msg.data, true) },
			})
		case msg.err != nil:
			m.setStatus("body not saved: "+msg.err.Error(), true)
		default:
			m.setStatus(fmt.Sprintf("saved the body to %s (%s)", msg.path, units.Size(int64(msg.n))), false)
		}
	case pagerReadyMsg:
		if msg.err != nil {
			m.setStatus("cannot open the pager: "+msg.err.Error(), true)
			return nil
		}
		c := exec.Command(msg.pager[0], append(msg.pager[1:], msg.path)...)
		return tea.ExecProcess(c, func(err error) tea.Msg { return pagerExitMsg{path: msg.path, err: err} })
	case pagerExitMsg:
		os.Remove(msg.path)
		if msg.err != nil {
			m.setStatus("the pager failed: "+msg.err.Error()+" (set $PAGER)", true)
		}
	}
	return nil
}
