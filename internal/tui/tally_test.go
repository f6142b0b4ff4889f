package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/devproxy/devproxy/internal/record"
)

// answeredWith is a finished GET answered with status.
func answeredWith(path string, status int) record.Exchange {
	return record.Exchange{
		Role: record.RoleServe, Start: t0.Add(-time.Second), End: t0,
		Request:  record.Request{Method: "GET", URL: "http://localhost:3000" + path, Proto: "HTTP/1.1", Host: "localhost:3000"},
		Response: &record.Response{Status: status, Proto: "HTTP/1.1", Body: record.Body{Complete: true}},
		Timings:  record.NoTimings,
	}
}

// TestHeaderCountsOutcomes: the header counts the exchanges that got no
// answer apart from those answered 4xx and 5xx (the fixtures: a 404, a
// refused connection, a client that went away, counted nowhere), follows
// an exchange in flight to its answer, and forgets the deleted ones.
func TestHeaderCountsOutcomes(t *testing.T) {
	rec := newRecorder(t, append(fixtures(), answeredWith("/a", 503), answeredWith("/b", 500))...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m := newModel(t, rec, 200, 24)
	if got, want := m.Tally(), (Tally{Exchanges: 7, Failed: 1, Client: 1, Server: 2}); got != want {
		t.Fatalf("tally %+v, want %+v", got, want)
	}
	if head := lines(m)[0]; !strings.Contains(head, "7 total · 0 in flight · 1 failed · 1 4xx · 2 5xx") {
		t.Fatalf("200 columns: %q", head)
	}

	r := rec.Begin(record.Begin{Role: record.RoleServe, Start: t0, Request: record.Request{Method: "GET", URL: "http://localhost:3000/slow", Host: "localhost:3000"}})
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if got := m.Tally(); got.Exchanges != 8 || got.Server != 2 {
		t.Fatalf("in flight: %+v", got)
	}
	r.Response(record.Response{Status: 503}, "")
	r.Finish(record.Finish{End: t0, Timings: record.NoTimings, ResponseComplete: true})
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if got := m.Tally(); got.Server != 3 {
		t.Fatalf("answered 503: %+v", got)
	}

	rec.Delete(2, 3) // the 404 and the refused one
	run(t, m, m.ApplyEvents(sub.Drain(nil)), 0)
	if got, want := m.Tally(), (Tally{Exchanges: 6, Server: 3}); got != want {
		t.Fatalf("after deleting: %+v, want %+v", got, want)
	}
	// At 80 columns the counts that are 0 go, the others stay.
	send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	head := lines(m)[0]
	if !strings.Contains(head, "3 5xx") || strings.Contains(head, "4xx") || strings.Contains(head, "fail") {
		t.Fatalf("80 columns: %q", head)
	}
}

// TestTallyOfUnreadExchanges: a session's exchanges are counted from
// their summaries before they are read, and the same once read.
func TestTallyOfUnreadExchanges(t *testing.T) {
	s := newShelf(3000) // 200, 300 and 400 in turn
	m := shelfModel(t, s)
	want := Tally{Exchanges: 3000, Client: 1000}
	if got := m.Tally(); got != want {
		t.Fatalf("unread: %+v, want %+v", got, want)
	}
	press(t, m, "g", "pgdown", "pgdown")
	if got := m.Tally(); got != want {
		t.Fatalf("after reading some: %+v, want %+v", got, want)
	}
}
