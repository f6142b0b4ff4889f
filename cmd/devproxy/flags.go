package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// sizeValue is a byte count flag that reads "64KiB", "1MiB", "1mb", "2g" or a
// plain number. Units are powers of 1024.
type sizeValue int64

func (s *sizeValue) String() string { return formatSize(int64(*s)) }
func (s *sizeValue) Type() string   { return "size" }
func (s *sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

func parseSize(v string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	return int64(f * float64(mult)), nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

func sizeFlag(fs *pflag.FlagSet, name string, def int64, usage string) {
	v := sizeValue(def)
	fs.Var(&v, name, usage)
}

func getSize(cmd *cobra.Command, name string) int64 {
	return int64(*cmd.Flags().Lookup(name).Value.(*sizeValue))
}

// Flag groups shared by the roles.

func addListenFlags(fs *pflag.FlagSet, def string) {
	fs.String("listen", def, "address to listen on (host:port; alias --address)")
	fs.Bool("tls", false, "serve HTTPS: with --cert/--key, or a fresh self-signed certificate for localhost")
	fs.String("cert", "", "TLS certificate file (PEM) for --tls")
	fs.String("key", "", "TLS private key file (PEM) for --tls")
	fs.Duration("read-header-timeout", 10*time.Second, "time allowed to read a request's headers")
	fs.Duration("idle-timeout", 120*time.Second, "close idle keep-alive client connections after this long")
	sizeFlag(fs, "max-header-bytes", 64<<10, "largest request header block accepted")
	fs.Duration("shutdown-timeout", 5*time.Second, "on exit, wait this long for in-flight exchanges")
}

func addUpstreamFlags(fs *pflag.FlagSet) {
	fs.Bool("insecure", false, "do not verify the target's TLS certificate")
	fs.String("ca", "", "PEM file of CA certificates to trust for the target")
	fs.String("client-cert", "", "client certificate (PEM) to present to the target (mTLS)")
	fs.String("client-key", "", "client private key (PEM) for --client-cert")
	fs.Bool("preserve-host", false, "send the client's Host header instead of the target's")
	fs.Duration("flush-interval", 0, "batch response flushes this often; 0 flushes every write (streams stay live)")
	fs.Duration("response-header-timeout", 0, "fail with 504 when the target takes longer to answer (0 = wait forever)")
}

func addRecorderFlags(fs *pflag.FlagSet) {
	fs.Int("max-exchanges", 1000, "exchanges kept in memory (oldest dropped first)")
	sizeFlag(fs, "max-body-capture", 1<<20, "bytes captured of each request and response body")
	sizeFlag(fs, "max-capture-total", 128<<20, "bytes captured of all bodies together")
}

func addOutputFlags(fs *pflag.FlagSet) {
	fs.Bool("no-tui", false, "log one line per exchange instead of the terminal UI")
	fs.String("log-format", "text", "headless log format: text or json")
	fs.String("har", "", "write the recorded exchanges to this HAR file on exit")
	fs.String("har-redact", "default", "HAR redaction: default (auth headers and cookies), strict (also secret-looking fields, JWT signatures) or none")
}
