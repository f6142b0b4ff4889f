package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/devproxy/devproxy/internal/session"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// watchedOutput is a command's output that a test can wait on.
type watchedOutput struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newWatchedOutput() *watchedOutput { return &watchedOutput{wrote: make(chan struct{}, 1)} }

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitMatch waits up to 10 seconds for the output to match re, and
// returns the first submatch.
func (w *watchedOutput) waitMatch(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(w.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-w.wrote:
		case <-deadline.C:
			t.Fatalf("waiting for %s; the output is:\n%s", re, w.String())
		}
	}
}

// runningRole is a role run in-process, headless.
type runningRole struct {
	url  string // where it listens
	out  *watchedOutput
	stop func() (string, error)
}

var listeningRE = regexp.MustCompile(`listening" listen=(\S+)`)

// startRole runs devproxy with args (a role with --no-tui --listen
// 127.0.0.1:0 added) until stop, which returns its output and error.
func startRole(t *testing.T, args ...string) *runningRole {
	t.Helper()
	return runRole(t, append(args, "--no-tui", "--listen", "127.0.0.1:0")...)
}

// runRole runs devproxy with args as they are (a headless role that logs
// where it listens) until stop, which returns its output and error.
func runRole(t *testing.T, args ...string) *runningRole {
	t.Helper()
	root := newRootCmd()
	out := newWatchedOutput()
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	stop := func() (string, error) {
		cancel()
		select {
		case err := <-done:
			stopped = true
			return out.String(), err
		case <-time.After(20 * time.Second):
			t.Fatalf("devproxy %s did not stop:\n%s", args[0], out.String())
			return "", nil
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return &runningRole{url: out.waitMatch(t, listeningRE), out: out, stop: stop}
}

// isolate keeps a test's config and state out of the developer's.
func isolate(t *testing.T) (state string) {
	t.Helper()
	state = t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("XDG_STATE_HOME", state)
	return state
}

// get sends a GET to url and reads the answer.
func get(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// sessionIDs opens a session file read-only and lists its exchanges' IDs
// and paths.
func sessionIDs(t *testing.T, path string) (ids []uint64, paths []string) {
	t.Helper()
	store, err := session.Open(path, session.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	xs, err := store.Range(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		ids = append(ids, x.ID)
		paths = append(paths, strings.TrimPrefix(x.Request.URL, "http://"+x.Request.Host))
	}
	return ids, paths
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstLineDiff shows the first line where two texts part.
func firstLineDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < min(len(al), len(bl)); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n %s\n %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines and %d lines", len(al), len(bl))
}

// writeSession writes xs into a new session file and returns its path.
func writeSession(t *testing.T, xs ...record.Exchange) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.db")
	store, err := session.Open(path, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		if !store.Offer(x) {
			t.Fatalf("the store refused #%d", x.ID)
		}
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSessionFlags(t *testing.T) {
	for _, role := range []string{"serve", "demo", "relay", "agent"} {
		cmd, err := prepare(t, role)
		if err != nil {
			t.Fatal(err)
		}
		o, err := sessionFrom(cmd)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if o.path != "" || o.maxSize != 1<<30 || o.redact != redact.None || o.keep {
			t.Errorf("%s: defaults %+v; want a temporary session of at most 1GiB, not redacted", role, *o)
		}
	}
	for _, role := range []string{"view", "replay", "export"} {
		cmd, _ := prepare(t, role)
		if cmd.Flags().Lookup("session") != nil {
			t.Errorf("%s has --session; it records nothing", role)
		}
	}

	// A named session has no budget unless given one, from any source.
	cmd, _ := prepare(t, "serve", "--session", "x.db")
	if o, _ := sessionFrom(cmd); o.path != "x.db" || o.maxSize != 0 {
		t.Errorf("--session x.db: %+v, want no budget", *o)
	}
	t.Setenv("DEVPROXY_MAX_SESSION_SIZE", "2GiB")
	cmd, _ = prepare(t, "serve", "--session", "x.db", "--session-redact", "strict", "--keep-session")
	if o, _ := sessionFrom(cmd); o.maxSize != 2<<30 || o.redact != redact.Strict || !o.keep {
		t.Errorf("from the environment and flags: %+v", *o)
	}
	t.Setenv("DEVPROXY_MAX_SESSION_SIZE", "")
	cmd, _ = prepare(t, "serve", "--max-session-size", "0")
	if o, _ := sessionFrom(cmd); o.maxSize != 0 {
		t.Errorf("--max-session-size 0 on a temporary session: budget %d, want none", o.maxSize)
	}

	// Config keys, top level and per command.
	cfg := writeConfig(t, "session-redact: default\nserve:\n  session: from-config.db\n  max-session-size: 64MiB\n")
	cmd, _ = prepare(t, "serve", "--config", cfg)
	if o, _ := sessionFrom(cmd); o.path != "from-config.db" || o.maxSize != 64<<20 || o.redact != redact.Default {
		t.Errorf("config: %+v", *o)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--session-redact", "some"}, `--session-redact "some": must be none, default or strict`},
		{[]string{"--max-session-size", "64KiB"}, "--max-session-size 64KiB: too small for a session; at least 1MiB, or 0 for no limit"},
	} {
		cmd, err := prepare(t, append([]string{"serve"}, c.args...)...)
		if err == nil {
			_, err = sessionFrom(cmd)
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// TestNamedSessionContinues: a second run of a role on the same session
// file goes on with the IDs, and both runs' exchanges are in it.
func TestNamedSessionContinues(t *testing.T) {
	isolate(t)
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	path := filepath.Join(t.TempDir(), "s.db")

	harPath := filepath.Join(t.TempDir(), "run1.har")
	r := startRole(t, "serve", "--target", backend.URL, "--session", path, "--har", harPath)
	get(t, r.url+"/get?run=1")
	get(t, r.url+"/status/204")
	out, err := r.stop()
	if err != nil || !strings.Contains(out, "session "+path+" holds 2 exchanges (2 from this run)") {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	// What the session kept exports to the HAR file the run wrote from
	// memory, byte for byte.
	exported := filepath.Join(t.TempDir(), "export.har")
	if out, err := runCmd(t, "export", path, "--har", exported); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if a, b := readBytes(t, harPath), readBytes(t, exported); !bytes.Equal(a, b) {
		t.Errorf("the session's export differs from the run's --har:\n%s", firstLineDiff(a, b))
	}

	r = startRole(t, "serve", "--target", backend.URL, "--session", path)
	get(t, r.url+"/get?run=2")
	out, err = r.stop()
	if err != nil || !strings.Contains(out, "continuing after #2") || !strings.Contains(out, "#3 GET") ||
		!strings.Contains(out, "holds 3 exchanges (1 from this run)") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	ids, paths := sessionIDs(t, path)
	if want := "[1 2 3] [/get?run=1 /status/204 /get?run=2]"; fmt.Sprint(ids, paths) != want {
		t.Errorf("the session holds %v %v, want %s", ids, paths, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("session mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestTempSession: without --session a role records into a temporary
// session, deleted on exit unless kept.
func TestTempSession(t *testing.T) {
	state := isolate(t)
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	dir := filepath.Join(state, "devproxy", "sessions")

	r := startRole(t, "serve", "--target", backend.URL)
	get(t, r.url+"/get")
	files, _ := filepath.Glob(filepath.Join(dir, "serve-*.db"))
	if len(files) != 1 {
		t.Fatalf("temporary sessions while running: %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("temporary session mode %v, %v; want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("sessions directory mode %v, %v; want 0700", fi.Mode(), err)
	}
	out, err := r.stop()
	if err != nil || !strings.Contains(out, "deleted the temporary session (1 exchange)") {
		t.Fatalf("%v\n%s", err, out)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}

	r = startRole(t, "serve", "--target", backend.URL, "--keep-session")
	get(t, r.url+"/get")
	out, err = r.stop()
	files, _ = filepath.Glob(filepath.Join(dir, "serve-*.db"))
	if err != nil || len(files) != 1 || !strings.Contains(out, "kept the session "+files[0]+" (1 exchange); open it with: devproxy view "+files[0]) {
		t.Fatalf("--keep-session: %v, files %v\n%s", err, files, out)
	}
	if ids, _ := sessionIDs(t, files[0]); len(ids) != 1 {
		t.Errorf("the kept session holds %v", ids)
	}
}

// TestUIConfigForSessions: the UI offers to keep a temporary session, and
// quits at once when the exchanges are in a session that stays.
func TestUIConfigForSessions(t *testing.T) {
	temp := &roleRun{role: record.RoleServe, rec: record.NewRecorder(record.Limits{}), session: &runSession{path: "/s/t.db", temp: true}}
	cfg := uiConfig(temp)
	if cfg.SavedOnExit || cfg.TempSession != "/s/t.db" || cfg.KeepSession == nil {
		t.Fatalf("temporary session: SavedOnExit %v, TempSession %q", cfg.SavedOnExit, cfg.TempSession)
	}
	cfg.KeepSession()
	if !temp.session.keep.Load() {
		t.Error("KeepSession did not keep the session")
	}
	if cfg := uiConfig(temp); !cfg.SavedOnExit || cfg.TempSession != "" {
		t.Errorf("kept session: SavedOnExit %v, TempSession %q", cfg.SavedOnExit, cfg.TempSession)
	}
	named := &roleRun{role: record.RoleServe, rec: record.NewRecorder(record.Limits{}), session: &runSession{path: "/s/n.db"}}
	if cfg := uiConfig(named); !cfg.SavedOnExit || cfg.TempSession != "" {
		t.Errorf("named session: SavedOnExit %v, TempSession %q", cfg.SavedOnExit, cfg.TempSession)
	}
}

// TestKeptTempSessionIsIndexed: a temporary session is indexed only once
// searched, but one the user keeps from the UI's quit question is indexed
// before exit, for devproxy view (which reads only) to search.
func TestKeptTempSessionIsIndexed(t *testing.T) {
	state := isolate(t)
	var stderr bytes.Buffer
	r := &roleRun{role: record.RoleServe, name: "serve", rec: record.NewRecorder(record.Limits{}),
		stderr: &stderr, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := r.openSession(&sessionOptions{maxSize: defaultTempSessionMax, redact: redact.None}); err != nil {
		t.Fatal(err)
	}
	if !r.session.lazy {
		t.Fatal("a temporary session indexes before anyone searches")
	}
	const n = 20
	for id := uint64(1); id <= n; id++ {
		if !r.session.store.Offer(record.Exchange{ID: id, Version: 1, State: record.Done,
			Request: record.Request{Method: "GET", URL: fmt.Sprintf("http://example.test/%d", id)}}) {
			t.Fatal("Offer refused")
		}
	}
	if err := r.session.store.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := r.session.store.Stats(); st.Written != n || st.Indexed != 0 {
		t.Fatalf("before keeping: %+v", st)
	}
	r.session.keep.Store(true) // k in the UI's quit question
	if err := r.closeSession(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "indexing the kept session for search (20 exchanges") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(state, "devproxy", "sessions", "serve-*.db"))
	if len(files) != 1 {
		t.Fatalf("sessions %v", files)
	}
	// Nothing is left to index: a writer that indexes the backlog finds none.
	store, err := session.Open(files[0], session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Index(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := store.Stats(); st.Indexed != 0 {
		t.Errorf("%d exchanges were left to index", st.Indexed)
	}
	if ids, err := store.Search("example.test/7", 0); err != nil || !slices.Equal(ids, []uint64{7}) {
		t.Errorf("Search = %v, %v", ids, err)
	}
}

// TestSecondWriterFails: a session another process (here, another store)
// writes cannot be opened for writing: exit status 2, and a message that
// names the holder.
func TestSecondWriterFails(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "s.db")
	holder, err := session.Open(path, session.Options{Command: "devproxy serve --session s.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	_, err = runCmd(t, "serve", "--target", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--no-tui", "--session", path)
	var locked *session.LockedError
	if !errors.As(err, &locked) || exitCode(err) != 2 ||
		!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("process %d (devproxy serve --session s.db)", os.Getpid())) {
		t.Fatalf("second writer: %v (exit %d)", err, exitCode(err))
	}
}

func sessionFixtures() []record.Exchange {
	secret := recorded(2, "POST", "/post", 200, `{"echo":"Bearer t0ken-123456"}`)
	secret.Request.Header = record.Fields{{Name: "Authorization", Value: "Bearer t0ken-123456"}, {Name: "Content-Type", Value: "application/json"}}
	secret.Response.Body = record.Body{Bytes: []byte(`{"auth":"Bearer t0ken-123456"}`), Size: 30, Complete: true}
	return []record.Exchange{
		recorded(1, "GET", "/status/200", 200, ""),
		secret,
		recorded(3, "GET", "/status/404", 404, ""),
	}
}

func TestViewSession(t *testing.T) {
	path := writeSession(t, sessionFixtures()...)
	store, err := session.Open(path, session.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src, err := newSessionSource(store)
	if err != nil {
		t.Fatal(err)
	}
	if snap := src.Snapshot(); len(snap) != 0 {
		t.Fatalf("snapshot of a file: %d exchanges; want none (listed by Index)", len(snap))
	}
	index, err := src.Index()
	if err != nil || len(index) != 3 || index[1].ID != 2 || index[2].Status != 404 {
		t.Fatalf("index %+v, %v", index, err)
	}
	snap, err := src.Fetch([]uint64{3, 1, 2})
	if err != nil || len(snap) != 3 || snap[1].ID != 2 || len(snap[1].Request.Body.Bytes) != 0 || snap[1].Request.Body.Size == 0 {
		t.Fatalf("fetch %+v, %v: want 3 exchanges in ID order, sizes without bytes", snap, err)
	}
	if ids, ok, err := src.Candidates("t0ken", true); err != nil || !ok || len(ids) != 1 || ids[0] != 2 {
		t.Errorf("Candidates(t0ken) = %v, %v, %v; want [2]", ids, ok, err)
	}
	if _, ok, _ := src.Candidates("t0", false); ok {
		t.Error("Candidates of two letters claims to narrow")
	}
	b, err := src.Body(&snap[1], tui.ResponseBody)
	if err != nil || !strings.Contains(string(b.Bytes), "t0ken") {
		t.Fatalf("response body %q, %v", b.Bytes, err)
	}
	if x, ok := src.Get(3); !ok || x.Response.Status != 404 {
		t.Errorf("Get(3): %v %+v", ok, x)
	}
	if _, ok := src.Get(4); ok {
		t.Error("Get(4) found an exchange the file does not hold")
	}
	if st := src.Stats(); st.Total != 3 || st.Kept != 3 {
		t.Errorf("stats %+v", st)
	}

	// --no-tui lists the exchanges; --har writes them, bodies and all.
	harPath := filepath.Join(t.TempDir(), "out.har")
	out, err := runCmd(t, "view", path, "--no-tui", "--har", harPath, "--har-redact", "none")
	if err != nil || !strings.Contains(out, "#1 GET") || !strings.Contains(out, "#3 GET") || !strings.Contains(out, "wrote 3 exchanges to "+harPath) {
		t.Fatalf("view --no-tui: %v\n%s", err, out)
	}
	back, err := readHARFile(harPath)
	if err != nil || len(back) != 3 || !strings.Contains(string(back[1].Response.Body.Bytes), "t0ken") {
		t.Fatalf("view --har: %v, %d entries", err, len(back))
	}
}

func TestExportSession(t *testing.T) {
	path := writeSession(t, sessionFixtures()...)
	dir := t.TempDir()

	all := filepath.Join(dir, "all.har")
	out, err := runCmd(t, "export", path, "--har", all)
	if err != nil || !strings.Contains(out, "wrote 3 of 3 exchanges to "+all+" (redaction: default)") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	data, err := os.ReadFile(all)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("t0ken-123456")) {
		t.Error("the secret reached the HAR file: redaction follows it into bodies by default")
	}
	xs, err := har.Read(bytes.NewReader(data))
	if err != nil || len(xs) != 3 || xs[0].ID != 1 || xs[2].Response.Status != 404 {
		t.Fatalf("read back: %v, %d entries", err, len(xs))
	}
	// The same exchanges, written whole from memory, give the same file.
	var want bytes.Buffer
	if err := har.Write(&want, loadAll(t, path), har.Options{Redact: redact.Default, Version: version}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want.Bytes()) {
		t.Error("the streamed export differs from har.Write of the same exchanges")
	}

	some := filepath.Join(dir, "some.har")
	if out, err := runCmd(t, "export", path, "--har", some, "--filter", "body:t0ken or status:404", "--har-redact", "none"); err != nil || !strings.Contains(out, "wrote 2 of 3") {
		t.Fatalf("--filter: %v\n%s", err, out)
	}
	if xs, err := readHARFile(some); err != nil || len(xs) != 2 || !strings.Contains(string(xs[0].Request.Body.Bytes), "t0ken") {
		t.Fatalf("--filter: %v %d entries", err, len(xs))
	}

	out, err = runCmd(t, "export", path, "--har", "-", "--filter", "status:404")
	if err != nil || !strings.Contains(out, `"_devproxyId": 3`) || strings.Contains(out, `"_devproxyId": 1`) || !strings.Contains(out, "wrote 1 of 3 exchanges to standard output") {
		t.Fatalf("--har -: %v\n%s", err, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", path}, "--har is required"},
		{[]string{"export", path, "--har", some, "--filter", "status:>>1"}, "--filter"},
		{[]string{"export", path, "--har", some, "--har-redact", "loose"}, `--har-redact "loose"`},
		{[]string{"export", filepath.Join(dir, "missing.db"), "--har", some}, "no such file"},
		{[]string{"export", path, "--har", path}, "is the file being exported"},
	} {
		if _, err := runCmd(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args[2:], err, c.want)
		}
	}
}

// loadAll reads every exchange of a session, whole.
func loadAll(t *testing.T, path string) []record.Exchange {
	t.Helper()
	f, err := openRecording(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var xs []record.Exchange
	if _, err := f.each(nil, true, func(_ uint64, x *record.Exchange) error { xs = append(xs, *x); return nil }); err != nil {
		t.Fatal(err)
	}
	return xs
}

func TestReplaySession(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	path := writeSession(t, recorded(1, "GET", "/status/200", 200, ""), recorded(2, "POST", "/status/201", 201, "x=1"), recorded(5, "GET", "/status/404", 200, ""))
	out, err := runCmd(t, "replay", path, "--target", backend.URL, "--filter", "-path:/status/404")
	if err != nil || !strings.Contains(out, "#2  POST") || !strings.Contains(out, "201 → 201") || !strings.Contains(out, "2 entries: 2 same") {
		t.Fatalf("replay of a session: %v\n%s", err, out)
	}
	out, err = runCmd(t, "replay", path, "--target", backend.URL)
	if exitCode(err) != 1 || !strings.Contains(out, "#5  GET") || !strings.Contains(out, "200 → 404") {
		t.Fatalf("a status differs: %v (exit %d)\n%s", err, exitCode(err), out)
	}
}

// TestSessionWriteError: a session file removed while a role runs is
// reported once, in the log and on exit, and recording goes on in memory.
func TestSessionWriteError(t *testing.T) {
	isolate(t)
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	path := filepath.Join(t.TempDir(), "s.db")
	r := startRole(t, "serve", "--target", backend.URL, "--session", path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	get(t, r.url+"/get?n=1")
	r.out.waitMatch(t, regexp.MustCompile(`level=ERROR msg="session: writing failed; exchanges are kept in memory only from now on" session=\S+ error=".*removed`))
	get(t, r.url+"/get?n=2")
	r.out.waitMatch(t, regexp.MustCompile(`#2 GET`))
	out, err := r.stop()
	if err != nil || strings.Count(out, "writing failed") != 2 || // the log line, and the summary on exit
		!strings.Contains(out, "the session is missing 2 exchanges (writing failed:") || !strings.Contains(out, "the session file "+path+" is gone") {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestSessionStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	store, err := session.Open(path, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := &roleRun{session: &runSession{store: store, path: path}, status: func() string { return "web: 1 agent(s) tunnel" }}
	if got := s.uiStatus(); got != "web: 1 agent(s) tunnel" {
		t.Errorf("all well: header %q, want the role's status alone", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	store.Offer(recorded(1, "GET", "/", 200, ""))
	if err := store.Close(); err != nil || store.Err() == nil {
		t.Fatalf("close: %v; write error %v, want one for a removed file", err, store.Err())
	}
	if got := s.uiStatus(); got != "web: 1 agent(s) tunnel · session: write failed (E)" {
		t.Errorf("after a write error: header %q", got)
	}
}

// TestSessionIsADirectory names the problem when --session is a directory
// (SQLite would say only "unable to open database file").
func TestSessionIsADirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := runCmd(t, "serve", "--target", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--no-tui", "--session", dir)
	if err == nil || !strings.Contains(err.Error(), "--session "+dir+": is a directory; name a file in it") {
		t.Fatalf("err %v", err)
	}
}

// TestNoSession records to memory only: no file appears in the sessions
// directory, and --no-session with --session is refused.
func TestNoSession(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--no-session"}); err != nil {
		t.Fatal(err)
	}
	if o, err := sessionFrom(cmd); err != nil || o != nil {
		t.Fatalf("--no-session: %+v, %v", o, err)
	}
	cmd = newServeCmd()
	if err := cmd.ParseFlags([]string{"--no-session", "--session", "x.db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessionFrom(cmd); err == nil || !strings.Contains(err.Error(), "pick one") {
		t.Fatalf("both: %v", err)
	}
}

// TestLiveSourceOffloads: a running role's UI lists every exchange of its
// session. Exchanges the recorder evicts to stay within memory are
// offloaded, not removed, and read back from the file; deleting one
// removes it from memory, the list and the file.
func TestLiveSourceOffloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	store, err := session.Open(path, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec := record.NewRecorder(record.Limits{MaxExchanges: 3})
	rec.AddSink(store)
	src := newLiveSource(rec, store)
	sub := src.Subscribe(0)
	defer sub.Close()
	for i := 1; i <= 5; i++ {
		rec.Add(recorded(uint64(i), "GET", fmt.Sprintf("/item/%d", i), 200, fmt.Sprintf(`{"item":%d}`, i)))
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	<-sub.Ready()
	var offloaded, evicted []uint64
	for _, ev := range sub.Drain(nil) {
		switch ev.Kind {
		case record.EventOffloaded:
			offloaded = append(offloaded, ev.ID)
		case record.EventEvicted:
			evicted = append(evicted, ev.ID)
		}
	}
	if fmt.Sprint(offloaded) != "[1 2]" || len(evicted) != 0 {
		t.Fatalf("offloaded %v, evicted %v; want [1 2] offloaded", offloaded, evicted)
	}
	index, err := src.Index()
	if err != nil || len(index) != 5 {
		t.Fatalf("index: %d, %v; want all 5", len(index), err)
	}
	xs, err := src.Fetch([]uint64{1, 5})
	if err != nil || len(xs) != 2 || xs[0].ID != 1 || xs[1].ID != 5 {
		t.Fatalf("fetch 1 and 5: %+v, %v", xs, err)
	}
	if b, err := src.Body(&xs[0], tui.RequestBody); err != nil || string(b.Bytes) != `{"item":1}` {
		t.Errorf("offloaded #1's body: %q, %v", b.Bytes, err)
	}
	if x, ok := src.Get(4); !ok || len(x.Request.Body.Bytes) == 0 {
		t.Errorf("#4 in memory: %v, %d body bytes", ok, len(x.Request.Body.Bytes))
	}

	// A replay finds #1, bodies and all, in the session.
	if x, ok := (history{rec: rec, store: store}).Get(1); !ok || string(x.Request.Body.Bytes) != `{"item":1}` {
		t.Errorf("history of #1: %v, body %q", ok, x.Request.Body.Bytes)
	}

	// Deleting #1 (on disk only) and #5 (in memory too) removes both.
	src.Delete(1, 5)
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	<-sub.Ready()
	evicted = nil
	for _, ev := range sub.Drain(nil) {
		if ev.Kind == record.EventEvicted {
			evicted = append(evicted, ev.ID)
		}
	}
	slices.Sort(evicted)
	if fmt.Sprint(evicted) != "[1 5]" {
		t.Errorf("after delete: evicted %v, want [1 5]", evicted)
	}
	if ids, _ := sessionIDs(t, path); fmt.Sprint(ids) != "[2 3 4]" {
		t.Errorf("session after delete holds %v, want [2 3 4]", ids)
	}
}
