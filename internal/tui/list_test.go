package tui

import (
	"fmt"
	"strings"
	"testing"
)

// rowIDs are the IDs of the list's rows, in the order shown.
func rowIDs(m *Model) string {
	ids := make([]uint64, len(m.list.rows))
	for i, e := range m.list.rows {
		ids[i] = e.x.ID
	}
	return fmt.Sprint(ids)
}

// markedIDs are the marked exchanges' IDs, oldest first.
func markedIDs(m *Model) string {
	var ids []uint64
	for _, e := range m.entries {
		if m.list.isMarked(e.x.ID) {
			ids = append(ids, e.x.ID)
		}
	}
	return fmt.Sprint(ids)
}

func TestMarkAndDelete(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 80, 24)
	press(t, m, "g", "space", "space")
	if markedIDs(m) != "[1 2]" || selectedID(m) != 3 {
		t.Fatalf("space space from #1: marked %s, selected #%d; want [1 2] and #3", markedIDs(m), selectedID(m))
	}
	s := screen(m)
	if !strings.Contains(s, "●#1") || !strings.Contains(s, "●#2") || !strings.Contains(s, "2 marked") {
		t.Fatalf("marks not shown:\n%s", s)
	}
	press(t, m, "up", "space") // unmarks #2
	if markedIDs(m) != "[1]" {
		t.Fatalf("space on a marked row: marked %s, want [1]", markedIDs(m))
	}
	press(t, m, "space", "d") // marks #3; deletes #1 and #3
	if _, ok := rec.Get(1); ok || rowIDs(m) != "[2 4 5]" || markedIDs(m) != "[]" {
		t.Fatalf("d with marks: recorder still has #1: %v; rows %s, marked %s", ok, rowIDs(m), markedIDs(m))
	}
	if !strings.Contains(screen(m), "deleted 2 exchanges") {
		t.Fatalf("no report:\n%s", screen(m))
	}
	// The recorder's events say what the UI already did.
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if rowIDs(m) != "[2 4 5]" {
		t.Fatalf("after the events: rows %s", rowIDs(m))
	}
	// Without marks, d deletes the selected exchange.
	press(t, m, "g", "d")
	if _, ok := rec.Get(2); ok || rowIDs(m) != "[4 5]" || selectedID(m) != 4 {
		t.Fatalf("d without marks: rows %s, selected #%d", rowIDs(m), selectedID(m))
	}
	if rec.Stats().Evicted != 0 {
		t.Errorf("deletions counted as evictions: %+v", rec.Stats())
	}
}

func TestDeleteNeedsADeleter(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.Source = readOnly{c.Source} })
	press(t, m, "d")
	if len(m.entries) != 5 || strings.Contains(m.keys.Markdown(), "delete") {
		t.Fatalf("d on a source that cannot delete: %d entries left", len(m.entries))
	}
}

// readOnly hides a source's optional abilities.
type readOnly struct{ Source }

func TestSortCycles(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 80, 24)
	press(t, m, "G", "k") // #4
	// Durations 42ms 1.5s 3ms 20ms 200ms; sizes 151 18 - 20 -; statuses
	// 200 404 502 200 499.
	steps := []struct {
		rows, header, right string
	}{
		{"[2 5 1 4 3]", "DUR▼", "slowest first"},
		{"[1 4 2 3 5]", "SIZE▼", "largest first"},
		{"[3 5 2 1 4]", "STATUS▼", "by status, 5xx first"},
		{"[1 2 3 4 5]", "PATH on localhost:3000", ""},
	}
	for i, st := range steps {
		press(t, m, "s")
		s := screen(m)
		if rowIDs(m) != st.rows || selectedID(m) != 4 || m.list.follow {
			t.Fatalf("s %d: rows %s selected #%d follow %v; want %s on #4", i+1, rowIDs(m), selectedID(m), m.list.follow, st.rows)
		}
		if !strings.Contains(s, st.header) || !strings.Contains(s, st.right) || st.right == "" && strings.Contains(s, "▼") {
			t.Fatalf("s %d: the order is not shown (%q, %q):\n%s", i+1, st.header, st.right, s)
		}
	}
	// A new exchange takes its place in the order.
	press(t, m, "s")
	slow := fixtures()[1]
	slow.End = slow.Start.Add(5e9)
	feed(t, m, rec, sub, slow)
	if rowIDs(m) != "[6 2 5 1 4 3]" || selectedID(m) != 4 {
		t.Fatalf("a new exchange while sorted: rows %s, selected #%d", rowIDs(m), selectedID(m))
	}
	// Follow mode goes back to time order.
	press(t, m, "F")
	if m.list.order != byTime || !m.list.follow || selectedID(m) != 6 {
		t.Fatalf("F while sorted: order %v, follow %v, selected #%d", m.list.order, m.list.follow, selectedID(m))
	}
}

func TestSameHostLeftOut(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 100, 24)
	if s := screen(m); !strings.Contains(s, "PATH on localhost:3000") || strings.Contains(s, "localhost:3000/api") {
		t.Fatalf("one host: not left out:\n%s", s)
	}
	other := fixtures()[0]
	other.Request.URL, other.Request.Host = "http://api.example.test/v1/items", "api.example.test"
	feed(t, m, rec, sub, other)
	if s := screen(m); !strings.Contains(s, "HOST/PATH") || !strings.Contains(s, "localhost:3000/api/users") || !strings.Contains(s, "api.example.test/v1/items") {
		t.Fatalf("two hosts: not shown:\n%s", s)
	}
	press(t, m, "G", "d")
	if s := screen(m); !strings.Contains(s, "PATH on localhost:3000") {
		t.Fatalf("one host again after the other was deleted:\n%s", s)
	}
}

func TestColumnsAtEightyKeepSize(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24)
	if s := screen(m); !strings.Contains(s, "SIZE") || !strings.Contains(s, "151B") || !strings.Contains(s, "TIME") {
		t.Fatalf("80 columns:\n%s", s)
	}
}

func TestRecorderDeleteEventsReachTheList(t *testing.T) {
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 80, 24)
	press(t, m, "g", "space")
	rec.Delete(1, 3)
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if rowIDs(m) != "[2 4 5]" || markedIDs(m) != "[]" || len(m.list.marked) != 0 {
		t.Fatalf("rows %s, marks %v", rowIDs(m), m.list.marked)
	}
}
