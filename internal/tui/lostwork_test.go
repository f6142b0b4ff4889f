package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
)

// pressQuits presses keys as press does and reports whether any of them,
// or the commands they led to, quit the program.
func pressQuits(t *testing.T, m *Model, names ...string) bool {
	t.Helper()
	quit := false
	for _, k := range keys(names...) {
		_, cmd := m.Update(k)
		quit = run(t, m, cmd, 0) || quit
	}
	return quit
}

// harEntries is how many entries the HAR file at path holds.
func harEntries(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	xs, err := har.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return len(xs)
}

func TestQuitAsksAboutUnexported(t *testing.T) {
	dir := t.TempDir()
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.ExportDir = dir })
	if pressQuits(t, m, "q") {
		t.Fatal("q quit with 5 exchanges never exported")
	}
	if _, ok := topDialog[*confirmDialog](m); !ok || !strings.Contains(screen(m), "Quit and discard 5 exchanges?") ||
		!strings.Contains(screen(m), "y quit · n/esc stay · x export first") {
		t.Fatalf("q did not ask:\n%s", screen(m))
	}
	if pressQuits(t, m, "n") || m.topDialog() != nil {
		t.Fatal("n did not stay")
	}
	if !pressQuits(t, m, "q", "y") {
		t.Fatal("y did not quit")
	}

	// x exports everything, marks and filter notwithstanding, then quits.
	m = newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.ExportDir = dir })
	press(t, m, "g", "space", "q", "x")
	if !strings.Contains(screen(m), "all 5 exchanges, then quit") {
		t.Fatalf("x in the question:\n%s", screen(m))
	}
	if !pressQuits(t, m, "enter") {
		t.Fatalf("the export did not quit:\n%s", screen(m))
	}
	if n := harEntries(t, filepath.Join(dir, "devproxy-20260304-100005.har")); n != 5 {
		t.Fatalf("exported %d entries, want 5", n)
	}

	// Once everything is exported, q quits at once; a new exchange makes
	// it ask again.
	rec := newRecorder(t, fixtures()...)
	sub := rec.Subscribe(0)
	defer sub.Close()
	m = newModel(t, rec, 80, 24, func(c *Config) { c.ExportDir = t.TempDir() })
	press(t, m, "x", "enter")
	if !pressQuits(t, m, "q") {
		t.Fatal("q asked after everything was exported")
	}
	feed(t, m, rec, sub, fixtures()[0])
	if pressQuits(t, m, "q") || !strings.Contains(screen(m), "Quit and discard 1 exchange?") {
		t.Fatalf("a new exchange:\n%s", screen(m))
	}
}

func TestQuitOffersToKeepTempSession(t *testing.T) {
	kept := 0
	temp := func(c *Config) {
		c.TempSession = "/state/devproxy/sessions/serve-20260304-100005-42.db"
		c.KeepSession = func() { kept++ }
	}
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, temp)
	if pressQuits(t, m, "q") {
		t.Fatal("q quit with 5 exchanges never exported")
	}
	if s := screen(m); !strings.Contains(s, "100005-42.db is deleted on exit") || !strings.Contains(s, "k keep the") {
		t.Fatalf("the question does not offer to keep the temporary session:\n%s", s)
	}
	if !pressQuits(t, m, "k") || kept != 1 {
		t.Fatalf("k: kept %d times, want once, and a quit", kept)
	}

	// y quits without keeping it.
	m = newModel(t, newRecorder(t, fixtures()...), 80, 24, temp)
	if !pressQuits(t, m, "q", "y") || kept != 1 {
		t.Fatalf("y: kept %d times, want still once", kept)
	}

	// Without a temporary session, k is not an answer.
	m = newModel(t, newRecorder(t, fixtures()...), 80, 24)
	if pressQuits(t, m, "q", "k") || strings.Contains(screen(m), "keep the session") {
		t.Fatalf("k without a temporary session:\n%s", screen(m))
	}
}

func TestQuitAfterFailedExportStays(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.ExportDir = filepath.Join(t.TempDir(), "missing") })
	if pressQuits(t, m, "q", "x", "enter") {
		t.Fatal("quit although the export failed")
	}
	if !strings.Contains(screen(m), "failed") {
		t.Fatalf("no error:\n%s", screen(m))
	}
	// Canceling the prompt cancels the quit too.
	if pressQuits(t, m, "q", "x", "esc") || m.quitAfterExport {
		t.Fatal("esc in the prompt still quits later")
	}
}

func TestQuitAtOnceWhenSaved(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 80, 24, func(c *Config) { c.SavedOnExit = true })
	if !pressQuits(t, m, "q") {
		t.Fatal("with --har, q asked")
	}
	m = newModel(t, newRecorder(t), 80, 24)
	if !pressQuits(t, m, "q") {
		t.Fatal("with nothing recorded, q asked")
	}
}

func TestExportMarked(t *testing.T) {
	dir := t.TempDir()
	m := newModel(t, newRecorder(t, fixtures()...), 100, 30, func(c *Config) { c.ExportDir = dir })
	press(t, m, "g", "space", "j", "space", "x")
	if !strings.Contains(screen(m), "2 marked exchanges") {
		t.Fatalf("the prompt does not say it exports the marked ones:\n%s", screen(m))
	}
	press(t, m, "enter")
	if !strings.Contains(screen(m), "wrote 2 entries") {
		t.Fatalf("no report:\n%s", screen(m))
	}
	if pressQuits(t, m, "q") || !strings.Contains(screen(m), "Quit and discard 3 exchanges?") {
		t.Fatalf("q after exporting 2 of 5:\n%s", screen(m))
	}
}

func TestExportAsksBeforeOverwriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "devproxy-20260304-100005.har")
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newModel(t, newRecorder(t, fixtures()...), 100, 30, func(c *Config) { c.ExportDir = dir })
	press(t, m, "x", "enter")
	if _, ok := topDialog[*confirmDialog](m); !ok || !strings.Contains(screen(m), "exists") {
		t.Fatalf("no question before overwriting:\n%s", screen(m))
	}
	// n goes back to the file name.
	press(t, m, "n")
	if exportPath(m) != path {
		t.Fatalf("n: prompt %T with %q", m.topDialog(), exportPath(m))
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatal("the file was overwritten")
	}
	press(t, m, "enter", "y")
	if n := harEntries(t, path); n != 5 || !strings.Contains(screen(m), "wrote 5 entries") {
		t.Fatalf("y: %d entries\n%s", n, screen(m))
	}
}

func TestViewHidesLiveAffordances(t *testing.T) {
	m := newModel(t, newRecorder(t, fixtures()...), 120, 30, func(c *Config) { c.Role, c.Listen, c.Target = "view", "", "session.har" })
	if m.list.follow || selectedID(m) != 1 {
		t.Fatalf("view: follow %v, selected #%d; want the first entry, not following", m.list.follow, selectedID(m))
	}
	help := m.renderHelpLine(120)
	if strings.Contains(help, "pause") || strings.Contains(help, "follow") {
		t.Fatalf("view's footer offers live keys: %q", help)
	}
	press(t, m, "p")
	if !strings.Contains(screen(m), "nothing to pause") {
		t.Fatalf("p in view:\n%s", screen(m))
	}
	press(t, m, "F")
	if m.list.follow || !strings.Contains(screen(m), "nothing to follow") {
		t.Fatalf("F in view:\n%s", screen(m))
	}
	press(t, m, "G")
	if m.list.follow || selectedID(m) != 5 {
		t.Fatalf("G in view: follow %v, selected #%d", m.list.follow, selectedID(m))
	}
}

func TestCurlInsecureForSelfSignedTLS(t *testing.T) {
	tlsX := fixtures()[0]
	tlsX.Request.URL = "https://127.0.0.1:8443/api/users?page=1"
	for _, c := range []struct {
		selfSigned bool
		x          record.Exchange
		want       bool
	}{
		{true, tlsX, true},
		{false, tlsX, false},
		{true, fixtures()[0], false}, // plain HTTP
	} {
		m := newModel(t, newRecorder(t, c.x), 100, 30, func(cfg *Config) { cfg.SelfSignedTLS = c.selfSigned })
		press(t, m, "c")
		text := curlText(m)
		if got := strings.Contains(text, "\n  -k") && strings.Contains(text, "self-signed"); got != c.want {
			t.Errorf("self-signed %v, %s: -k %v, want %v:\n%s", c.selfSigned, c.x.Request.URL, got, c.want, text)
		}
	}
}
