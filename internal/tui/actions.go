package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		return m.readNow(e)
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
	if err := m.replayCheck(x); err != nil {
		m.setStatus("cannot replay: "+err.Error(), true)
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
	held   bool // a held exchange: resume it as edited, not replay
	path   string
	orig   []byte
	editor []string
	// grpc, when set, is the upstream of a gRPC call whose request
	// message is edited as JSON: it is encoded with its schema when sent.
	grpc string
	err  error
}

// editExitMsg says the editor exited.
type editExitMsg struct {
	id   uint64
	held bool
	path string
	orig []byte
	grpc string
	err  error
}

// editCanceledMsg says the edit was given up without sending anything.
type editCanceledMsg struct {
	id     uint64
	held   bool // the exchange stays held
	reason string
}

func (m *Model) edit() tea.Cmd {
	x := m.target()
	if x == nil || m.cfg.Replayer == nil {
		return nil
	}
	if isGRPC(x) {
		if err := m.replayCheck(x); err != nil {
			m.setStatus("cannot edit: "+err.Error(), true)
			return nil
		}
		upstream := grpcUpstream(x, m.cfg.Target)
		if _, _, ok := m.cfg.Schemas.Method(upstream, grpcPath(x)); ok {
			return m.editGRPC(x)
		}
		if st := m.cfg.Schemas.Status(upstream); strings.HasSuffix(st, "loading") || strings.HasSuffix(st, "asking again") {
			m.setStatus(fmt.Sprintf("cannot edit #%d as JSON yet: its schema is on its way (%s); press %s again in a moment", x.ID, st, m.keys.Actions.Edit.Help().Key), false)
			return nil
		}
		// A gRPC body is binary (each message has a 5-byte prefix and
		// protobuf bytes) even when it happens to be valid UTF-8: an
		// editor would not keep it intact.
		m.setStatus(fmt.Sprintf("cannot edit #%d as text: its gRPC message is binary; to edit it as JSON, %s (r replays it as it was)", x.ID, noSchema(x, m.cfg.Schemas, m.cfg.Target)), true)
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
		path, err := editFile(fmt.Sprintf("devproxy-%d-*.http", id), text)
		if err != nil {
			return editReadyMsg{id: id, err: err}
		}
		return editReadyMsg{id: id, path: path, orig: text, editor: editorCommand()}
	}
}

// editGRPC opens the request of x, a unary gRPC call whose schema is
// known, in the editor: its head, then its message as JSON.
func (m *Model) editGRPC(x *record.Exchange) tea.Cmd {
	src, s, target, id := m.src, m.cfg.Schemas, m.cfg.Target, x.ID
	return func() tea.Msg {
		full, err := withBodies(src, x)
		if err != nil {
			return editReadyMsg{id: id, err: err}
		}
		text, err := editGRPC(full, s, target)
		if err != nil {
			return editReadyMsg{id: id, err: err}
		}
		path, err := editFile(fmt.Sprintf("devproxy-%d-*.http", id), text)
		if err != nil {
			return editReadyMsg{id: id, err: err}
		}
		return editReadyMsg{id: id, path: path, orig: text, editor: editorCommand(), grpc: grpcUpstream(full, target)}
	}
}

// editFile writes text to a new temporary file named by pattern (see
// os.CreateTemp) for the editor, and returns its path; nothing is left
// behind when it fails.
func editFile(pattern string, text []byte) (string, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", err
	}
	_, werr := f.Write(text)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
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
	rp, ctx, schemas := m.cfg.Replayer, m.runCtx, m.cfg.Schemas
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
		if msg.grpc != "" {
			if text, err = encodeGRPCEdit(text, schemas, msg.grpc); err != nil {
				return replayDoneMsg{of: msg.id, edited: true, err: err}
			}
		}
		newID, err := rp.ReplayRaw(ctx, msg.id, text)
		return replayDoneMsg{of: msg.id, newID: newID, edited: true, err: err}
	}
}

// curlMsg carries the curl (or grpcurl) command line for an exchange.
type curlMsg struct {
	id      uint64
	grpcurl bool
	text    string
	err     error
}

// curl copies the target exchange as curl; a gRPC call gets a choice of
// grpcurl and curl.
func (m *Model) curl() tea.Cmd {
	x := m.target()
	if x == nil {
		return nil
	}
	if isGRPC(x) {
		m.copyGRPC(x)
		return nil
	}
	return m.copyCurl(x)
}

// copyCurl renders x as a curl command, off the event loop.
func (m *Model) copyCurl(x *record.Exchange) tea.Cmd {
	src, opts := m.src, m.curlOptions(x)
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
		return curlMsg{id: x.ID, text: export.CurlWith(*full, opts)}
	}
}

// curlOptions are the curl options for x: -k for a request to devproxy's
// own listener when its certificate is self-signed (serve --tls), since
// that is the only way such a request was made.
func (m *Model) curlOptions(x *record.Exchange) export.CurlOptions {
	if m.cfg.SelfSignedTLS && strings.HasPrefix(x.Request.URL, "https://") {
		return export.CurlOptions{Insecure: true,
			Why: "devproxy's --tls listener uses a self-signed one"}
	}
	return export.CurlOptions{}
}

// exportDoneMsg reports a HAR export.
type exportDoneMsg struct {
	path   string
	ids    []uint64 // the exchanges written
	redact redact.Level
	err    error
}

// exportExistsMsg says an export would overwrite a file; it asks first.
type exportExistsMsg struct{ job exportJob }

// exportJob is one HAR export: where to, and which exchanges.
type exportJob struct {
	path string // as typed; "~/" is expanded when it runs
	// ids are the exchanges to write, and xs those the model holds read
	// (nil: read from the source when the export runs); nil ids means
	// every one the source holds.
	ids       []uint64
	xs        []*record.Exchange
	overwrite bool // the user agreed to replace an existing file
}

// openExport asks where to write the HAR file, offering path (a new name
// in the export directory if empty). It writes the marked exchanges if
// any, else those the filter lets through, else all of them; all of them
// when it is to quit afterwards.
func (m *Model) openExport(path string) {
	if path == "" {
		name := "devproxy-" + m.ctx.now.Format("20060102-150405") + ".har"
		path = filepath.Join(m.cfg.ExportDir, name)
	}
	in := newInput("", &m.keys.Edit)
	in.SetValue(path)
	in.Focus()
	all := m.quitAfterExport
	var note string
	switch n := len(m.list.marked); {
	case all:
		note = fmt.Sprintf("all %d exchanges, then quit", len(m.entries))
	case n > 0:
		note = fmt.Sprintf("%d marked %s", n, oneOrMany(n, "exchange", "exchanges"))
	case m.filter != nil:
		note = fmt.Sprintf("%d exchanges that match the filter", len(m.visible))
	default:
		note = fmt.Sprintf("all %d exchanges", len(m.entries))
	}
	note += " · redaction: " + string(m.cfg.Redact)
	k := &m.keys.Input
	m.pushDialog(&promptDialog{ctx: &m.ctx, keys: &m.keys, title: "Export HAR", label: "File:", note: note, input: in,
		footer: k.Accept.Help().Key + " export · " + k.Cancel.Help().Key + " cancel",
		onEnter: func(path string) tea.Cmd {
			path = strings.TrimSpace(path)
			if path == "" {
				m.quitAfterExport = false
				m.setStatus("export canceled: no file name", true)
				return nil
			}
			job := exportJob{path: path}
			if !all {
				job.ids, job.xs = m.exportSelection()
			}
			return m.export(job)
		},
		onCancel: func() { m.quitAfterExport = false },
	})
}

// exportSelection is what x exports: the marked exchanges, else the ones
// the filter lets through, else nil for all of them. xs holds the
// exchanges read, nil for the others.
func (m *Model) exportSelection() (ids []uint64, xs []*record.Exchange) {
	add := func(e *entry) {
		ids = append(ids, e.id)
		xs = append(xs, e.x)
	}
	switch {
	case len(m.list.marked) > 0:
		for _, e := range m.entries {
			if m.list.isMarked(e.id) {
				add(e)
			}
		}
	case m.filter != nil:
		for _, e := range m.visible {
			add(e)
		}
	}
	return ids, xs
}

// export writes job's exchanges to its file, off the event loop. A file
// that exists is left alone until the user agrees to replace it.
func (m *Model) export(job exportJob) tea.Cmd {
	src := m.src
	opts := har.Options{Redact: m.cfg.Redact, Version: m.cfg.Version, DecodeMessage: MessageDecoder(m.cfg.Schemas, m.cfg.Target)}
	m.setStatus("exporting to "+job.path+"…", false)
	return func() (msg tea.Msg) {
		path := job.path
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
		if !job.overwrite {
			if _, err := os.Stat(path); err == nil {
				return exportExistsMsg{job: job}
			}
		}
		ids, xs := job.ids, job.xs
		if ids == nil {
			var err error
			if ids, xs, err = everything(src); err != nil {
				return exportDoneMsg{path: path, err: err}
			}
		}
		var wrote []uint64
		err := har.StreamFile(path, opts, func(s *har.Stream) error {
			wrote = wrote[:0]
			learn := opts.Redact != redact.None
			for pass := 0; pass < 2; pass++ {
				if pass == 0 && !learn {
					continue
				}
				err := eachExchange(src, ids, xs, pass == 1 || s.LearnsBodies(), func(x *record.Exchange) error {
					if pass == 0 {
						s.Learn(x)
						return nil
					}
					wrote = append(wrote, x.ID)
					return s.Add(x)
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		return exportDoneMsg{path: path, ids: wrote, redact: opts.Redact, err: err}
	}
}

// confirmOverwrite asks before an export replaces a file; no goes back to
// the file name.
func (m *Model) confirmOverwrite(job exportJob) {
	m.setStatus("", false)
	m.pushDialog(&confirmDialog{ctx: &m.ctx, keys: &m.keys, title: "Replace " + filepath.Base(job.path) + "?",
		lines: func() []string {
			return []string{sanitizeLine(job.path) + " exists.", "Exporting replaces it."}
		},
		yes: "replace", no: "choose another name",
		onYes: func() tea.Cmd {
			job.overwrite = true
			return m.export(job)
		},
		onNo: func() tea.Cmd {
			m.openExport(job.path)
			return nil
		},
	})
}

// exportDone reports an export, remembers what it wrote, and quits if the
// export was asked for on the way out.
func (m *Model) exportDone(msg exportDoneMsg) tea.Cmd {
	quit := m.quitAfterExport
	m.quitAfterExport = false
	if msg.err != nil {
		m.setStatus(fmt.Sprintf("export to %s failed: %v", msg.path, msg.err), true)
		return nil
	}
	for _, id := range msg.ids {
		m.exported[id] = struct{}{}
	}
	for id := range m.exported {
		if _, ok := m.byID[id]; !ok {
			delete(m.exported, id)
		}
	}
	m.setStatus(fmt.Sprintf("wrote %d entries to %s (redaction: %s)", len(msg.ids), msg.path, msg.redact), false)
	if quit {
		return m.quit()
	}
	return nil
}

// unexported counts the exchanges held that no export wrote.
func (m *Model) unexported() int {
	n := 0
	for _, e := range m.entries {
		if _, ok := m.exported[e.id]; !ok {
			n++
		}
	}
	return n
}

// requestQuit quits, first asking whether to discard the exchanges that
// were never exported, unless they are saved anyway (Config.SavedOnExit).
// With a temporary session it also offers to keep that file.
func (m *Model) requestQuit() tea.Cmd {
	if m.cfg.SavedOnExit || m.unexported() == 0 {
		return m.quit()
	}
	more := []answer{{key: m.keys.Actions.Export, desc: "export first", do: func() tea.Cmd {
		m.quitAfterExport = true
		m.openExport("")
		return nil
	}}}
	temp := m.cfg.TempSession != "" && m.cfg.KeepSession != nil
	if temp {
		more = append(more, answer{key: m.keys.Dialog.Keep, do: func() tea.Cmd {
			m.cfg.KeepSession()
			return m.quit()
		}})
	}
	m.pushDialog(&confirmDialog{ctx: &m.ctx, keys: &m.keys,
		title: "Quit?",
		lines: func() []string {
			n := m.unexported()
			lines := []string{
				fmt.Sprintf("Quit and discard %d %s?", n, oneOrMany(n, "exchange", "exchanges")),
				oneOrMany(n, "It was", "They were") + " never exported.",
			}
			if temp {
				lines = append(lines, "", "The temporary session "+m.cfg.TempSession+" is deleted on exit unless you keep it.")
			}
			return lines
		},
		yes: "quit", no: "stay",
		more:  more,
		onYes: m.quit,
	})
	return nil
}

// oneOrMany is one when n is 1, else many.
func oneOrMany(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pruneMarks forgets the marks of exchanges that are gone.
func (m *Model) pruneMarks() {
	for id := range m.list.marked {
		if _, ok := m.byID[id]; !ok {
			delete(m.list.marked, id)
		}
	}
}

// mark toggles the selected exchange's mark and moves down, so that a
// run of exchanges is marked key after key.
func (m *Model) mark() {
	m.list.rows = m.rows()
	m.list.toggleMark()
	m.list.move(1)
}

// deleteExchanges drops the marked exchanges, or else the selected one,
// from the source and the list.
func (m *Model) deleteExchanges() {
	d, ok := m.src.(Deleter)
	if !ok {
		return
	}
	var ids []uint64
	for _, e := range m.entries {
		if m.list.isMarked(e.id) {
			ids = append(ids, e.id)
		}
	}
	if len(ids) == 0 {
		id, ok := m.selectedID()
		if !ok {
			return
		}
		ids = append(ids, id)
	}
	d.Delete(ids...)
	// The source's events would say so too, a frame later.
	m.remove(ids)
	clear(m.list.marked)
	m.followOrReselect(0, false)
	if len(ids) == 1 {
		m.setStatus(fmt.Sprintf("deleted #%d", ids[0]), false)
	} else {
		m.setStatus(fmt.Sprintf("deleted %d exchanges", len(ids)), false)
	}
}

// cycleSort moves to the next sort order, keeping the selected exchange
// selected. Follow mode needs time order, so any other turns it off.
func (m *Model) cycleSort() {
	id, ok := m.selectedID()
	l := &m.list
	l.order = (l.order + 1) % numOrders
	if l.order != byTime {
		l.follow = false
	}
	m.followOrReselect(id, ok)
	m.setStatus("sorted by "+l.order.name(), false)
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
			return editExitMsg{id: msg.id, held: msg.held, path: msg.path, orig: msg.orig, grpc: msg.grpc, err: err}
		})
	case editExitMsg:
		if msg.held {
			m.setStatus(fmt.Sprintf("resuming the edited #%d…", msg.id), false)
			return m.finishHeldEdit(msg)
		}
		m.setStatus(fmt.Sprintf("sending the edited #%d…", msg.id), false)
		return m.finishEdit(msg)
	case editCanceledMsg:
		if msg.held {
			m.setStatus(fmt.Sprintf("edit of #%d canceled: %s; it is still held (a resumes it)", msg.id, msg.reason), false)
			return nil
		}
		m.setStatus(fmt.Sprintf("edit of #%d canceled: %s", msg.id, msg.reason), false)
	case holdDoneMsg:
		m.holdDone(msg)
	case curlMsg:
		what := "curl"
		if msg.grpcurl {
			what = "grpcurl"
		}
		if msg.err != nil {
			m.setStatus(fmt.Sprintf("cannot render #%d as %s: %v", msg.id, what, msg.err), true)
			return nil
		}
		m.pushDialog(newCopyDialog(&m.ctx, &m.keys, "Copy as "+what, msg.text))
		return tea.SetClipboard(msg.text)
	case exportExistsMsg:
		m.confirmOverwrite(msg.job)
	case exportDoneMsg:
		return m.exportDone(msg)
	}
	return nil
}

// everything lists every exchange src holds, for an export of all: a
// Lister's by ID only (read as the export goes), else a snapshot's.
func everything(src Source) ([]uint64, []*record.Exchange, error) {
	if ls, ok := src.(Lister); ok {
		index, err := ls.Index()
		if err != nil {
			return nil, nil, err
		}
		mem := src.Snapshot()
		byID := make(map[uint64]*record.Exchange, len(mem))
		for i := range mem {
			byID[mem[i].ID] = &mem[i]
		}
		ids := make([]uint64, 0, len(index)+len(mem))
		xs := make([]*record.Exchange, 0, len(index)+len(mem))
		for _, s := range index {
			ids = append(ids, s.ID)
			xs = append(xs, byID[s.ID])
			delete(byID, s.ID)
		}
		for i := range mem { // held in memory, not in the index yet
			if x, ok := byID[mem[i].ID]; ok {
				ids = append(ids, x.ID)
				xs = append(xs, x)
			}
		}
		return ids, xs, nil
	}
	all := src.Snapshot()
	ids := make([]uint64, len(all))
	xs := make([]*record.Exchange, len(all))
	for i := range all {
		ids[i], xs[i] = all[i].ID, &all[i]
	}
	return ids, xs, nil
}

// eachExchange calls fn with the exchanges ids, in order: xs's where read,
// else read from src a chunk at a time; with their bodies if bodies is
// set. Exchanges src no longer holds are skipped. Only a chunk is held at
// once, so that a session of any size can be exported.
func eachExchange(src Source, ids []uint64, xs []*record.Exchange, bodies bool, fn func(*record.Exchange) error) error {
	for start := 0; start < len(ids); start += fetchChunk {
		end := min(start+fetchChunk, len(ids))
		chunk := slices.Clone(xs[start:end])
		if err := readExchanges(src, ids[start:end], chunk); err != nil {
			return err
		}
		for _, x := range chunk {
			if x == nil {
				continue
			}
			if bodies {
				full, err := withBodies(src, x)
				if err != nil {
					return fmt.Errorf("reading %s: %w", x.Label(), err)
				}
				x = full
			}
			if err := fn(x); err != nil {
				return err
			}
		}
	}
	return nil
}
