package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/rules"
)

// BenchmarkThrottle measures how closely `throttle RATE` holds one
// exchange to its rate: each run sends about two seconds' worth of body
// through proxy.Handler with a rules stage, down (GET of a body of known
// length) and up (POST of a chunked body the backend reads), and reports
//
//   - ratio: bytes / elapsed / configured rate (1.00 is exact; above 1 is
//     faster than asked);
//   - lag-ms: the largest amount by which the bytes seen so far trail or
//     lead the ideal line size/rate (the stream's unevenness), in ms;
//   - for the slow-3g preset, the ratio is against latency + size/rate.
//
// Unthrottled reports the same transfer without a rule, to show that
// the proxy itself is far from being the limit.
//
//	flock /tmp/bench.lock go test ./bench -run NONE -bench Throttle -benchtime 1x
func BenchmarkThrottle(b *testing.B) {
	cases := []struct {
		name, rule string
		down, up   float64 // bytes per second
		latency    time.Duration
	}{
		{"50KB", "throttle 50000B/s", 50_000, 50_000, 0},
		{"1MiB", "throttle 1MiB/s", 1 << 20, 1 << 20, 0},
		{"8MiB", "throttle 8MiB/s", 8 << 20, 8 << 20, 0},
		{"slow-3g", "throttle slow-3g", 50_000, 50_000, 2 * time.Second},
	}
	for _, c := range cases {
		srv := serveThrottled(b, "* => "+c.rule)
		b.Run(c.name+"/down", func(b *testing.B) {
			measureThrottle(b, srv, "down", c.down, c.latency)
		})
		b.Run(c.name+"/up", func(b *testing.B) {
			measureThrottle(b, srv, "up", c.up, c.latency)
		})
	}
	b.Run("Unthrottled/down", func(b *testing.B) {
		srv := serveThrottled(b, "")
		size := 64 << 20
		var elapsed time.Duration
		for b.Loop() {
			start := time.Now()
			n := transfer(b, srv, "down", size, nil)
			elapsed += time.Since(start)
			if n != int64(size) {
				b.Fatalf("moved %d of %d bytes", n, size)
			}
		}
		b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/(1<<20), "MiB/s")
	})
}

// throttleServer is a proxy with a rule in front of a backend that sends
// /down?n=N bytes and reads what is posted to /up, telling upProgress.
type throttleServer struct {
	url        string
	upProgress atomic.Pointer[func(int64)]
}

// serveThrottled starts a throttleServer with the rule (none for "").
func serveThrottled(b *testing.B, rule string) *throttleServer {
	srv := &throttleServer{}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/up" {
			buf := make([]byte, 32<<10)
			var n int64
			progress := srv.upProgress.Load()
			for {
				k, err := r.Body.Read(buf)
				n += int64(k)
				if k > 0 && progress != nil {
					(*progress)(n)
				}
				if err != nil {
					break
				}
			}
			io.WriteString(w, strconv.FormatInt(n, 10))
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := bytes.Repeat([]byte("t"), 32<<10)
		for n > 0 {
			k, err := w.Write(chunk[:min(n, len(chunk))])
			if err != nil {
				return
			}
			n -= k
		}
	}))
	b.Cleanup(be.Close)
	var stages []proxy.Stage
	if rule != "" {
		r, err := rules.Parse(rule)
		if err != nil {
			b.Fatal(err)
		}
		set, err := rules.New([]rules.Rule{r}, rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		stages = append(stages, set)
	}
	target, _ := url.Parse(be.URL)
	h, err := proxy.New(proxy.Options{Target: target, Tap: record.NewRecorder(record.Limits{}), Logger: quiet, Stages: stages})
	if err != nil {
		b.Fatal(err)
	}
	s := httptest.NewServer(h)
	b.Cleanup(s.Close)
	srv.url = s.URL
	return srv
}

// measureThrottle moves two seconds' worth of bytes at bps each run and
// reports the ratio to the configured rate and the largest lag.
func measureThrottle(b *testing.B, srv *throttleServer, dir string, bps float64, latency time.Duration) {
	size := int(2 * bps)
	var elapsed, want time.Duration
	var lag time.Duration
	for b.Loop() {
		start := time.Now()
		// progress sees the body as the client (down) or the backend (up)
		// reads it.
		n := transfer(b, srv, dir, size, func(done int64) {
			ideal := latency + time.Duration(float64(done)/bps*float64(time.Second))
			lag = max(lag, (time.Since(start) - ideal).Abs())
		})
		elapsed += time.Since(start)
		want += latency + time.Duration(float64(size)/bps*float64(time.Second))
		if n != int64(size) {
			b.Fatalf("moved %d of %d bytes", n, size)
		}
	}
	b.ReportMetric(want.Seconds()/elapsed.Seconds(), "ratio")
	b.ReportMetric(float64(lag)/float64(time.Millisecond), "lag-ms")
}

// transfer moves size bytes through srv, down or up, calling progress
// (when set) with the bytes that arrived so far; it returns how many
// arrived.
func transfer(b *testing.B, srv *throttleServer, dir string, size int, progress func(int64)) int64 {
	if dir == "down" {
		res, err := http.Get(srv.url + "/down?n=" + strconv.Itoa(size))
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		buf := make([]byte, 32<<10)
		var n int64
		for {
			k, err := res.Body.Read(buf)
			n += int64(k)
			if k > 0 && progress != nil {
				progress(n)
			}
			if err == io.EOF {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("u"), 4<<10)
		left := size
		for left > 0 {
			k, err := pw.Write(chunk[:min(left, len(chunk))])
			if err != nil {
				return
			}
			left -= k
		}
		pw.Close()
	}()
	if progress != nil {
		srv.upProgress.Store(&progress)
		defer srv.upProgress.Store(nil)
	}
	res, err := http.Post(srv.url+"/up", "application/octet-stream", pr)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	n, _ := strconv.ParseInt(string(got), 10, 64)
	return n
}
