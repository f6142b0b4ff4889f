package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
)

func selectedID(m *Model) uint64 {
	if e := m.list.selected(); e != nil {
		return e.x.ID
	}
	return 0
}

func TestStartsFollowingNewest(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	if !m.list.follow || selectedID(m) != 5 {
		t.Fatalf("follow=%v selected=#%d, want follow on #5", m.list.follow, selectedID(m))
	}
	if !strings.Contains(screen(m), "FOLLOW") {
		t.Fatalf("no FOLLOW badge:\n%s", screen(m))
	}
}

func TestCursorAndFollow(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	steps := []struct {
		keys   []string
		id     uint64
		follow bool
	}{
		{[]string{"k"}, 4, false},
		{[]string{"up"}, 3, false},
		{[]string{"j"}, 4, false},
		{[]string{"g"}, 1, false},
		{[]string{"down", "down"}, 3, false},
		{[]string{"G"}, 5, true},
		{[]string{"home"}, 1, false},
		{[]string{"end"}, 5, true},
		{[]string{"F"}, 5, false},
		{[]string{"F"}, 5, true},
		{[]string{"pgup"}, 1, false},
		{[]string{"pgdown"}, 5, false},
	}
	for i, s := range steps {
		press(t, m, s.keys...)
		if selectedID(m) != s.id || m.list.follow != s.follow {
			t.Fatalf("step %d %v: selected #%d follow=%v, want #%d follow=%v", i, s.keys, selectedID(m), m.list.follow, s.id, s.follow)
		}
	}
}

// feed adds exchanges to rec and applies the resulting events to m.
func feed(t *testing.T, m *Model, rec *record.Recorder, sub *record.Subscription, xs ...record.Exchange) {
	t.Helper()
	for _, x := range xs {
		rec.Add(x)
	}
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
}

func TestFollowKeepsNewestSelected(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 80, 24)
	more := make([]record.Exchange, 30)
	for i := range more {
		more[i] = fixtures()[0]
	}
	feed(t, m, rec, sub, more...)
	if selectedID(m) != 35 {
		t.Fatalf("following: selected #%d, want the newest #35", selectedID(m))
	}
	if !strings.Contains(screen(m), "#35") {
		t.Fatalf("the newest row is not in view:\n%s", screen(m))
	}
	press(t, m, "k")
	feed(t, m, rec, sub, more[:3]...)
	if selectedID(m) != 34 || m.list.follow {
		t.Fatalf("not following: selected #%d follow=%v, want #34 and off", selectedID(m), m.list.follow)
	}
}

func TestFilter(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 100, 24)
	press(t, m, "/")
	if m.mode != modeFilter {
		t.Fatal("/ did not open the filter")
	}
	press(t, m, "method:GET")
	if got := len(m.list.rows); got != 3 {
		t.Fatalf("method:GET shows %d rows, want 3:\n%s", got, screen(m))
	}
	// A bad filter shows its error and leaves the list as it was. (Typed
	// key by key, " status" would be a good filter on the way.)
	send(t, m, tea.PasteMsg{Content: " status:abc"})
	if m.filterErr == nil || !strings.Contains(screen(m), "status:abc") {
		t.Fatalf("no inline error for a bad filter:\n%s", screen(m))
	}
	if got := len(m.list.rows); got != 3 {
		t.Fatalf("a bad filter changed the list to %d rows", got)
	}
	for range " status:abc" {
		press(t, m, "backspace")
	}
	press(t, m, " status:2xx", "enter")
	if m.mode == modeFilter || m.filterText != "method:GET status:2xx" {
		t.Fatalf("enter: filtering=%v text=%q", m.mode == modeFilter, m.filterText)
	}
	if got := len(m.list.rows); got != 2 || m.list.rows[1].x.ID != 4 {
		t.Fatalf("method:GET status:2xx shows %d rows, want #1 and #4", got)
	}
	// New traffic is filtered too.
	feed(t, m, rec, sub, fixtures()[0], fixtures()[1])
	if got := len(m.list.rows); got != 3 || m.list.rows[2].x.ID != 6 {
		t.Fatalf("after new traffic the list has %d rows, want #1, #4 and #6", got)
	}
	if !strings.Contains(screen(m), "FILTER") {
		t.Fatalf("no FILTER badge:\n%s", screen(m))
	}
	press(t, m, "esc")
	if m.filter != nil || len(m.list.rows) != 7 {
		t.Fatalf("esc: filter=%v rows=%d, want none and 7", m.filter, len(m.list.rows))
	}
}

func TestFilterEscWhileTypingClears(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	press(t, m, "/", "error", "esc")
	if m.mode == modeFilter || m.filter != nil || len(m.list.rows) != 5 {
		t.Fatalf("esc while typing: filtering=%v filter=%v rows=%d", m.mode == modeFilter, m.filter, len(m.list.rows))
	}
}

func TestFilterSeesChangedExchanges(t *testing.T) {
	// An exchange that changes while a filter runs in the background is
	// matched again when the results land.
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	f, err := match.Parse("status:200")
	if err != nil {
		t.Fatal(err)
	}
	cmd := m.startFilter(f, "status:200")
	changed := *m.entries[1].x
	changed.Version++
	changed.Response = &record.Response{Status: 200}
	m.upsert(&changed)
	run(t, m, cmd, 0)
	var ids []uint64
	for _, e := range m.list.rows {
		ids = append(ids, e.x.ID)
	}
	if fmt.Sprint(ids) != "[1 2 4]" {
		t.Fatalf("visible %v, want [1 2 4]", ids)
	}
}

func TestDetailTabs(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	press(t, m, "g", "enter")
	if !m.detailOpen() || m.detail.x.ID != 1 || m.detail.tab != tabRequest {
		t.Fatalf("enter: open=%v tab=%v", m.detailOpen(), m.detail.tab)
	}
	for _, s := range []struct {
		key  string
		want tab
	}{{"tab", tabResponse}, {"tab", tabTiming}, {"tab", tabRequest}, {"shift+tab", tabTiming}, {"1", tabRequest}, {"3", tabTiming}, {"2", tabResponse}, {"h", tabRequest}, {"l", tabResponse}} {
		press(t, m, s.key)
		if m.detail.tab != s.want {
			t.Fatalf("%s: tab %v, want %v", s.key, m.detail.tab, s.want)
		}
		if m.detail.content == nil {
			t.Fatalf("%s: tab %v was not rendered", s.key, s.want)
		}
	}
	if !strings.Contains(screen(m), `"Ada Lovelace"`) {
		t.Fatalf("response tab does not show the JSON body:\n%s", screen(m))
	}
	press(t, m, "]")
	if m.detail.x.ID != 2 {
		t.Fatalf("] shows #%d, want #2", m.detail.x.ID)
	}
	press(t, m, "[", "[")
	if m.detail.x.ID != 1 {
		t.Fatalf("[ shows #%d, want #1", m.detail.x.ID)
	}
	press(t, m, "q")
	if m.detailOpen() {
		t.Fatal("q in the detail view did not go back")
	}
	press(t, m, "enter", "esc")
	if m.detailOpen() {
		t.Fatal("esc in the detail view did not go back")
	}
}

func TestDetailScroll(t *testing.T) {
	x := fixtures()[1]
	x.Response.Body.Bytes = []byte(strings.Repeat("line\n", 200))
	x.Response.Body.Size = int64(len(x.Response.Body.Bytes))
	x.Response.Header = hdr("Content-Type", "text/plain")
	m := newModel(t, newRecorder(t, x), 80, 24)
	press(t, m, "enter", "2")
	press(t, m, "j", "j")
	if m.detail.offset != 2 {
		t.Fatalf("j j: offset %d, want 2", m.detail.offset)
	}
	press(t, m, "G")
	if n, _ := m.detail.lineCount(); m.detail.offset != n-m.detailRows() || !m.detail.stick {
		want := n - m.detailRows()
		t.Fatalf("G: offset %d, want %d and sticking to the bottom", m.detail.offset, want)
	}
	press(t, m, "pgup")
	if m.detail.stick {
		t.Fatal("pgup kept sticking to the bottom")
	}
	press(t, m, "g")
	if m.detail.offset != 0 {
		t.Fatalf("g: offset %d", m.detail.offset)
	}
	if !strings.Contains(screen(m), "lines 1–20 of") {
		t.Fatalf("no position in the footer:\n%s", screen(m))
	}
}

func TestSearch(t *testing.T) {
	x := fixtures()[1]
	x.Response.Body.Bytes = []byte(strings.Repeat("nothing\n", 30) + "Needle one\nnothing\nneedle two\n" + strings.Repeat("x\n", 30) + "NEEDLE three\n")
	x.Response.Body.Size = int64(len(x.Response.Body.Bytes))
	x.Response.Header = hdr("Content-Type", "text/plain")
	m := newModel(t, newRecorder(t, x), 80, 24)
	press(t, m, "enter", "2", "/", "needle")
	if len(m.detail.matches) != 3 {
		t.Fatalf("%d matches, want 3", len(m.detail.matches))
	}
	if !strings.Contains(screen(m), "match 1/3") {
		t.Fatalf("no match counter:\n%s", screen(m))
	}
	first := m.detail.matches[0].line
	if first < m.detail.offset || first >= m.detail.offset+m.detailRows() {
		t.Fatalf("the first match (line %d) is not in view (offset %d)", first, m.detail.offset)
	}
	press(t, m, "enter", "n")
	if m.detail.cur != 1 || !strings.Contains(screen(m), "match 2/3") {
		t.Fatalf("n: current match %d:\n%s", m.detail.cur, screen(m))
	}
	press(t, m, "n", "n")
	if m.detail.cur != 0 {
		t.Fatalf("n wraps around: current %d", m.detail.cur)
	}
	press(t, m, "N")
	if m.detail.cur != 2 {
		t.Fatalf("N: current %d, want 2", m.detail.cur)
	}
	last := m.detail.matches[2].line
	if last < m.detail.offset || last >= m.detail.offset+m.detailRows() {
		t.Fatalf("the last match (line %d) is not in view (offset %d)", last, m.detail.offset)
	}
	press(t, m, "/", "esc")
	if m.detail.query != "" || len(m.detail.matches) != 0 {
		t.Fatal("esc did not clear the search")
	}
}

func TestHighlightMarksMatches(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	m.Update(tea.ColorProfileMsg{Profile: 4}) // TrueColor: styled output
	press(t, m, "g", "enter", "2", "/", "lovelace", "enter")
	if len(m.detail.matches) != 1 {
		t.Fatalf("%d matches, want 1", len(m.detail.matches))
	}
	// The match is in the body: found in its bytes, drawn on its row.
	if h := m.detail.matches[0]; h.src < 0 {
		t.Fatalf("the match %+v is not in the body", h)
	}
	cur := m.ctx.st.bodyPalette().Current
	if out := m.detail.Render(80, 22); !strings.Contains(out, cur[0]+"Lovelace"+cur[1]) {
		t.Fatalf("the match is not highlighted:\n%q", out)
	}
}

func TestPause(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	m := newModel(t, rec, 80, 24)
	press(t, m, "p")
	if !rec.Stats().Paused || !strings.Contains(screen(m), "CAPTURE PAUSED") {
		t.Fatalf("p: paused=%v\n%s", rec.Stats().Paused, screen(m))
	}
	press(t, m, "p")
	if rec.Stats().Paused || strings.Contains(screen(m), "CAPTURE PAUSED") {
		t.Fatal("p again did not resume")
	}
}

func TestClearAsksFirst(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	m := newModel(t, rec, 80, 24)
	press(t, m, "C")
	if _, ok := topDialog[*confirmDialog](m); !ok || !strings.Contains(screen(m), "Drop all 5 recorded exchanges?") {
		t.Fatalf("C did not ask:\n%s", screen(m))
	}
	press(t, m, "n")
	if m.topDialog() != nil || rec.Stats().Kept != 5 {
		t.Fatal("n did not keep the exchanges")
	}
	press(t, m, "C", "y")
	if rec.Stats().Kept != 0 || len(m.list.rows) != 0 {
		t.Fatalf("y: kept %d, rows %d", rec.Stats().Kept, len(m.list.rows))
	}
	if !strings.Contains(screen(m), "Waiting for traffic") {
		t.Fatalf("empty list message missing:\n%s", screen(m))
	}
}

func TestHelpScreen(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 120, 60, func(c *Config) {
		c.Replayer = &fakeReplayer{}
		c.Holds = newFakeHolds()
		c.Rules = newFakeRules()
	})
	press(t, m, "?")
	s := screen(m)
	if _, ok := topDialog[*helpDialog](m); !ok || !strings.Contains(s, "Keys") {
		t.Fatalf("? did not open help:\n%s", s)
	}
	for _, sec := range m.keys.sections() {
		for _, r := range sec.rows {
			if !strings.Contains(s, r.desc) {
				t.Errorf("help does not list %q", r.desc)
			}
		}
	}
	press(t, m, "esc")
	if m.topDialog() != nil {
		t.Fatal("esc did not close help")
	}
}

func TestCurlPopup(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 100, 30)
	press(t, m, "g")
	_, cmd := m.Update(keys("c")[0])
	msg := cmd()
	if _, ok := msg.(tea.BatchMsg); ok {
		t.Fatal("unexpected batch")
	}
	_, cmd = m.Update(msg)
	if _, ok := topDialog[*textDialog](m); !ok || !strings.Contains(screen(m), "curl") || !strings.Contains(curlText(m), "localhost:3000/api/users") {
		t.Fatalf("c: dialog %T, text %q\n%s", m.topDialog(), curlText(m), screen(m))
	}
	// The command is also sent to the clipboard with OSC 52.
	var found bool
	var walk func(tea.Cmd)
	walk = func(c tea.Cmd) {
		if c == nil {
			return
		}
		switch msg := c().(type) {
		case tea.BatchMsg:
			for _, c := range msg {
				walk(c)
			}
		default:
			if fmt.Sprintf("%T", msg) == fmt.Sprintf("%T", tea.SetClipboard("x")()) && fmt.Sprint(msg) == fmt.Sprint(tea.SetClipboard(curlText(m))()) {
				found = true
			}
		}
	}
	walk(cmd)
	if !found {
		t.Fatal("the curl command was not set on the clipboard")
	}
	press(t, m, "esc")
	if m.topDialog() != nil {
		t.Fatal("esc did not close the pop-up")
	}
}

// fakeReplayer records calls and answers with new IDs.
type fakeReplayer struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeReplayer) Replay(ctx context.Context, id uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("replay %d", id))
	return 100 + id, f.err
}

func (f *fakeReplayer) ReplayRaw(ctx context.Context, id uint64, raw []byte) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("raw %d %q", id, raw))
	return 200 + id, f.err
}

func TestReplay(t *testing.T) {
	rp := &fakeReplayer{}
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.Replayer = rp })
	press(t, m, "g", "r")
	if fmt.Sprint(rp.calls) != "[replay 1]" || !strings.Contains(screen(m), "replay of #1 → #101") {
		t.Fatalf("r: calls %v\n%s", rp.calls, screen(m))
	}
	rp.err = errors.New("boom")
	press(t, m, "r")
	if !strings.Contains(screen(m), "replay of #1 failed: boom") {
		t.Fatalf("no replay error:\n%s", screen(m))
	}
}

func TestReplayMarked(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	if !strings.Contains(screen(m), "↻#1 /api/users") {
		t.Fatalf("replay not marked:\n%s", screen(m))
	}
}

func TestReplayDisabledWithoutReplayer(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.Role = "view" })
	press(t, m, "r")
	if !strings.Contains(screen(m), "replay is not available here") {
		t.Fatalf("no explanation:\n%s", screen(m))
	}
	if strings.Contains(m.keys.Markdown(), "replay") {
		t.Fatal("the key table lists replay without a replayer")
	}
}

func TestEdit(t *testing.T) {
	rp := &fakeReplayer{}
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.Replayer = rp })
	press(t, m, "g", "j")
	// The first command writes the request to a temp file for the editor.
	_, cmd := m.Update(keys("e")[0])
	ready, ok := cmd().(editReadyMsg)
	if !ok || ready.err != nil {
		t.Fatalf("e: %#v", ready)
	}
	t.Cleanup(func() { os.Remove(ready.path) })
	text, err := os.ReadFile(ready.path)
	if err != nil || !strings.HasPrefix(string(text), "POST /api/orders HTTP/1.1") {
		t.Fatalf("temp file: %q %v", text, err)
	}
	// Unchanged: nothing is sent.
	send(t, m, editExitMsg{id: ready.id, path: ready.path, orig: ready.orig})
	if len(rp.calls) != 0 || !strings.Contains(screen(m), "not changed") {
		t.Fatalf("unchanged edit: calls %v\n%s", rp.calls, screen(m))
	}
	// Changed: sent with ReplayRaw.
	_, cmd = m.Update(keys("e")[0])
	ready = cmd().(editReadyMsg)
	edited := strings.Replace(string(ready.orig), "qty=2", "qty=3", 1)
	if err := os.WriteFile(ready.path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	send(t, m, editExitMsg{id: ready.id, path: ready.path, orig: ready.orig})
	if len(rp.calls) != 1 || !strings.Contains(rp.calls[0], "qty=3") {
		t.Fatalf("edited: calls %v", rp.calls)
	}
	if !strings.Contains(screen(m), "edited replay of #2 → #202") {
		t.Fatalf("no result:\n%s", screen(m))
	}
	if _, err := os.Stat(ready.path); !os.IsNotExist(err) {
		t.Fatal("the temp file was left behind")
	}
	// A parse error names its line.
	rp.err = &export.RawError{Line: 3, Msg: "bad header"}
	_, cmd = m.Update(keys("e")[0])
	ready = cmd().(editReadyMsg)
	os.WriteFile(ready.path, []byte("junk\n"), 0o600)
	send(t, m, editExitMsg{id: ready.id, path: ready.path, orig: ready.orig})
	if !strings.Contains(screen(m), "line 3: bad header") {
		t.Fatalf("no line in the error:\n%s", screen(m))
	}
}

func TestEditRefusesBinaryBody(t *testing.T) {
	x := fixtures()[1]
	x.Request.Body = record.Body{Bytes: []byte{0xff, 0xfe, 0x00}, Size: 3, Complete: true}
	rp := &fakeReplayer{}
	m := newModel(t, newRecorder(t, x), 80, 24, func(c *Config) { c.Replayer = rp })
	_, cmd := m.Update(keys("e")[0])
	if cmd != nil {
		if _, ok := cmd().(editReadyMsg); ok {
			t.Fatal("e prepared an edit of a binary body")
		}
	}
	if !strings.Contains(screen(m), "cannot edit #1") {
		t.Fatalf("no refusal:\n%s", screen(m))
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	m := newModel(t, newRecorder(t, fixtures()...), 100, 30, func(c *Config) { c.ExportDir = dir })
	press(t, m, "x")
	want := filepath.Join(dir, "devproxy-20260304-100005.har")
	if _, ok := topDialog[*promptDialog](m); !ok || exportPath(m) != want {
		t.Fatalf("x: dialog %T, path %q, want %q", m.topDialog(), exportPath(m), want)
	}
	press(t, m, "enter")
	if _, err := os.Stat(want); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(screen(m), "wrote 5 entries to") || !strings.Contains(screen(m), "(redaction: default)") {
		t.Fatalf("no report:\n%s", screen(m))
	}
	// With a filter on, only the filtered set is exported.
	press(t, m, "/", "error", "enter", "x")
	if !strings.Contains(screen(m), "2 exchanges that match the filter") {
		t.Fatalf("export prompt does not say it is filtered:\n%s", screen(m))
	}
	for range "devproxy-20260304-100005.har" {
		press(t, m, "backspace")
	}
	press(t, m, "errors.har", "enter")
	if !strings.Contains(screen(m), "wrote 2 entries to "+filepath.Join(dir, "errors.har")) {
		t.Fatalf("filtered export:\n%s", screen(m))
	}
}

func TestMouse(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	// Row i of the list is on screen line 2+i.
	send(t, m, tea.MouseClickMsg{X: 10, Y: 3, Button: tea.MouseLeft})
	if selectedID(m) != 2 || m.list.follow {
		t.Fatalf("click: selected #%d follow=%v", selectedID(m), m.list.follow)
	}
	send(t, m, tea.MouseClickMsg{X: 10, Y: 3, Button: tea.MouseLeft})
	if !m.detailOpen() || m.detail.x.ID != 2 {
		t.Fatal("a click on the selected row did not open it")
	}
	// Tabs are on line 1.
	sp := tabBarSpans(tabMessages)
	send(t, m, tea.MouseClickMsg{X: sp[tabTiming][0] + 1, Y: 1, Button: tea.MouseLeft})
	if m.detail.tab != tabTiming {
		t.Fatalf("click on the Timing tab: tab %v", m.detail.tab)
	}
	press(t, m, "esc")
	send(t, m, tea.MouseWheelMsg{X: 10, Y: 5, Button: tea.MouseWheelDown})
	if selectedID(m) != 5 {
		t.Fatalf("wheel down: selected #%d", selectedID(m))
	}
	send(t, m, tea.MouseWheelMsg{X: 10, Y: 5, Button: tea.MouseWheelUp})
	if selectedID(m) != 2 {
		t.Fatalf("wheel up: selected #%d", selectedID(m))
	}
}

func TestSplitViewFromWideTerminals(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 200, 50)
	press(t, m, "g", "enter")
	a := m.area()
	if !a.split || a.listW == 0 || a.detailW == 0 {
		t.Fatalf("200 columns: %+v, want side by side", a)
	}
	s := screen(m)
	if !strings.Contains(s, "PATH on localhost:3000") || !strings.Contains(s, "Request") {
		t.Fatalf("not side by side:\n%s", s)
	}
	// Clicking another row shows it in the detail pane.
	send(t, m, tea.MouseClickMsg{X: 5, Y: 4, Button: tea.MouseLeft})
	if m.detail.x.ID != 3 {
		t.Fatalf("click in the list: detail shows #%d, want #3", m.detail.x.ID)
	}
	m2 := newModel(t, newRecorder(t, fixtures()...), 120, 40)
	press(t, m2, "enter")
	if a := m2.area(); a.split || a.listW != 0 {
		t.Fatalf("120 columns: %+v, want the detail full screen", a)
	}
}

func TestLagResyncs(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	m := newModel(t, rec, 100, 24)
	rec.Add(fixtures()[0])
	m.ApplyEvents([]record.Event{{Kind: record.EventLagged}})
	if len(m.entries) != 6 || m.lags != 1 {
		t.Fatalf("after a lag: %d entries, %d lags", len(m.entries), m.lags)
	}
	if !strings.Contains(screen(m), "lagged 1") {
		t.Fatalf("no lag counter:\n%s", screen(m))
	}
}

func TestEvictionAndClearEvents(t *testing.T) {
	rec := record.NewRecorder(record.Limits{MaxExchanges: 3})
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 100, 24)
	feed(t, m, rec, sub, fixtures()...)
	var ids []uint64
	for _, e := range m.entries {
		ids = append(ids, e.x.ID)
	}
	if fmt.Sprint(ids) != "[3 4 5]" {
		t.Fatalf("entries %v, want [3 4 5]", ids)
	}
	if !strings.Contains(screen(m), "evicted 2") {
		t.Fatalf("no eviction counter:\n%s", screen(m))
	}
	rec.Clear()
	feed(t, m, rec, sub, fixtures()[0])
	if len(m.entries) != 1 || m.entries[0].x.ID != 6 {
		t.Fatalf("after clear and one more: %d entries", len(m.entries))
	}
}

func TestStreamingBodyGrows(t *testing.T) {
	rec := record.NewRecorder(record.Limits{})
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 100, 30)
	r := rec.Begin(record.Begin{Role: record.RoleServe, Start: t0.Add(-2 * time.Second), Request: record.Request{Method: "GET", URL: "http://localhost:3000/events", Host: "localhost:3000"}, ContentLength: 0})
	r.Response(record.Response{Status: 200, Header: hdr("Content-Type", "text/event-stream")}, "")
	r.ResponseBody([]byte("data: first\n\n"))
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if s := screen(m); !strings.Contains(s, "200 ⠋") || !strings.Contains(s, "2.00s") {
		t.Fatalf("in-flight row:\n%s", s)
	}
	press(t, m, "enter", "2")
	if !strings.Contains(screen(m), "data: first") || !strings.Contains(screen(m), "streaming") {
		t.Fatalf("first event:\n%s", screen(m))
	}
	r.ResponseBody([]byte("data: second\n\n"))
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if !strings.Contains(screen(m), "data: second") {
		t.Fatalf("the body did not grow:\n%s", screen(m))
	}
	r.Finish(record.Finish{End: t0, Timings: record.NoTimings, ResponseComplete: true})
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if strings.Contains(screen(m), "streaming") {
		t.Fatalf("still streaming after the end:\n%s", screen(m))
	}
}

func TestCtrlCQuitsFromAnywhere(t *testing.T) {
	for _, setup := range [][]string{nil, {"/", "abc"}, {"?"}, {"enter"}, {"enter", "/", "x"}, {"C"}, {"x"}} {
		m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
		press(t, m, setup...)
		_, cmd := m.Update(keys("ctrl+c")[0])
		if cmd == nil {
			t.Fatalf("after %v: ctrl+c returned no command", setup)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("after %v: ctrl+c did not quit", setup)
		}
	}
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.SavedOnExit = true })
	_, cmd := m.Update(keys("q")[0])
	if cmd == nil {
		t.Fatal("q in the list did not quit")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q in the list did not quit")
	}
}

func TestStatusText(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 150, 24, func(c *Config) { c.Role = "agent"; c.Listen = "" })
	send(t, m, tickMsg{now: t0, stats: m.stats, status: "tunnel up (relay.example.com, 12ms)"})
	s := screen(m)
	if !strings.Contains(s, "tunnel up (relay.example.com, 12ms)") || !strings.Contains(s, "agent → http://localhost:3000") {
		t.Fatalf("header:\n%s", s)
	}
}

func TestRequestRate(t *testing.T) {
	var r rateMeter
	for i := 0; i <= 10; i++ {
		r.add(t0.Add(time.Duration(i)*time.Second), uint64(i*4))
	}
	if got := r.rate(); got != 4 {
		t.Fatalf("rate %v, want 4", got)
	}
	if len(r.samples) > 7 {
		t.Fatalf("kept %d samples for a 5s window", len(r.samples))
	}
}

func TestFramesNeverOverflow(t *testing.T) {
	sizes := [][2]int{{40, 8}, {60, 15}, {80, 24}, {100, 30}, {159, 40}, {160, 40}, {200, 50}, {30, 5}}
	setups := [][]string{nil, {"enter"}, {"enter", "2"}, {"enter", "3"}, {"?"}, {"C"}, {"x"}, {"/", "status:abc"}, {"g", "enter", "2", "/", "a"}, {"p"}}
	for _, sz := range sizes {
		for _, setup := range setups {
			m := newModel(t, newRecorder(t, fixtures()...), sz[0], sz[1], func(c *Config) { c.Replayer = &fakeReplayer{} })
			press(t, m, setup...)
			t.Run(fmt.Sprintf("%dx%d/%v", sz[0], sz[1], setup), func(t *testing.T) { checkFrame(t, m, sz[0], sz[1]) })
		}
	}
}

func TestColumnsDropBeforeTheURLShrinks(t *testing.T) {
	wide := layoutColumns(200, 99, 0, colStatus, colType)
	if wide.ctype == 0 || wide.size == 0 || wide.time == 0 {
		t.Fatalf("200 columns: %+v", wide)
	}
	// 80 columns keep the type and the size, whatever the cells: with
	// plain statuses ("200") and short types ("json") the time too.
	for _, maxID := range []uint64{99, 9999} {
		for _, cells := range [][2]int{{3, 4}, {len("ERR refused"), len("image/png")}, {colStatus, colType}} {
			c := layoutColumns(80, maxID, 0, cells[0], cells[1])
			if c.ctype == 0 || c.size == 0 || c.url < 16 {
				t.Fatalf("80 columns, #%d, cells %v: %+v", maxID, cells, c)
			}
			if cells[0] == 3 && (c.time == 0 || c.url < 24) {
				t.Fatalf("80 columns, #%d, cells %v: %+v", maxID, cells, c)
			}
		}
	}
	for w := 40; w <= 240; w++ {
		c := layoutColumns(w, 12345, 0, colStatus, colType)
		if c.fixed()+c.url != w {
			t.Fatalf("%d columns: layout adds up to %d", w, c.fixed()+c.url)
		}
	}
}

// TestColumnsFitTheirCells: the status column is as wide as its widest
// cell on screen (at least its header), so a list of 200s gives the
// URL what a 12-cell status would have taken; an error on screen widens
// it, and it narrows again once the error scrolls away.
func TestColumnsFitTheirCells(t *testing.T) {
	plain := fixtures()[:2] // 200 and 404
	m := newModel(t, newRecorder(t, plain...), 80, 24)
	head := lines(m)[1]
	if !strings.Contains(head, "STATUS PATH on localhost:3000") || !strings.Contains(head, "TYPE") {
		t.Fatalf("80 columns of 200 and 404: the status column is not fitted, or the type is gone:\n%s", screen(m))
	}
	if row := lines(m)[2]; !strings.Contains(row, " 200    /api/users?page=1") || !strings.HasSuffix(row, "json") {
		t.Fatalf("row: %q", row)
	}

	// Twenty 200s after the failure scroll it off a 10-line screen.
	xs := fixtures()[:3] // 200, 404, ERR refused
	for range 20 {
		xs = append(xs, plain[0])
	}
	m = newModel(t, newRecorder(t, xs...), 80, 10)
	press(t, m, "g")
	if head := lines(m)[1]; !strings.Contains(head, "STATUS      PATH") {
		t.Fatalf("with ERR refused on screen: %q", head)
	}
	press(t, m, "G")
	if head := lines(m)[1]; !strings.Contains(head, "STATUS PATH") {
		t.Fatalf("with only 200s on screen: %q", head)
	}
}

func TestKeyTableMarkdown(t *testing.T) {
	k := DefaultKeyMap()
	md := k.Markdown()
	for _, sec := range k.sections() {
		for _, r := range sec.rows {
			if !strings.Contains(md, "| "+r.desc+" |") {
				t.Errorf("the key table misses %q", r.desc)
			}
		}
	}
	t.Log("\n" + md)
}

func TestPumpBatchesPerFrame(t *testing.T) {
	rec := newRecorder(t)
	sub := rec.Subscribe(0)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan tea.Msg, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A frame of an hour: after the first batch, everything else must
		// wait for the next frame.
		pump(ctx, RecorderSource(rec), sub, func(msg tea.Msg) { sent <- msg }, time.Hour)
	}()
	rec.Add(fixtures()[0])
	first := (<-sent).(batchMsg)
	if len(first.updates) != 1 || first.updates[0].ID != 1 {
		t.Fatalf("first batch: %+v", first.updates)
	}
	for _, x := range fixtures() {
		rec.Add(x)
	}
	cancel()
	<-done
	select {
	case msg := <-sent:
		t.Fatalf("a second batch within the frame: %+v", msg)
	default:
	}
}

func TestResolveCoalesces(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	evs := []record.Event{
		{Kind: record.EventStarted, ID: 1}, {Kind: record.EventResponse, ID: 1}, {Kind: record.EventDone, ID: 1},
		{Kind: record.EventStarted, ID: 2}, {Kind: record.EventEvicted, ID: 2},
		{Kind: record.EventStarted, ID: 99}, // gone already
	}
	b := resolve(RecorderSource(rec), evs)
	if len(b.updates) != 1 || b.updates[0].ID != 1 || fmt.Sprint(b.removed) != "[2 99]" {
		t.Fatalf("updates %d, removed %v", len(b.updates), b.removed)
	}
	b = resolve(RecorderSource(rec), []record.Event{{Kind: record.EventStarted, ID: 1}, {Kind: record.EventCleared}, {Kind: record.EventStarted, ID: 3}})
	if !b.cleared || len(b.updates) != 1 || b.updates[0].ID != 3 {
		t.Fatalf("after a clear: cleared=%v updates %d", b.cleared, len(b.updates))
	}
	b = resolve(RecorderSource(rec), []record.Event{{Kind: record.EventLagged}})
	if len(b.resync) != 5 {
		t.Fatalf("lagged: resync of %d", len(b.resync))
	}
}
