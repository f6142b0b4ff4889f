// Package tui is devproxy's terminal UI: a live list of exchanges, a detail
// view with request, response and timing tabs, a filter, actions
// (replay, edit and replay, copy as curl, HAR export, pause, clear), the
// exchanges breakpoint rules hold (resume, edit, abort), and the rules
// themselves (a pane to add, switch, delete and reorder them, and a
// quick intercept).
//
// It talks to the rest of devproxy only through the record package's types
// and the small interfaces it declares: a Source to read exchanges from (the
// recorder, through RecorderSource), a Replayer, Holds and Rules. Events reach the program
// through one pump goroutine that drains the Source's lossy Subscription and
// sends at most one batch per frame, so a slow terminal never slows the
// proxy.
package tui

import (
	"context"
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/eventlog"
	"github.com/devproxy/devproxy/internal/protoschema"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// Config is what the UI needs from the rest of devproxy.
type Config struct {
	// Source is where exchanges come from: RecorderSource(rec) for a live
	// recorder. Pause and clear are offered if it implements Pauser and
	// Clearer; the header's counters come from a StatsReader.
	Source Source
	Role   string // "serve", "demo", "agent", "relay", "view"
	Listen string // e.g. "http://127.0.0.1:8080" (empty for view/agent)
	// ListenNow, when set, is where the role listens now: a reload may
	// move it. It is polled off the event loop, like Status.
	ListenNow func() string
	Target    string       // e.g. "http://localhost:3000", or the HAR file for view
	Replayer  Replayer     // nil: replay/edit disabled (view)
	Version   string       // for HAR creator
	Redact    redact.Level // HAR export level (default redact.Default)
	// ExportDir is the default directory for the x export prompt ("." if
	// empty).
	ExportDir string
	// Status is optional extra header text, polled each tick (agent tunnel
	// state). It is called off the UI's event loop.
	Status func() string
	// Hints are lines shown under the empty list until traffic arrives
	// (the demo's example commands, the relay's first-start instructions).
	Hints []string
	// HintsNow, when set, is the hints as they are now (the relay's follow
	// the backends registered), polled each tick off the event loop like
	// Status; its answer replaces Hints.
	HintsNow func() []string
	// SavedOnExit says the exchanges are saved whatever the UI does (--har
	// writes them on exit; view read them from a file), so q quits at once
	// instead of asking about exchanges never exported.
	SavedOnExit bool
	// TempSession is the temporary session file the run records to, which
	// is deleted on exit unless kept; empty when there is none (a named
	// session is kept anyway: set SavedOnExit). When it and KeepSession are
	// set, the quit question offers to keep the file (k).
	TempSession string
	// KeepSession is called, on the UI's event loop, when the user chooses
	// to keep the temporary session; the UI then quits. It must not block:
	// it tells the command, which keeps the file after the UI has ended.
	KeepSession func()
	// SelfSignedTLS says Listen serves HTTPS with devproxy's self-signed
	// certificate (serve --tls): copy as curl adds -k, with a comment.
	SelfSignedTLS bool
	// Events is the event log the E pane shows, polled each tick off the
	// event loop; the UI adds its own events to it (status messages, lag).
	// Nil: the pane says nothing has happened.
	Events *eventlog.Log
	// Holds are the exchanges breakpoint rules hold, which the UI lists,
	// resumes, edits and aborts (a, A, e, X); nil where nothing can be
	// held (view). A proxying role always has them, as the intercept (i)
	// and the rules pane can add a breakpoint while it runs.
	Holds Holds
	// Rules are the role's rules, which the R pane lists, adds to,
	// switches on and off, deletes and reorders, and i sets the intercept
	// rule of; nil where nothing is proxied (view).
	Rules Rules
	// Schemas decode gRPC messages with a schema (--proto,
	// --descriptor-set, the upstream's server reflection); nil decodes
	// them without one, as protoc --decode_raw would.
	Schemas *protoschema.Schemas
	// SchemaChanged receives a value when Schemas learn a schema (a
	// reflection query finished), so that a gRPC call's messages are
	// decoded again. Schemas' OnChange should send on it without
	// blocking; nil when nothing changes (no reflection).
	SchemaChanged <-chan struct{}
	// SchemaFiles are the files Schemas were loaded from, for the schema
	// flags of copy as grpcurl.
	SchemaFiles SchemaFiles
	// Now is the clock for in-flight durations, the request rate, status
	// message expiry and export file names. Nil means time.Now; tests set a
	// fixed clock so that rendered output is deterministic.
	Now func() time.Time
}

// SchemaFiles are the files a run's gRPC schemas come from, as copy as
// grpcurl passes them (-import-path, -proto, -protoset). Paths are
// absolute, so that the command works from any directory.
type SchemaFiles struct {
	// ImportPaths are the directories .proto files are found in, in the
	// order they are searched; a method's file is named relative to one
	// of them (-proto).
	ImportPaths []string
	// DescriptorSets are the --descriptor-set files.
	DescriptorSets []string
}

// Replayer sends recorded requests again; implemented in internal/proxy.
type Replayer interface {
	// Replay re-sends exchange id as recorded; the new exchange appears in the source linked by ReplayOf.
	Replay(ctx context.Context, id uint64) (newID uint64, err error)
	// ReplayRaw sends edited raw HTTP/1.1 request text as a replay of id; parse errors are *export.RawError (with Line).
	ReplayRaw(ctx context.Context, id uint64, raw []byte) (newID uint64, err error)
}

// Run runs the UI on the terminal until the user quits or ctx ends. It
// returns after the terminal is restored, with what the list held at the
// end, for the line the command prints on exit; ctx ending is not an
// error.
func Run(ctx context.Context, cfg Config) (Tally, error) {
	if cfg.Source == nil {
		return Tally{}, errors.New("tui: Config.Source is nil")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe before the model takes its snapshot, so that nothing falls
	// between the two: events for exchanges already in the snapshot are
	// applied idempotently by version.
	sub := cfg.Source.Subscribe(0)
	defer sub.Close()
	m := New(cfg)
	m.runCtx = ctx
	p := tea.NewProgram(m, tea.WithContext(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(ctx, cfg.Source, sub, p.Send, frameInterval)
	}()
	schemaDone := make(chan struct{})
	go func() {
		defer close(schemaDone)
		forwardSchemaChanges(ctx, cfg.SchemaChanged, p.Send)
	}()
	_, err := p.Run()
	cancel()
	<-done
	<-schemaDone
	// The program has ended: nothing changes the model any more.
	t := m.Tally()
	if err != nil && errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return t, nil
	}
	return t, err
}

// schemaChangedMsg says the Schemas learned a schema: gRPC messages are
// decoded again.
type schemaChangedMsg struct{}

// forwardSchemaChanges turns each value on changed into a
// schemaChangedMsg until ctx ends. Like the pump, it is a goroutine of
// its own, so that Schemas never wait on the program.
func forwardSchemaChanges(ctx context.Context, changed <-chan struct{}, send func(tea.Msg)) {
	if changed == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			send(schemaChangedMsg{})
		}
	}
}

// frameInterval is the pump's minimum gap between batches: 30 a second.
// Under load every batch changes the list, and each change costs a View
// and the renderer's parse and diff of the whole screen, so traffic
// redraws the screen at most 30 times a second, half the renderer's rate;
// a key press is still drawn at the renderer's next frame (60 a second),
// whatever the traffic.
const frameInterval = time.Second / 30

// pump drains sub and sends one batch per frame at most. It is the only
// goroutine that calls send (Program.Send, which blocks while the program
// is busy); the source never waits for it because the subscription drops
// and reports lag instead.
func pump(ctx context.Context, src Source, sub Subscription, send func(tea.Msg), every time.Duration) {
	var evs []record.Event
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
		}
		evs = sub.Drain(evs[:0])
		if len(evs) == 0 {
			continue
		}
		send(resolve(src, evs))
		// Let events gather for the rest of the frame.
		timer.Reset(every)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// batchMsg is one frame's worth of changes, resolved into exchange copies
// by the pump so that Update never waits on the source.
type batchMsg struct {
	// updates are current copies of the exchanges that changed, oldest
	// first, each allocated on its own: entries keep them, and one held in
	// a shared array would keep every other copy in it (and the body
	// bytes they share with the source) alive after its own entry let go.
	updates []*record.Exchange
	// removed are exchanges that left the source.
	removed []uint64
	// offloaded are exchanges the source moved out of memory (it still
	// holds them; see Lister).
	offloaded []uint64
	// cleared says every exchange before the updates was dropped.
	cleared bool
	// resync and index, when lagged, replace everything: the exchanges
	// in memory and a Lister's summaries.
	resync []record.Exchange
	index  []Summary
	lagged bool
	stats  record.Stats
}

// resolve turns a drained list of events into a batch: each changed
// exchange is read once, however many events it had.
func resolve(src Source, evs []record.Event) batchMsg {
	var b batchMsg
	seen := make(map[uint64]struct{}, len(evs))
	ids := make([]uint64, 0, len(evs))
	for _, ev := range evs {
		switch ev.Kind {
		case record.EventLagged:
			b.lagged = true
		case record.EventCleared:
			b.cleared = true
			b.removed = b.removed[:0]
			b.offloaded = b.offloaded[:0]
			ids = ids[:0]
			clear(seen)
		case record.EventEvicted, record.EventOffloaded:
			if ev.Kind == record.EventEvicted {
				b.removed = append(b.removed, ev.ID)
			} else {
				b.offloaded = append(b.offloaded, ev.ID)
			}
			if _, ok := seen[ev.ID]; ok {
				delete(seen, ev.ID)
				for i, id := range ids {
					if id == ev.ID {
						ids = append(ids[:i], ids[i+1:]...)
						break
					}
				}
			}
		default:
			if _, ok := seen[ev.ID]; !ok {
				seen[ev.ID] = struct{}{}
				ids = append(ids, ev.ID)
			}
		}
	}
	if b.lagged {
		b.resync = src.Snapshot()
		if b.resync == nil {
			b.resync = []record.Exchange{}
		}
		if ls, ok := src.(Lister); ok {
			b.index, _ = ls.Index() // on an error, what is in memory
		}
		b.stats = readStats(src)
		return b
	}
	b.updates = make([]*record.Exchange, 0, len(ids))
	for _, id := range ids {
		if x, ok := src.Get(id); ok {
			b.updates = append(b.updates, &x)
		} else {
			b.removed = append(b.removed, id)
		}
	}
	b.stats = readStats(src)
	return b
}

// ApplyEvents applies a batch of source events as the event pump would,
// reading the changed exchanges from the source, and returns the command
// Update returned (rendering work for the detail view, filter work for a
// filter that reads bodies). It is
// exported for benchmarks and tests; the running program gets events from
// its pump.
func (m *Model) ApplyEvents(evs []record.Event) tea.Cmd {
	_, cmd := m.Update(resolve(m.src, evs))
	return cmd
}
