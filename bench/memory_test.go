//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMemory runs the real binary, headless and with its default
// limits (a temporary session included), under 64 clients that download
// 1 MiB responses for memLoadFor, then stops it with SIGINT and reports its
// peak resident memory (the kernel's high-water mark, so the shutdown
// counts too) against the budget, --max-memory. The target is a peak of at
// most the budget plus 48 MiB for serve, and for the relay and the agent
// each. Read peak-MiB against budget-MiB of the same run; gc-cpu-% is the
// share of CPU the child's garbage collector took (what a tight budget
// costs), MiB/s how fast the proxy moved the bytes meanwhile (noisy: the
// clients share the two cores).
//
//	go test ./bench -run '^$' -bench Memory -benchtime 1x
//
// DEVPROXY_BENCH_ARGS adds flags to every devproxy started (e.g.
// "--max-memory 256MiB" or "--no-session"). The children run with
// GODEBUG=gctrace=1 unless GODEBUG is set; DEVPROXY_BENCH_LOGS=DIR keeps
// their logs.
func BenchmarkMemory(b *testing.B) {
	bin := buildDevproxy(b)
	be := backend(b)
	extra := strings.Fields(os.Getenv("DEVPROXY_BENCH_ARGS"))
	budget := budgetOf(b, extra)

	b.Run("Serve", func(b *testing.B) {
		for range b.N {
			serve := startDevproxy(b, bin, "serve", append([]string{"--target", be.URL, "--listen", "127.0.0.1:0"}, extra...)...)
			rate := load(b, serve.url+"/big", 1<<20)
			b.ReportMetric(float64(serve.stop(b))/(1<<20), "peak-MiB")
			b.ReportMetric(serve.gcPercent(), "gc-cpu-%")
			b.ReportMetric(rate, "MiB/s")
			b.ReportMetric(float64(budget)/(1<<20), "budget-MiB")
		}
	})

	b.Run("RelayAgent", func(b *testing.B) {
		for range b.N {
			const admin = "bench-admin-token-0123456789"
			relay := startDevproxy(b, bin, "relay", append([]string{"--listen", "127.0.0.1:0", "--admin-token", admin,
				"--state-dir", b.TempDir()}, extra...)...)
			token := registerBackend(b, relay.url, admin)
			agent := startDevproxy(b, bin, "agent", append([]string{"--proxy", relay.url, "--backend", "web", "--token", token,
				"--target", be.URL}, extra...)...)
			waitFor(b, relay.url+"/big", 1<<20)
			rate := load(b, relay.url+"/big", 1<<20)
			agentPeak, relayPeak := agent.stop(b), relay.stop(b)
			b.ReportMetric(float64(relayPeak)/(1<<20), "relay-peak-MiB")
			b.ReportMetric(float64(agentPeak)/(1<<20), "agent-peak-MiB")
			b.ReportMetric(relay.gcPercent(), "relay-gc-cpu-%")
			b.ReportMetric(agent.gcPercent(), "agent-gc-cpu-%")
			b.ReportMetric(rate, "MiB/s")
			b.ReportMetric(float64(budget)/(1<<20), "budget-MiB")
		}
	})
}

// memLoadFor is how long each role is under load; memClients how many
// downloads run at a time.
const (
	memLoadFor = 10 * time.Second
	memClients = 64
)

// budgetOf is the --max-memory among args, else the default.
func budgetOf(b *testing.B, args []string) int64 {
	budget := int64(128 << 20)
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--max-memory=")
		if !ok && a == "--max-memory" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			var n int64
			var unit string
			if _, err := fmt.Sscanf(v, "%d%s", &n, &unit); err != nil || unit != "MiB" {
				b.Fatalf("DEVPROXY_BENCH_ARGS: give --max-memory in MiB, e.g. 256MiB (got %q)", v)
			}
			budget = n << 20
		}
	}
	return budget
}

// buildDevproxy builds the binary from this module into a temporary
// directory.
func buildDevproxy(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "devproxy")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/devproxy")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is a devproxy process the benchmark started.
type child struct {
	name string
	cmd  *exec.Cmd
	url  string // where it listens; "" for the agent
	logs *tail
	done chan struct{} // closed when its log has been read to the end
	// gcCPU is the share of CPU time the garbage collector took since
	// the start, from the last gctrace line ("4" for 4%).
	gcCPU atomic.Value
}

// gcLine matches a gctrace line ("gc 12 @3.1s 4%: …"), for the GC's share
// of the CPU.
var gcLine = regexp.MustCompile(`^gc \d+ @[0-9.]+s (\d+)%:`)

// listenLine finds the address in the "listening" line of the text log.
var listenLine = regexp.MustCompile(`listening.* listen=(\S+)`)

// startDevproxy starts bin role --no-tui args, with its own state and
// config directories, and waits for a server role to say where it listens.
func startDevproxy(b *testing.B, bin, role string, args ...string) *child {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command(bin, append([]string{role, "--no-tui"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	if os.Getenv("GODEBUG") == "" {
		cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1") // for gcCPU
	}
	// The log goes to stdout, the hints and the exit messages to stderr:
	// one pipe reads both, in order.
	output, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		b.Fatal(err)
	}
	c := &child{name: role, cmd: cmd, logs: &tail{}, done: make(chan struct{})}
	var keep io.Writer = io.Discard
	if d := os.Getenv("DEVPROXY_BENCH_LOGS"); d != "" {
		f, err := os.Create(filepath.Join(d, fmt.Sprintf("%s-%d.log", role, cmd.Process.Pid)))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { go func() { <-c.done; f.Close() }() }()
		keep = f
	}
	listening := make(chan string, 1)
	go func() {
		defer close(c.done)
		defer output.Close()
		sc := bufio.NewScanner(output)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(keep, line)
			c.logs.add(line)
			if m := gcLine.FindStringSubmatch(line); m != nil {
				c.gcCPU.Store(m[1])
				continue
			}
			if m := listenLine.FindStringSubmatch(line); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, output)
	}()
	b.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	if role == "agent" {
		return c
	}
	select {
	case c.url = <-listening:
	case <-c.done:
		b.Fatalf("%s exited before listening:\n%s", role, c.logs)
	case <-time.After(30 * time.Second):
		b.Fatalf("%s: no listening line in 30s:\n%s", role, c.logs)
	}
	return c
}

// gcPercent is the share of CPU time the child's garbage collector took,
// in percent (0 when gctrace was off).
func (c *child) gcPercent() float64 {
	var p float64
	if s, ok := c.gcCPU.Load().(string); ok {
		fmt.Sscan(s, &p)
	}
	return p
}

// stop sends SIGINT, waits for the process to exit and returns its peak
// resident memory in bytes.
func (c *child) stop(b *testing.B) int64 {
	b.Helper()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		b.Fatal(err)
	}
	<-c.done
	if err := c.cmd.Wait(); err != nil {
		b.Fatalf("%s: %v\n%s", c.name, err, c.logs)
	}
	ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatalf("%s: no resource usage", c.name)
	}
	return ru.Maxrss << 10 // KiB on Linux
}

// tail keeps the last lines of a log, for a failure's message.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 40 {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// registerBackend registers the backend "web" for every path on the relay
// and returns its agent token.
func registerBackend(b *testing.B, relay, admin string) string {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, relay+"/api/backends", strings.NewReader(`{"id":"web","pathPrefixes":["/"]}`))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var created struct{ AgentToken string }
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != http.StatusCreated {
		b.Fatalf("registering a backend: %d %v", res.StatusCode, err)
	}
	return created.AgentToken
}

// waitFor polls url until it answers size bytes with 200 (the agent has
// connected), for up to 30 seconds.
func waitFor(b *testing.B, url string, size int64) {
	b.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := client.Get(url)
		if err == nil {
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && n == size {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not answer 200 with %d bytes after 30s (last error %v)", url, size, err)
		}
		time.Sleep(100 * time.Millisecond) // polling a server: there is nothing to wait on
	}
}

// load downloads url (size bytes each) with memClients clients for
// memLoadFor and returns the rate in MiB/s. A short or failed answer fails
// the benchmark.
func load(b *testing.B, url string, size int64) float64 {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: memClients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), memLoadFor)
	defer cancel()
	var moved atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range memClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.CompareAndSwap(nil, err.Error())
					}
					return
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if ctx.Err() != nil {
					return
				}
				if res.StatusCode != http.StatusOK || n != size {
					failed.CompareAndSwap(nil, fmt.Sprintf("%s: %d with %d bytes, want 200 with %d", url, res.StatusCode, n, size))
					return
				}
				moved.Add(n)
			}
		}()
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	return float64(moved.Load()) / (1 << 20) / time.Since(start).Seconds()
}
