package tui

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/bodyview"
	"github.com/devproxy/devproxy/internal/record"
)

// bodyExchange is a finished GET whose response has body data with
// headers kv.
func bodyExchange(data []byte, kv ...string) record.Exchange {
	return record.Exchange{
		Role: record.RoleServe, Start: t0.Add(-time.Second), End: t0.Add(-time.Second + 12*time.Millisecond),
		Request: record.Request{Method: "GET", URL: "http://localhost:3000/thing", Proto: "HTTP/1.1", Host: "localhost:3000",
			Body: record.Body{Complete: true}},
		Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: hdr(kv...),
			Body: record.Body{Bytes: data, Size: int64(len(data)), Complete: true}},
		Timings: record.NoTimings,
	}
}

func pngBytes(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wsExchange is a WebSocket exchange with messages both ways and a close.
func wsExchange() record.Exchange {
	x := bodyExchange(nil, "Upgrade", "websocket", "Connection", "Upgrade")
	x.Response.Status, x.Response.Reason = 101, "Switching Protocols"
	x.Request.URL = "http://localhost:3000/ws"
	x.Upgraded, x.UpgradeUp, x.UpgradeDn = true, 40, 60
	at := func(ms int) time.Time { return x.Start.Add(time.Duration(ms) * time.Millisecond) }
	x.Messages = []record.Message{
		{Time: at(5), Dir: record.ToServer, Opcode: 1, Size: 17, Payload: []byte(`{"hello":"world"}`)},
		{Time: at(7), Dir: record.ToClient, Opcode: 1, Size: 17, Payload: []byte(`{"hello":"world"}`)},
		{Time: at(9), Dir: record.ToServer, Opcode: 2, Size: 4, Payload: []byte{0, 1, 2, 0xff}},
		{Time: at(11), Dir: record.ToClient, Opcode: 8, Size: 9, Payload: []byte("\x03\xe8bye now"), CloseCode: 1000, CloseReason: "bye now"},
	}
	return x
}

// TestDetailGolden compares the body views and the Messages tab with
// testdata/TestDetailGolden/*.golden at three sizes. Regenerate with
// -update.
func TestDetailGolden(t *testing.T) {
	json := []byte(`{"users":[{"id":1,"name":"Ada"}],"next":null}`)
	views := []struct {
		name string
		x    func(t testing.TB) record.Exchange
		keys []string
	}{
		{"json", func(testing.TB) record.Exchange { return bodyExchange(json, "Content-Type", "application/json") }, nil},
		{"json_text", func(testing.TB) record.Exchange { return bodyExchange(json, "Content-Type", "application/json") }, []string{"m"}},
		{"json_hex", func(testing.TB) record.Exchange { return bodyExchange(json, "Content-Type", "application/json") }, []string{"m", "m"}},
		{"xml", func(testing.TB) record.Exchange {
			return bodyExchange([]byte(`<?xml version="1.0"?><feed><entry id="1"><title>Hi</title></entry><entry id="2"/></feed>`), "Content-Type", "application/xml")
		}, nil},
		{"html", func(testing.TB) record.Exchange {
			return bodyExchange([]byte(`<!doctype html><html><head><title>x</title><style>p{color:red}</style></head><body><p>Hello<br>there</p></body></html>`), "Content-Type", "text/html")
		}, nil},
		{"form", func(testing.TB) record.Exchange {
			return bodyExchange([]byte("name=Ada+Lovelace&lang=en&q=a%26b"), "Content-Type", "application/x-www-form-urlencoded")
		}, nil},
		{"multipart", func(testing.TB) record.Exchange {
			return bodyExchange([]byte("--XB\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n--XB--\r\n"), "Content-Type", "multipart/form-data; boundary=XB")
		}, nil},
		{"image", func(t testing.TB) record.Exchange { return bodyExchange(pngBytes(t), "Content-Type", "image/png") }, nil},
		{"wire", func(t testing.TB) record.Exchange {
			return bodyExchange(gz(t, `{"a":1}`), "Content-Type", "application/json", "Content-Encoding", "gzip")
		}, []string{"m", "m", "m", "m"}},
		{"messages", func(testing.TB) record.Exchange { return wsExchange() }, []string{"4"}},
	}
	for _, sz := range [][2]int{{80, 24}, {120, 35}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := newModel(t, newRecorder(t, v.x(t)), sz[0], sz[1])
				press(t, m, "enter", "2")
				press(t, m, v.keys...)
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}

// TestModeCyclesThroughWhatFits checks that m offers the modes that fit
// the body and comes back to auto.
func TestModeCyclesThroughWhatFits(t *testing.T) {
	m := newModel(t, newRecorder(t, bodyExchange([]byte(`{"a":1}`), "Content-Type", "application/json")), 100, 30)
	press(t, m, "enter", "2")
	var seen []string
	for range 5 {
		press(t, m, "m")
		seen = append(seen, m.detail.mode.String())
	}
	if got := strings.Join(seen, ","); got != "text,hex,JSON,auto,text" {
		t.Fatalf("m cycled %s", got)
	}
}

// TestBigSingleLineScrollsAndSearches opens a 1 MB body of one line: the
// first frame shows its start, G reaches its end once the rows are
// counted, and search finds text anywhere in it, n moving to each.
func TestBigSingleLineScrollsAndSearches(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefghij"), 100_000) // under the 1 MiB capture cap
	copy(data[len(data)/2:], "NEEDLE")
	copy(data[len(data)-8:], "THE-END!")
	m := newModel(t, newRecorder(t, bodyExchange(data, "Content-Type", "text/plain")), 80, 24)
	press(t, m, "enter", "2")
	if !strings.Contains(screen(m), "abcdefghij") {
		t.Fatalf("the first frame does not show the body:\n%s", screen(m))
	}
	press(t, m, "G")
	if !strings.Contains(screen(m), "THE-END") {
		t.Fatalf("G did not reach the end:\n%s", screen(m))
	}
	press(t, m, "g", "/", "needle", "enter")
	if len(m.detail.matches) != 1 || !strings.Contains(screen(m), "NEEDLE") {
		t.Fatalf("%d matches; screen:\n%s", len(m.detail.matches), screen(m))
	}
	if !strings.Contains(screen(m), "match 1/1") {
		t.Fatalf("the footer does not count the match:\n%s", screen(m))
	}
}

// TestSearchSkipsLabels checks that search finds the body's and headers'
// text but not the UI's own words (section titles, notes).
func TestSearchSkipsLabels(t *testing.T) {
	m := newModel(t, newRecorder(t, bodyExchange([]byte("plain body"), "Content-Type", "text/plain", "X-Note", "body here")), 100, 30)
	press(t, m, "enter", "2", "/", "body", "enter")
	// "body" is in the header value and the body, and in the "Body"
	// section title, which must not count.
	if len(m.detail.matches) != 2 {
		t.Fatalf("%d matches, want 2 (header and body): %+v", len(m.detail.matches), m.detail.matches)
	}
}

// TestSearchAcrossWrappedRows finds text that the wrapping splits over
// two rows.
func TestSearchAcrossWrappedRows(t *testing.T) {
	line := strings.Repeat("x", 95) + "SPLITWORD" + strings.Repeat("y", 50)
	m := newModel(t, newRecorder(t, bodyExchange([]byte(line), "Content-Type", "text/plain")), 100, 30)
	press(t, m, "enter", "2", "/", "splitword", "enter")
	if len(m.detail.matches) != 1 {
		t.Fatalf("%d matches, want 1", len(m.detail.matches))
	}
}

// blockingSource is a source whose Body blocks for one exchange until
// released: a slow read (a big body on disk).
type blockingSource struct {
	Source
	slow    uint64
	release chan struct{}
}

func (s blockingSource) Body(x *record.Exchange, part BodyPart) (record.Body, error) {
	if x.ID == s.slow {
		<-s.release
	}
	return s.Source.Body(x, part)
}

// TestSlowRenderDoesNotBlockAnother opens an exchange whose body is slow
// to read, then another: the other shows while the first still reads.
func TestSlowRenderDoesNotBlockAnother(t *testing.T) {
	rec := newRecorder(t, bodyExchange([]byte("slow one"), "Content-Type", "text/plain"), bodyExchange([]byte("quick one"), "Content-Type", "text/plain"))
	src := blockingSource{Source: RecorderSource(rec), slow: 1, release: make(chan struct{})}
	defer close(src.release)
	m := New(Config{Source: src, Role: "serve", Now: clock})
	send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	// Open #1's response: its renders block in the source (run them on
	// goroutines, as the program does).
	m.list.follow = false
	press(t, m, "g")
	for _, k := range []tea.KeyPressMsg{{Code: tea.KeyEnter}, {Code: '2', Text: "2"}} {
		if _, cmd := m.Update(k); cmd != nil {
			go cmd()
		}
	}
	if !strings.Contains(screen(m), "Rendering") {
		t.Fatalf("#1 shows before its body was read:\n%s", screen(m))
	}
	press(t, m, "]")
	if !strings.Contains(screen(m), "quick one") {
		t.Fatalf("#2 waits for #1's render:\n%s", screen(m))
	}
}

// TestSaveBodyAsksBeforeOverwriting saves the body with b, then again to
// the same file: the second time it asks, and n keeps the file.
func TestSaveBodyAsksBeforeOverwriting(t *testing.T) {
	dir := t.TempDir()
	m := newModel(t, newRecorder(t, bodyExchange([]byte(`{"a":1}`), "Content-Type", "application/json")), 100, 30,
		func(c *Config) { c.ExportDir = dir })
	press(t, m, "enter", "2", "b", "enter")
	path := filepath.Join(dir, "devproxy-1-response.json")
	got, err := os.ReadFile(path)
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("saved %q, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	os.WriteFile(path, []byte("mine"), 0o600)
	press(t, m, "b", "enter")
	if _, ok := topDialog[*confirmDialog](m); !ok {
		t.Fatal("no question before replacing the file")
	}
	press(t, m, "n")
	if got, _ := os.ReadFile(path); string(got) != "mine" {
		t.Fatalf("the file was replaced: %q", got)
	}
	press(t, m, "b", "enter", "y")
	if got, _ := os.ReadFile(path); string(got) != `{"a":1}` {
		t.Fatalf("y did not replace the file: %q", got)
	}
}

// TestPagerGetsTheShownBody checks what o hands the pager: the body as the
// view shows it (indented JSON here).
func TestPagerGetsTheShownBody(t *testing.T) {
	m := newModel(t, newRecorder(t, bodyExchange([]byte(`{"a":[1,2]}`), "Content-Type", "application/json")), 100, 30)
	press(t, m, "enter", "2")
	msg, ok := m.openPager()().(pagerReadyMsg)
	if !ok || msg.err != nil {
		t.Fatalf("pager: %+v", msg)
	}
	defer os.Remove(msg.path)
	got, _ := os.ReadFile(msg.path)
	want := "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n"
	if string(got) != want {
		t.Fatalf("pager file %q, want %q", got, want)
	}
}

// TestResizeKeepsThePreparedBody checks that a resize lays the open body
// out again at once, without reading it again.
func TestResizeKeepsThePreparedBody(t *testing.T) {
	m := newModel(t, newRecorder(t, bodyExchange([]byte(strings.Repeat("word ", 100)), "Content-Type", "text/plain")), 100, 30)
	press(t, m, "enter", "2")
	_, cmd := m.Update(tea.WindowSizeMsg{Width: 90, Height: 30})
	if m.detail.content == nil || m.detail.key.width != 89 {
		t.Fatalf("after a resize the content is %+v", m.detail.key)
	}
	_ = cmd
	if m.detail.content.body.view.Mode != bodyview.Text {
		t.Fatal("mode changed")
	}
}
