package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/spf13/cobra"
)

func newReplayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay FILE --target URL",
		Short: "Send the requests of a session or a HAR file again and compare the statuses",
		Long: `replay sends every request recorded in a session or a HAR file (or those
matching --filter) to --target and prints a table: recorded status → new
status.

A HAR exported with redaction (devproxy's default) holds "[redacted]" where
credentials were: Authorization, Cookie and the like. replay warns, with a
count, and by default sends that text as it is, so the target answers as it
would to a bad credential. Supply the real values with --header (it replaces
that header in every request; --header 'Cookie:' with no value removes it),
or leave those requests out with --skip-redacted.

Exit codes: 0 when every request that was sent got the recorded status
(requests left out by --skip-redacted do not count), 1 when any status
differs, 2 when a request could not be sent: its body was captured only in
part, or the target could not be reached or did not answer (devproxy's own
502 or 504 is never taken for the target's answer), or --skip-redacted left
nothing to send.`,
		Example: `  devproxy replay session.har --target http://localhost:3000
  devproxy replay session.db --target http://localhost:3000 --filter 'path:/api'
  devproxy replay session.har --target http://localhost:3000 --header 'Authorization: Bearer t0ken' --header 'Cookie: sid=abc123'
  devproxy replay session.har --target http://localhost:3000 --skip-redacted
  devproxy replay session.har --target http://localhost:3000 --filter 'method:POST -status:5xx' --concurrency 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := replayOptionsFrom(cmd)
			if err != nil {
				return err
			}
			xs, total, err := replayEntries(args[0], o.filter)
			if err != nil {
				return err
			}
			return runReplay(cmd, xs, total, o)
		},
	}
	fs := cmd.Flags()
	fs.String("target", "", "URL to send the requests to, e.g. http://localhost:3000 (required)")
	fs.Int("concurrency", 1, "requests in flight at once (1 keeps the recorded order)")
	fs.String("filter", "", "replay only the entries matching this filter (the UI's filter language)")
	fs.StringArray("header", nil, "send header `'Name: value'` in every request instead of the recorded one, e.g. a credential the HAR holds as [redacted]; 'Name:' removes it; repeatable")
	fs.Bool("original", false, "send each request as the client sent it; by default a request that devproxy's rules changed is sent as it went upstream")
	fs.Bool("skip-redacted", false, "leave out requests that still carry redacted values (after --header) instead of sending the text [redacted]")
	addUpstreamFlags(fs)
	addSchemaFlags(fs, false)
	fs.String("har", "", "write the replayed exchanges to this HAR file")
	fs.String("har-redact", "default", "HAR redaction: default, strict or none")
	return cmd
}

// replayOptions is everything replay needs, validated.
type replayOptions struct {
	target       string
	filter       *match.Matcher
	transport    proxy.TransportOptions
	preserveHost bool
	concurrency  int
	headers      record.Fields
	skipRedacted bool
	original     bool
	out          outputOptions
	grpc         grpcSchemas // files only: streaming calls, and the JSON of --har
}

func replayOptionsFrom(cmd *cobra.Command) (replayOptions, error) {
	fs := cmd.Flags()
	var o replayOptions
	raw, _ := fs.GetString("target")
	target, err := parseTarget(raw, flagSource(cmd, "target"))
	if err != nil {
		return o, err
	}
	o.target = target.String()
	o.concurrency, _ = fs.GetInt("concurrency")
	if o.concurrency < 1 {
		return o, fmt.Errorf("%s %d: must be at least 1", flagSource(cmd, "concurrency"), o.concurrency)
	}
	expr, _ := fs.GetString("filter")
	if o.filter, err = match.Parse(expr); err != nil {
		return o, fmt.Errorf("%s: %w", flagSource(cmd, "filter"), err)
	}
	o.transport.Insecure, _ = fs.GetBool("insecure")
	o.transport.CAFile, _ = fs.GetString("ca")
	o.transport.ClientCertFile, _ = fs.GetString("client-cert")
	o.transport.ClientKeyFile, _ = fs.GetString("client-key")
	o.transport.ResponseHeaderTimeout, _ = fs.GetDuration("response-header-timeout")
	o.transport.UpstreamH2C, _ = fs.GetBool("upstream-h2c")
	o.preserveHost, _ = fs.GetBool("preserve-host")
	hs, _ := fs.GetStringArray("header")
	for _, h := range hs {
		f, err := parseHeaderLine(h)
		if err != nil {
			return o, fmt.Errorf("%s %q: %v", flagSource(cmd, "header"), h, err)
		}
		o.headers = append(o.headers, f)
	}
	o.skipRedacted, _ = fs.GetBool("skip-redacted")
	o.original, _ = fs.GetBool("original")
	if o.out, err = outputFrom(cmd); err != nil {
		return o, err
	}
	if o.grpc, err = schemasFrom(cmd, nil); err != nil {
		return o, err
	}
	return o, nil
}

// parseHeaderLine reads one --header: "Name: value", or "Name:" to remove
// the header.
func parseHeaderLine(s string) (record.Field, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return record.Field{}, fmt.Errorf("want 'Name: value', e.g. --header 'Authorization: Bearer t0ken' (or 'Name:' to remove a header)")
	}
	name, value = strings.TrimSpace(name), strings.Trim(value, " \t")
	switch {
	case name == "":
		return record.Field{}, fmt.Errorf("no header name before the colon; want 'Name: value'")
	case !isToken(name):
		return record.Field{}, fmt.Errorf("%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~, no spaces)", name)
	case strings.EqualFold(name, "Host"):
		return record.Field{}, fmt.Errorf("the Host header comes from --target; use --preserve-host to send the recorded one")
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return record.Field{}, fmt.Errorf("the value contains a control character (%q); a header is one line", c)
		}
	}
	for _, h := range proxy.HeadersSetByReplay {
		if strings.EqualFold(name, h) {
			return record.Field{}, fmt.Errorf("devproxy sets %s itself", h)
		}
	}
	return record.Field{Name: http.CanonicalHeaderKey(name), Value: value}, nil
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), the
// syntax of a header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

type replayRow struct {
	orig     record.Exchange
	req      record.Request
	redacted []string // parts sent as a redaction placeholder (see proxy.Redacted)
	skipped  bool     // left out by --skip-redacted
	newID    uint64
	status   int // the target's status; 0 when it gave none
	duration time.Duration
	notSent  string // why the request could not be sent, or got no answer
	problem  string // what went wrong after the target answered
}

// replayEntries reads the entries of a HAR file or a session that filter
// selects, and how many the file holds. Of a session only what replay
// uses is kept: the requests with their bodies, the responses without.
func replayEntries(path string, filter *match.Matcher) (xs []record.Exchange, total int, err error) {
	f, err := openRecording(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	total, err = f.each(filter, true, func(_ uint64, x *record.Exchange) error {
		c := *x
		if f.store != nil && c.Response != nil {
			r := *c.Response
			r.Body.Bytes = nil
			c.Response, c.Messages = &r, messageKinds(c.Messages)
		}
		xs = append(xs, c)
		return nil
	})
	return xs, total, err
}

// messageKinds are ms without their payloads: what tells a streaming
// gRPC call from a unary one (tui.GRPCCallKind).
func messageKinds(ms []record.Message) []record.Message {
	if len(ms) == 0 {
		return nil
	}
	out := make([]record.Message, len(ms))
	for i, m := range ms {
		out[i] = record.Message{Dir: m.Dir, Opcode: m.Opcode}
	}
	return out
}

// runReplay replays xs, the entries selected from a file of total.
func runReplay(cmd *cobra.Command, xs []record.Exchange, total int, o replayOptions) error {
	var rows []*replayRow
	for i := range xs {
		rows = append(rows, &replayRow{orig: xs[i]})
	}
	if len(rows) == 0 {
		return fmt.Errorf("no entries to replay (the file has %d; does --filter match any?)", total)
	}
	var redacted []*replayRow
	for _, row := range rows {
		if kind, streaming := tui.GRPCCallKind(&row.orig, o.grpc.schemas, ""); streaming {
			row.notSent = "a " + kind + " gRPC call: replay sends unary calls only"
			continue
		}
		req, err := proxy.ReplayRequest(&row.orig)
		if err != nil {
			row.notSent = strings.TrimPrefix(err.Error(), "replay "+row.orig.Label()+": ")
			continue
		}
		if !o.original {
			req = proxy.AsSent(&row.orig, req)
		}
		row.req = proxy.WithHeaders(req, o.headers)
		if row.redacted = proxy.Redacted(row.req); len(row.redacted) > 0 {
			row.skipped = o.skipRedacted
			redacted = append(redacted, row)
		}
	}
	warnRedacted(cmd.ErrOrStderr(), redacted, len(rows), o.skipRedacted)
	if o.skipRedacted && len(redacted) == len(rows) {
		return exitError{code: 2, msg: fmt.Sprintf("nothing was replayed: all %d requests carry redacted values; supply them with --header 'Name: value', or drop --skip-redacted to send them as they are", len(rows))}
	}

	transport, err := proxy.NewTransport(o.transport)
	if err != nil {
		return flagError(err)
	}
	defer transport.CloseIdleConnections()
	u, _ := parseTarget(o.target, "--target")
	rec := record.NewRecorder(record.Limits{MaxExchanges: len(rows) + 1})
	h, err := proxy.New(proxy.Options{Target: u, Tap: rec, Transport: transport, PreserveHost: o.preserveHost})
	if err != nil {
		return err
	}
	rp := proxy.NewReplayer(h, rec)
	ctx := cmdContext(cmd)

	work := make(chan *replayRow)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range work {
				replayOne(ctx, rp, rec, row)
			}
		}()
	}
	for _, row := range rows {
		if row.notSent == "" && !row.skipped {
			work <- row
		}
	}
	close(work)
	wg.Wait()

	differ, failed := printReplayTable(cmd.OutOrStdout(), rows)
	if o.out.har != "" {
		opts := har.Options{Redact: o.out.redact, Version: version, DecodeMessage: tui.MessageDecoder(o.grpc.schemas, o.target)}
		if err := har.WriteFile(o.out.har, rec.Snapshot(), opts); err != nil {
			return fmt.Errorf("--har %s: %w", o.out.har, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "devproxy: wrote %d replayed exchanges to %s (redaction: %s)\n", rec.Stats().Kept, o.out.har, o.out.redact)
	}
	switch {
	case failed > 0:
		return exitError{code: 2, msg: fmt.Sprintf("%d of %d requests could not be sent", failed, len(rows))}
	case differ > 0:
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d statuses differ from the recording", differ, len(rows))}
	}
	return nil
}

// warnRedacted tells, before anything is sent, how many requests carry
// redaction placeholders and what will happen to them.
func warnRedacted(w io.Writer, rows []*replayRow, total int, skip bool) {
	if len(rows) == 0 {
		return
	}
	var names []string
	seen := map[string]bool{}
	for _, r := range rows {
		for _, n := range r.redacted {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	example := "Authorization: Bearer …"
	if n := names[0]; n != "URL" && n != "body" {
		example = n + ": …"
		switch n {
		case "Authorization", "Proxy-Authorization":
			example = n + ": Bearer …"
		case "Cookie":
			example = "Cookie: name=value"
		}
	}
	what := strings.Join(names, ", ")
	if skip {
		fmt.Fprintf(w, "devproxy: skipping %d of %d requests that carry redacted values (%s); supply them with --header '%s' to replay them\n", len(rows), total, what, example)
		return
	}
	fmt.Fprintf(w, "devproxy: %d of %d requests carry redacted values (%s); they are sent as the literal text [redacted] unless you supply them with --header '%s', or leave those requests out with --skip-redacted\n", len(rows), total, what, example)
	if seen["URL"] || seen["body"] {
		fmt.Fprintln(w, "devproxy: a redacted URL or body cannot be supplied with --header; export the HAR with --har-redact none to replay it faithfully")
	}
}

func replayOne(ctx context.Context, rp *proxy.Replayer, rec *record.Recorder, row *replayRow) {
	id, err := rp.Send(ctx, row.req, 0)
	if err != nil {
		row.notSent = err.Error()
		return
	}
	x, ok := rec.Get(id)
	if !ok {
		row.notSent = "not recorded"
		return
	}
	row.newID, row.duration = id, x.Duration(x.End)
	if e := proxy.NoAnswer(&x); e != nil {
		row.notSent = e.Message
		return
	}
	row.status = x.Response.Status
	if x.Err != nil {
		row.problem = x.Err.Message
	}
}

// targetStatus is the status the target answered x with, or 0 when
// devproxy answered in its place (the recorded 502 of an unreachable
// target is not one).
func targetStatus(x *record.Exchange) int {
	if proxy.NoAnswer(x) != nil {
		return 0
	}
	return x.Response.Status
}

func printReplayTable(w io.Writer, rows []*replayRow) (differ, failed int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMETHOD\tURL\tRECORDED → NOW\tDURATION\t")
	skipped := 0
	for _, r := range rows {
		was := statusText(targetStatus(&r.orig))
		now, dur := "-", "-"
		var marks []string
		switch {
		case r.skipped:
			skipped++
			marks = append(marks, "skipped: redacted "+strings.Join(r.redacted, ", "))
		case r.notSent != "":
			failed++
			marks = append(marks, "could not be sent: "+r.notSent)
		default:
			now, dur = statusText(r.status), r.duration.Round(100*time.Microsecond).String()
			if r.status != targetStatus(&r.orig) {
				differ++
				marks = append(marks, "differs")
			}
			if r.problem != "" {
				marks = append(marks, r.problem)
			}
			if len(r.redacted) > 0 {
				marks = append(marks, "sent [redacted] "+strings.Join(r.redacted, ", "))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s → %s\t%s\t%s\n", r.orig.Label(), r.orig.Request.Method, r.orig.Request.URL, was, now, dur, strings.Join(marks, "; "))
	}
	tw.Flush()
	entries := "entries"
	if len(rows) == 1 {
		entries = "entry"
	}
	fmt.Fprintf(w, "\n%d %s: %d same, %d differ, %d could not be sent, %d skipped\n", len(rows), entries, len(rows)-differ-failed-skipped, differ, failed, skipped)
	return differ, failed
}

func statusText(code int) string {
	if code == 0 {
		return "ERR"
	}
	return fmt.Sprint(code)
}
