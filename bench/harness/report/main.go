// Command report turns the raw measurements bench/run writes into a
// directory into the markdown it prints and saves as results.md: medians
// across rounds, ratios to the tuned httputil.ReverseProxy measured in the
// same run, per-process CPU and peak RSS, first-byte latency of a stream,
// the time of a 1 GiB response, and the project's targets, each met or
// missed.
//
//	report -dir /tmp/devproxy-bench-20261201-1200 -budget-mib 128
//
// The directory holds meta.tsv (machine and command), subjects.tsv (name,
// status, process labels, command), load.jsonl (one wrk run each), stream.jsonl, gib.jsonl
// and rss.jsonl; bench/run documents their lines.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Subjects the targets name. The baseline is what every req/s ratio is
// to; serve is devproxy as a user runs it (headless, temporary session).
const (
	baseline = "httputil"
	direct   = "direct"
	serve    = "serve"
	serveUI  = "serve-ui"
	tunnel   = "tunnel"
	poll     = "poll"
	haproxy  = "haproxy"
)

// loads are the wrk loads bench/run runs, in the order the tables show them.
var loads = []struct{ key, title string }{
	{"1k", "1 KiB responses"},
	{"1m", "1 MiB responses"},
	{"echo1m", "POST /echo of 1 MiB"},
}

func main() {
	dir := flag.String("dir", "", "directory bench/run wrote its measurements to")
	budget := flag.Float64("budget-mib", 128, "devproxy's --max-memory in MiB, for the peak RSS target")
	clkTck := flag.Float64("clk-tck", 100, "kernel clock ticks per second (getconf CLK_TCK)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: report -dir DIR [-budget-mib 128] [-clk-tck 100]")
		os.Exit(2)
	}
	r, err := read(*dir, *clkTck)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	r.budgetMiB = *budget
	var sb strings.Builder
	r.write(&sb)
	if err := os.WriteFile(filepath.Join(*dir, "results.md"), []byte(sb.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Print(sb.String())
}

// wrkRun is what the wrk Lua hook prints for one run.
type wrkRun struct {
	Requests     float64 `json:"requests"`
	DurationUS   float64 `json:"duration_us"`
	Bytes        float64 `json:"bytes"`
	Connect      float64 `json:"connect_errors"`
	Read         float64 `json:"read_errors"`
	Write        float64 `json:"write_errors"`
	Status       float64 `json:"status_errors"`
	Timeouts     float64 `json:"timeouts"`
	P50US        float64 `json:"p50_us"`
	P99US        float64 `json:"p99_us"`
	ErrorMessage string  `json:"error"`
}

// loadLine is one line of load.jsonl: a wrk run and the CPU ticks each of
// the subject's processes spent meanwhile.
type loadLine struct {
	Round   int     `json:"round"`
	Subject string  `json:"subject"`
	Load    string  `json:"load"`
	Others  float64 `json:"others"` // CPUs' worth of time other processes took meanwhile
	Tries   int     `json:"tries"`  // 1, or more when others took too much
	// SettleMS is how long the subject kept working after wrk ended
	// (devproxy indexing its session, say); CPU counts that time.
	SettleMS float64            `json:"settle_ms"`
	CPU      map[string]float64 `json:"cpu"`
	Wrk      wrkRun             `json:"wrk"`
}

// streamLine is one line of stream.jsonl (bench/harness/firstbyte's JSON).
type streamLine struct {
	Round   int     `json:"round"`
	Subject string  `json:"subject"`
	Others  float64 `json:"others"`
	Tries   int     `json:"tries"`
	Error   string  `json:"error"`
	FB      struct {
		P50US float64 `json:"p50_us"`
		P99US float64 `json:"p99_us"`
	} `json:"fb"`
}

// gibLine is one line of gib.jsonl: curl's figures for one 1 GiB response.
type gibLine struct {
	Round   int     `json:"round"`
	Subject string  `json:"subject"`
	Others  float64 `json:"others"`
	Tries   int     `json:"tries"`
	Error   string  `json:"error"`
	Curl    struct {
		Code    int     `json:"code"`
		Bytes   float64 `json:"bytes"`
		Seconds float64 `json:"seconds"`
	} `json:"curl"`
}

// rssLine is one line of rss.jsonl: a process's VmHWM after a phase.
type rssLine struct {
	Phase   string  `json:"phase"` // "load" (after the wrk rounds) or "end"
	Subject string  `json:"subject"`
	Proc    string  `json:"proc"`
	HWMKiB  float64 `json:"hwm_kib"`
}

// subject is one thing measured, in the order bench/run ran them.
type subject struct {
	name, status, command string
	procs                 []string // process labels, in the order bench/run lists them
}

// results is everything read from the directory.
type results struct {
	meta      [][2]string
	subjects  []*subject
	byName    map[string]*subject
	runs      map[string]map[string][]loadLine // load → subject → runs by round
	rounds    []int
	stream    map[string][]streamLine
	gib       map[string][]gibLine
	rss       map[string]map[string]map[string]float64 // phase → subject → proc → KiB
	clkTck    float64
	budgetMiB float64
}

func read(dir string, clkTck float64) (*results, error) {
	r := &results{byName: map[string]*subject{}, runs: map[string]map[string][]loadLine{},
		stream: map[string][]streamLine{}, gib: map[string][]gibLine{},
		rss: map[string]map[string]map[string]float64{}, clkTck: clkTck}
	if err := eachLine(filepath.Join(dir, "meta.tsv"), func(s string) error {
		k, v, _ := strings.Cut(s, "\t")
		r.meta = append(r.meta, [2]string{k, v})
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachLine(filepath.Join(dir, "subjects.tsv"), func(s string) error {
		f := strings.SplitN(s, "\t", 4)
		for len(f) < 4 {
			f = append(f, "")
		}
		sub := &subject{name: f[0], status: f[1], procs: strings.Fields(f[2]), command: f[3]}
		r.subjects = append(r.subjects, sub)
		r.byName[sub.name] = sub
		return nil
	}); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	if err := eachJSON(filepath.Join(dir, "load.jsonl"), func(l loadLine) {
		if r.runs[l.Load] == nil {
			r.runs[l.Load] = map[string][]loadLine{}
		}
		r.runs[l.Load][l.Subject] = append(r.runs[l.Load][l.Subject], l)
		if !seen[l.Round] {
			seen[l.Round] = true
			r.rounds = append(r.rounds, l.Round)
		}
		if s := r.byName[l.Subject]; s != nil {
			for p := range l.CPU {
				if !slices.Contains(s.procs, p) {
					s.procs = append(s.procs, p)
				}
			}
		}
	}); err != nil {
		return nil, err
	}
	if err := eachJSON(filepath.Join(dir, "stream.jsonl"), func(l streamLine) { r.stream[l.Subject] = append(r.stream[l.Subject], l) }); err != nil {
		return nil, err
	}
	if err := eachJSON(filepath.Join(dir, "gib.jsonl"), func(l gibLine) { r.gib[l.Subject] = append(r.gib[l.Subject], l) }); err != nil {
		return nil, err
	}
	if err := eachJSON(filepath.Join(dir, "rss.jsonl"), func(l rssLine) {
		if r.rss[l.Phase] == nil {
			r.rss[l.Phase] = map[string]map[string]float64{}
		}
		if r.rss[l.Phase][l.Subject] == nil {
			r.rss[l.Phase][l.Subject] = map[string]float64{}
		}
		r.rss[l.Phase][l.Subject][l.Proc] = l.HWMKiB
		if s := r.byName[l.Subject]; s != nil && !slices.Contains(s.procs, l.Proc) {
			s.procs = append(s.procs, l.Proc)
		}
	}); err != nil {
		return nil, err
	}
	slices.Sort(r.rounds)
	return r, nil
}

// eachLine calls fn for every non-empty line of path; a missing file has
// no lines.
func eachLine(path string, fn func(string) error) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := fn(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// eachJSON decodes every line of path into a T.
func eachJSON[T any](path string, fn func(T)) error {
	return eachLine(path, func(s string) error {
		var v T
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("%s: %w in %q", filepath.Base(path), err, s)
		}
		fn(v)
		return nil
	})
}

// median of xs (NaN for none). NaNs are left out.
func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// rps is a run's requests per second, NaN for a failed run.
func rps(l loadLine) float64 {
	if l.Wrk.ErrorMessage != "" || l.Wrk.DurationUS <= 0 {
		return math.NaN()
	}
	return l.Wrk.Requests / (l.Wrk.DurationUS / 1e6)
}

// errs is the number of failed requests of a run.
func errs(l loadLine) float64 {
	w := l.Wrk
	return w.Connect + w.Read + w.Write + w.Status + w.Timeouts
}

// stat is the median across rounds of f over a subject's runs of a load.
func (r *results) stat(load, subj string, f func(loadLine) float64) float64 {
	var xs []float64
	for _, l := range r.runs[load][subj] {
		xs = append(xs, f(l))
	}
	return median(xs)
}

// ratio is subj's median req/s over ref's: each median drops a run that
// something else on the machine disturbed, where a ratio per round would
// carry the disturbance of either subject.
func (r *results) ratio(load, subj, ref string) float64 {
	return r.stat(load, subj, rps) / r.stat(load, ref, rps)
}

// cpuPerReq is a run's CPU time per request in microseconds, for one
// process (proc != "") or all of the subject's.
func (r *results) cpuPerReq(l loadLine, proc string) float64 {
	if l.Wrk.Requests <= 0 {
		return math.NaN()
	}
	var ticks float64
	for p, t := range l.CPU {
		if proc == "" || p == proc {
			ticks += t
		}
	}
	return ticks / r.clkTck * 1e6 / l.Wrk.Requests
}

// spread is (max − min) / median of req/s across rounds, in percent.
func (r *results) spread(load, subj string) float64 {
	var xs []float64
	for _, l := range r.runs[load][subj] {
		if v := rps(l); !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) < 2 {
		return math.NaN()
	}
	return (slices.Max(xs) - slices.Min(xs)) / median(xs) * 100
}

// firstByte is the median across rounds of a subject's median (p50) or
// 99th-percentile (p99) time to the first streamed byte, in ms.
func (r *results) firstByte(subj string, p99 bool) float64 {
	var xs []float64
	for _, l := range r.stream[subj] {
		if l.Error != "" {
			continue
		}
		v := l.FB.P50US
		if p99 {
			v = l.FB.P99US
		}
		xs = append(xs, v/1e3)
	}
	return median(xs)
}

// gibSeconds is the median time of the subject's 1 GiB responses that
// arrived whole.
func (r *results) gibSeconds(subj string) float64 {
	var xs []float64
	for _, l := range r.gib[subj] {
		if l.Error == "" && l.Curl.Code == 200 && l.Curl.Bytes == 1<<30 {
			xs = append(xs, l.Curl.Seconds)
		}
	}
	return median(xs)
}

// gibProblem says why a subject has no 1 GiB time, or "".
func (r *results) gibProblem(subj string) string {
	for _, l := range r.gib[subj] {
		switch {
		case l.Error != "":
			return l.Error
		case l.Curl.Code != 200 || l.Curl.Bytes != 1<<30:
			return fmt.Sprintf("status %d with %.0f bytes", l.Curl.Code, l.Curl.Bytes)
		}
	}
	return ""
}

// ok reports whether a subject ran.
func (s *subject) ok() bool { return s.status == "ok" }

// f formats x with the given decimals, "–" for NaN.
func f(x float64, dec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", dec, x)
}

// pct formats a percentage, "–" for NaN.
func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", v)
}

// x formats a ratio.
func x(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

func (r *results) write(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("## Throughput, latency and memory: `bench/run`\n\n")
	for _, kv := range r.meta {
		p("- %s: %s\n", kv[0], kv[1])
	}
	p("- other processes: %s\n", r.othersSummary())
	p("\nMedians across %d interleaved rounds. \"× httputil\" and \"× serve\" are ratios of those medians to the tuned `httputil.ReverseProxy` and to `serve` of the same run. \"others\" is the median share of a CPU that processes outside the benchmark took during the subject's runs. CPU µs/req is the utime+stime of the subject's processes (the backend excluded, except for `direct`, which is the backend; `serve-ui` counts the tmux server that draws its screen) over wrk's request count, including the work the subject went on doing after the load (\"catch-up s\": until its processes spent no CPU for 1.5 s; the next subject starts only then); \"spread\" is (max − min) / median of req/s across rounds.\n", len(r.rounds))

	for _, ld := range loads {
		if len(r.runs[ld.key]) == 0 {
			continue
		}
		p("\n### %s\n\n", ld.title)
		p("| subject | req/s | MB/s | × httputil | × serve | p50 ms | p99 ms | CPU µs/req | catch-up s | spread | others | failed requests |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.subjects {
			if !s.ok() {
				p("| %s | %s | | | | | | | | | | |\n", s.name, s.status)
				continue
			}
			runs := r.runs[ld.key][s.name]
			if len(runs) == 0 {
				continue
			}
			var failed float64
			var problem string
			for _, l := range runs {
				failed += errs(l)
				if l.Wrk.ErrorMessage != "" {
					problem = l.Wrk.ErrorMessage
				}
			}
			mbs := r.stat(ld.key, s.name, func(l loadLine) float64 { return l.Wrk.Bytes / (l.Wrk.DurationUS / 1e6) / 1e6 })
			fail := f(failed, 0)
			if problem != "" {
				fail += " (" + problem + ")"
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name,
				f(r.stat(ld.key, s.name, rps), 0), f(mbs, 0),
				x(r.ratio(ld.key, s.name, baseline)), x(r.ratio(ld.key, s.name, serve)),
				f(r.stat(ld.key, s.name, func(l loadLine) float64 { return l.Wrk.P50US / 1e3 }), 2),
				f(r.stat(ld.key, s.name, func(l loadLine) float64 { return l.Wrk.P99US / 1e3 }), 2),
				f(r.stat(ld.key, s.name, func(l loadLine) float64 { return r.cpuPerReq(l, "") }), 1),
				f(r.stat(ld.key, s.name, func(l loadLine) float64 { return l.SettleMS / 1e3 }), 1),
				pct(r.spread(ld.key, s.name)), pct(r.stat(ld.key, s.name, func(l loadLine) float64 { return l.Others * 100 })), fail)
		}
	}

	p("\n### Per process\n\n")
	p("Peak RSS is VmHWM: after the wrk rounds (start-up, 1 KiB and 1 MiB load), and at the end (after the streams and the 1 GiB responses too).\n\n")
	p("| subject | process | CPU µs/req 1 KiB | CPU µs/req 1 MiB | peak RSS MiB, wrk rounds | peak RSS MiB, end |\n")
	p("|---|---|---:|---:|---:|---:|\n")
	for _, s := range r.subjects {
		if !s.ok() {
			continue
		}
		for _, proc := range s.procs {
			cpu := func(load string) string {
				return f(r.stat(load, s.name, func(l loadLine) float64 { return r.cpuPerReq(l, proc) }), 1)
			}
			rss := func(phase string) string {
				v, ok := r.rss[phase][s.name][proc]
				if !ok {
					return "–"
				}
				return f(v/1024, 1)
			}
			p("| %s | %s | %s | %s | %s | %s |\n", s.name, proc, cpu("1k"), cpu("1m"), rss("load"), rss("end"))
		}
	}

	p("\n### Streams and a 1 GiB response\n\n")
	p("First byte: time from sending `GET /stream` (the backend writes 64 bytes, flushes, waits 20 ms, writes again) to reading the first body byte, one connection kept alive; median of the rounds' p50 and p99. 1 GiB: one `curl` of `/bytes/1073741824` per round, median time.\n\n")
	p("| subject | first byte p50 ms | over direct ms | first byte p99 ms | 1 GiB s | × direct | × serve |\n")
	p("|---|---:|---:|---:|---:|---:|---:|\n")
	fbDirect, gDirect, gServe := r.firstByte(direct, false), r.gibSeconds(direct), r.gibSeconds(serve)
	for _, s := range r.subjects {
		if !s.ok() {
			continue
		}
		fb := r.firstByte(s.name, false)
		g := f(r.gibSeconds(s.name), 2)
		if why := r.gibProblem(s.name); why != "" && g == "–" {
			g = why
		} else if len(r.gib[s.name]) == 0 {
			g = "not run"
		}
		if stat := r.streamProblem(s.name); stat != "" && math.IsNaN(fb) {
			p("| %s | %s | | | %s | %s | %s |\n", s.name, stat, g, x(r.gibSeconds(s.name)/gDirect), x(r.gibSeconds(s.name)/gServe))
			continue
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", s.name, f(fb, 2), f(fb-fbDirect, 2), f(r.firstByte(s.name, true), 2),
			g, x(r.gibSeconds(s.name)/gDirect), x(r.gibSeconds(s.name)/gServe))
	}

	r.writeTargets(w)

	p("\n### Subjects\n\n")
	for _, s := range r.subjects {
		if s.ok() {
			p("- **%s**: `%s`\n", s.name, s.command)
		} else {
			p("- **%s**: %s\n", s.name, s.status)
		}
	}
}

// othersSummary says how much CPU other processes took during the
// measurements, and how many were taken again because of it.
func (r *results) othersSummary() string {
	var xs []float64
	redone := 0
	for _, bySubj := range r.runs {
		for _, runs := range bySubj {
			for _, l := range runs {
				xs = append(xs, l.Others)
				redone += max(l.Tries-1, 0)
			}
		}
	}
	for _, ls := range r.stream {
		for _, l := range ls {
			xs = append(xs, l.Others)
			redone += max(l.Tries-1, 0)
		}
	}
	for _, ls := range r.gib {
		for _, l := range ls {
			xs = append(xs, l.Others)
			redone += max(l.Tries-1, 0)
		}
	}
	if len(xs) == 0 {
		return "not measured"
	}
	return fmt.Sprintf("took a median of %.0f%% and at most %.0f%% of a CPU during a measurement; %d measurements were taken again because others took more than the limit",
		median(xs)*100, slices.Max(xs)*100, redone)
}

// streamProblem says why a subject has no first-byte time, or "".
func (r *results) streamProblem(subj string) string {
	for _, l := range r.stream[subj] {
		if l.Error != "" {
			return l.Error
		}
	}
	if len(r.stream[subj]) == 0 {
		return "not run"
	}
	return ""
}

// target is one line of the targets table.
type target struct {
	what, measured string
	met            *bool // nil: reported, no threshold, or not measured
}

func (r *results) writeTargets(w io.Writer) {
	var ts []target
	check := func(what string, v float64, measured string, ok func(float64) bool) {
		t := target{what: what, measured: measured}
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			m := ok(v)
			t.met = &m
		} else {
			t.measured = "not measured"
		}
		ts = append(ts, t)
	}
	atLeast := func(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }
	atMost := func(max float64) func(float64) bool { return func(v float64) bool { return v <= max } }
	for _, ld := range []struct{ key, name string }{{"1k", "1 KiB"}, {"1m", "1 MiB"}} {
		v := r.ratio(ld.key, serve, baseline)
		check(fmt.Sprintf("serve %s ≥ 1.0× tuned httputil", ld.name), v, x(v), atLeast(1))
	}
	v := r.ratio("1m", serve, haproxy)
	check("serve 1 MiB ≥ HAProxy", v, x(v)+" HAProxy", atLeast(1))
	for _, ld := range []struct{ key, name string }{{"1k", "1 KiB"}, {"1m", "1 MiB"}} {
		v := r.ratio(ld.key, tunnel, serve)
		check(fmt.Sprintf("tunnel %s ≥ 0.60× serve", ld.name), v, x(v), atLeast(0.6))
		p99 := func(s string) float64 {
			return r.stat(ld.key, s, func(l loadLine) float64 { return l.Wrk.P99US / 1e3 })
		}
		v = p99(tunnel) / p99(serve)
		check(fmt.Sprintf("tunnel %s p99 ≤ 2× serve's", ld.name), v, fmt.Sprintf("%s ms vs %s ms: %s", f(p99(tunnel), 2), f(p99(serve), 2), x(v)), atMost(2))
	}
	gs, gd, gt := r.gibSeconds(serve), r.gibSeconds(direct), r.gibSeconds(tunnel)
	check("1 GiB through serve ≤ 2× direct's time", gs/gd, fmt.Sprintf("%s s vs %s s: %s", f(gs, 2), f(gd, 2), x(gs/gd)), atMost(2))
	check("1 GiB through the tunnel ≤ 2× serve's time", gt/gs, fmt.Sprintf("%s s vs %s s: %s", f(gt, 2), f(gs, 2), x(gt/gs)), atMost(2))
	if r.byName[poll] != nil {
		ts = append(ts, target{what: "long-poll reported", measured: fmt.Sprintf("1 KiB %s serve, 1 MiB %s serve, 1 GiB %s s",
			x(r.ratio("1k", poll, serve)), x(r.ratio("1m", poll, serve)), f(r.gibSeconds(poll), 2))})
	} else {
		ts = append(ts, target{what: "long-poll reported", measured: "not measured"})
	}
	fd := r.firstByte(direct, false)
	for _, s := range []string{serve, tunnel} {
		v := r.firstByte(s, false) - fd
		check(fmt.Sprintf("first streamed chunk through %s ≤ 2 ms over direct", s), v, fmt.Sprintf("+%s ms", f(v, 2)), atMost(2))
	}
	limit := r.budgetMiB + 48
	for _, s := range r.subjects {
		if !s.ok() {
			continue
		}
		for _, proc := range s.procs {
			if proc != "serve" && proc != "relay" && proc != "agent" {
				continue // peers, the backend and tmux have no budget
			}
			kib, ok := r.rss["load"][s.name][proc]
			if !ok {
				continue
			}
			mib := kib / 1024
			check(fmt.Sprintf("peak RSS of %s's %s ≤ %.0f MiB (--max-memory + 48 MiB)", s.name, proc, limit), mib, f(mib, 1)+" MiB", atMost(limit))
		}
	}
	for _, ld := range []struct{ key, name string }{{"1k", "1 KiB"}, {"1m", "1 MiB"}} {
		v := r.ratio(ld.key, serveUI, serve)
		check(fmt.Sprintf("UI live in tmux %s ≥ 0.85× headless", ld.name), v, x(v), atLeast(0.85))
	}

	fmt.Fprintf(w, "\n### Targets\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range ts {
		verdict := "reported"
		if t.met != nil {
			verdict = "met"
			if !*t.met {
				verdict = "**missed**"
			}
		} else if t.measured == "not measured" {
			verdict = "–"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.measured, verdict)
	}
}
