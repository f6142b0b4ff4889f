package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/wsframe"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// byDir splits an exchange's messages by direction.
func byDir(x record.Exchange) (send, recv []record.Message) {
	for _, m := range x.Messages {
		if m.Dir == record.ToServer {
			send = append(send, m)
		} else {
			recv = append(recv, m)
		}
	}
	return send, recv
}

// TestWebSocketMessagesRecorded talks to go-httpbin's echo through the
// proxy with a real client: text, binary, messages the client sends in
// fragments (one over the capture cap), a ping and the close handshake.
// Each is recorded once, whole, each way. (go-httpbin v2.26.0's
// max_fragment_size loops forever on a message longer than the fragment
// size, so fragments from the server are tested with a raw backend below.)
func TestWebSocketMessagesRecorded(t *testing.T) {
	rec := record.NewRecorder(record.Limits{MaxBodyCapture: 64 << 10})
	r := newRig(t, httpbin.New(), func(o *Options, _ *TransportOptions) { o.Tap = rec })
	r.rec = rec
	ctx := ctxTimeout(t)
	wsURL := "ws" + strings.TrimPrefix(r.proxy.URL, "http") + "/websocket/echo"
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: r.client})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	c.SetReadLimit(1 << 20)
	big := strings.Repeat("0123456789", 10_000) // 100,000 bytes: over the 64 KiB cap
	echo := func(typ websocket.MessageType, parts ...string) {
		t.Helper()
		w, err := c.Writer(ctx, typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if _, err := w.Write([]byte(p)); err != nil { // a frame per Write
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if want := strings.Join(parts, ""); err != nil || string(got) != want {
			t.Fatalf("echo %q, %v; want %q", truncate(got), err, truncate([]byte(want)))
		}
	}
	echo(websocket.MessageText, "hello")
	echo(websocket.MessageBinary, "\x00\x01\x02\xff")
	echo(websocket.MessageText, "frag", "men", "ted")
	// Sent in 100 frames; echoed in one, with a 64-bit length.
	var parts []string
	for i := 0; i < len(big); i += 1000 {
		parts = append(parts, big[i:i+1000])
	}
	echo(websocket.MessageText, parts...)
	ctx = c.CloseRead(ctx) // answers the pong
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// The echo answers 1000 whatever it is sent, which the client may
	// report as an error; the handshake itself completes.
	c.Close(websocket.StatusGoingAway, "see you")

	x := r.waitDone(1)[0]
	send, recv := byDir(x)
	if len(send) != 6 || len(recv) != 6 {
		t.Fatalf("%d sent and %d received messages, want 6 each: %+v", len(send), len(recv), x.Messages)
	}
	for i, ms := range [][]record.Message{send, recv} {
		dir := []string{"sent", "received"}[i]
		for j, want := range []struct {
			op      byte
			payload string
		}{{1, "hello"}, {2, "\x00\x01\x02\xff"}, {1, "fragmented"}, {1, big[:64<<10]}} {
			m := ms[j]
			if m.Opcode != want.op || string(m.Payload) != want.payload || m.Compressed || m.Time.IsZero() {
				t.Errorf("%s #%d: opcode %d payload %q compressed %v time %v; want %d %q", dir, j, m.Opcode, truncate(m.Payload), m.Compressed, m.Time, want.op, truncate([]byte(want.payload)))
			}
		}
		if m := ms[3]; m.Size != 100_000 || !m.Truncated {
			t.Errorf("%s big message: size %d truncated %v; want 100000, true", dir, m.Size, m.Truncated)
		}
		if m := ms[4]; m.Opcode != wsframe.OpPing && m.Opcode != wsframe.OpPong {
			t.Errorf("%s #4: opcode %d, want ping or pong", dir, m.Opcode)
		}
	}
	if send[4].Opcode != wsframe.OpPing || recv[4].Opcode != wsframe.OpPong || !bytes.Equal(send[4].Payload, recv[4].Payload) {
		t.Errorf("ping %d %q, pong %d %q", send[4].Opcode, send[4].Payload, recv[4].Opcode, recv[4].Payload)
	}
	if m := send[5]; m.Opcode != wsframe.OpClose || m.CloseCode != 1001 || m.CloseReason != "see you" {
		t.Errorf("client's close: opcode %d code %d reason %q", m.Opcode, m.CloseCode, m.CloseReason)
	}
	if m := recv[5]; m.Opcode != wsframe.OpClose || m.CloseCode != 1000 {
		t.Errorf("server's close: opcode %d code %d reason %q", m.Opcode, m.CloseCode, m.CloseReason)
	}
	for i := 1; i < len(send); i++ {
		if send[i].Time.Before(send[i-1].Time) {
			t.Errorf("sent message %d is stamped before the one before it", i)
		}
	}
	if _, ok := x.Mark("websocket"); ok {
		t.Errorf("marks %v: a well-formed stream was reported broken", x.Marks)
	}
}

// rawUpgrade is a backend that switches to protocol proto and then writes
// after, byte for byte, and closes.
func rawUpgrade(t *testing.T, proto string, after []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + "\r\n\r\n")
		brw.Write(after)
		brw.Flush()
	})
}

// upgrade asks for protocol proto through r and returns every byte that
// came back after the 101.
func (r *rig) upgrade(proto string) []byte {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.proxy.URL+"/up", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	res, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		r.t.Fatalf("status %d", res.StatusCode)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return got
}

func serverFrame(op byte, payload string) []byte {
	return append([]byte{0x80 | op, byte(len(payload))}, payload...)
}

// Fragments from the upstream, with a control frame between them, are
// recorded as one message, after the control frame.
func TestWebSocketFragmentsFromUpstream(t *testing.T) {
	after := []byte{0x01, 3, 'a', 'b', 'c'} // text, not final
	after = append(after, serverFrame(9, "ping")...)
	after = append(after, 0x00, 2, 'd', 'e') // continuation, not final
	after = append(after, 0x80, 1, 'f')      // continuation, final
	r := newRig(t, rawUpgrade(t, "websocket", after))
	r.upgrade("websocket")
	x := r.waitDone(1)[0]
	if len(x.Messages) != 2 || x.Messages[0].Opcode != 9 || string(x.Messages[1].Payload) != "abcdef" || x.Messages[1].Opcode != 1 || x.Messages[1].Size != 6 {
		t.Errorf("messages %+v", x.Messages)
	}
}

// A stream that stops being WebSocket (here a reserved opcode) is still
// passed through untouched; the messages before the fault are recorded,
// none after it, and a mark says why.
func TestWebSocketProtocolErrorStopsRecording(t *testing.T) {
	var after []byte
	after = append(after, serverFrame(1, "ok")...)
	after = append(after, serverFrame(3, "??")...)
	after = append(after, serverFrame(1, "unseen")...)
	r := newRig(t, rawUpgrade(t, "websocket", after))
	if got := r.upgrade("websocket"); !bytes.Equal(got, after) {
		t.Fatalf("client got %q, want the backend's bytes %q", got, after)
	}
	x := r.waitDone(1)[0]
	if len(x.Messages) != 1 || string(x.Messages[0].Payload) != "ok" || x.Messages[0].Dir != record.ToClient {
		t.Errorf("messages %+v, want only the one before the fault", x.Messages)
	}
	if v, ok := x.Mark("websocket"); !ok || !strings.Contains(v, "from the upstream no longer recorded") || !strings.Contains(v, "reserved opcode 0x3") {
		t.Errorf("mark %q, %v", v, ok)
	}
	if x.Err != nil || x.UpgradeDn != int64(len(after)) {
		t.Errorf("err %v, %d bytes down, want none and %d", x.Err, x.UpgradeDn, len(after))
	}
}

// Only WebSocket is read as frames: other upgraded protocols are counted,
// as before, but their bytes are nobody's messages.
func TestOtherUpgradeRecordsNoMessages(t *testing.T) {
	after := serverFrame(1, "looks like a frame")
	r := newRig(t, rawUpgrade(t, "h2c-ish", after))
	if got := r.upgrade("h2c-ish"); !bytes.Equal(got, after) {
		t.Fatalf("client got %q", got)
	}
	x := r.waitDone(1)[0]
	if !x.Upgraded || len(x.Messages) != 0 || len(x.Marks) != 0 {
		t.Errorf("upgraded %v, messages %+v, marks %v", x.Upgraded, x.Messages, x.Marks)
	}
}

// While capture is paused, a WebSocket passes without being parsed or
// recorded.
func TestPausedWebSocketNotRecorded(t *testing.T) {
	r := newRig(t, rawUpgrade(t, "websocket", serverFrame(1, "hi")))
	r.rec.SetPaused(true)
	if got := r.upgrade("websocket"); string(got) != string(serverFrame(1, "hi")) {
		t.Fatalf("client got %q", got)
	}
	if n := len(r.rec.Snapshot()); n != 0 {
		t.Errorf("%d exchanges recorded while paused", n)
	}
}
