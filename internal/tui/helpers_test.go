package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/record"
)

// t0 is the fixed clock of every test. It is in time.Local so that the
// rendered HH:MM:SS does not depend on the machine's time zone.
var t0 = time.Date(2026, 3, 4, 10, 0, 5, 0, time.Local)

func clock() time.Time { return t0 }

// fixtures are the exchanges most tests start from, oldest first.
func fixtures() []record.Exchange {
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec-5) * time.Second) }
	jsonBody := []byte(`{"users":[{"id":1,"name":"Ada Lovelace","admin":true,"score":9.5},{"id":2,"name":"Grace Hopper","admin":false,"tags":null}],"next":"/api/users?page=2"}`)
	return []record.Exchange{
		{
			Role: record.RoleServe, Start: at(0), End: at(0).Add(42 * time.Millisecond),
			ClientAddr: "127.0.0.1:51000", ServerAddr: "127.0.0.1:3000",
			Request: record.Request{Method: "GET", URL: "http://localhost:3000/api/users?page=1", Proto: "HTTP/1.1", Host: "localhost:3000",
				Header: hdr("Accept", "application/json", "X-Trace", "a1", "X-Trace", "a2"), Body: record.Body{Complete: true}},
			Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: hdr("Content-Type", "application/json; charset=utf-8", "Set-Cookie", "a=1", "Set-Cookie", "b=2"),
				Body:   record.Body{Bytes: jsonBody, Size: int64(len(jsonBody)), Complete: true}},
			Timings: record.Timings{Blocked: 100 * time.Microsecond, DNS: 2 * time.Millisecond, Connect: 5 * time.Millisecond, TLS: 3 * time.Millisecond, Send: 500 * time.Microsecond, Wait: 30 * time.Millisecond, Receive: 4 * time.Millisecond},
		},
		{
			Role: record.RoleServe, Start: at(1), End: at(1).Add(1500 * time.Millisecond),
			Request: record.Request{Method: "POST", URL: "http://localhost:3000/api/orders", Proto: "HTTP/1.1", Host: "localhost:3000",
				Header: hdr("Content-Type", "application/x-www-form-urlencoded"),
				Body:   record.Body{Bytes: []byte("item=book&qty=2&note=hello+world"), Size: 32, Complete: true}},
			Response: &record.Response{Status: 404, Reason: "Not Found", Proto: "HTTP/1.1",
				Header: hdr("Content-Type", "text/html"),
				Body:   record.Body{Bytes: []byte("<h1>not here</h1>\n"), Size: 18, Complete: true}},
			Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: time.Millisecond, Wait: 1400 * time.Millisecond, Receive: 99 * time.Millisecond},
		},
		{
			Role: record.RoleServe, Start: at(2), End: at(2).Add(3 * time.Millisecond),
			Request: record.Request{Method: "DELETE", URL: "http://localhost:3000/api/users/7", Proto: "HTTP/1.1", Host: "localhost:3000"},
			Err:     &record.Error{Kind: record.ErrUnreachable, Message: "localhost:3000 refused the connection (is it running?)", Status: 502},
			Timings: record.NoTimings,
		},
		{
			Role: record.RoleServe, Start: at(3), End: at(3).Add(20 * time.Millisecond), ReplayOf: 1,
			Request: record.Request{Method: "GET", URL: "http://localhost:3000/api/users?page=1", Proto: "HTTP/1.1", Host: "localhost:3000"},
			Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: hdr("Content-Type", "image/png"),
				Body:   record.Body{Bytes: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"), Size: 20, Complete: true}},
			Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: time.Millisecond, Wait: 15 * time.Millisecond, Receive: 4 * time.Millisecond},
		},
		{
			Role: record.RoleServe, Start: at(4), End: at(4).Add(200 * time.Millisecond),
			Request: record.Request{Method: "GET", URL: "http://localhost:3000/very/long/path/that/goes/on/and/on/and/on/until/it/no/longer/fits/in/a/column?with=query&and=more", Proto: "HTTP/1.1", Host: "localhost:3000"},
			Err:     &record.Error{Kind: record.ErrCanceled, Message: "client went away before the response", Status: 499},
			Timings: record.NoTimings,
		},
	}
}

// hdr builds header fields from name, value pairs.
func hdr(kv ...string) record.Fields {
	var fs record.Fields
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, record.Field{Name: kv[i], Value: kv[i+1]})
	}
	return fs
}

// newRecorder returns a recorder holding xs.
func newRecorder(t testing.TB, xs ...record.Exchange) *record.Recorder {
	t.Helper()
	rec := record.NewRecorder(record.Limits{MaxExchanges: 20000})
	for _, x := range xs {
		rec.Add(x)
	}
	return rec
}

// newModel returns a model over rec with a fixed clock, mono styles and the
// given size.
func newModel(t testing.TB, rec *record.Recorder, w, h int, mods ...func(*Config)) *Model {
	t.Helper()
	cfg := Config{Source: RecorderSource(rec), Role: "serve", Listen: "http://127.0.0.1:8080", Target: "http://localhost:3000", Now: clock, Version: "test"}
	for _, f := range mods {
		f(&cfg)
	}
	m := New(cfg)
	send(t, m, tea.ColorProfileMsg{Profile: colorprofile.ASCII}, tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// send delivers msgs to m and runs the commands they return, feeding the
// resulting messages back, as the program would. The model starts no timers
// unless Init is called, so every command returns at once.
func send(t testing.TB, m *Model, msgs ...tea.Msg) {
	t.Helper()
	for _, msg := range msgs {
		_, cmd := m.Update(msg)
		run(t, m, cmd, 0)
	}
}

// run runs cmd and what its messages lead to, as the program would, and
// reports whether any of them quit the program.
func run(t testing.TB, m *Model, cmd tea.Cmd, depth int) (quit bool) {
	t.Helper()
	if cmd == nil {
		return false
	}
	if depth > 20 {
		t.Fatal("commands keep producing commands")
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			quit = run(t, m, c, depth+1) || quit
		}
	case tea.QuitMsg:
		quit = true
	default:
		_, next := m.Update(msg)
		quit = run(t, m, next, depth+1)
	}
	return quit
}

// keys turns key names into key presses: "enter", "esc", "up", "tab",
// "shift+tab", "ctrl+c", "space", or literal text typed rune by rune.
func keys(names ...string) []tea.Msg {
	var out []tea.Msg
	special := map[string]tea.KeyPressMsg{
		"enter":      {Code: tea.KeyEnter},
		"esc":        {Code: tea.KeyEscape},
		"up":         {Code: tea.KeyUp},
		"down":       {Code: tea.KeyDown},
		"pgup":       {Code: tea.KeyPgUp},
		"pgdown":     {Code: tea.KeyPgDown},
		"home":       {Code: tea.KeyHome},
		"end":        {Code: tea.KeyEnd},
		"tab":        {Code: tea.KeyTab},
		"shift+tab":  {Code: tea.KeyTab, Mod: tea.ModShift},
		"backspace":  {Code: tea.KeyBackspace},
		"ctrl+c":     {Code: 'c', Mod: tea.ModCtrl},
		"ctrl+u":     {Code: 'u', Mod: tea.ModCtrl},
		"shift+up":   {Code: tea.KeyUp, Mod: tea.ModShift},
		"shift+down": {Code: tea.KeyDown, Mod: tea.ModShift},
		"space":      {Code: tea.KeySpace, Text: " "},
	}
	for _, n := range names {
		if k, ok := special[n]; ok {
			out = append(out, k)
			continue
		}
		for _, r := range n {
			out = append(out, tea.KeyPressMsg{Code: r, Text: string(r)})
		}
	}
	return out
}

func press(t testing.TB, m *Model, names ...string) {
	t.Helper()
	send(t, m, keys(names...)...)
}

// screen is the view as plain text, every escape sequence removed.
func screen(m *Model) string { return ansi.Strip(m.View().Content) }

// checkFrame asserts the view is exactly h lines of at most w cells: nothing
// may wrap or overflow.
func checkFrame(t testing.TB, m *Model, w, h int) {
	t.Helper()
	lines := strings.Split(m.View().Content, "\n")
	if len(lines) != h {
		t.Fatalf("view has %d lines, want %d:\n%s", len(lines), h, screen(m))
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Fatalf("line %d is %d cells wide, more than %d:\n%q", i, n, w, ansi.Strip(l))
		}
	}
}

// topDialog returns the top dialog as a T, if it is one.
func topDialog[T dialog](m *Model) (T, bool) {
	d, ok := m.topDialog().(T)
	return d, ok
}

// curlText is the text of the curl pop-up on top, if any.
func curlText(m *Model) string {
	if d, ok := topDialog[*textDialog](m); ok {
		return d.text
	}
	return ""
}

// exportPath is the path in the export prompt on top, if any.
func exportPath(m *Model) string {
	if d, ok := topDialog[*promptDialog](m); ok {
		return d.input.Value()
	}
	return ""
}
