package invert

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/record"
)

// The relay and the agent run the same engine, so each records the
// WebSocket messages that cross it: client → relay → tunnel → agent →
// go-httpbin's echo, and back.
func TestWebSocketMessagesOverTunnel(t *testing.T) {
	r := newRig(t, ModeTunnel)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.relaySrv.URL, "http")+"/websocket/echo", &websocket.DialOptions{HTTPClient: r.client})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	binary := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 40_000) // 200,000 bytes
	sent := []struct {
		typ  websocket.MessageType
		data []byte
	}{{websocket.MessageText, []byte("hello through the tunnel")}, {websocket.MessageBinary, binary}}
	for _, m := range sent {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, m.data) {
			t.Fatalf("echo: %v (%d bytes, want %d)", err, len(got), len(m.data))
		}
	}
	// The echo answers 1000 whatever it is sent, which the client reports
	// as an error; the handshake itself completes.
	c.Close(websocket.StatusGoingAway, "see you")

	for _, side := range []struct {
		name string
		rec  *record.Recorder
	}{{"relay", r.relayRec}, {"agent", r.agentRec}} {
		x := waitDone(t, side.rec, 1)[0]
		var send, recv []record.Message
		for _, m := range x.Messages {
			if m.Dir == record.ToServer {
				send = append(send, m)
			} else {
				recv = append(recv, m)
			}
		}
		if len(send) != 3 || len(recv) != 3 {
			t.Fatalf("%s: %d sent and %d received messages, want 3 each", side.name, len(send), len(recv))
		}
		for i, ms := range [][]record.Message{send, recv} {
			for j, want := range sent {
				m := ms[j]
				if int(m.Opcode) != int(want.typ) || m.Size != int64(len(want.data)) || !bytes.Equal(m.Payload, want.data) || m.Truncated {
					t.Errorf("%s: %s message %d: opcode %d, size %d, %d bytes kept, truncated %v; want opcode %d, %d bytes whole",
						side.name, []string{"sent", "received"}[i], j, m.Opcode, m.Size, len(m.Payload), m.Truncated, want.typ, len(want.data))
				}
			}
		}
		if m := send[2]; m.Opcode != 8 || m.CloseCode != 1001 || m.CloseReason != "see you" {
			t.Errorf("%s: client's close: opcode %d, code %d, reason %q", side.name, m.Opcode, m.CloseCode, m.CloseReason)
		}
		if m := recv[2]; m.Opcode != 8 || m.CloseCode != 1000 {
			t.Errorf("%s: server's close: opcode %d, code %d", side.name, m.Opcode, m.CloseCode)
		}
	}
}
