package invert

import (
	"encoding/binary"
	"net"
	"testing"
)

// msgConn records each Write as one message, like a WebSocket NetConn.
type msgConn struct {
	net.Conn
	msgs [][]byte
}

func (m *msgConn) Write(p []byte) (int, error) {
	m.msgs = append(m.msgs, append([]byte(nil), p...))
	return len(p), nil
}

func header(typ byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

func TestCoalescerJoinsDataFrames(t *testing.T) {
	m := &msgConn{}
	c := coalesce(m)
	steps := []struct {
		write []byte
		n     int
	}{
		{header(yamuxTypeData, 5), yamuxHeaderSize}, // held: its body follows
		{[]byte("hello"), 5},                        // sent with the header
		{header(1, 4096), yamuxHeaderSize},          // window update: no body, sent alone
		{header(yamuxTypeData, 0), yamuxHeaderSize}, // data frame without body (FIN): sent alone
		{header(2, 0), yamuxHeaderSize},             // ping
	}
	for i, s := range steps {
		n, err := c.Write(s.write)
		if err != nil || n != s.n {
			t.Fatalf("step %d: Write = %d, %v; want %d", i, n, err, s.n)
		}
	}
	if len(m.msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(m.msgs))
	}
	if got := m.msgs[0]; len(got) != yamuxHeaderSize+5 || string(got[yamuxHeaderSize:]) != "hello" {
		t.Errorf("first message %q: want header and body together", got)
	}
	for i, want := range []int{yamuxHeaderSize, yamuxHeaderSize, yamuxHeaderSize} {
		if len(m.msgs[i+1]) != want {
			t.Errorf("message %d has %d bytes, want %d", i+1, len(m.msgs[i+1]), want)
		}
	}
}
