package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
)

// frame is one length-prefixed message with the given flag byte.
func frame(flag byte, payload string) []byte {
	b := make([]byte, 5, 5+len(payload))
	b[0] = flag
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

func frames(fs ...[]byte) []byte { return bytes.Join(fs, nil) }

// grpcBackend serves h with HTTP/1.1 and h2c (the transport speaks h2c
// to a plain target for application/grpc requests).
func grpcBackend(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	b := httptest.NewUnstartedServer(h)
	b.Config.Protocols = new(http.Protocols)
	b.Config.Protocols.SetHTTP1(true)
	b.Config.Protocols.SetUnencryptedHTTP2(true)
	b.Start()
	t.Cleanup(b.Close)
	return b
}

// grpcRig is a rig whose recorder keeps limit bytes of each body and
// message, in front of backend h. Its proxy speaks HTTP/1.1 and h2c; its
// client HTTP/1.1.
func grpcRig(t *testing.T, limit int64, h http.HandlerFunc) *rig {
	t.Helper()
	rec := record.NewRecorder(record.Limits{MaxBodyCapture: limit})
	r := newRigFor(t, grpcBackend(t, h), func(o *Options, _ *TransportOptions) { o.Tap = rec })
	r.rec = rec
	r.proxy.Close()
	r.proxy = httptest.NewUnstartedServer(r.handler)
	r.proxy.Config.Protocols = new(http.Protocols)
	r.proxy.Config.Protocols.SetHTTP1(true)
	r.proxy.Config.Protocols.SetUnencryptedHTTP2(true)
	r.proxy.Start()
	t.Cleanup(r.proxy.Close)
	return r
}

// post sends body with Content-Type ct through the rig and returns the
// response's body and trailers.
func (r *rig) post(path, ct string, body io.Reader) (string, http.Header) {
	r.t.Helper()
	req, err := http.NewRequest("POST", r.proxy.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	res, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	got := readAll(r.t, res)
	return got, res.Trailer
}

// msg is what a test expects of a recorded message.
type msg struct {
	dir        record.Direction
	op         byte
	payload    string
	size       int64
	truncated  bool
	compressed bool
}

func checkMessages(t *testing.T, x record.Exchange, want []msg) {
	t.Helper()
	if len(x.Messages) != len(want) {
		t.Fatalf("%d messages recorded, want %d: %+v", len(x.Messages), len(want), x.Messages)
	}
	for i, w := range want {
		m := x.Messages[i]
		if w.size == 0 {
			w.size = int64(len(w.payload))
		}
		if m.Dir != w.dir || m.Opcode != w.op || string(m.Payload) != w.payload || m.Size != w.size ||
			m.Truncated != w.truncated || m.Compressed != w.compressed || m.Time.IsZero() {
			t.Errorf("message %d: %v op %#x %q size %d truncated %v compressed %v time %v;\nwant %v op %#x %q size %d truncated %v compressed %v",
				i, m.Dir, m.Opcode, m.Payload, m.Size, m.Truncated, m.Compressed, m.Time, w.dir, w.op, w.payload, w.size, w.truncated, w.compressed)
		}
		if i > 0 && m.Time.Before(x.Messages[i-1].Time) {
			t.Errorf("message %d is stamped before the one before it", i)
		}
	}
}

// TestGRPCMessagesRecorded posts a framed gRPC body with a plain HTTP/1.1
// client (the proxy speaks h2c upstream): each message each way is
// recorded with its flag byte, size and payload, cut at the capture
// limit, and the bodies are captured as before.
func TestGRPCMessagesRecorded(t *testing.T) {
	big := strings.Repeat("x", 100)
	r := grpcRig(t, 64, func(w http.ResponseWriter, req *http.Request) {
		in, _ := io.ReadAll(req.Body)
		w.Header().Set("Content-Type", "application/grpc+proto")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write(frames(frame(0, "world"), frame(0, ""), frame(1, "gz")))
		w.Header().Set("Grpc-Status", "0")
		if req.ProtoMajor != 2 || len(in) != 5+5+5+2+5+100 {
			t.Errorf("backend got %s with %d body bytes", req.Proto, len(in))
		}
	})
	body := frames(frame(0, "hello"), frame(1, "zz"), frame(0, big))
	got, _ := r.post("/pkg.Svc/Method", "application/grpc", bytes.NewReader(body))
	if want := string(frames(frame(0, "world"), frame(0, ""), frame(1, "gz"))); got != want {
		t.Fatalf("client got %q", got)
	}
	x := r.waitDone(1)[0]
	checkMessages(t, x, []msg{
		{dir: record.ToServer, op: 0, payload: "hello"},
		{dir: record.ToServer, op: 1, payload: "zz", compressed: true},
		{dir: record.ToServer, op: 0, payload: big[:64], size: 100, truncated: true},
		{dir: record.ToClient, op: 0, payload: "world"},
		{dir: record.ToClient, op: 0, payload: ""},
		{dir: record.ToClient, op: 1, payload: "gz", compressed: true},
	})
	if x.Request.Body.Size != int64(len(body)) || !x.Request.Body.Truncated || x.Response.Body.Size != 22 {
		t.Errorf("bodies: request %d bytes (truncated %v), response %d", x.Request.Body.Size, x.Request.Body.Truncated, x.Response.Body.Size)
	}
	if _, ok := x.Mark("grpc"); ok || x.Err != nil {
		t.Errorf("marks %v, error %v: a well-formed call was reported broken", x.Marks, x.Err)
	}
}

// TestGRPCWebMessagesRecorded: gRPC-Web (binary, over HTTP/1.1) keeps its
// trailer frame as a message with flag 0x80; gRPC-Web text is decoded
// from base64 as it passes; a response without a Content-Type is split
// as the request's protocol.
func TestGRPCWebMessagesRecorded(t *testing.T) {
	trailers := "grpc-status: 5\r\ngrpc-message: gone\r\n"
	reply := frames(frame(0, "a"), frame(0x80, trailers))
	r := grpcRig(t, 0, func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		switch req.URL.Path {
		case "/web/M":
			w.Header().Set("Content-Type", "application/grpc-web+proto")
			// Two writes, the second in the middle of a message.
			w.Write(reply[:8])
			w.(http.Flusher).Flush()
			w.Write(reply[8:])
		case "/text/M":
			w.Header().Set("Content-Type", "application/grpc-web-text")
			// Padded at each flush, as a server does.
			w.Write([]byte(base64.StdEncoding.EncodeToString(frame(0, "a"))))
			w.(http.Flusher).Flush()
			w.Write([]byte(base64.StdEncoding.EncodeToString(frame(0x80, trailers))))
		case "/untyped/M":
			w.Header()["Content-Type"] = nil // no type, and none sniffed
			w.Write(reply)
		}
	})
	for i, c := range []struct{ path, ct string }{
		{"/web/M", "application/grpc-web+proto"},
		{"/text/M", "application/grpc-web-text"},
		{"/untyped/M", "application/grpc-web"},
	} {
		req := frame(0, "q")
		if c.ct == "application/grpc-web-text" {
			req = []byte(base64.StdEncoding.EncodeToString(req))
		}
		r.post(c.path, c.ct, bytes.NewReader(req))
		x := recordtestWait(t, r, i+1)
		checkMessages(t, x, []msg{
			{dir: record.ToServer, op: 0, payload: "q"},
			{dir: record.ToClient, op: 0, payload: "a"},
			{dir: record.ToClient, op: 0x80, payload: trailers},
		})
		if code, m, ok := grpcwire.StatusOf(nil, grpcwire.Message{Trailer: true, Payload: x.Messages[2].Payload}.Trailers()); !ok || code != 5 || m != "gone" {
			t.Errorf("%s: trailer frame reads as %d %q %v", c.path, code, m, ok)
		}
	}
}

// recordtestWait waits for the rig's nth exchange to finish.
func recordtestWait(t *testing.T, r *rig, n int) record.Exchange {
	t.Helper()
	snap := r.waitDone(n)
	return snap[n-1]
}

// TestGRPCMalformedMarkedOnce: a body that is not framing gets one mark
// and no messages from then on; the other direction goes on; a body of
// another type is not split at all.
func TestGRPCMalformedMarkedOnce(t *testing.T) {
	r := grpcRig(t, 0, func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		// For the JSON request too: the request's type decides.
		w.Header().Set("Content-Type", "application/grpc")
		w.Write(frame(0, "fine"))
	})
	r.post("/pkg.Svc/M", "application/grpc", strings.NewReader(string(frame(0, "ok"))+"GET / HTTP/1.1\r\n\r\n"+string(frame(0, "after"))))
	x := recordtestWait(t, r, 1)
	checkMessages(t, x, []msg{{dir: record.ToServer, op: 0, payload: "ok"}, {dir: record.ToClient, op: 0, payload: "fine"}})
	var marks []record.Mark
	for _, m := range x.Marks {
		if m.Stage == "grpc" {
			marks = append(marks, m)
		}
	}
	if len(marks) != 1 || !strings.Contains(marks[0].Value, "messages from the client no longer recorded") || !strings.Contains(marks[0].Value, "flag byte 0x47") {
		t.Errorf("grpc marks %v, want one naming the client and the bad flag", marks)
	}

	r.post("/json", "application/json", bytes.NewReader(frame(0, "looks framed")))
	if x := recordtestWait(t, r, 2); len(x.Messages) != 0 || len(x.Marks) != 0 {
		t.Errorf("a JSON exchange got messages %+v, marks %v", x.Messages, x.Marks)
	}
}

// waitMessages waits until the rig's only exchange has n messages and
// returns it; it fails if the exchange finished first.
func waitMessages(t *testing.T, r *rig, n int) record.Exchange {
	t.Helper()
	sub := r.rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(testTimeout)
	for {
		if snap := r.rec.Snapshot(); len(snap) == 1 && len(snap[0].Messages) >= n {
			return snap[0]
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("timed out waiting for %d messages: %+v", n, r.rec.Snapshot())
		}
	}
}

// TestGRPCMessagesLive: each message is on record while the call is
// still open, each way: the client's second message and the server's
// second reply are sent only once the first is recorded.
func TestGRPCMessagesLive(t *testing.T) {
	next := make(chan struct{})
	r := grpcRig(t, 0, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		// Echo each request message as it arrives.
		var buf [5 + 2]byte
		for {
			if _, err := io.ReadFull(req.Body, buf[:]); err != nil {
				break
			}
			w.Write(buf[:])
			w.(http.Flusher).Flush()
		}
		<-next
		w.Write(frame(0, "zz"))
	})
	r.client = h2cClient(t) // bidirectional streams need HTTP/2
	pr, pw := io.Pipe()
	done := make(chan string, 1)
	go func() {
		got, _ := r.post("/pkg.Svc/Bidi", "application/grpc", pr)
		done <- got
	}()
	pw.Write(frame(0, "m1"))
	x := waitMessages(t, r, 2)
	if x.State != record.InFlight {
		t.Fatal("the call finished early")
	}
	checkMessages(t, x, []msg{{dir: record.ToServer, payload: "m1"}, {dir: record.ToClient, payload: "m1"}})
	pw.Write(frame(0, "m2"))
	x = waitMessages(t, r, 4)
	checkMessages(t, x, []msg{{dir: record.ToServer, payload: "m1"}, {dir: record.ToClient, payload: "m1"}, {dir: record.ToServer, payload: "m2"}, {dir: record.ToClient, payload: "m2"}})
	pw.Close()
	close(next)
	if got := <-done; got != string(frames(frame(0, "m1"), frame(0, "m2"), frame(0, "zz"))) {
		t.Errorf("client got %q", got)
	}
	x = recordtestWait(t, r, 1)
	if len(x.Messages) != 5 || string(x.Messages[4].Payload) != "zz" {
		t.Errorf("finished call has messages %+v", x.Messages)
	}
}

// TestGRPCMessagesCappedAndStored: a call of more messages than an
// exchange keeps records the first record.MaxMessages and counts the
// rest; a session file stores them, and shows them once reopened.
func TestGRPCMessagesCappedAndStored(t *testing.T) {
	const extra = 7
	r := grpcRig(t, 0, func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Write(frame(0, "done"))
	})
	var body bytes.Buffer
	for i := range record.MaxMessages + extra - 1 {
		body.Write(frame(byte(i%2), string(rune('a'+i%26))))
	}
	r.post("/pkg.Svc/ClientStream", "application/grpc", &body)
	x := recordtestWait(t, r, 1)
	if len(x.Messages) != record.MaxMessages || x.MessagesDropped != extra {
		t.Fatalf("%d messages kept, %d dropped; want %d, %d", len(x.Messages), x.MessagesDropped, record.MaxMessages, extra)
	}
	if m := x.Messages[record.MaxMessages-1]; m.Dir != record.ToServer || m.Opcode != 1 || string(m.Payload) != string(rune('a'+(record.MaxMessages-1)%26)) {
		t.Errorf("last kept message %+v", m)
	}

	path := filepath.Join(t.TempDir(), "s.db")
	s, err := session.Open(path, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Offer(x) {
		t.Fatal("Offer refused")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = session.Open(path, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Load(x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessagesDropped != extra || len(got.Messages) != len(x.Messages) {
		t.Fatalf("reopened session: %d messages (%d dropped)", len(got.Messages), got.MessagesDropped)
	}
	for i, m := range got.Messages {
		w := x.Messages[i]
		if !m.Time.Equal(w.Time) {
			t.Fatalf("message %d: time %v, want %v", i, m.Time, w.Time)
		}
		m.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(m, w) {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, m, w)
		}
	}
}

// TestGRPCMessagesRealServer calls a grpc-go server through serve (h2c
// in and out) with grpc-go's client: a server stream's request and
// replies are recorded as messages, with the trailer status beside them.
func TestGRPCMessagesRealServer(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{NoReflection: true})
	target, _ := url.Parse(srv.URL)
	rec := record.NewRecorder(record.Limits{})
	tr, err := NewTransport(TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	h, err := New(Options{Target: target, Tap: rec, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Listen(ServerOptions{Listen: "127.0.0.1:0", Tap: rec}, h)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ps.Serve() }()
	t.Cleanup(func() { _ = ps.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := grpctest.NewClient(grpctest.Dial(t, strings.TrimPrefix(ps.URL(), "http://"), nil))
	st, err := c.ServerStream(ctx, grpctest.Req{Text: "hello, grpc", Count: 3, ReplySize: 10})
	if err != nil {
		t.Fatal(err)
	}
	resps, err := st.All()
	if err != nil || len(resps) != 3 {
		t.Fatalf("%d replies, %v", len(resps), err)
	}
	x := (&rig{t: t, rec: rec}).waitDone(1)[0]
	send, recv := byDir(x)
	if len(send) != 1 || len(recv) != 3 {
		t.Fatalf("%d sent, %d received messages; want 1, 3", len(send), len(recv))
	}
	text, ok := grpcwire.DecodeRaw(send[0].Payload)
	if !ok || !strings.Contains(text, `1: "hello, grpc"`) {
		t.Errorf("request message decodes as %q", text)
	}
	for i, m := range recv {
		if m.Opcode != 0 || m.Compressed || m.Size != int64(len(m.Payload)) || m.Size < 10 {
			t.Errorf("reply %d: %+v", i, m)
		}
	}
	if x.Response == nil || x.Response.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("response %+v", x.Response)
	}
}
