package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/spf13/cobra"
)

func newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export FILE --har OUT",
		Short: "Write a session (or a HAR file) out as a HAR file, filtered and redacted, however large",
		Long: `export writes the exchanges of a session file (or a HAR file) to a HAR 1.2
file, one entry at a time: a session of any size is exported in little
memory. --filter selects entries with the UI's filter language; secrets are
redacted as --har-redact says (default: auth headers and cookies, and every
place their values appear). The file is written atomically: it is complete
or untouched. --har - writes to standard output.

A session being recorded can be exported meanwhile: what it held when the
export began is written.`,
		Example: `  devproxy export session.db --har session.har
  devproxy export session.db --har errors.har --filter 'status:>=500 or error'
  devproxy export session.db --har - --har-redact strict | gzip > session.har.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			out, _ := fs.GetString("har")
			if out == "" {
				return fmt.Errorf("--har is required: the HAR file to write, e.g. --har session.har (or - for standard output)")
			}
			expr, _ := fs.GetString("filter")
			filter, err := match.Parse(expr)
			if err != nil {
				return fmt.Errorf("%s: %w", flagSource(cmd, "filter"), err)
			}
			red, _ := fs.GetString("har-redact")
			level, err := redact.ParseLevel(red)
			if err != nil {
				return fmt.Errorf("%s %q: must be default, strict or none", flagSource(cmd, "har-redact"), red)
			}
			if out != "-" && sameFile(out, args[0]) {
				return fmt.Errorf("--har %s is the file being exported; name another", out)
			}
			g, err := schemasFrom(cmd, nil)
			if err != nil {
				return err
			}
			f, err := openRecording(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			n, total, err := exportHAR(f, out, cmd.OutOrStdout(), filter, level, g)
			if err != nil {
				return err
			}
			where := out
			if out == "-" {
				where = "standard output"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "devproxy: wrote %d of %d exchanges to %s (redaction: %s)\n", n, total, where, level)
			if n == 0 && total > 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "devproxy: --filter matched none of them")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.String("har", "", "the HAR file to write (required); - writes to standard output")
	fs.String("filter", "", "export only the entries matching this filter (the UI's filter language)")
	fs.String("har-redact", "default", "HAR redaction: default (auth headers and cookies), strict (also secret-looking fields, JWT signatures) or none")
	addSchemaFlags(fs, false)
	return cmd
}

// exportHAR writes the exchanges of f that filter selects to the HAR file
// out ("-" for stdout), redacted at level, one entry at a time, and
// returns how many it wrote and how many f holds.
func exportHAR(f *recordingFile, out string, stdout io.Writer, filter *match.Matcher, level redact.Level, g grpcSchemas) (n, total int, err error) {
	opts := har.Options{Redact: level, Version: version, DecodeMessage: tui.MessageDecoder(g.schemas, "")}
	fill := func(s *har.Stream) error {
		var err error
		total, err = streamEntries(s, f, filter, level)
		n = s.Len()
		return err
	}
	if out != "-" {
		return n, total, har.StreamFile(out, opts, fill)
	}
	bw := bufio.NewWriterSize(stdout, 256<<10)
	s, err := har.NewStream(bw, opts)
	if err == nil {
		err = fill(s)
	}
	if err == nil {
		err = s.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	return n, total, err
}

// streamEntries adds the exchanges of f that filter selects to s and
// returns how many f holds. Redaction follows secrets across the whole
// file, so unless level is none it reads f twice: once to learn the
// secrets (headers only, unless s learns from bodies too), once to write
// what the first pass selected.
func streamEntries(s *har.Stream, f *recordingFile, filter *match.Matcher, level redact.Level) (total int, err error) {
	if level == redact.None {
		return f.each(filter, true, func(_ uint64, x *record.Exchange) error { return s.Add(x) })
	}
	var keys []uint64
	total, err = f.each(filter, s.LearnsBodies(), func(key uint64, x *record.Exchange) error {
		keys = append(keys, key)
		s.Learn(x)
		return nil
	})
	if err != nil {
		return total, err
	}
	for _, key := range keys {
		x, ok, err := f.load(key)
		if err != nil {
			return total, err
		}
		if ok { // else evicted by its writer since the first pass
			if err := s.Add(&x); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// sameFile reports whether paths a and b name one existing file.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}
