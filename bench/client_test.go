package bench

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sendMany sends n GETs for path, with the extra header lines (each ending
// in CRLF), to the server at base over GOMAXPROCS keep-alive connections,
// checks each is a 200 with size bytes, and returns how long they took.
// Like wrk in bench/run, the client is lean (a request written by hand, the
// response read with http.ReadResponse, no Transport goroutines), so the
// time is mostly the server's.
func sendMany(b *testing.B, base, path, header string, n, size int) time.Duration {
	u, _ := url.Parse(base)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + header + "\r\n")
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for left.Add(-1) >= 0 {
				if _, err := conn.Write(req); err != nil {
					b.Error(err)
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Error(err)
					return
				}
				got, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || got != int64(size) {
					b.Errorf("%s%s: %s with %d bytes, want 200 with %d", base, path, res.Status, got, size)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
