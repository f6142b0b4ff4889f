package tui

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/eventlog"
	"github.com/devproxy/devproxy/internal/record"
)

// eventFixtures fill a log with what a relay's event log holds after a
// while: its start, whole hints, agents, a TLS failure, retries, an error.
func eventFixtures(l *eventlog.Log) {
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec-60) * time.Second) }
	for _, e := range []eventlog.Event{
		{Time: at(0), Level: slog.LevelInfo, Source: "relay", Message: "devproxy relay: listening on https://127.0.0.1:9000 (state /home/dev/.local/state/devproxy/relay)"},
		{Time: at(0), Level: slog.LevelInfo, Source: "relay", Message: "TLS certificate SHA-256: 3A:9F:11:C4:0B:7E:52:D8:66:A1:F0:2C:94:3B:E7:18:5D:C2:08:AF:71:36:B9:4E:0D:E5:27:8A:C3:1F:6B:90\n" +
			"no backends yet; register one:\n" +
			`  curl -s -H "Authorization: Bearer dpa_Q2hlY2sgdGhlIGV2ZW50IGxvZw" -d '{"id":"web","pathPrefixes":["/"]}' https://127.0.0.1:9000/api/backends` + "\n" +
			"then, beside the private service, with the agentToken from the answer:\n" +
			"  devproxy agent --proxy https://127.0.0.1:9000 --backend web --token <agentToken> --target http://localhost:3000"},
		{Time: at(3), Level: slog.LevelWarn, Source: "relay", Message: "http: TLS handshake error from 127.0.0.1:53122: client sent an HTTP request to an HTTPS server"},
		{Time: at(9), Level: slog.LevelInfo, Source: "relay", Message: "agent connected", Attrs: "backend=web transport=tunnel remote=127.0.0.1:40672"},
		{Time: at(20), Level: slog.LevelWarn, Source: "relay", Message: "refused a request before the handler", Attrs: `client=127.0.0.1:40700 reason="the request could not be parsed as HTTP: malformed MIME header line: No colon here (refused by the HTTP parser)" request="GET /bad HTTP/1.1" status=400`},
		{Time: at(31), Level: slog.LevelInfo, Source: "relay", Message: "agent disconnected", Attrs: "backend=web transport=tunnel remote=127.0.0.1:40672"},
		{Time: at(40), Level: slog.LevelDebug, Source: "relay", Message: "yamux: stream 7 closed"},
		{Time: at(52), Level: slog.LevelError, Source: "ui", Message: "export to /srv/readonly/devproxy-20260304-100005.har failed: open /srv/readonly/devproxy-20260304-100005.har: read-only file system"},
		{Time: at(58), Level: slog.LevelInfo, Source: "ui", Message: "wrote 5 entries to devproxy-20260304-100005.har (redaction: default)"},
	} {
		l.Add(e)
	}
}

// eventsModel is a relay's model at w×h over log, with the log polled once.
func eventsModel(t *testing.T, l *eventlog.Log, w, h int) *Model {
	t.Helper()
	m := newModel(t, newRecorder(t, fixtures()...), w, h, func(c *Config) {
		c.Role, c.Listen, c.Target, c.Events = "relay", "https://127.0.0.1:9000", "agents", l
	})
	poll(t, m)
	return m
}

// poll delivers a tick with what the log holds that the model has not
// seen, as the running program's tick would.
func poll(t *testing.T, m *Model) {
	t.Helper()
	send(t, m, tickMsg{now: t0, events: pollEvents(m.cfg.Events, m.events.seq)})
}

// TestEventsGolden compares the event log pane with
// testdata/TestEventsGolden/*.golden. Regenerate with:
// go test ./internal/tui -run TestEventsGolden -update
func TestEventsGolden(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 35}, {200, 50}} {
		t.Run(fmt.Sprintf("events_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			l := eventlog.New(0)
			eventFixtures(l)
			m := eventsModel(t, l, sz[0], sz[1])
			press(t, m, "E")
			checkFrame(t, m, sz[0], sz[1])
			golden.RequireEqual(t, plain(t, m))
		})
	}
}

func TestEventsPaneShowsLongMessagesWhole(t *testing.T) {
	l := eventlog.New(0)
	eventFixtures(l)
	m := eventsModel(t, l, 80, 40)
	press(t, m, "E")
	s := screen(m)
	// Wrapped lines join back into the whole text.
	var joined strings.Builder
	for _, line := range strings.Split(s, "\n") {
		joined.WriteString(strings.TrimSpace(line))
	}
	for _, whole := range []string{
		"3A:9F:11:C4:0B:7E:52:D8:66:A1:F0:2C:94:3B:E7:18:5D:C2:08:AF:71:36:B9:4E:0D:E5:27:8A:C3:1F:6B:90",
		`-d '{"id":"web","pathPrefixes":["/"]}' https://127.0.0.1:9000/api/backends`,
		"--token <agentToken> --target http://localhost:3000",
		"client sent an HTTP request to an HTTPS server",
	} {
		if !strings.Contains(strings.ReplaceAll(joined.String(), " ", ""), strings.ReplaceAll(whole, " ", "")) {
			t.Errorf("the pane does not show %q whole:\n%s", whole, s)
		}
	}
}

func TestEventsPaneFollowsAndScrolls(t *testing.T) {
	l := eventlog.New(0)
	add := func(from, to int) {
		for i := from; i <= to; i++ {
			l.Add(eventlog.Event{Time: t0, Level: slog.LevelInfo, Source: "agent", Message: fmt.Sprintf("event %03d", i)})
		}
	}
	add(1, 100)
	m := eventsModel(t, l, 80, 24)
	press(t, m, "E")
	if s := screen(m); !strings.Contains(s, "event 100") || strings.Contains(s, "event 050") {
		t.Fatalf("the pane opens at the newest:\n%s", s)
	}
	add(101, 105)
	poll(t, m)
	if s := screen(m); !strings.Contains(s, "event 105") || !strings.Contains(s, "following") {
		t.Fatalf("the pane follows new events at the bottom:\n%s", s)
	}
	press(t, m, "k", "k")
	before := screen(m)
	add(106, 110)
	poll(t, m)
	if s := screen(m); strings.Contains(s, "event 106") || !strings.Contains(s, "event 103") || strings.Contains(s, "following") {
		t.Fatalf("scrolled up, the pane stays where it is:\nbefore\n%s\nafter\n%s", before, s)
	}
	press(t, m, "g")
	if s := screen(m); !strings.Contains(s, "event 001") {
		t.Fatalf("g goes to the oldest:\n%s", s)
	}
	press(t, m, "G")
	if s := screen(m); !strings.Contains(s, "event 110") || !strings.Contains(s, "following") {
		t.Fatalf("G goes to the newest and follows:\n%s", s)
	}
}

func TestEventsPaneKeys(t *testing.T) {
	for _, back := range []string{"esc", "q", "E"} {
		t.Run(back, func(t *testing.T) {
			m := eventsModel(t, eventlog.New(0), 80, 24)
			press(t, m, "E")
			if m.mode != modeEvents || !strings.Contains(screen(m), "Event log · 0 events") {
				t.Fatalf("E does not open the pane:\n%s", screen(m))
			}
			press(t, m, back)
			if m.mode != modeList {
				t.Fatalf("%s does not go back to the list (mode %d)", back, m.mode)
			}
		})
	}
	// From the detail view, and back to it.
	m := eventsModel(t, eventlog.New(0), 80, 24)
	press(t, m, "g", "enter", "E")
	if m.mode != modeEvents {
		t.Fatal("E does not open the pane from the detail view")
	}
	press(t, m, "esc")
	if m.mode != modeDetail {
		t.Fatalf("esc does not go back to the detail view (mode %d)", m.mode)
	}
}

func TestStatusMessagesGoToTheEventLog(t *testing.T) {
	l := eventlog.New(0)
	m := eventsModel(t, l, 80, 24)
	long := "export to /a/very/long/path/that/does/not/fit/on/the/status/line/of/an/eighty/column/terminal/at/all.har failed: permission denied"
	m.setStatus(long, true)
	m.setStatus("capture resumed", false)
	got := l.Since(0)
	if len(got) != 2 || got[0].Message != long || got[0].Level != slog.LevelError || got[0].Source != "ui" || got[1].Level != slog.LevelInfo {
		t.Fatalf("events %+v", got)
	}
	poll(t, m)
	press(t, m, "E")
	if s := screen(m); !strings.Contains(s, "terminal/at/all.har") {
		t.Errorf("the whole status message is not in the pane:\n%s", s)
	}
}

func TestLagIsLogged(t *testing.T) {
	l := eventlog.New(0)
	m := eventsModel(t, l, 80, 24)
	send(t, m, batchMsg{lagged: true, resync: []record.Exchange{}})
	got := l.Since(0)
	if len(got) != 1 || got[0].Level != slog.LevelWarn || !strings.Contains(got[0].Message, "fell behind") {
		t.Fatalf("events %+v", got)
	}
}

func TestEventsPaneCountsDropped(t *testing.T) {
	l := eventlog.New(3)
	for i := 1; i <= 5; i++ {
		l.Add(eventlog.Event{Time: t0, Message: fmt.Sprintf("event %d", i)})
	}
	m := eventsModel(t, l, 80, 24)
	press(t, m, "E")
	if s := screen(m); !strings.Contains(s, "3 events (2 older dropped)") || strings.Contains(s, "event 2") || !strings.Contains(s, "event 5") {
		t.Fatalf("pane:\n%s", s)
	}
	// The UI's copy is bounded like the log.
	for i := 6; i <= 10; i++ {
		l.Add(eventlog.Event{Time: t0, Message: fmt.Sprintf("event %d", i)})
	}
	poll(t, m)
	if len(m.events.events) != 3 || len(m.events.lines) != 3 || !strings.Contains(screen(m), "3 events (7 older dropped)") {
		t.Fatalf("kept %d events, %d lines:\n%s", len(m.events.events), len(m.events.lines), screen(m))
	}
}
