package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newViewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "view FILE",
		Short: "Open a session or a HAR file (devproxy's, a browser's or mitmproxy's) in the UI, read-only",
		Example: `  devproxy view session.db
  devproxy view session.har
  devproxy view session.har --no-tui        # list the entries, one line each`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			limits, out, err := recordingFrom(cmd)
			if err != nil {
				return err
			}
			if isSessionFile(args[0]) {
				return viewSession(cmd, args[0], limits, out)
			}
			if err := checkNotHAR(args[0]); err != nil {
				return err
			}
			if fi, err := os.Stat(args[0]); err == nil && fi.Size() >= bigHAR {
				return viewBigHAR(cmd, args[0], limits, out)
			}
			xs, err := readHARFile(args[0])
			if err != nil {
				return err
			}
			limits = fileLimits(limits, xs)
			grpc, err := schemasFrom(cmd, nil)
			if err != nil {
				return err
			}
			s, err := newRoleRun(cmd, record.RoleView, limits, out)
			if err != nil {
				return err
			}
			defer s.closeLog()
			s.useSchemas(grpc)
			s.target = args[0]
			addImported(s.rec, xs)
			if s.useTUI() {
				return runUI(cmdContext(cmd), s)
			}
			xlog := record.NewExchangeLog(s.rec, s.logger)
			defer xlog.Close()
			for _, x := range s.rec.Snapshot() {
				xlog.Log(&x)
			}
			return s.writeHAR()
		},
	}
	fs := cmd.Flags()
	addRecorderFlags(fs)
	addOutputFlags(fs)
	addSchemaFlags(fs, false)
	return cmd
}

// viewSession shows a session file, opened read-only (another process may
// be writing it).
func viewSession(cmd *cobra.Command, path string, limits record.Limits, out outputOptions) error {
	store, err := session.Open(path, session.Options{ReadOnly: true})
	var fe *session.FormatError
	if errors.As(err, &fe) && fe.Found < 0 {
		return fmt.Errorf("%w. %s", err, viewReads)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	return viewStore(cmdContext(cmd), cmd, store, path, limits, out)
}

// viewStore shows the session in store, named path in the UI and in
// messages: the list is read once, bodies when they are shown. With
// --no-tui it logs one line per exchange, and writes --har if asked.
func viewStore(ctx context.Context, cmd *cobra.Command, store *session.Store, path string, limits record.Limits, out outputOptions) error {
	src, err := newSessionSource(store)
	if err != nil {
		return err
	}
	grpc, err := schemasFrom(cmd, nil)
	if err != nil {
		return err
	}
	s, err := newRoleRun(cmd, record.RoleView, limits, out)
	if err != nil {
		return err
	}
	defer s.closeLog()
	s.useSchemas(grpc)
	s.target, s.source = path, src
	if s.useTUI() {
		return runUI(ctx, s)
	}
	xlog := record.NewExchangeLog(s.rec, s.logger)
	defer xlog.Close()
	f := &recordingFile{path: path, store: store}
	if _, err := f.each(nil, false, func(_ uint64, x *record.Exchange) error {
		xlog.Log(x)
		return nil
	}); err != nil {
		return err
	}
	if out.har == "" {
		return nil
	}
	n, _, err := exportHAR(&recordingFile{path: path, store: store}, out.har, s.stdout, nil, out.redact, s.grpc)
	if err != nil {
		return fmt.Errorf("--har %s: %w", out.har, err)
	}
	fmt.Fprintf(s.stderr, "devproxy: wrote %d exchanges to %s (redaction: %s)\n", n, out.har, out.redact)
	return nil
}

// fileLimits are the recording limits for viewing xs: room for every
// entry and every body the file holds, whatever --max-exchanges and the
// capture limits say (they bound live capture; a file is already
// recorded). Only a negative --max-body-capture, no bodies, is kept.
func fileLimits(l record.Limits, xs []record.Exchange) record.Limits {
	l.MaxExchanges = max(len(xs), 1)
	var total, largest int64
	for i := range xs {
		n := int64(len(xs[i].Request.Body.Bytes))
		if r := xs[i].Response; r != nil {
			total += int64(len(r.Body.Bytes))
			largest = max(largest, int64(len(r.Body.Bytes)))
		}
		total += n
		largest = max(largest, n)
	}
	if l.MaxBodyCapture >= 0 {
		l.MaxBodyCapture = max(l.MaxBodyCapture, largest)
	}
	l.MaxCaptureTotal = max(l.MaxCaptureTotal, total, l.MaxBodyCapture)
	return l
}

func readHARFile(path string) ([]record.Exchange, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	xs, err := har.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return xs, nil
}

// addImported adds exchanges read from a file to a fresh recorder, keeping
// their replay links: ids are renumbered in order, so ReplayOf is mapped from
// the file's ids to the new ones.
func addImported(rec *record.Recorder, xs []record.Exchange) {
	next := rec.Stats().Total + 1
	newID := make(map[uint64]uint64, len(xs))
	for i, x := range xs {
		if x.ID != 0 {
			newID[x.ID] = next + uint64(i)
		}
	}
	for _, x := range xs {
		x.ReplayOf = newID[x.ReplayOf]
		rec.Add(x)
	}
}

// bigHARSize is the size from which view imports a HAR file into a
// temporary session rather than reading it into memory. Read whole, a HAR
// takes about four times its size (the file, the parsed document, the
// exchanges): fine for what a browser saves, not for a capture of
// hundreds of megabytes.
const bigHARSize = 16 << 20

// bigHAR is bigHARSize, in a variable so that tests can lower it.
var bigHAR int64 = bigHARSize

// viewBigHAR shows a large HAR file through a temporary session: its
// entries are imported one at a time into a new session file in the
// state directory, which is then viewed as a session is, and deleted on
// exit.
func viewBigHAR(cmd *cobra.Command, path string, limits record.Limits, out outputOptions) (err error) {
	// A signal during the import or the view still deletes the file.
	ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	tmp, err := tempViewSession()
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := removeSessionFiles(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("temporary session: %w", rmErr)
		}
	}()
	store, err := session.Open(tmp, session.Options{
		// importHAR bounds the queue itself: the store must never leave a
		// body out for want of room.
		QueueBytes: math.MaxInt64 / 2,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	p := newImportProgress(cmd.ErrOrStderr(), path)
	n, err := importHAR(ctx, f, path, store, limits.MaxBodyCapture < 0, p.update)
	if err != nil {
		p.clear()
		return err
	}
	p.done(n)
	if err := store.Err(); err != nil {
		// Nothing was lost (importHAR checked): the index, say, failed.
		fmt.Fprintf(cmd.ErrOrStderr(), "devproxy: %v\n", err)
	}
	return viewStore(ctx, cmd, store, path, limits, out)
}

// tempViewSession creates the file for a big HAR's session: in the state
// directory, as a recording role's temporary session, or else (no home
// directory, say) in the system's temporary directory.
func tempViewSession() (string, error) {
	path, err := createTempSession("view", time.Now())
	if err == nil {
		return path, nil
	}
	f, tmpErr := os.CreateTemp("", "devproxy-view-*.db") // mode 0600
	if tmpErr != nil {
		return "", fmt.Errorf("a big HAR is viewed through a temporary session, and there is no room for one: %w", errors.Join(err, tmpErr))
	}
	return f.Name(), f.Close()
}

// importChunk is how much (bodies and an estimate of the rest) importHAR
// offers the session before it waits for the writer to catch up: the
// writer's queue holds at most two chunks, so the import's memory stays
// bounded while reading and writing overlap.
const importChunk = 8 << 20

// importHAR copies the entries of the HAR file f (named path) into store,
// as exchanges 1, 2, … in file order, with replay links following, and
// without body bytes when noBodies (a negative --max-body-capture). It
// calls progress with the count now and then, and returns the count.
// Nothing is left out: an entry the store could not keep fails the import
// (other write errors, such as the search index's, are for the caller to
// find in store.Err).
func importHAR(ctx context.Context, f io.ReaderAt, path string, store *session.Store, noBodies bool, progress func(int)) (n int, err error) {
	var ids fileIDs
	var flushed chan struct{} // closed when the chunk before is written
	defer func() {
		if flushed != nil {
			<-flushed
		}
	}()
	var chunk int64
	for x, err := range har.Scan(f) {
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		if ctx.Err() != nil {
			return n, fmt.Errorf("%s: import interrupted", path)
		}
		n++
		ids.add(x.ID, uint64(n))
		x.ID, x.Version, x.ReplayOf = uint64(n), 1, ids.lookup(x.ReplayOf)
		if noBodies {
			dropBodyBytes(&x)
		}
		if !store.Offer(x) {
			return n, fmt.Errorf("%s: the temporary session %s stopped taking exchanges (%v)", path, store.Path(), store.Err())
		}
		if chunk += importCost(&x); chunk >= importChunk {
			if flushed != nil {
				<-flushed
			}
			done := make(chan struct{})
			go func() {
				_ = store.Flush() // Stats and Err tell below
				close(done)
			}()
			flushed, chunk = done, 0
		}
		progress(n)
	}
	_ = store.Flush() // a write error shows in the counts; Err says which
	if st := store.Stats(); st.Dropped+st.Failed+st.BodiesDropped > 0 {
		return n, fmt.Errorf("%s: the temporary session is missing %d entries, and %d bodies: %v", path, st.Dropped+st.Failed, st.BodiesDropped, store.Err())
	}
	return n, nil
}

// importCost is about the memory x holds in the session's queue.
func importCost(x *record.Exchange) int64 {
	n := 1024 + len(x.Request.URL) + len(x.Request.Body.Bytes)
	for _, h := range x.Request.Header {
		n += len(h.Name) + len(h.Value) + 32
	}
	if r := x.Response; r != nil {
		n += len(r.Body.Bytes)
		for _, h := range r.Header {
			n += len(h.Name) + len(h.Value) + 32
		}
	}
	for _, m := range x.Messages {
		n += len(m.Payload) + 64
	}
	return int64(n)
}

// dropBodyBytes leaves out x's body bytes and message payloads, as the
// recorder does with a negative --max-body-capture.
func dropBodyBytes(x *record.Exchange) {
	drop := func(b *record.Body) {
		b.Bytes = nil
		b.Truncated = b.Truncated || b.Size > 0
	}
	drop(&x.Request.Body)
	if x.Response != nil {
		drop(&x.Response.Body)
	}
	for i := range x.Messages {
		m := &x.Messages[i]
		m.Truncated = m.Truncated || len(m.Payload) > 0
		m.Payload = nil
	}
}

// fileIDs maps the IDs of a file's entries to the IDs they are imported
// as, for replay links (ReplayOf names an ID of the file). Consecutive IDs
// share one run, so the map of a file of any length is small.
type fileIDs struct {
	runs []idRun
	// sorted: each run's file IDs follow the last's, so lookup can search
	// by halves.
	sorted bool
}

// idRun maps file IDs file … file+n-1 to first … first+n-1.
type idRun struct{ file, first, n uint64 }

func (m *fileIDs) add(file, id uint64) {
	if k := len(m.runs); k > 0 {
		r := &m.runs[k-1]
		if file == r.file+r.n && id == r.first+r.n {
			r.n++
			return
		}
		m.sorted = m.sorted && file >= r.file+r.n
	} else {
		m.sorted = true
	}
	m.runs = append(m.runs, idRun{file: file, first: id, n: 1})
}

// lookup returns the ID file ID was imported as (the latest, should the
// file hold it twice), or 0 for none.
func (m *fileIDs) lookup(file uint64) uint64 {
	in := func(r idRun) bool { return file >= r.file && file-r.file < r.n }
	if m.sorted {
		i := sort.Search(len(m.runs), func(i int) bool { return m.runs[i].file > file }) - 1
		if i >= 0 && in(m.runs[i]) {
			return m.runs[i].first + file - m.runs[i].file
		}
		return 0
	}
	for i := len(m.runs) - 1; i >= 0; i-- {
		if in(m.runs[i]) {
			return m.runs[i].first + file - m.runs[i].file
		}
	}
	return 0
}

// importProgress tells how an import goes on stderr, "importing big.har:
// 41,000 entries…", at most a few times a second: in place on a terminal,
// a line each second elsewhere.
type importProgress struct {
	w     io.Writer
	name  string
	tty   bool
	every time.Duration
	start time.Time
	last  time.Time
	shown bool
}

func newImportProgress(w io.Writer, path string) *importProgress {
	p := &importProgress{w: w, name: filepath.Base(path), every: time.Second, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.every = true, 250*time.Millisecond
	}
	return p
}

// update shows n entries imported, unless it did so just now.
func (p *importProgress) update(n int) {
	now := time.Now()
	if p.shown && now.Sub(p.last) < p.every {
		return
	}
	p.last, p.shown = now, true
	p.line(fmt.Sprintf("importing %s: %s %s…", p.name, thousands(n), plural(n, "entry", "entries")), false)
}

// done says the import is over, on the line that showed it.
func (p *importProgress) done(n int) {
	p.line(fmt.Sprintf("imported %s: %s %s in %s", p.name, thousands(n), plural(n, "entry", "entries"), time.Since(p.start).Round(100*time.Millisecond)), true)
}

// clear takes the progress line off a terminal, for the error after it.
func (p *importProgress) clear() {
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func (p *importProgress) line(s string, last bool) {
	if !p.tty {
		fmt.Fprintln(p.w, s)
		return
	}
	end := ""
	if last {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K%s", s, end)
}

// thousands writes n (not negative) with commas between groups of three
// digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
