package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
)

// shelf is a Lister and Searcher over exchanges it keeps "on disk": it
// hands out summaries, and exchanges only when asked (counting how many),
// as a session file does.
type shelf struct {
	mu      sync.Mutex
	xs      []record.Exchange // ID order, with bodies
	fetched int               // exchanges handed out by Fetch
	asked   []string          // Candidates texts
}

// newShelf holds n exchanges: GET /item/I on one host, the response body
// saying "item I", and "needle" in the body of every 1000th.
func newShelf(n int) *shelf {
	s := &shelf{}
	for i := 1; i <= n; i++ {
		b := fmt.Sprintf(`{"item":%d}`, i)
		if i%1000 == 0 {
			b = fmt.Sprintf(`{"item":%d,"note":"needle"}`, i)
		}
		start := t0.Add(time.Duration(i) * time.Millisecond)
		s.xs = append(s.xs, record.Exchange{
			ID: uint64(i), Version: 1, Role: record.RoleServe, State: record.Done,
			Start: start, End: start.Add(time.Duration(i%7) * time.Millisecond),
			Request: record.Request{Method: "GET", URL: fmt.Sprintf("http://localhost:3000/item/%d", i), Host: "localhost:3000", Proto: "HTTP/1.1"},
			Response: &record.Response{Status: 200 + (i%3)*100, Proto: "HTTP/1.1", Header: hdr("Content-Type", "application/json"),
				Body: record.Body{Bytes: []byte(b), Size: int64(len(b)), Complete: true}},
			Timings: record.NoTimings,
		})
	}
	return s
}

func (s *shelf) find(id uint64) (int, bool) {
	return slices.BinarySearchFunc(s.xs, id, func(x record.Exchange, id uint64) int {
		return int(int64(x.ID) - int64(id))
	})
}

// bare is x without body bytes, as a session's list hands it out.
func bare(x record.Exchange) record.Exchange {
	x.Request.Body.Bytes = nil
	if x.Response != nil {
		r := *x.Response
		r.Body.Bytes = nil
		x.Response = &r
	}
	return x
}

func (s *shelf) Snapshot() []record.Exchange { return nil }

func (s *shelf) Get(id uint64) (record.Exchange, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.find(id); ok {
		return bare(s.xs[i]), true
	}
	return record.Exchange{}, false
}

func (s *shelf) Subscribe(int) Subscription { return stillSub{} }

func (s *shelf) Body(x *record.Exchange, part BodyPart) (record.Body, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.find(x.ID)
	if !ok {
		return record.Body{}, fmt.Errorf("#%d is gone", x.ID)
	}
	return part.Of(&s.xs[i]), nil
}

func (s *shelf) Index() ([]Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Summary, len(s.xs))
	for i := range s.xs {
		x := &s.xs[i]
		out[i] = Summary{ID: x.ID, Version: x.Version, Status: x.Status(), Dur: x.End.Sub(x.Start), Size: x.Response.Body.Size, Host: x.Request.Host}
	}
	return out, nil
}

func (s *shelf) Fetch(ids []uint64) ([]record.Exchange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record.Exchange
	for _, id := range ids {
		if i, ok := s.find(id); ok {
			out = append(out, bare(s.xs[i]))
		}
	}
	slices.SortFunc(out, func(a, b record.Exchange) int { return int(int64(a.ID) - int64(b.ID)) })
	s.fetched += len(out)
	return out, nil
}

func (s *shelf) Candidates(text string, bodiesOnly bool) ([]uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, text)
	if len(text) < 3 {
		return nil, false, nil
	}
	var ids []uint64
	for i := range s.xs {
		x := &s.xs[i]
		if strings.Contains(strings.ToLower(string(x.Response.Body.Bytes)), text) ||
			!bodiesOnly && strings.Contains(strings.ToLower(x.Request.URL), text) {
			ids = append(ids, x.ID)
		}
	}
	return ids, true, nil
}

func (s *shelf) fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetched
}

type stillSub struct{}

func (stillSub) Ready() <-chan struct{}                  { return nil }
func (stillSub) Drain(dst []record.Event) []record.Event { return dst }
func (stillSub) Close()                                  {}

// readCount is how many entries hold their exchange.
func readCount(m *Model) int {
	n := 0
	for _, e := range m.entries {
		if e.x != nil {
			n++
		}
	}
	return n
}

func shelfModel(t *testing.T, s *shelf) *Model {
	t.Helper()
	return newModel(t, nil, 120, 30, func(c *Config) { c.Source = s; c.Role = "view" })
}

// A session far larger than the screen is listed whole, but only the
// exchanges near the screen are read, and scrolling through all of it
// keeps no more than maxRead of them.
func TestListerReadsNearTheScreen(t *testing.T) {
	s := newShelf(20_000)
	m := shelfModel(t, s)
	if len(m.entries) != 20_000 {
		t.Fatalf("entries = %d, want 20000", len(m.entries))
	}
	if n := readCount(m); n == 0 || n > 3*m.listRows() {
		t.Fatalf("read %d exchanges at the start; want the screen and its neighbours (%d rows)", n, m.listRows())
	}
	scr := screen(m)
	if !strings.Contains(scr, "/item/1 ") || strings.Contains(scr, "…") {
		t.Fatalf("first screen does not show the first exchanges read:\n%s", scr)
	}
	for i := 0; i < 20_000/m.listRows(); i += 10 {
		press(t, m, "pgdown")
	}
	press(t, m, "G")
	if n := readCount(m); n > maxRead+3*m.listRows() {
		t.Errorf("after scrolling through: %d exchanges held; want at most about %d", n, maxRead)
	}
	if scr := screen(m); !strings.Contains(scr, "/item/20000") {
		t.Errorf("last screen does not show the last exchange:\n%s", scr)
	}
	press(t, m, "enter")
	if m.detail.x == nil || m.detail.x.ID != 20_000 {
		t.Fatalf("detail shows %v, want #20000", m.detail.x)
	}
	press(t, m, "tab")
	if scr := screen(m); !strings.Contains(scr, `"item": 20000`) && !strings.Contains(scr, `"item":20000`) {
		t.Errorf("detail does not show the body read from the source:\n%s", scr)
	}
}

// Sorting needs no reads: the summaries carry the keys.
func TestListerSortsBySummary(t *testing.T) {
	s := newShelf(3000)
	m := shelfModel(t, s)
	before := s.fetches()
	press(t, m, "s") // by duration, slowest first
	if got := m.list.rows[0].sortKeyFor(byDuration); got != int64(6*time.Millisecond) {
		t.Errorf("slowest first: top row's duration %v", time.Duration(got))
	}
	if s.fetches()-before > 3*m.listRows() {
		t.Errorf("sorting read %d exchanges; want only the screen's", s.fetches()-before)
	}
}

// sortKeyFor is e's key in order o, as the list sorts it.
func (e *entry) sortKeyFor(o order) int64 { return o.sortKey(e, t0) }

// A filter on headers reads every exchange once, in chunks, and ends with
// exactly the matching ones.
func TestListerHeaderFilter(t *testing.T) {
	s := newShelf(5000)
	m := shelfModel(t, s)
	press(t, m, "/")
	send(t, m, tea.PasteMsg{Content: "path:/item/4*"})
	press(t, m, "enter")
	if m.filterBusy() {
		t.Fatal("filter still busy after its commands ran")
	}
	want := 0
	for i := range s.xs {
		if strings.HasPrefix(s.xs[i].Request.URL, "http://localhost:3000/item/4") {
			want++
		}
	}
	if len(m.visible) != want {
		t.Errorf("visible = %d, want %d", len(m.visible), want)
	}
	if n := readCount(m); n > maxRead+3*m.listRows() {
		t.Errorf("the filter left %d exchanges held", n)
	}
}

// A body search asks the index which exchanges may match and reads only
// those.
func TestListerBodySearchUsesIndex(t *testing.T) {
	s := newShelf(20_000)
	m := shelfModel(t, s)
	before := s.fetches()
	press(t, m, "/")
	send(t, m, tea.PasteMsg{Content: "body:needle"})
	press(t, m, "enter")
	if m.filterBusy() {
		t.Fatal("filter still busy after its commands ran")
	}
	if len(m.visible) != 20 {
		t.Fatalf("visible = %d, want the 20 with needle", len(m.visible))
	}
	if !slices.Contains(s.asked, "needle") {
		t.Errorf("the index was asked %q", s.asked)
	}
	if got := s.fetches() - before; got > 20+3*m.listRows() {
		t.Errorf("read %d exchanges for a search the index narrows to 20", got)
	}
}

// Exporting everything from a Lister writes every exchange, read a chunk
// at a time.
func TestListerExportAll(t *testing.T) {
	s := newShelf(1200)
	m := shelfModel(t, s)
	out := filepath.Join(t.TempDir(), "all.har")
	send(t, m, m.export(exportJob{path: out})())
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := har.Read(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 1200 {
		t.Fatalf("exported %d entries, want 1200", len(xs))
	}
	if !strings.Contains(string(xs[1199].Response.Body.Bytes), `"item":1200`) {
		t.Errorf("last entry's body = %q", xs[1199].Response.Body.Bytes)
	}
}

// An exchange the source moves out of memory stays listed, and is read
// back when it is needed. One on or near the screen keeps all but its
// body bytes, so that its row needs no read; one far from it keeps only
// its summary.
func TestOffloadedExchangeStaysListed(t *testing.T) {
	var xs []record.Exchange
	for range 40 {
		xs = append(xs, fixtures()...)
	}
	rec := newRecorder(t, xs...)   // 200 exchanges
	m := newModel(t, rec, 120, 30) // following: the read window is the last ~2 screens
	near := uint64(len(xs) - 4)    // the last copy of the first fixture, a 200 with a body
	if lo, hi := m.readWindow(); !m.list.has(m.list.rows[lo:hi], near) || m.list.has(m.list.rows[lo:hi], 1) {
		t.Fatalf("read window %d–%d of %d rows", lo, hi, len(m.list.rows))
	}
	send(t, m, batchMsg{offloaded: []uint64{1, 2, near}, stats: rec.Stats()})
	if e := m.byID[1]; e == nil || e.x != nil {
		t.Fatalf("#1 after offload: %+v; want listed, unread", e)
	}
	if e := m.byID[1]; e.sum.status != 200 || e.sum.size <= 0 {
		t.Errorf("#1's summary = %+v", e.sum)
	}
	e := m.byID[near]
	if e == nil || e.x == nil {
		t.Fatalf("#%d, on screen, after offload: %+v; want read", near, e)
	}
	if e.x.Response == nil || e.x.Response.Body.Bytes != nil || e.x.Response.Body.Size <= 0 {
		t.Errorf("#%d keeps its response body's bytes, or lost its size: %+v", near, e.x.Response)
	}
	if len(m.entries) != len(xs) {
		t.Errorf("entries = %d, want %d", len(m.entries), len(xs))
	}
}

// A batch that evicts the oldest exchanges and offloads others judges
// which are near the screen by the rows as they are after the evictions.
func TestOffloadAfterEvictions(t *testing.T) {
	var xs []record.Exchange
	for range 4 {
		xs = append(xs, fixtures()...)
	}
	rec := newRecorder(t, xs...)
	m := newModel(t, rec, 120, 30) // every row on screen
	send(t, m, batchMsg{removed: []uint64{1, 2, 3, 4, 5}, offloaded: []uint64{6, 7}, stats: rec.Stats()})
	if len(m.entries) != len(xs)-5 {
		t.Fatalf("entries = %d, want %d", len(m.entries), len(xs)-5)
	}
	for _, id := range []uint64{6, 7} {
		if e := m.byID[id]; e == nil || e.x == nil {
			t.Errorf("#%d, on screen, after offload: %+v; want read", id, e)
		}
	}
	checkFrame(t, m, 120, 30)
}
