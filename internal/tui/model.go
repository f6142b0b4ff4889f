package tui

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/bodyview"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// uiContext is what every sub-view reads while rendering.
type uiContext struct {
	st    *styles
	now   time.Time
	frame int // spinner frame, advanced each tick
}

// mode is what the screen under any dialog is doing, and so which keys
// mean what.
type mode int

const (
	modeList   mode = iota // the list has the keys
	modeFilter             // typing the list filter
	modeDetail             // the detail view is open
	modeSearch             // typing a body search in the open detail view
	modeEvents             // the event log pane is open (events.go)
	modeRules              // the rules pane is open (rules.go)
)

// Layout constants.
const (
	splitWidth   = 160 // side-by-side list and detail from this width
	tickEvery    = 200 * time.Millisecond
	statusTTL    = 6 * time.Second
	rateWindow   = 5 * time.Second
	contentCache = 8 // rendered tabs kept
)

// Model is the root tea.Model. Every state the UI has lives here; sub-views
// (list, detail) are plain structs it owns and draws.
type Model struct {
	cfg    Config
	src    Source
	keys   KeyMap
	now    func() time.Time
	runCtx context.Context

	ctx           uiContext
	dark, mono    bool
	width, height int
	help          help.Model

	// entries are every kept exchange, ordered by ID; byID indexes them;
	// hosts counts them by host, ups by the upstream that answered,
	entries []*entry
	byID    map[uint64]*entry
	hosts   hostCounts
	ups     upstreamCounts
	// outcomes counts them by how they ended (tally.go).
	outcomes outcomeCounts
	// visible are the entries that pass the filter (nil filter: entries).
	visible []*entry
	list    listView
	// readLog lists the entries read from a Lister, oldest first, so that
	// the ones read longest ago can be dropped (unread.go); retryDue lets
	// reads that missed be tried again, once a tick.
	readLog  []uint64
	retryDue bool

	// The filter and what it knows; see filter.go.
	filter      *match.Matcher // applied; nil for none
	filterText  string         // as typed
	filterCanon string         // canonical text, which verdicts are kept by
	filterErr   error
	filterSeq   int64         // generation: bumped whenever the filter changes
	filterGen   *atomic.Int64 // filterSeq, read by workers to stop early
	filterFresh bool          // visible still holds the previous filter's rows
	pending     map[uint64]struct{}
	narrowed    *narrowing // what the source's index says may match
	verdicts    verdictCache
	worker      int64 // the worker judging for this filter; 0 none
	workers     int64
	bodies      match.Decoder // decodes bodies for the filter
	filterInput lineInput

	// mode says which of the list, the detail view and the inputs has the
	// keys; dialogs, the pop-ups on top, take them first.
	mode    mode
	dialogs []dialog

	detail     detailView
	cache      map[contentKey]*content
	cacheOrder []contentKey
	renders    map[contentKey]bool // renders under way
	// schemaGen counts the schema changes (reflection loads) seen, and
	// grpcCache keeps gRPC messages decoded under the current one.
	schemaGen int
	grpcCache *grpcCache
	indexStop context.CancelFunc // stops the index build of the shown body

	searchInput lineInput
	searchBusy  bool

	status    string
	statusErr bool
	statusAt  time.Time

	// Memos of the header bar and the help line, which change rarely.
	headerMemo struct {
		key headerKey
		s   string
	}
	helpMemo struct {
		key [4]int
		s   string
	}

	// exported are the exchanges written to a HAR file by x; quitting
	// asks about the others. quitAfterExport quits once an export
	// started from that question succeeds.
	exported        map[uint64]struct{}
	quitAfterExport bool

	// events is the event log pane; eventsBack the mode E was pressed in.
	events     eventsView
	eventsBack mode

	// held are the exchanges breakpoints hold, by ID (Config.Holds);
	// drafts are edited texts of held exchanges that did not parse, which
	// e opens again.
	held   map[uint64]*Held
	drafts map[uint64]string

	// rulesPane is the rules pane (Config.Rules); rulesBack the mode R
	// was pressed in; intercept the matcher of the intercept rule while
	// it is on, which the header shows.
	rulesPane rulesView
	rulesBack mode
	intercept string

	stats     record.Stats
	extStatus string
	rate      rateMeter
	lags      uint64
	ticking   bool
	// watching says a command waits for the holds to change (Init starts
	// it; tests drive the model without it).
	watching bool
}

// New returns the root model over cfg.Source, filled from a snapshot.
// Run drives it on a terminal; tests drive Update directly.
func New(cfg Config) *Model {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Redact == "" {
		cfg.Redact = redact.Default
	}
	if cfg.ExportDir == "" {
		cfg.ExportDir = "."
	}
	if cfg.Source == nil {
		cfg.Source = emptySource()
	}
	m := &Model{
		cfg:       cfg,
		src:       cfg.Source,
		keys:      DefaultKeyMap(),
		now:       cfg.Now,
		runCtx:    context.Background(),
		dark:      true,
		byID:      map[uint64]*entry{},
		hosts:     hostCounts{},
		ups:       upstreamCounts{},
		exported:  map[uint64]struct{}{},
		cache:     map[contentKey]*content{},
		renders:   map[contentKey]bool{},
		grpcCache: newGRPCCache(),
		filterGen: new(atomic.Int64),
		pending:   map[uint64]struct{}{},
		bodies:    body.Decoder{},
		held:      map[uint64]*Held{},
		drafts:    map[uint64]string{},
	}
	if cfg.Holds == nil {
		k := &m.keys.Holds
		for _, b := range []*key.Binding{&k.Resume, &k.ResumeAll, &k.Abort, &k.Edit} {
			b.SetEnabled(false)
		}
	}
	if cfg.Rules == nil {
		k := &m.keys.Rules
		for _, b := range []*key.Binding{&k.Open, &k.Intercept, &k.Add, &k.Toggle, &k.Delete, &k.MoveUp, &k.MoveDown} {
			b.SetEnabled(false)
		}
	}
	if cfg.Replayer == nil {
		m.keys.Actions.Replay.SetEnabled(false)
		m.keys.Actions.Edit.SetEnabled(false)
	}
	if _, ok := cfg.Source.(Pauser); !ok {
		m.keys.Actions.Pause.SetEnabled(false)
	}
	if _, ok := cfg.Source.(Clearer); !ok {
		m.keys.Actions.Clear.SetEnabled(false)
	}
	if _, ok := cfg.Source.(Deleter); !ok {
		m.keys.List.Delete.SetEnabled(false)
	}
	if !m.live() {
		// A file does not grow: nothing to pause or follow.
		m.keys.Actions.Pause.SetEnabled(false)
		m.keys.List.Follow.SetEnabled(false)
	}
	m.list.ctx = &m.ctx
	m.list.held = m.held
	m.list.follow = m.live()
	m.list.empty = "Waiting for traffic…"
	m.list.hints = cfg.Hints
	switch cfg.Role {
	case "view":
		m.list.empty = "The HAR file holds no exchanges."
	case "serve", "demo", "relay", "agent":
		if cfg.Listen != "" {
			m.list.empty = "Waiting for traffic on " + cfg.Listen + "…"
		}
	}
	m.detail.ctx = &m.ctx
	m.detail.keys = &m.keys
	m.events.ctx = &m.ctx
	m.rulesPane.ctx = &m.ctx
	m.refreshRules()
	if cfg.Events != nil {
		m.events.max = cfg.Events.Max()
	}
	m.filterInput = newInput("/ ", &m.keys.Edit)
	m.searchInput = newInput("search: ", &m.keys.Edit)
	m.help = help.New()
	m.restyle()
	m.ctx.now = m.now()
	var index []Summary
	if ls := m.lister(); ls != nil {
		var err error
		if index, err = ls.Index(); err != nil {
			m.setStatus("reading the session's list: "+err.Error(), true)
		}
	}
	m.rebuild(index, m.src.Snapshot()) // no filter yet: nothing to judge
	m.stats = readStats(m.src)
	m.rate.add(m.ctx.now, m.stats.Total+m.stats.Skipped)
	if m.list.follow {
		m.list.cursor = len(m.list.rows) - 1
	}
	m.list.clampCursor()
	return m
}

// grpcEnv is what decoding gRPC messages needs now.
func (m *Model) grpcEnv() grpcEnv {
	return grpcEnv{schemas: m.cfg.Schemas, target: m.cfg.Target, cache: m.grpcCache, gen: m.schemaGen}
}

// live reports whether exchanges arrive as the UI runs; a HAR file
// (devproxy view) holds what it holds.
func (m *Model) live() bool { return m.cfg.Role != "view" }

// restyle rebuilds the styles after a change of background or colour
// profile; the generation number invalidates every memoized rendering.
func (m *Model) restyle() {
	t := darkTheme()
	if !m.dark {
		t = lightTheme()
	}
	gen := 1
	if m.ctx.st != nil {
		gen = m.ctx.st.gen + 1
	}
	m.ctx.st = newStyles(t, m.mono, gen)
	hs := help.DefaultStyles(m.dark)
	st := m.ctx.st
	if m.mono {
		plain := lipgloss.NewStyle()
		hs = help.Styles{Ellipsis: plain, ShortKey: plain.Bold(true), ShortDesc: plain, ShortSeparator: plain,
			FullKey: plain.Bold(true), FullDesc: plain, FullSeparator: plain}
	} else {
		hs.ShortKey = st.key
	}
	m.help.Styles = hs
	m.help.ShortSeparator = " · "
	st.styleInput(&m.filterInput)
	st.styleInput(&m.searchInput)
}

// Init asks the terminal for its background colour, starts the clock and,
// with Config.Holds, reads the held exchanges and watches for changes.
func (m *Model) Init() tea.Cmd {
	m.ticking = true
	cmds := []tea.Cmd{tea.RequestBackgroundColor, m.tick()}
	if h := m.cfg.Holds; h != nil {
		m.watching = true
		cmds = append(cmds, readHolds(h), watchHolds(m.runCtx, h))
	}
	return tea.Batch(cmds...)
}

// tickMsg carries the clock and the source's counters, read off the
// event loop.
type tickMsg struct {
	now    time.Time
	stats  record.Stats
	status string
	listen string // where the role listens now ("" when unchanged)
	events eventsMsg
	// hints are Config.HintsNow's answer; hintsSet says there is one.
	hints    []string
	hintsSet bool
}

func (m *Model) tick() tea.Cmd {
	src, now, status, listen, hints := m.src, m.now, m.cfg.Status, m.cfg.ListenNow, m.cfg.HintsNow
	evlog, seq := m.cfg.Events, m.events.seq
	return tea.Tick(tickEvery, func(time.Time) tea.Msg {
		msg := tickMsg{now: now(), stats: readStats(src), events: pollEvents(evlog, seq)}
		if status != nil {
			msg.status = status()
		}
		if listen != nil {
			msg.listen = listen()
		}
		if hints != nil {
			msg.hints, msg.hintsSet = hints(), true
		}
		return msg
	})
}

// Update handles one message. It does no I/O and no heavy work: that runs
// in the commands it returns.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.ctx.now = m.now()
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		for _, d := range m.dialogs {
			d.Update(msg)
		}
	case tea.BackgroundColorMsg:
		m.dark = msg.IsDark()
		m.restyle()
	case tea.ColorProfileMsg:
		mono := msg.Profile <= colorprofile.ASCII
		if mono != m.mono {
			m.mono = mono
			m.restyle()
		}
	case tea.KeyPressMsg:
		cmds = append(cmds, m.handleKey(msg))
	case tea.PasteMsg:
		cmds = append(cmds, m.handlePaste(msg))
	case tea.MouseWheelMsg:
		cmds = append(cmds, m.handleWheel(msg))
	case tea.MouseClickMsg:
		cmds = append(cmds, m.handleClick(msg))
	case batchMsg:
		cmds = append(cmds, m.apply(msg))
	case tickMsg:
		m.ctx.now = msg.now
		m.ctx.frame++
		m.stats = msg.stats
		m.extStatus = msg.status
		if msg.listen != "" {
			m.cfg.Listen = msg.listen
		}
		if msg.hintsSet {
			m.list.hints = msg.hints
		}
		m.events.add(msg.events)
		m.rate.add(msg.now, msg.stats.Total+msg.stats.Skipped)
		m.retryDue = true
		if m.status != "" && msg.now.Sub(m.statusAt) > statusTTL {
			m.status = ""
		}
		if m.ticking {
			cmds = append(cmds, m.tick())
		}
	case filterVerdictsMsg:
		cmds = append(cmds, m.filterVerdicts(msg))
	case fetchedMsg:
		m.fetched(msg)
	case contentMsg:
		m.contentDone(msg)
	case indexMsg:
		m.indexDone(msg)
	case bodyMsg:
		cmds = append(cmds, m.bodyAction(msg))
	case searchDoneMsg:
		m.searchDone(msg)
	case schemaChangedMsg:
		m.schemaGen++
	case heldMsg:
		m.setHeld(msg.list)
		if msg.watch && m.watching {
			cmds = append(cmds, watchHolds(m.runCtx, m.cfg.Holds))
		}
	default:
		cmds = append(cmds, m.handleAction(msg))
	}
	cmds = append(cmds, m.sync(), m.ensureRead())
	return m, tea.Batch(cmds...)
}

// setStatus shows a message in the status line for a few seconds, and
// keeps it in the event log, where one too long for the line is read in
// full.
func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr, m.statusAt = s, isErr, m.ctx.now
	level := slog.LevelInfo
	if isErr {
		level = slog.LevelError
	}
	m.logEvent(level, s)
}

// area is the screen split for the current size and mode.
type area struct {
	split            bool
	listW            int // 0 when the list is hidden
	detailX, detailW int // 0 width when the detail is closed
	bodyH            int // rows between the header bar and the footer
}

func (m *Model) area() area {
	a := area{bodyH: max(m.height-2-m.statusHeight(m.width), 1)}
	switch {
	case !m.detailOpen():
		a.listW = m.width
	case m.width >= splitWidth:
		a.split = true
		a.listW = min(max(m.width*2/5, 60), 100)
		a.detailX = a.listW + 1
		a.detailW = m.width - a.detailX
	default:
		a.detailW = m.width
	}
	return a
}

// listRows is how many exchange rows the list shows.
func (m *Model) listRows() int { return max(m.area().bodyH-1, 1) }

// detailRows is how many content lines the detail view shows: fewer
// while it says the exchange is held.
func (m *Model) detailRows() int {
	a := m.area()
	return max(a.bodyH-1-m.detail.heldHeight(a.detailW), 1)
}

// sync brings derived state in line after any change: the list scroll, the
// exchange the detail view shows, and the rendering and search work it
// needs.
func (m *Model) sync() tea.Cmd {
	m.pruneMarks()
	m.list.host = m.hosts.only()
	m.list.ups = m.ups.layout()
	m.followOrReselect(0, false)
	m.list.filtered = m.filter != nil
	m.list.dim = m.detailOpen()
	m.list.scrollInto(m.listRows())
	m.detail.held = nil
	if !m.detailOpen() || m.detail.x == nil {
		return nil
	}
	m.detail.held = m.heldOf(m.detail.x.ID)
	d := &m.detail
	if e, ok := m.byID[d.x.ID]; ok {
		if e.x != nil {
			d.x = e.x
		}
		d.evicted = false
	} else {
		d.evicted = true
	}
	return m.syncDetail()
}

// rows are the entries the list shows, in its order.
func (m *Model) rows() []*entry {
	base := m.entries
	if m.filter != nil {
		base = m.visible
	}
	return m.list.sorted.of(base, m.list.order, m.ctx.now)
}

// openDetail shows e in the detail view.
func (m *Model) openDetail(e *entry) {
	if e == nil {
		return
	}
	if m.readNow(e) == nil {
		return
	}
	m.mode = modeDetail
	m.showInDetail(e)
}

func (m *Model) showInDetail(e *entry) {
	x := m.readNow(e)
	if x == nil {
		return
	}
	d := &m.detail
	if d.x == nil || d.x.ID != x.ID {
		d.reset()
		d.mode = bodyview.Auto // a mode was chosen for the other body
	}
	d.x = x
	d.evicted = false
}

// detailOpen reports whether the detail view is open (and maybe typing a
// search).
func (m *Model) detailOpen() bool { return m.mode == modeDetail || m.mode == modeSearch }

func (m *Model) closeDetail() {
	m.mode = modeList
	m.searchInput.Blur()
	m.followOrReselect(0, false)
}

// selectedID is the ID of the exchange under the list cursor, if any.
func (m *Model) selectedID() (uint64, bool) {
	if e := m.list.selected(); e != nil {
		return e.id, true
	}
	return 0, false
}

// followOrReselect puts the cursor back after the rows changed: on the
// newest row when following (and the detail view is closed, so it does not
// jump under the reader), else on exchange id if ok, or where it would be.
func (m *Model) followOrReselect(id uint64, ok bool) {
	m.list.rows = m.rows()
	switch {
	case m.list.follow && !m.detailOpen():
		m.list.cursor = len(m.list.rows) - 1
	case ok:
		m.list.cursor, _ = m.list.indexOf(id)
	}
	m.list.clampCursor()
}

func (m *Model) setTab(t tab) {
	if t == m.detail.tab {
		return
	}
	m.detail.tab = t
	m.detail.reset()
}

// quit ends the program at once; pending replays are canceled.
func (m *Model) quit() tea.Cmd {
	return tea.Quit
}

// matches reports whether msg is one of b's keys. Disabled bindings never
// match.
func matches(msg tea.KeyPressMsg, b key.Binding) bool { return key.Matches(msg, b) }
