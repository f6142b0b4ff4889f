package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
)

// fakeHolds is a Holds whose exchanges tests hold by hand. Resume of text
// holding "BAD" fails to parse on line 2, as the engine's would.
type fakeHolds struct {
	mu      sync.Mutex
	held    []Held
	changed chan struct{}
	// calls are "resume ID", "resume ID TEXT", "abort ID", "resume all".
	calls []string
}

func newFakeHolds() *fakeHolds { return &fakeHolds{changed: make(chan struct{}, 1)} }

func (f *fakeHolds) hold(h Held) {
	f.mu.Lock()
	f.held = append(f.held, h)
	f.mu.Unlock()
	f.signal()
}

func (f *fakeHolds) signal() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeHolds) List() []Held {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.held)
}

func (f *fakeHolds) Changed() <-chan struct{} { return f.changed }

func (f *fakeHolds) release(id uint64) error {
	i := slices.IndexFunc(f.held, func(h Held) bool { return h.ID == id })
	if i < 0 {
		return fmt.Errorf("exchange #%d is not held", id)
	}
	f.held = slices.Delete(f.held, i, i+1)
	return nil
}

func (f *fakeHolds) Resume(id uint64, raw string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Contains(raw, "BAD") {
		return fmt.Errorf("resume #%d: %w", id, &export.RawError{Line: 2, Msg: `header line "BAD" has no colon`})
	}
	if raw == "" {
		f.calls = append(f.calls, fmt.Sprintf("resume %d", id))
	} else {
		f.calls = append(f.calls, fmt.Sprintf("resume %d %s", id, raw))
	}
	return f.release(id)
}

func (f *fakeHolds) ResumeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "resume all")
	f.held = nil
}

func (f *fakeHolds) Abort(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("abort %d", id))
	return f.release(id)
}

func (f *fakeHolds) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// heldPost is the request text of the held POST.
const heldPost = "POST /post HTTP/1.1\r\nHost: localhost:3000\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nx=1"

// heldModel is a model over the fixtures and two exchanges in flight,
// #6 (a POST) held at the request phase and #7 (a GET) at the response
// phase, with its body too large to edit.
func heldModel(t *testing.T, w, h int) (*Model, *fakeHolds) {
	t.Helper()
	rec := newRecorder(t, fixtures()...)
	rec.Begin(record.Begin{Role: record.RoleServe, Start: t0.Add(-12 * time.Second),
		Request: record.Request{Method: "POST", URL: "http://localhost:3000/post", Host: "localhost:3000", Proto: "HTTP/1.1",
			Header: hdr("Content-Type", "application/x-www-form-urlencoded")}, ContentLength: 3})
	rec.Begin(record.Begin{Role: record.RoleServe, Start: t0.Add(-3 * time.Second),
		Request: record.Request{Method: "GET", URL: "http://localhost:3000/big", Host: "localhost:3000", Proto: "HTTP/1.1"}})
	hs := newFakeHolds()
	m := newModel(t, rec, w, h, func(c *Config) { c.Replayer = &fakeReplayer{}; c.Holds = hs })
	hs.hold(Held{ID: 6, Phase: match.PhaseRequest, Rule: "1", Since: t0.Add(-12 * time.Second), Deadline: t0.Add(-12*time.Second + 5*time.Minute),
		Method: "POST", URL: "http://localhost:3000/post", BodyEditable: true, Text: heldPost})
	hs.hold(Held{ID: 7, Phase: match.PhaseResponse, Rule: "slow", Since: t0.Add(-2 * time.Second), Deadline: t0.Add(-2*time.Second + 5*time.Minute),
		Method: "GET", URL: "http://localhost:3000/big", Status: 200,
		Note: "the body is larger than the capture cap (1 MiB); only the status and headers can be edited",
		Text: "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"})
	// What the watcher reads after Changed fires.
	send(t, m, watchHolds(context.Background(), hs)())
	return m, hs
}

// selectID moves the list cursor to exchange id.
func selectID(t *testing.T, m *Model, id uint64) {
	t.Helper()
	press(t, m, "g")
	for i := 0; i < 10; i++ {
		if got, _ := m.selectedID(); got == id {
			return
		}
		press(t, m, "j")
	}
	t.Fatalf("#%d is not in the list:\n%s", id, screen(m))
}

// rowOf is the screen line of exchange id in the list.
func rowOf(m *Model, id uint64) string {
	for _, l := range strings.Split(screen(m), "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), fmt.Sprintf("#%d ", id)) {
			return l
		}
	}
	return ""
}

func TestHeldListed(t *testing.T) {
	m, hs := heldModel(t, 120, 30)
	s := screen(m)
	if !strings.Contains(s, "2 held") {
		t.Errorf("the header has no held count:\n%s", s)
	}
	if r := rowOf(m, 6); !strings.Contains(r, "⏸ held") {
		t.Errorf("#6's row has no badge: %q", r)
	}
	if r := rowOf(m, 7); !strings.Contains(r, "⏸ 200 held") {
		t.Errorf("#7's row has no badge with its status: %q", r)
	}
	if r := rowOf(m, 2); strings.Contains(r, "held") {
		t.Errorf("#2 is not held, but its row says so: %q", r)
	}
	// The footer puts the breakpoint keys first.
	if lines := strings.Split(s, "\n"); !strings.HasPrefix(strings.TrimSpace(lines[len(lines)-1]), "a resume") {
		t.Errorf("footer: %q", lines[len(lines)-1])
	}
	// #6 times out in the engine: Changed fires and the list follows.
	hs.mu.Lock()
	hs.release(6)
	hs.mu.Unlock()
	hs.signal()
	send(t, m, watchHolds(context.Background(), hs)())
	if s := screen(m); strings.Contains(rowOf(m, 6), "held") || !strings.Contains(s, "1 held") {
		t.Errorf("after #6 went on:\n%s", s)
	}
}

func TestHeldDetail(t *testing.T) {
	m, _ := heldModel(t, 100, 30)
	selectID(t, m, 6)
	press(t, m, "enter")
	s := screen(m)
	for _, want := range []string{
		"⏸ Held before the upstream is called (request breakpoint, rule 1)",
		"held for 12s · goes on unchanged in 4m48s",
		"e edits the request (start line, headers and body)",
		"a resume · e edit, then resume · X abort (502) · A resume all",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the detail does not say %q:\n%s", want, s)
		}
	}
	press(t, m, "]")
	s = screen(m)
	for _, want := range []string{
		"Held before the response goes to the client (response breakpoint, rule slow)",
		"e edits the response as HTTP/1.1 text; the body is larger than the capture cap (1 MiB); only the",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("#7's detail does not say %q:\n%s", want, s)
		}
	}
}

func TestHeldResume(t *testing.T) {
	m, hs := heldModel(t, 120, 30)
	selectID(t, m, 6)
	press(t, m, "a")
	if got := hs.callList(); !slices.Equal(got, []string{"resume 6"}) {
		t.Fatalf("a: calls %q", got)
	}
	s := screen(m)
	if strings.Contains(rowOf(m, 6), "held") || !strings.Contains(s, "1 held") || !strings.Contains(s, "resumed #6") {
		t.Fatalf("after a:\n%s", s)
	}
	// On an exchange that is not held, a says so and does nothing.
	selectID(t, m, 2)
	press(t, m, "a")
	if got := hs.callList(); len(got) != 1 || !strings.Contains(screen(m), "#2 is not held") {
		t.Fatalf("a on #2: calls %q\n%s", got, screen(m))
	}
}

func TestHeldResumeAll(t *testing.T) {
	m, hs := heldModel(t, 120, 30)
	press(t, m, "A")
	if got := hs.callList(); !slices.Equal(got, []string{"resume all"}) {
		t.Fatalf("A: calls %q", got)
	}
	s := screen(m)
	if strings.Contains(s, "⏸") || strings.Contains(s, " held ·") || !strings.Contains(s, "resumed 2 held exchanges") {
		t.Fatalf("after A:\n%s", s)
	}
}

func TestHeldAbort(t *testing.T) {
	m, hs := heldModel(t, 120, 30)
	selectID(t, m, 7)
	press(t, m, "enter", "X")
	if got := hs.callList(); !slices.Equal(got, []string{"abort 7"}) {
		t.Fatalf("X: calls %q", got)
	}
	s := screen(m)
	if strings.Contains(s, "Held before") || !strings.Contains(s, "aborted #7: its client got a 502") {
		t.Fatalf("after X:\n%s", s)
	}
	press(t, m, "esc")
	if !strings.Contains(rowOf(m, 6), "⏸ held") {
		t.Fatalf("aborting #7 touched #6: %q", rowOf(m, 6))
	}
}

// TestHeldEdit edits a held request with a real editor command, as
// $EDITOR names it, and resumes it as edited; text that does not parse
// keeps it held, and the next e opens that text again.
func TestHeldEdit(t *testing.T) {
	for _, tool := range []string{"sh", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s for the fake editor", tool)
		}
	}
	m, hs := heldModel(t, 120, 30)
	selectID(t, m, 6)
	dir := t.TempDir()
	// edit runs $EDITOR as a script whose sed program is script.
	edit := func(script string) {
		t.Helper()
		editor := dir + "/editor.sh"
		prog := "#!/bin/sh\nsed -e '" + script + "' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n"
		if script == "" {
			prog = "#!/bin/sh\nexit 0\n"
		}
		if err := os.WriteFile(editor, []byte(prog), 0o700); err != nil {
			t.Fatal(err)
		}
		t.Setenv("EDITOR", editor)
		_, cmd := m.Update(keys("e")[0])
		ready, ok := cmd().(editReadyMsg)
		if !ok || ready.err != nil || !ready.held {
			t.Fatalf("e: %#v", ready)
		}
		t.Cleanup(func() { os.Remove(ready.path) })
		c := exec.Command(ready.editor[0], append(ready.editor[1:], ready.path)...)
		err := c.Run()
		send(t, m, editExitMsg{id: ready.id, held: true, path: ready.path, orig: ready.orig, err: err})
		if _, err := os.Stat(ready.path); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("the temp file was left behind")
		}
	}
	// Unchanged: still held.
	edit("")
	if len(hs.callList()) != 0 || !strings.Contains(screen(m), "still held") {
		t.Fatalf("unchanged edit: %q\n%s", hs.callList(), screen(m))
	}
	// Text that does not parse: still held, the error names its line.
	edit("s/^Host:/BAD/")
	if len(hs.callList()) != 0 || !strings.Contains(rowOf(m, 6), "⏸ held") ||
		!strings.Contains(screen(m), "#6 is still held: the edited text does not parse: line 2") {
		t.Fatalf("bad edit: %q\n%s", hs.callList(), screen(m))
	}
	// The next edit starts from that text.
	edit("s/^BAD/Host:/; s/x=1/x=2/")
	want := strings.Replace(heldPost, "x=1", "x=2", 1)
	// (A sed may end the last line with a newline.)
	if got := hs.callList(); len(got) != 1 || strings.TrimSuffix(got[0], "\n") != "resume 6 "+want {
		t.Fatalf("edited: calls %q, want the edited text", got)
	}
	if s := screen(m); !strings.Contains(s, "resumed as edited #6") || strings.Contains(rowOf(m, 6), "held") {
		t.Fatalf("after the edit:\n%s", s)
	}
	// e on an exchange that is not held edits and replays it, as before.
	selectID(t, m, 2)
	_, cmd := m.Update(keys("e")[0])
	if ready, ok := cmd().(editReadyMsg); !ok || ready.held {
		t.Fatalf("e on #2: %#v", ready)
	} else {
		os.Remove(ready.path)
	}
}

// TestHeldKeysOff: without holds, a, A and X are off, and neither the help
// nor the footer names them.
func TestHeldKeysOff(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 120, 40, func(c *Config) { c.Replayer = &fakeReplayer{} })
	press(t, m, "a", "A", "X")
	press(t, m, "?")
	if s := screen(m); strings.Contains(s, "Breakpoints") || strings.Contains(s, "held") {
		t.Fatalf("help without holds:\n%s", s)
	}
	if !strings.Contains(DefaultKeyMap().Markdown(), "| Breakpoints | `a` | resume the held exchange as it is |") {
		t.Fatal("the key table lacks the breakpoint keys")
	}
}

// TestHeldGolden compares screens with held exchanges with
// testdata/TestHeldGolden/*.golden (-update regenerates them).
func TestHeldGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"list", nil},
		{"request", []string{"G", "k", "enter"}},
		{"response", []string{"G", "enter"}},
	}
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m, _ := heldModel(t, sz[0], sz[1])
				press(t, m, v.keys...)
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}
