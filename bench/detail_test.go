package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/tui"
)

// Bodies for the detail view benchmarks, each at a small size (the
// baseline) and a big one.

// singleLine is minified JavaScript: one line of n bytes.
func singleLine(n int) ([]byte, string) {
	const unit = "function f(a,b){return a+b};var x=[1,2,3].map(f);"
	return bytes.Repeat([]byte(unit), n/len(unit)+1)[:n], "application/javascript"
}

// prettyJSON is indented JSON of about n bytes.
func prettyJSON(n int) ([]byte, string) {
	type item struct {
		ID   int      `json:"id"`
		Name string   `json:"name"`
		Tags []string `json:"tags"`
		OK   bool     `json:"ok"`
	}
	var items []item
	for i := 0; len(items)*90 < n; i++ {
		items = append(items, item{ID: i, Name: fmt.Sprintf("user %d", i), Tags: []string{"a", "b"}, OK: i%2 == 0})
	}
	b, _ := json.MarshalIndent(items, "", "  ")
	return b, "application/json"
}

// binary is random bytes.
func binary(n int) ([]byte, string) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, "application/octet-stream"
}

func withBody(data []byte, ct string) *record.Recorder {
	rec := record.NewRecorder(record.Limits{MaxExchanges: 10, MaxBodyCapture: int64(len(data)) + 1, MaxCaptureTotal: 4 * int64(len(data))})
	x := exchange(1)
	x.Response.Header = record.Fields{{Name: "Content-Type", Value: ct}}
	x.Response.Body = record.Body{Bytes: data, Size: int64(len(data)), Complete: true}
	rec.Add(x)
	if got, ok := rec.Get(1); !ok || len(got.Response.Body.Bytes) != len(data) {
		panic("the recorder did not keep the whole body")
	}
	return rec
}

// settle runs cmd and what its messages lead to, each command on its own
// goroutine as the program would, until done reports the frame is there.
// Work still running then (a body's index) is stopped by Close.
func settle(m *tui.Model, cmd tea.Cmd, done func() bool) {
	msgs := make(chan tea.Msg, 1024)
	var run func(c tea.Cmd)
	run = func(c tea.Cmd) {
		if c == nil {
			return
		}
		go func() {
			msg := c()
			if batch, ok := msg.(tea.BatchMsg); ok {
				for _, c := range batch {
					run(c)
				}
				return
			}
			if msg != nil {
				msgs <- msg
			}
		}()
	}
	run(cmd)
	for !done() {
		_, c := m.Update(<-msgs)
		run(c)
	}
}

func key(s string) tea.KeyPressMsg {
	if s == "enter" {
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	}
	return tea.KeyPressMsg{Code: rune(s[0]), Text: s}
}

// shows reports whether the screen shows the body: a row that begins with
// the body's own first bytes (or, for a hex dump, its first offset).
func shows(m *tui.Model, marker string) func() bool {
	return func() bool { return strings.Contains(ansi.Strip(m.View().Content), marker) }
}

var bodyKinds = []struct {
	name   string
	make   func(int) ([]byte, string)
	big    int
	marker string
}{
	{"single-line", singleLine, 10 << 20, "function f(a,b)"},
	{"pretty-json", prettyJSON, 10 << 20, `"name": "user 0"`},
	{"binary", binary, 64 << 20, "00000000  "},
}

// BenchmarkDetailFirstFrame opens the response tab of an exchange with a
// big body at 200×50 and takes the first frame that shows the body: the
// time a user waits after pressing enter and 2. Each kind is measured at
// 10 KB too, the baseline its ratio is read against.
func BenchmarkDetailFirstFrame(b *testing.B) {
	for _, k := range bodyKinds {
		for _, size := range []int{10 << 10, k.big} {
			data, ct := k.make(size)
			rec := withBody(data, ct)
			b.Run(fmt.Sprintf("%s/%s", k.name, sizeName(size)), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m := model(rec, 200, 50)
					_, c1 := m.Update(key("enter"))
					_, c2 := m.Update(key("2"))
					settle(m, tea.Batch(c1, c2), shows(m, k.marker))
					m.Close()
				}
			})
		}
	}
}

// BenchmarkDetailResize takes the frame after a resize of the open
// response tab (200×50 → 160×50 and back, alternately).
func BenchmarkDetailResize(b *testing.B) {
	for _, k := range bodyKinds {
		for _, size := range []int{10 << 10, k.big} {
			data, ct := k.make(size)
			rec := withBody(data, ct)
			b.Run(fmt.Sprintf("%s/%s", k.name, sizeName(size)), func(b *testing.B) {
				m := model(rec, 200, 50)
				_, c1 := m.Update(key("enter"))
				_, c2 := m.Update(key("2"))
				settle(m, tea.Batch(c1, c2), shows(m, k.marker))
				defer m.Close()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					w := 160 + 40*(i%2)
					_, c := m.Update(tea.WindowSizeMsg{Width: w, Height: 50})
					settle(m, c, shows(m, k.marker))
				}
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
