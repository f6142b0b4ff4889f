package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// TestStreamingResponse shows each chunk reaching the client while the
// backend is still blocked before writing the next one.
func TestStreamingResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header func(http.Header)
	}{
		{"chunked", func(http.Header) {}},
		{"sse", func(h http.Header) { h.Set("Content-Type", "text/event-stream") }},
		{"content-length drip", func(h http.Header) { h.Set("Content-Length", "39") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := make(chan struct{})
			r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				tc.header(w.Header())
				for i := range 3 {
					fmt.Fprintf(w, "data: chunk%d\n", i)
					http.NewResponseController(w).Flush()
					select {
					case <-next:
					case <-req.Context().Done():
						return
					}
				}
			}))
			res := r.get("/stream")
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for i := range 3 {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if want := fmt.Sprintf("data: chunk%d\n", i); line != want {
					t.Fatalf("chunk %d = %q, want %q", i, line, want)
				}
				// Only now may the backend write the next chunk: the client
				// saw this one while the response was still open.
				next <- struct{}{}
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("expected EOF after three chunks, got %v", err)
			}
			x := r.waitDone(1)[0]
			if got := string(x.Response.Body.Bytes); got != "data: chunk0\ndata: chunk1\ndata: chunk2\n" {
				t.Errorf("recorded body %q", got)
			}
			if !x.Response.Body.Complete || x.Err != nil {
				t.Errorf("recorded complete=%v err=%v", x.Response.Body.Complete, x.Err)
			}
		})
	}
}

// TestStreamingResponseRecordedLive: the recorder holds the first chunk
// while the response is still open (what the UI shows as a growing body).
func TestStreamingResponseRecordedLive(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: one\n\n")
		http.NewResponseController(w).Flush()
		<-release
		fmt.Fprint(w, "event: two\n\n")
	}))
	sub := r.rec.Subscribe(0)
	defer sub.Close()
	res := r.get("/events")
	defer res.Body.Close()
	buf := make([]byte, 64)
	if _, err := io.ReadAtLeast(res.Body, buf, len("event: one\n\n")); err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	for {
		x, ok := r.rec.Get(1)
		if ok && x.Response != nil && string(x.Response.Body.Bytes) == "event: one\n\n" {
			if x.State != record.InFlight {
				t.Fatal("exchange finished before the stream ended")
			}
			break
		}
		select {
		case <-sub.Ready():
		case <-ctx.Done():
			t.Fatal("first event never recorded while streaming")
		}
	}
	close(release)
	readAll(t, res)
	x := r.waitDone(1)[0]
	if string(x.Response.Body.Bytes) != "event: one\n\nevent: two\n\n" {
		t.Errorf("final body %q", x.Response.Body.Bytes)
	}
}

// TestStreamingUpload shows the backend reading the first part of a request
// body before the client has written the second.
func TestStreamingUpload(t *testing.T) {
	got := make(chan string)
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		br := bufio.NewReader(req.Body)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				got <- line
			}
			if err != nil {
				break
			}
		}
		close(got)
		fmt.Fprint(w, "thanks")
	}))
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", r.proxy.URL+"/upload", pr)
	done := make(chan *http.Response, 1)
	go func() {
		res, err := r.client.Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		done <- res
	}()
	for i := range 3 {
		fmt.Fprintf(pw, "part %d\n", i)
		if line := <-got; line != fmt.Sprintf("part %d\n", i) {
			t.Fatalf("backend read %q", line)
		}
	}
	pw.Close()
	if _, open := <-got; open {
		t.Fatal("unexpected extra data")
	}
	res := <-done
	if res == nil {
		return
	}
	if body := readAll(t, res); body != "thanks" {
		t.Fatalf("body %q", body)
	}
	x := r.waitDone(1)[0]
	if string(x.Request.Body.Bytes) != "part 0\npart 1\npart 2\n" || !x.Request.Body.Complete {
		t.Errorf("recorded request body %q complete=%v", x.Request.Body.Bytes, x.Request.Body.Complete)
	}
}

func TestTrailers(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		fmt.Fprint(w, "body")
		w.Header().Set("X-Checksum", "abc123")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	}))
	res := r.get("/")
	if body := readAll(t, res); body != "body" {
		t.Fatalf("body %q", body)
	}
	if got := res.Trailer.Get("X-Checksum"); got != "abc123" {
		t.Errorf("trailer X-Checksum = %q", got)
	}
	if got := res.Trailer.Get("X-Late"); got != "late" {
		t.Errorf("unannounced trailer X-Late = %q", got)
	}
	x := r.waitDone(1)[0]
	if x.Response.Trailer.Get("X-Checksum") != "abc123" {
		t.Errorf("recorded trailers %v", x.Response.Trailer)
	}
}

func TestEarlyHints(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Connection")
		w.Header().Del("X-Hop")
		w.Header().Del("Keep-Alive")
		fmt.Fprint(w, "page")
	}))
	var hints []textproto.MIMEHeader
	var codes []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		codes = append(codes, code)
		hints = append(hints, h)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", r.proxy.URL, nil)
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); body != "page" {
		t.Fatalf("body %q", body)
	}
	if len(codes) != 1 || codes[0] != 103 {
		t.Fatalf("1xx codes %v, want [103]", codes)
	}
	if got := hints[0].Get("Link"); got != "</style.css>; rel=preload" {
		t.Errorf("103 Link = %q", got)
	}
	for _, gone := range []string{"X-Hop", "Keep-Alive", "Connection"} {
		if v := hints[0].Values(gone); len(v) > 0 {
			t.Errorf("103 carried hop-by-hop %s = %q", gone, v)
		}
	}
}

func TestWebSocketEcho(t *testing.T) {
	r := newRig(t, httpbin.New())
	ctx := ctxTimeout(t)
	wsURL := "ws" + strings.TrimPrefix(r.proxy.URL, "http") + "/websocket/echo"
	c, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: r.client})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	c.SetReadLimit(1 << 20)
	for _, msg := range []string{"hello", "devproxy", strings.Repeat("x", 100_000)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo %q, want %q", truncate(got), truncate([]byte(msg)))
		}
	}
	c.Close(websocket.StatusNormalClosure, "bye")
	x := r.waitDone(1)[0]
	if !x.Upgraded || x.Response.Status != 101 {
		t.Fatalf("recorded upgraded=%v status=%d", x.Upgraded, x.Response.Status)
	}
	if x.UpgradeUp < 100_000 || x.UpgradeDn < 100_000 {
		t.Errorf("upgrade byte counts up=%d down=%d, want ≥ 100000 each", x.UpgradeUp, x.UpgradeDn)
	}
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// TestRecordedExchange checks what the tap records for an ordinary POST.
func TestRecordedExchange(t *testing.T) {
	r := newRig(t, httpbin.New())
	req, _ := http.NewRequest("POST", r.proxy.URL+"/anything/x?q=1", bytes.NewBufferString(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Dup", "1")
	req.Header.Add("X-Dup", "2")
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	x := r.waitDone(1)[0]
	if x.Request.Method != "POST" || x.Request.URL != r.proxy.URL+"/anything/x?q=1" {
		t.Errorf("request %s %s", x.Request.Method, x.Request.URL)
	}
	if x.Request.UpstreamURL != r.backend.URL+"/anything/x?q=1" {
		t.Errorf("upstream URL %q", x.Request.UpstreamURL)
	}
	if got := x.Request.Header.Values("X-Dup"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("duplicate headers %q", got)
	}
	if string(x.Request.Body.Bytes) != `{"a":1}` || x.Request.Body.Size != 7 || !x.Request.Body.Complete {
		t.Errorf("request body %+v", x.Request.Body)
	}
	if x.Response.Status != 200 || x.Response.Reason != "OK" || string(x.Response.Body.Bytes) != body {
		t.Errorf("response %d %q body match=%v", x.Response.Status, x.Response.Reason, string(x.Response.Body.Bytes) == body)
	}
	if x.ServerAddr != strings.TrimPrefix(r.backend.URL, "http://") {
		t.Errorf("server addr %q", x.ServerAddr)
	}
	ts := x.Timings
	if ts.Send < 0 || ts.Wait < 0 || ts.Receive < 0 || ts.Blocked < 0 {
		t.Errorf("timings %+v: send, wait, receive and blocked must be measured", ts)
	}
	if ts.Connect < 0 {
		t.Errorf("a fresh connection has a connect time; timings %+v", ts)
	}
	if ts.TLS >= 0 {
		t.Errorf("plain HTTP has no TLS phase; timings %+v", ts)
	}
	// The second request reuses the connection: no connect phase.
	readAll(t, r.get("/get"))
	x2 := r.waitDone(2)[1]
	if x2.Timings.Connect >= 0 || x2.Timings.DNS >= 0 {
		t.Errorf("reused connection timings %+v", x2.Timings)
	}
}

func TestBodyCaptureIsBounded(t *testing.T) {
	const size = 3 << 20
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n, _ := io.Copy(io.Discard, req.Body)
		w.Write(bytes.Repeat([]byte("y"), size))
		_ = n
	}))
	req, _ := http.NewRequest("PUT", r.proxy.URL+"/big", bytes.NewReader(bytes.Repeat([]byte("x"), size)))
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	x := r.waitDone(1)[0]
	if err != nil || len(got) != size {
		// Say which side broke the stream, if it ever does.
		t.Fatalf("client got %d bytes (err %v), want %d: capture limits must never cut traffic; recorded err=%+v response=%v timings=%+v",
			len(got), err, size, x.Err, x.Response != nil, x.Timings)
	}
	for _, b := range []record.Body{x.Request.Body, x.Response.Body} {
		if len(b.Bytes) != record.DefaultMaxBodyCapture || b.Size != size || !b.Truncated || !b.Complete {
			t.Errorf("body captured %d of %d, truncated=%v complete=%v", len(b.Bytes), b.Size, b.Truncated, b.Complete)
		}
	}
}

// TestHeadersBeforeSlowBody: a response of known length whose body is slow
// to start still shows its headers to the client at once.
func TestHeadersBeforeSlowBody(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", "4")
		w.WriteHeader(http.StatusAccepted)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-req.Context().Done():
			return
		}
		fmt.Fprint(w, "done")
	}))
	res := r.get("/slow") // returns once headers arrive, while the body waits
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", res.StatusCode)
	}
	close(release)
	if body := readAll(t, res); body != "done" {
		t.Fatalf("body %q", body)
	}
}
