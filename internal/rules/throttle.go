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

	"golang.org/x/time/rate"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
)

func init() { register("throttle", parseThrottle) }

// throttlePreset is one of Chrome DevTools' network presets, with its
// numbers (devtools: core/sdk/NetworkManager.ts, see shaping.md §7): bytes
// per second each way, and the latency Chrome adds once before a transfer.
type throttlePreset struct {
	down, up float64
	latency  time.Duration
}

// throttlePresets are Chrome's presets by name. "fast-3g" is what Chrome
// called "Slow 4G" until May 2024; both names are kept.
var throttlePresets = map[string]throttlePreset{
	"slow-3g": {down: 50_000, up: 50_000, latency: 2000 * time.Millisecond},
	"fast-3g": {down: 180_000, up: 84_375, latency: 562500 * time.Microsecond},
	"slow-4g": {down: 180_000, up: 84_375, latency: 562500 * time.Microsecond},
	"fast-4g": {down: 1_012_500, up: 168_750, latency: 165 * time.Millisecond},
}

// throttleFault is "throttle RATE|PRESET": each exchange gets its own
// bandwidth each way (the request body going up, the response body coming
// down; the rate is not shared between exchanges); a preset also waits its
// latency once, before the transfer starts. A rule whose matcher needs the
// response (status:…) can only throttle the response body, and waits the
// latency before the response headers.
type throttleFault struct {
	preset string // the preset's name as written, or "" for a rate
	throttlePreset
	sleep sleeper
}

func parseThrottle(args []string) (Action, error) {
	if len(args) != 1 {
		return nil, errors.New("throttle takes a rate or a preset: throttle 50KiB/s, throttle 400kbit/s, or one of slow-3g, fast-3g, slow-4g, fast-4g")
	}
	name := strings.ToLower(args[0])
	if p, ok := throttlePresets[name]; ok {
		return &throttleFault{preset: name, throttlePreset: p, sleep: sleepCtx}, nil
	}
	bps, err := parseRate(args[0])
	if err != nil {
		return nil, err
	}
	return &throttleFault{throttlePreset: throttlePreset{down: bps, up: bps}, sleep: sleepCtx}, nil
}

func (a *throttleFault) Name() string       { return "throttle" }
func (a *throttleFault) Phase() match.Phase { return match.PhaseResponse }
func (a *throttleFault) Prob() float64      { return 1 }

func (a *throttleFault) String() string {
	if a.preset != "" {
		return "throttle " + a.preset
	}
	return "throttle " + formatRate(a.down)
}

// describe is the action's mark: what the exchange got.
func (a *throttleFault) describe() string {
	if a.preset == "" {
		return formatRate(a.down) + " each way"
	}
	return fmt.Sprintf("%s: %s down, %s up, %s latency", a.preset, formatRate(a.down), formatRate(a.up), a.latency)
}

// throttleKey keeps an exchange's throttleState for one throttle action.
type throttleKey struct{ a *throttleFault }

// throttleState is what the request phase tells the response phase.
type throttleState struct {
	waited bool // the latency was waited
}

// begin marks the exchange and waits the latency, once per exchange.
func (a *throttleFault) begin(f *proxy.Flow) error {
	if st, _ := f.Value(throttleKey{a}).(*throttleState); st != nil && st.waited {
		return nil
	}
	f.Set(throttleKey{a}, &throttleState{waited: true})
	note(f, "throttle", a.describe(), kindFaulted)
	if a.latency == 0 {
		return nil
	}
	return a.sleep(f.In.Context(), a.latency)
}

// Request waits the latency and throttles the request body.
func (a *throttleFault) Request(f *proxy.Flow, _ Env) (*http.Response, error) {
	if err := a.begin(f); err != nil {
		return nil, err
	}
	if f.Out.Body != nil && f.Out.Body != http.NoBody {
		f.Out.Body = newThrottledBody(f.In.Context(), f.Out.Body, a.up)
	}
	return nil, nil
}

// Response waits the latency, unless the request phase did, and throttles
// the response body. A switch of protocols (WebSocket) is left alone.
func (a *throttleFault) Response(f *proxy.Flow, res *http.Response, _ Env) error {
	if err := a.begin(f); err != nil {
		return err
	}
	if res.StatusCode != http.StatusSwitchingProtocols && res.Body != nil && res.Body != http.NoBody {
		res.Body = newThrottledBody(f.In.Context(), res.Body, a.down)
	}
	return nil
}

// throttledBody passes a body on at a rate: it reads at most chunk bytes
// at a time, then waits until the rate allows them.
type throttledBody struct {
	io.ReadCloser
	ctx   context.Context
	lim   *rate.Limiter
	chunk int
	eof   bool
}

// throttleSlice is how much of a second one read may carry: small enough
// that the stream looks steady (Toxiproxy slices at 100 ms), large enough
// not to cost a syscall per few bytes.
const throttleSlice = 20 // 1/20 s = 50 ms

// maxThrottleChunk bounds a read at high rates.
const maxThrottleChunk = 16 << 10

func newThrottledBody(ctx context.Context, body io.ReadCloser, bps float64) *throttledBody {
	chunk := int(min(max(bps/throttleSlice, 1), maxThrottleChunk))
	lim := rate.NewLimiter(rate.Limit(bps), chunk)
	// Start with an empty bucket: the first bytes wait like the rest, so
	// a transfer takes size/rate, not size/rate minus one chunk.
	lim.AllowN(time.Now(), chunk)
	return &throttledBody{ReadCloser: body, ctx: ctx, lim: lim, chunk: chunk}
}

func (b *throttledBody) Read(p []byte) (int, error) {
	if b.eof {
		// The transport reads a request body once more after its
		// Content-Length to check that it ended; by then net/http may
		// have closed the client's body (it does once the response
		// headers went out), and that read would fail the exchange.
		return 0, io.EOF
	}
	if len(p) > b.chunk {
		p = p[:b.chunk]
	}
	n, err := b.ReadCloser.Read(p)
	b.eof = err == io.EOF
	if n > 0 {
		if werr := b.lim.WaitN(b.ctx, n); werr != nil {
			// The client went away while the bytes waited.
			return 0, werr
		}
	}
	return n, err
}

// parseRate reads a bandwidth in bytes per second: a size (see
// parseFaultSize) per second ("50KiB/s", "1MB/s", "50000B/s"), or bits
// per second ("400kbit/s", "1.5Mbit/s").
func parseRate(s string) (float64, error) {
	bad := fmt.Errorf("%q is not a rate; write bytes or bits per second, such as 50KiB/s, 1MB/s or 400kbit/s, or a preset: slow-3g, fast-3g, slow-4g, fast-4g", s)
	t, perSecond := strings.CutSuffix(strings.ToLower(s), "/s")
	if !perSecond {
		return 0, bad
	}
	var bps float64
	if v, ok := strings.CutSuffix(t, "bit"); ok {
		mult := 1.0
		switch {
		case strings.HasSuffix(v, "k"):
			mult, v = 1e3, strings.TrimSuffix(v, "k")
		case strings.HasSuffix(v, "m"):
			mult, v = 1e6, strings.TrimSuffix(v, "m")
		case strings.HasSuffix(v, "g"):
			mult, v = 1e9, strings.TrimSuffix(v, "g")
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || strings.Trim(v, "0123456789.") != "" {
			return 0, bad
		}
		bps = f * mult / 8
	} else {
		n, err := parseFaultSize(t)
		if err != nil {
			return 0, bad
		}
		bps = float64(n)
	}
	if bps < 1 || math.IsInf(bps, 0) || bps > 1<<50 {
		return 0, fmt.Errorf("%q: a rate is at least 1 byte per second", s)
	}
	return math.Round(bps), nil
}

// formatRate writes bytes per second as parseRate reads them back.
func formatRate(bps float64) string {
	s := formatFaultSize(int64(bps))
	if strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		s += "B"
	}
	return s + "/s"
}
