package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Once net/http hands a connection over (an upgrade: a WebSocket, a
// tunnel), the listener stops watching its bytes for HTTP requests: they
// are not requests any more, and scanning them cost a quarter of the CPU
// of a tunnel carrying 1 MiB bodies.
func TestHijackedConnIsNotScanned(t *testing.T) {
	got := make(chan *watchedConn, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, _ := r.Context().Value(connKey{}).(*watchedConn)
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		got <- wc
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(c, rw) // echo until the client closes
	})
	srv, err := Listen(ServerOptions{Listen: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	io.WriteString(c, "GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	wc := <-got
	if wc == nil {
		t.Fatal("the handler's connection is not a watched one")
	}
	// What crosses the upgraded connection looks like requests, many of
	// them: a watched connection would scan each and keep a verdict.
	req := "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
	msg := strings.Repeat(req, 200)
	io.WriteString(c, msg)
	if _, err := io.ReadFull(br, make([]byte, len(msg))); err != nil {
		t.Fatalf("echo: %v", err)
	}
	wc.mu.Lock()
	verdicts := len(wc.scan.verdicts)
	wc.mu.Unlock()
	if !wc.hijacked.Load() || verdicts > 1 {
		t.Errorf("after the upgrade: hijacked %v, %d verdicts kept; want the bytes passed through unscanned", wc.hijacked.Load(), verdicts)
	}
}
