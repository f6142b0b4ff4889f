package main

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// sizeValue is a byte count flag: a whole number of bytes with an optional
// unit, as parseSize reads it.
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

// sizeError says why a size was refused and what is accepted. pflag and
// loadConfig add the flag or key and the value given.
type sizeError struct{ reason string }

func (e *sizeError) Error() string {
	return e.reason + "; want a size such as 512, 64KiB, 10MiB or 1GiB: a whole number of bytes with an optional unit B, KiB, MiB or GiB (K, KB, M, MB, G, GB mean the same)"
}

// sizeUnits are powers of 1024 whatever the spelling: "KB" in a byte-count
// flag has always meant KiB here, and a cap a little larger than asked for
// harms no one.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gi": 1 << 30, "gib": 1 << 30,
}

// parseSize reads a byte count: digits, optionally a decimal fraction, an
// optional space and an optional unit in any case ("512", "64KiB", "10 mb",
// "1.5MiB"). The result must be a whole number of bytes that fits an int64;
// arithmetic is exact, so no float spelling (1e6, NaN, Inf) and no sign is
// accepted, and nothing rounds or overflows.
func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[asciiLower(unit)]
	whole, frac, hasFrac := strings.Cut(num, ".")
	if !ok || whole == "" || hasFrac && (frac == "" || strings.Contains(frac, ".")) {
		if strings.HasPrefix(t, "-") {
			return 0, &sizeError{"not a size: sizes cannot be negative"}
		}
		return 0, &sizeError{"not a size"}
	}
	// bytes = whole.frac × mult, computed exactly.
	n, _ := new(big.Int).SetString(whole+frac, 10)
	n.Mul(n, big.NewInt(mult))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	n, rem := n.QuoRem(n, den, new(big.Int))
	if rem.Sign() != 0 {
		return 0, &sizeError{"not a whole number of bytes"}
	}
	if !n.IsInt64() {
		return 0, &sizeError{fmt.Sprintf("too large: at most %d bytes (just under 8EiB)", int64(math.MaxInt64))}
	}
	return n.Int64(), nil
}

// asciiLower lower-cases ASCII letters only, so that no Unicode look-alike
// (the Kelvin sign folds to k) passes for a unit.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
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

// autoSizeValue is a size flag that may also be "auto" (its default): the
// command derives the size from another flag (--max-capture-total from
// --max-memory).
type autoSizeValue struct {
	size sizeValue
	auto bool
}

func (s *autoSizeValue) String() string {
	if s.auto {
		return "auto"
	}
	return s.size.String()
}
func (s *autoSizeValue) Type() string { return "size" }
func (s *autoSizeValue) Set(v string) error {
	if asciiLower(strings.TrimSpace(v)) == "auto" {
		s.auto = true
		return nil
	}
	if err := s.size.Set(v); err != nil {
		return fmt.Errorf("%w; or auto", err)
	}
	s.auto = false
	return nil
}

// autoSizeFlag adds a size flag whose default is "auto".
func autoSizeFlag(fs *pflag.FlagSet, name, usage string) {
	fs.Var(&autoSizeValue{auto: true}, name, usage)
}

// getSize is a size flag's value in bytes; "auto" reads as math.MaxInt64,
// which caps nothing, until the command derives the size (see isAuto).
func getSize(cmd *cobra.Command, name string) int64 {
	if a, ok := cmd.Flags().Lookup(name).Value.(*autoSizeValue); ok {
		if a.auto {
			return math.MaxInt64
		}
		return int64(a.size)
	}
	return int64(*cmd.Flags().Lookup(name).Value.(*sizeValue))
}

// isAuto reports whether a size flag is "auto": to be derived.
func isAuto(cmd *cobra.Command, name string) bool {
	a, ok := cmd.Flags().Lookup(name).Value.(*autoSizeValue)
	return ok && a.auto
}

// Flag groups shared by the roles.

func addListenFlags(fs *pflag.FlagSet, def string) {
	fs.String("listen", def, "address to listen on: host:port, or a port alone for 127.0.0.1:PORT (0.0.0.0:PORT or [::]:PORT listens on every interface; alias --address)")
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
	fs.Bool("upstream-h2c", false, "send requests to an http:// target as HTTP/2 with prior knowledge (h2c); gRPC requests go as h2c without it")
}

func addRecorderFlags(fs *pflag.FlagSet) {
	addMemoryFlag(fs)
	fs.Int("max-exchanges", 1000, "exchanges kept in memory (oldest dropped first)")
	sizeFlag(fs, "max-body-capture", 1<<20, "bytes captured of each request and response body")
	autoSizeFlag(fs, "max-capture-total", "bytes captured of all bodies together, held in memory (auto: a quarter of --max-memory, and at least --max-body-capture)")
}

func addOutputFlags(fs *pflag.FlagSet) {
	fs.Bool("no-tui", false, "log one line per exchange instead of the terminal UI")
	fs.String("log-format", "text", "headless log format: text or json")
	fs.String("log-file", "", "also append the log to this file; while the UI runs the log goes there and to the event log (E), never to the terminal")
	fs.String("har", "", "write the recorded exchanges to this HAR file on exit")
	fs.String("har-redact", "default", "HAR redaction: default (auth headers and cookies), strict (also secret-looking fields, JWT signatures) or none")
}

// optionFlags names the flag behind each engine option, so an engine error
// (a proxy.OptionError) reaches the user with the flag to change.
var optionFlags = map[string]string{
	"CAFile":         "--ca",
	"ClientCertFile": "--client-cert/--client-key",
	"Relay":          "--proxy",
	"Backend":        "--backend",
	"Mode":           "--transport",
	"RelayCAFile":    "--proxy-ca",
}

// flagError puts the flag behind an engine option error in front of it.
func flagError(err error) error {
	if name, ok := proxy.OptionName(err); ok {
		if flag := optionFlags[name]; flag != "" {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	return err
}
