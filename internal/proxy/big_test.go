package proxy

import (
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

const gib = 1 << 30

// pattern is an endless reader of a repeating pattern that allocates nothing
// per read.
type pattern struct{ left int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.left {
		n = p.left
	}
	for i := range b[:n] {
		b[i] = byte('a' + i%26)
	}
	p.left -= n
	return int(n), nil
}

// heapWatch records the peak live heap, sampled as bytes flow.
type heapWatch struct {
	peak uint64
	base uint64
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &heapWatch{base: m.HeapAlloc}
}

func (h *heapWatch) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > h.peak {
		h.peak = m.HeapAlloc
	}
}

// countingReader samples the heap every 64 MiB that passes.
type countingReader struct {
	r    io.Reader
	n    int64
	next int64
	w    *heapWatch
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.n >= c.next {
		c.w.sample()
		c.next += 64 << 20
	}
	return n, err
}

// maxGrowth is the most the heap may grow over its start while a gigabyte
// streams: the 1 MiB capture of each body, buffers, and GC slack. A proxy
// that buffered the body would need over 1 GiB.
const maxGrowth = 64 << 20

// bigTimeout bounds a gigabyte's trip: these tests measure memory, not
// speed, and under -race on a busy 2-core machine 1 GiB can take over the
// usual 20 s.
const bigTimeout = 5 * time.Minute

func TestGigabyteDownloadFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB")
	}
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(gib))
		io.CopyBuffer(w, &pattern{left: gib}, make([]byte, 32<<10))
	}))
	r.client.Timeout = bigTimeout
	w := newHeapWatch()
	res := r.get("/big")
	cr := &countingReader{r: res.Body, w: w}
	n, err := io.CopyBuffer(io.Discard, cr, make([]byte, 32<<10))
	res.Body.Close()
	if err != nil || n != gib {
		t.Fatalf("read %d bytes, err %v", n, err)
	}
	if growth := int64(w.peak) - int64(w.base); growth > maxGrowth {
		t.Errorf("heap grew by %d MiB while streaming 1 GiB; want under %d MiB", growth>>20, maxGrowth>>20)
	}
	x := r.waitDone(1)[0]
	if x.Response.Body.Size != gib || len(x.Response.Body.Bytes) != record.DefaultMaxBodyCapture {
		t.Errorf("recorded size %d captured %d", x.Response.Body.Size, len(x.Response.Body.Bytes))
	}
}

func TestGigabyteUploadFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB")
	}
	w := newHeapWatch()
	r := newRig(t, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		n, err := io.CopyBuffer(io.Discard, &countingReader{r: req.Body, w: w}, make([]byte, 32<<10))
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		rw.Write([]byte(strconv.FormatInt(n, 10)))
	}))
	r.client.Timeout = bigTimeout
	req, _ := http.NewRequest("POST", r.proxy.URL+"/upload", &pattern{left: gib})
	req.ContentLength = gib
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); body != strconv.Itoa(gib) {
		t.Fatalf("backend received %s bytes", body)
	}
	if growth := int64(w.peak) - int64(w.base); growth > maxGrowth {
		t.Errorf("heap grew by %d MiB while uploading 1 GiB; want under %d MiB", growth>>20, maxGrowth>>20)
	}
	x := r.waitDone(1)[0]
	if x.Request.Body.Size != gib || !x.Request.Body.Truncated {
		t.Errorf("recorded request size %d truncated %v", x.Request.Body.Size, x.Request.Body.Truncated)
	}
}
