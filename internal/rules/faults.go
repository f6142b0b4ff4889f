package rules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// Fault actions: they make an exchange slow or broken at the HTTP level,
// per exchange (shaping.md §5, §8). Every wait ends when the client goes
// away; the exchange is then recorded as canceled (499).

func init() {
	register("delay", parseDelay)
	register("first-byte", parseFirstByte)
	register("reset", parseReset)
	register("truncate", parseTruncate)
	register("drop", parseDrop)
}

// sleeper waits d, or until ctx ends (then it returns ctx's error). Each
// waiting action has one, so tests can see the waits without making them.
type sleeper func(ctx context.Context, d time.Duration) error

// sleepCtx is the real sleeper.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// faultRule names the rule of env in a message: `rule "flaky"`, or
// "rule 2" for an unnamed one (a Set names those by position).
func faultRule(env Env) string {
	if env.Rule == nil || env.Rule.Name == "" {
		return "a rule"
	}
	if _, err := strconv.Atoi(env.Rule.Name); err == nil {
		return "rule " + env.Rule.Name
	}
	return "rule " + strconv.Quote(env.Rule.Name)
}

// parseFaultDuration reads a non-negative Go duration ("300ms", "1.5s").
func parseFaultDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration; write one such as 300ms, 1.5s or 2m", s)
	}
	return d, nil
}

// delayFault is "delay D[±J]": wait before the request is forwarded. The
// wait ends early when the client goes away, as far as net/http can tell:
// while a request body is still unread it cannot, so such a client is
// noticed when the request is forwarded.
type delayFault struct {
	d, jitter time.Duration
	sleep     sleeper
}

func parseDelay(args []string) (Action, error) {
	if len(args) != 1 {
		return nil, errors.New("delay takes one duration, optionally with a jitter: delay 300ms or delay 300ms±100ms")
	}
	base, jit, hasJit := strings.Cut(args[0], "±")
	if !hasJit {
		base, jit, hasJit = strings.Cut(args[0], "+-")
	}
	d, err := parseFaultDuration(base)
	if err != nil {
		return nil, err
	}
	a := &delayFault{d: d, sleep: sleepCtx}
	if hasJit {
		if a.jitter, err = parseFaultDuration(jit); err != nil {
			return nil, fmt.Errorf("jitter: %w", err)
		}
	}
	return a, nil
}

func (a *delayFault) Name() string       { return "delay" }
func (a *delayFault) Phase() match.Phase { return match.PhaseRequest }
func (a *delayFault) Prob() float64      { return 1 }

func (a *delayFault) String() string {
	if a.jitter > 0 {
		return "delay " + a.d.String() + "±" + a.jitter.String()
	}
	return "delay " + a.d.String()
}

// wait is how long this exchange waits: uniform in [d−jitter, d+jitter)
// to the microsecond, never below 0 (Toxiproxy's latency toxic draws the
// same way).
func (a *delayFault) wait(rnd func() float64) time.Duration {
	if a.jitter == 0 || rnd == nil {
		return a.d
	}
	w := a.d + time.Duration((2*rnd()-1)*float64(a.jitter))
	return max(w, 0).Round(time.Microsecond)
}

func (a *delayFault) Request(f *proxy.Flow, env Env) (*http.Response, error) {
	w := a.wait(env.Rand)
	what := w.String()
	if a.jitter > 0 {
		what += " (" + a.d.String() + "±" + a.jitter.String() + ")"
	}
	note(f, "delay", what, kindFaulted)
	return nil, a.sleep(f.In.Context(), w)
}

func (a *delayFault) Response(*proxy.Flow, *http.Response, Env) error { return nil }

// firstByteFault is "first-byte D": the response headers (and so the first
// byte) reach the client D after the upstream answered.
type firstByteFault struct {
	d     time.Duration
	sleep sleeper
}

func parseFirstByte(args []string) (Action, error) {
	if len(args) != 1 {
		return nil, errors.New("first-byte takes one duration: first-byte 2s")
	}
	d, err := parseFaultDuration(args[0])
	if err != nil {
		return nil, err
	}
	return &firstByteFault{d: d, sleep: sleepCtx}, nil
}

func (a *firstByteFault) Name() string       { return "first-byte" }
func (a *firstByteFault) String() string     { return "first-byte " + a.d.String() }
func (a *firstByteFault) Phase() match.Phase { return match.PhaseResponse }
func (a *firstByteFault) Prob() float64      { return 1 }

func (a *firstByteFault) Request(*proxy.Flow, Env) (*http.Response, error) { return nil, nil }

func (a *firstByteFault) Response(f *proxy.Flow, _ *http.Response, _ Env) error {
	note(f, "first-byte", "headers held "+a.d.String(), kindFaulted)
	return a.sleep(f.In.Context(), a.d)
}

// resetFault is "reset": the client's connection is closed without an
// answer (its HTTP/2 stream reset); the upstream is not called.
type resetFault struct{}

func parseReset(args []string) (Action, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("reset takes no arguments (got %q); it closes the client's connection without an answer", strings.Join(args, " "))
	}
	return resetFault{}, nil
}

func (resetFault) Name() string       { return "reset" }
func (resetFault) String() string     { return "reset" }
func (resetFault) Phase() match.Phase { return match.PhaseRequest }
func (resetFault) Prob() float64      { return 1 }

func (resetFault) Request(f *proxy.Flow, env Env) (*http.Response, error) {
	note(f, "reset", "connection closed without an answer", kindFaulted)
	return nil, &proxy.AbortError{Kind: record.ErrAborted, Message: "connection reset by devproxy (" + faultRule(env) + ")"}
}

func (resetFault) Response(*proxy.Flow, *http.Response, Env) error { return nil }

// dropFault is "drop": nothing is answered until the client gives up; the
// upstream is not called.
type dropFault struct{}

func parseDrop(args []string) (Action, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("drop takes no arguments (got %q); it never answers, until the client gives up", strings.Join(args, " "))
	}
	return dropFault{}, nil
}

func (dropFault) Name() string       { return "drop" }
func (dropFault) String() string     { return "drop" }
func (dropFault) Phase() match.Phase { return match.PhaseRequest }
func (dropFault) Prob() float64      { return 1 }

func (dropFault) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	note(f, "drop", "no answer until the client gives up", kindFaulted)
	if b := f.Out.Body; b != nil && b != http.NoBody {
		// net/http notices a client that left only once the request body
		// was read (or a read of it failed), so read it all: it is
		// recorded, and goes nowhere.
		_, _ = io.Copy(io.Discard, b)
	}
	ctx := f.In.Context()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (dropFault) Response(*proxy.Flow, *http.Response, Env) error { return nil }

// truncateFault is "truncate SIZE": the response body is cut off after
// SIZE bytes and the connection closed (an HTTP/2 stream reset). The
// original Content-Length stays, so the client sees a short body; without
// one it sees a chunked body with no end.
type truncateFault struct {
	size int64
}

func parseTruncate(args []string) (Action, error) {
	if len(args) != 1 {
		return nil, errors.New("truncate takes one size, the bytes of body to let through: truncate 1KiB")
	}
	n, err := parseFaultSize(args[0])
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("truncate 0 would send nothing reliably, not even the headers; use reset to close the connection without an answer, or let at least 1 byte through")
	}
	return &truncateFault{size: n}, nil
}

func (a *truncateFault) Name() string       { return "truncate" }
func (a *truncateFault) String() string     { return "truncate " + formatFaultSize(a.size) }
func (a *truncateFault) Phase() match.Phase { return match.PhaseResponse }
func (a *truncateFault) Prob() float64      { return 1 }

func (a *truncateFault) Request(*proxy.Flow, Env) (*http.Response, error) { return nil, nil }

func (a *truncateFault) Response(f *proxy.Flow, res *http.Response, env Env) error {
	switch {
	case res.Request != nil && res.Request.Method == http.MethodHead,
		res.StatusCode == http.StatusNoContent, res.StatusCode == http.StatusNotModified,
		res.StatusCode == http.StatusSwitchingProtocols:
		note(f, "truncate", "no body to cut", 0)
		return nil
	case res.ContentLength >= 0 && res.ContentLength <= a.size:
		note(f, "truncate", fmt.Sprintf("body of %d B not longer than %d B; not cut", res.ContentLength, a.size), 0)
		return nil
	}
	res.Body = &truncatedBody{ReadCloser: res.Body, left: a.size, a: a, f: f, env: env, length: res.ContentLength}
	return nil
}

// truncatedBody lets left bytes through, then fails with a
// proxy.AbortError, so the engine closes the client's connection there.
type truncatedBody struct {
	io.ReadCloser
	left   int64
	a      *truncateFault
	f      *proxy.Flow
	env    Env
	length int64 // Content-Length, or -1
	done   bool
}

func (b *truncatedBody) Read(p []byte) (int, error) {
	if b.left > 0 {
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := b.ReadCloser.Read(p)
		b.left -= int64(n)
		if err == io.EOF {
			b.notCut()
		}
		return n, err
	}
	// The body has had its bytes: cut it only if it goes on.
	var one [1]byte
	n, err := b.ReadCloser.Read(one[:])
	if n == 0 && err != nil {
		if err == io.EOF {
			b.notCut()
		}
		return 0, err
	}
	what := fmt.Sprintf("cut after %d B", b.a.size)
	if b.length >= 0 {
		what += fmt.Sprintf(" of %d B", b.length)
	}
	if !b.done {
		b.done = true
		note(b.f, "truncate", what, kindFaulted)
	}
	return 0, &proxy.AbortError{Kind: record.ErrAborted, Message: "response " + what + " by devproxy (" + faultRule(b.env) + ")"}
}

// notCut marks a body that ended before it was to be cut.
func (b *truncatedBody) notCut() {
	if !b.done {
		b.done = true
		note(b.f, "truncate", fmt.Sprintf("body of %d B not longer than %d B; not cut", b.a.size-b.left, b.a.size), 0)
	}
}

// faultSizeUnits are the units a size may have, lower case.
var faultSizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
}

// parseFaultSize reads a whole number of bytes with an optional unit:
// "512", "10KB" (1000), "64KiB" (1024), "1.5MiB".
func parseFaultSize(s string) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(s[i:])
	}
	mult, ok := faultSizeUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" || f < 0 || f*float64(mult) >= math.MaxInt64/2 || f*float64(mult) != math.Trunc(f*float64(mult)) {
		return 0, fmt.Errorf("%q is not a size; write bytes with an optional unit, such as 512, 10KB, 64KiB or 1.5MiB", s)
	}
	return int64(f * float64(mult)), nil
}

// formatFaultSize writes n as parseFaultSize reads it back: in MiB or KiB
// when it is a whole number of them, else in bytes.
func formatFaultSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}
