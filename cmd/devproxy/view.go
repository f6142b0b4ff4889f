package main

import (
	"fmt"
	"os"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
	"github.com/spf13/cobra"
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
			xs, err := readHARFile(args[0])
			if err != nil {
				return err
			}
			limits = fileLimits(limits, xs)
			s, err := newRoleRun(cmd, record.RoleView, limits, out)
			if err != nil {
				return err
			}
			defer s.closeLog()
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
	return cmd
}

// viewSession shows a session file, opened read-only (another process may
// be writing it): the list is read once, bodies when they are shown. With
// --no-tui it logs one line per exchange, and writes --har if asked.
func viewSession(cmd *cobra.Command, path string, limits record.Limits, out outputOptions) error {
	store, err := session.Open(path, session.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := newSessionSource(store)
	if err != nil {
		return err
	}
	s, err := newRoleRun(cmd, record.RoleView, limits, out)
	if err != nil {
		return err
	}
	defer s.closeLog()
	s.target, s.source = path, src
	if s.useTUI() {
		return runUI(cmdContext(cmd), s)
	}
	xlog := record.NewExchangeLog(s.rec, s.logger)
	defer xlog.Close()
	for i := range src.xs {
		xlog.Log(&src.xs[i])
	}
	if out.har == "" {
		return nil
	}
	n, _, err := exportHAR(&recordingFile{path: path, store: store}, out.har, s.stdout, nil, out.redact)
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
