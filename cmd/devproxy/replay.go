package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/spf13/cobra"
)

func newReplayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay FILE.har --target URL",
		Short: "Send the requests of a HAR file again and compare the statuses",
		Long: `replay sends every request recorded in a HAR file (or those matching --filter)
to --target and prints a table: recorded status → new status. It exits 0 when
every status matches, 1 when any differs, and 2 when a request could not be
sent at all (e.g. its body was captured only in part).`,
		Example: `  devproxy replay session.har --target http://localhost:3000
  devproxy replay session.har --target http://localhost:3000 --filter 'method:POST -status:5xx' --concurrency 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			raw, _ := fs.GetString("target")
			target, err := parseTarget(raw, flagSource(cmd, "target"))
			if err != nil {
				return err
			}
			conc, _ := fs.GetInt("concurrency")
			if conc < 1 {
				return fmt.Errorf("%s %d: must be at least 1", flagSource(cmd, "concurrency"), conc)
			}
			expr, _ := fs.GetString("filter")
			filter, err := record.ParseFilter(expr)
			if err != nil {
				return fmt.Errorf("%s: %w", flagSource(cmd, "filter"), err)
			}
			var to proxy.TransportOptions
			to.Insecure, _ = fs.GetBool("insecure")
			to.CAFile, _ = fs.GetString("ca")
			to.ClientCertFile, _ = fs.GetString("client-cert")
			to.ClientKeyFile, _ = fs.GetString("client-key")
			to.ResponseHeaderTimeout, _ = fs.GetDuration("response-header-timeout")
			preserve, _ := fs.GetBool("preserve-host")
			out, err := outputFrom(cmd)
			if err != nil {
				return err
			}
			xs, err := readHARFile(args[0])
			if err != nil {
				return err
			}
			return runReplay(cmd, xs, filter, target.String(), to, preserve, conc, out)
		},
	}
	fs := cmd.Flags()
	fs.String("target", "", "URL to send the requests to, e.g. http://localhost:3000 (required)")
	fs.Int("concurrency", 1, "requests in flight at once (1 keeps the recorded order)")
	fs.String("filter", "", "replay only the entries matching this filter (the UI's filter language)")
	addUpstreamFlags(fs)
	fs.String("har", "", "write the replayed exchanges to this HAR file")
	fs.String("har-redact", "default", "HAR redaction: default, strict or none")
	fs.String("log-format", "text", "unused; accepted for config files shared with other commands")
	fs.Bool("no-tui", false, "unused; replay never opens the UI")
	_ = fs.MarkHidden("log-format")
	_ = fs.MarkHidden("no-tui")
	return cmd
}

type replayRow struct {
	orig     record.Exchange
	newID    uint64
	status   int
	duration time.Duration
	problem  string
}

func runReplay(cmd *cobra.Command, xs []record.Exchange, filter *record.Filter, target string, to proxy.TransportOptions, preserve bool, conc int, out outputOptions) error {
	var rows []*replayRow
	for i := range xs {
		if filter.Match(&xs[i]) {
			rows = append(rows, &replayRow{orig: xs[i]})
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("no entries to replay (the file has %d; does --filter match any?)", len(xs))
	}
	transport, err := proxy.NewTransport(to)
	if err != nil {
		return err
	}
	u, _ := parseTarget(target, "--target")
	rec := record.NewRecorder(record.Limits{MaxExchanges: len(rows) + 1})
	h, err := proxy.New(proxy.Options{Target: u, Tap: rec, Transport: transport, PreserveHost: preserve})
	if err != nil {
		return err
	}
	rp := proxy.NewReplayer(h, rec)
	ctx := cmdContext(cmd)

	work := make(chan *replayRow)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range work {
				replayOne(ctx, rp, rec, row)
			}
		}()
	}
	for _, row := range rows {
		work <- row
	}
	close(work)
	wg.Wait()

	differ, failed := printReplayTable(cmd.OutOrStdout(), rows)
	if out.har != "" {
		if err := record.WriteHARFile(out.har, rec.Snapshot(), record.HAROptions{Redact: out.redact, Version: version}); err != nil {
			return fmt.Errorf("--har %s: %w", out.har, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "devproxy: wrote %d replayed exchanges to %s (redaction: %s)\n", rec.Stats().Kept, out.har, out.redact)
	}
	switch {
	case failed > 0:
		return exitError{code: 2, msg: fmt.Sprintf("%d of %d requests could not be replayed", failed, len(rows))}
	case differ > 0:
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d statuses differ from the recording", differ, len(rows))}
	}
	return nil
}

func replayOne(ctx context.Context, rp *proxy.Replayer, rec *record.Recorder, row *replayRow) {
	req, err := proxy.ReplayRequest(&row.orig)
	if err != nil {
		row.problem = strings.TrimPrefix(err.Error(), "replay "+row.orig.Label()+": ")
		return
	}
	id, err := rp.Send(ctx, req, 0)
	if err != nil {
		row.problem = err.Error()
		return
	}
	x, ok := rec.Get(id)
	if !ok {
		row.problem = "not recorded"
		return
	}
	row.newID, row.status, row.duration = id, x.Status(), x.Duration(x.End)
	if x.Err != nil {
		row.problem = x.Err.Message
	}
}

func printReplayTable(w io.Writer, rows []*replayRow) (differ, failed int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMETHOD\tURL\tRECORDED → NOW\tDURATION\t")
	for _, r := range rows {
		was := statusText(r.orig.Status())
		now, mark := "-", ""
		switch {
		case r.status == 0 && r.problem != "":
			failed++
			mark = "skipped: " + r.problem
		case r.status != r.orig.Status():
			differ++
			now, mark = statusText(r.status), "differs"
			if r.problem != "" {
				mark += ": " + r.problem
			}
		default:
			now = statusText(r.status)
		}
		dur := "-"
		if r.status != 0 {
			dur = r.duration.Round(100 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s → %s\t%s\t%s\n", r.orig.Label(), r.orig.Request.Method, r.orig.Request.URL, was, now, dur, mark)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d replayed: %d same, %d differ, %d skipped\n", len(rows), len(rows)-differ-failed, differ, failed)
	return differ, failed
}

func statusText(code int) string {
	if code == 0 {
		return "ERR"
	}
	return fmt.Sprint(code)
}
