package tui

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// countingDecoder is the standard body decoder, counting its calls.
type countingDecoder struct{ n atomic.Int64 }

func (d *countingDecoder) Body(b record.Body, h record.Fields, decoded bool) ([]byte, string, bool, error) {
	d.n.Add(1)
	return body.Decoder{}.Body(b, h, decoded)
}

// gzipped returns 1 MiB of compressible text, gzipped, with needle in the
// middle if it is not empty.
func gzipped(t *testing.T, needle string) []byte {
	t.Helper()
	const para = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
	plain := bytes.Repeat([]byte(para), (1<<20)/len(para)+1)[:1<<20]
	copy(plain[1<<19:], needle)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBodyFilterNeverDecodesInUpdate applies a body: filter to 1,000
// exchanges with 1 MiB gzipped response bodies, then feeds it new traffic:
// no Update decodes a body, the list shows what it knows meanwhile, and
// the matches arrive when the commands run.
func TestBodyFilterNeverDecodesInUpdate(t *testing.T) {
	hay, needle := gzipped(t, ""), gzipped(t, "needle")
	exchange := func(i int) record.Exchange {
		x := fixtures()[0]
		b := hay
		if i%10 == 0 {
			b = needle
		}
		x.Response = &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
			Header: hdr("Content-Type", "text/plain", "Content-Encoding", "gzip"),
			Body:   record.Body{Bytes: b, Size: int64(len(b)), Complete: true}}
		return x
	}
	xs := make([]record.Exchange, 1000)
	for i := range xs {
		xs[i] = exchange(i)
	}
	rec := newRecorder(t, xs...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 100, 24)
	dec := &countingDecoder{}
	m.bodies = dec

	// update delivers msg and fails if Update decoded a body.
	update := func(msg tea.Msg) tea.Cmd {
		t.Helper()
		before := dec.n.Load()
		_, cmd := m.Update(msg)
		if n := dec.n.Load() - before; n != 0 {
			t.Fatalf("Update(%T) decoded %d bodies on the event loop", msg, n)
		}
		return cmd
	}
	// runAll runs cmds as the program would, in order, feeding each
	// message back through update.
	var runAll func(cmds []tea.Cmd, depth int)
	runAll = func(cmds []tea.Cmd, depth int) {
		t.Helper()
		if depth > 20 {
			t.Fatal("commands keep producing commands")
		}
		for _, c := range cmds {
			if c == nil {
				continue
			}
			switch msg := c().(type) {
			case nil:
			case tea.BatchMsg:
				runAll(msg, depth+1)
			default:
				runAll([]tea.Cmd{update(msg)}, depth+1)
			}
		}
	}
	rowIDs := func() []uint64 {
		var ids []uint64
		for _, e := range m.list.rows {
			ids = append(ids, e.x.ID)
		}
		return ids
	}

	// Typing the filter, and the enter that keeps it, decode nothing: the
	// list keeps its rows and says it is filtering.
	var cmds []tea.Cmd
	for _, k := range keys("/", "body:needle", "enter") {
		cmds = append(cmds, update(k))
	}
	if got := len(m.list.rows); got != 1000 {
		t.Fatalf("before the verdicts: %d rows, want the 1000 known", got)
	}
	if !strings.Contains(screen(m), "filtering…") {
		t.Fatalf("no filtering hint while the filter runs:\n%s", screen(m))
	}
	runAll(cmds, 0)
	if dec.n.Load() == 0 {
		t.Fatal("the filter commands decoded no body")
	}
	ids := rowIDs()
	if len(ids) != 100 {
		t.Fatalf("body:needle shows %d rows, want 100", len(ids))
	}
	for _, id := range ids {
		if id%10 != 1 {
			t.Fatalf("#%d matched body:needle; want only #1, #11, …", id)
		}
	}
	s := screen(m)
	if strings.Contains(s, "filtering…") || !strings.Contains(s, "100/100 (1000 recorded)") || !strings.Contains(s, "#991") {
		t.Fatalf("after the verdicts:\n%s", s)
	}

	// A batch of new traffic is not judged in Update either: the new
	// exchanges wait for their verdicts, which the returned command brings.
	for i := 1000; i < 1020; i++ {
		rec.Add(exchange(i))
	}
	before := dec.n.Load()
	cmd := m.ApplyEvents(sub.Drain(nil)) // resolve, then Update
	if n := dec.n.Load() - before; n != 0 {
		t.Fatalf("Update of an event batch decoded %d bodies on the event loop", n)
	}
	if got := len(m.list.rows); got != 100 || !strings.Contains(screen(m), "filtering…") {
		t.Fatalf("new traffic before its verdicts: %d rows, want 100, and a filtering hint:\n%s", got, screen(m))
	}
	runAll([]tea.Cmd{cmd}, 0)
	ids = rowIDs()
	if len(ids) != 102 || ids[100] != 1001 || ids[101] != 1011 {
		t.Fatalf("after new traffic: %d rows ending %v, want 102 ending [1001 1011]", len(ids), ids[len(ids)-2:])
	}
	if !strings.Contains(screen(m), "#1011") {
		t.Fatalf("the newest match is not in view:\n%s", screen(m))
	}
}

// TestBodyFilterJudgesChangedExchangesAgain changes an exchange while a body
// filter is judging it: the verdict on the old version is not the last
// word, the new version is judged and shown.
func TestBodyFilterJudgesChangedExchangesAgain(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	cmd := m.setFilterText("body:fresh")
	changed := *m.entries[1].x
	changed.Version++
	changed.Response = &record.Response{Status: 200, Body: record.Body{Bytes: []byte("fresh"), Size: 5, Complete: true}}
	m.upsert(&changed)
	run(t, m, cmd, 0)
	if len(m.list.rows) != 1 || m.list.rows[0].x.ID != 2 || m.filterBusy() {
		t.Fatalf("rows %d, busy %v; want #2 alone, settled", len(m.list.rows), m.filterBusy())
	}
}

// lazySource serves exchanges without their body bytes, and the bytes only
// through Body, as a session file on disk would. It cannot pause or clear.
type lazySource struct {
	rec   Source
	reads atomic.Int64
}

func strip(x record.Exchange) record.Exchange {
	x.Request.Body.Bytes = nil
	if x.Response != nil {
		r := *x.Response
		r.Body.Bytes = nil
		x.Response = &r
	}
	return x
}

func (s *lazySource) Snapshot() []record.Exchange {
	xs := s.rec.Snapshot()
	for i := range xs {
		xs[i] = strip(xs[i])
	}
	return xs
}

func (s *lazySource) Get(id uint64) (record.Exchange, bool) {
	x, ok := s.rec.Get(id)
	return strip(x), ok
}

func (s *lazySource) Subscribe(n int) Subscription { return s.rec.Subscribe(n) }

func (s *lazySource) Body(x *record.Exchange, part BodyPart) (record.Body, error) {
	s.reads.Add(1)
	full, ok := s.rec.Get(x.ID)
	if !ok {
		return record.Body{}, fmt.Errorf("%s is gone", x.Label())
	}
	return part.Of(&full), nil
}

// TestLazySource reads bodies only through Source.Body: the detail view,
// the body filter and curl see them, and the keys the source cannot serve
// are off.
func TestLazySource(t *testing.T) {
	src := &lazySource{rec: RecorderSource(newRecorder(t, fixtures()...))}
	m := New(Config{Source: src, Role: "view", Now: clock})
	send(t, m, tea.ColorProfileMsg{Profile: colorprofile.ASCII}, tea.WindowSizeMsg{Width: 100, Height: 30})
	if src.reads.Load() != 0 {
		t.Fatal("bodies were read before anything needed them")
	}
	press(t, m, "/", "body:Lovelace", "enter")
	if len(m.list.rows) != 1 || m.list.rows[0].x.ID != 1 {
		t.Fatalf("body:Lovelace over a lazy source: %d rows", len(m.list.rows))
	}
	press(t, m, "enter", "2")
	if s := screen(m); !strings.Contains(s, "Ada Lovelace") {
		t.Fatalf("the response tab does not show the body read through the source:\n%s", s)
	}
	if m.keys.Actions.Pause.Enabled() || m.keys.Actions.Clear.Enabled() {
		t.Fatal("pause and clear are offered by a source that cannot do them")
	}
}

// TestFilterEnterOnError presses enter on a filter that does not parse: the
// input stays open with the error in view, rather than closing on the last
// good filter, and the error goes once the text is fixed.
func TestFilterEnterOnError(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 100, 24)
	press(t, m, "/", "method:GET")
	// Pasted at once: typed key by key, the text is a good filter on the way.
	send(t, m, tea.PasteMsg{Content: " (status:2xx or status:404"})
	press(t, m, "enter")
	const msg = `unbalanced "(" at column 12`
	if m.mode != modeFilter || !strings.Contains(screen(m), msg) {
		t.Fatalf("enter on a bad filter: filtering=%v, want the input open showing %q:\n%s", m.mode == modeFilter, msg, screen(m))
	}
	if m.filterText != "method:GET" || len(m.list.rows) != 3 {
		t.Fatalf("the bad filter changed what is applied: %q, %d rows", m.filterText, len(m.list.rows))
	}
	press(t, m, ")")
	if m.filterErr != nil || strings.Contains(screen(m), "✗") {
		t.Fatalf("the error stayed after the fix:\n%s", screen(m))
	}
	press(t, m, "enter")
	if m.mode == modeFilter || m.filterText != "method:GET (status:2xx or status:404)" {
		t.Fatalf("enter on the fixed filter: filtering=%v, text %q", m.mode == modeFilter, m.filterText)
	}
	if got := len(m.list.rows); got != 2 {
		t.Fatalf("method:GET (status:2xx or status:404) shows %d rows, want 2", got)
	}
}

// TestFilterErrorClearedWithText empties a bad filter: the error goes with
// the text, and enter then closes the input with no filter.
func TestFilterErrorClearedWithText(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 100, 24)
	press(t, m, "/")
	send(t, m, tea.PasteMsg{Content: "status:404 or"})
	press(t, m, "enter")
	if m.mode != modeFilter || !strings.Contains(screen(m), "nothing on its right") {
		t.Fatalf("enter on a dangling or:\n%s", screen(m))
	}
	for range "status:404 or" {
		press(t, m, "backspace")
	}
	if m.filterErr != nil || strings.Contains(screen(m), "✗") {
		t.Fatalf("the error stayed after the text was cleared:\n%s", screen(m))
	}
	press(t, m, "enter")
	if m.mode == modeFilter || m.filter != nil || len(m.list.rows) != len(fixtures()) {
		t.Fatalf("enter on an empty filter: filtering=%v, filter %v, %d rows", m.mode == modeFilter, m.filter, len(m.list.rows))
	}
}
