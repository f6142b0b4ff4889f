package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// frame builds one frame. rsv is the RSV bits as they sit in the first
// byte (0x40 is RSV1); key, when not nil, masks the payload; ext forces
// the 16-bit (2) or 64-bit (8) length form.
type frame struct {
	fin     bool
	rsv     byte
	op      byte
	payload []byte
	key     []byte
	ext     int
}

func (f frame) bytes() []byte {
	b0 := f.rsv | f.op
	if f.fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var mask byte
	if f.key != nil {
		mask = 0x80
	}
	n := len(f.payload)
	switch {
	case f.ext == 8 || n > 0xffff:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	case f.ext == 2 || n > 125:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|byte(n))
	}
	p := append([]byte(nil), f.payload...)
	if f.key != nil {
		out = append(out, f.key...)
		for i := range p {
			p[i] ^= f.key[i%4]
		}
	}
	return append(out, p...)
}

func stream(fs ...frame) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f.bytes()...)
	}
	return b
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

var key = []byte{0x37, 0xfa, 0x21, 0x3d}

// parse feeds data to a parser in chunks of the given size (0: all at
// once) and returns what it reported.
func parse(t *testing.T, max int, data []byte, chunk int) ([]Message, []error) {
	t.Helper()
	var msgs []Message
	var errs []error
	p := &Parser{Max: max, Message: func(m Message) { msgs = append(msgs, m) }, Error: func(err error) { errs = append(errs, err) }}
	if chunk <= 0 {
		chunk = len(data) + 1
	}
	for len(data) > 0 {
		k := min(chunk, len(data))
		if n, err := p.Write(data[:k]); n != k || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		data = data[k:]
	}
	if !errors.Is(p.Err(), firstErr(errs)) {
		t.Errorf("Err() = %v, reported %v", p.Err(), errs)
	}
	return msgs, errs
}

func firstErr(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

func TestParseMessages(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: 64-bit length
	mid := bytes.Repeat([]byte("ab"), 150)          // 300 bytes: 16-bit length
	cases := []struct {
		name string
		max  int
		data []byte
		want []Message
	}{
		{"text from the server", 1 << 20, stream(frame{fin: true, op: OpText, payload: []byte("hello")}),
			[]Message{{Opcode: OpText, Size: 5, Payload: []byte("hello")}}},
		{"masked text from the client", 1 << 20, stream(frame{fin: true, op: OpText, payload: []byte("hello"), key: key}),
			[]Message{{Opcode: OpText, Size: 5, Payload: []byte("hello")}}},
		{"16-bit length", 1 << 20, stream(frame{fin: true, op: OpBinary, payload: mid, key: key}),
			[]Message{{Opcode: OpBinary, Size: 300, Payload: mid}}},
		{"64-bit length", 1 << 20, stream(frame{fin: true, op: OpBinary, payload: big}),
			[]Message{{Opcode: OpBinary, Size: 70000, Payload: big}}},
		{"long forms of a short length", 1 << 20, stream(frame{fin: true, op: OpText, payload: []byte("x"), ext: 2}, frame{fin: true, op: OpText, payload: []byte("y"), ext: 8, key: key}),
			[]Message{{Opcode: OpText, Size: 1, Payload: []byte("x")}, {Opcode: OpText, Size: 1, Payload: []byte("y")}}},
		{"empty message", 1 << 20, stream(frame{fin: true, op: OpText, key: key}),
			[]Message{{Opcode: OpText}}},
		{"fragments with a ping between", 1 << 20, stream(
			frame{op: OpText, payload: []byte("frag"), key: key},
			frame{fin: true, op: OpPing, payload: []byte("are you there"), key: key},
			frame{op: OpContinuation, payload: []byte("men"), key: []byte{1, 2, 3, 4}},
			frame{fin: true, op: OpContinuation, payload: []byte("ted"), key: key},
		), []Message{
			{Opcode: OpPing, Size: 13, Payload: []byte("are you there")},
			{Opcode: OpText, Size: 10, Payload: []byte("fragmented")},
		}},
		{"close with code and reason", 1 << 20, stream(frame{fin: true, op: OpClose, payload: closePayload(4001, "bye now"), key: key}),
			[]Message{{Opcode: OpClose, Size: 9, Payload: closePayload(4001, "bye now"), CloseCode: 4001, CloseReason: "bye now"}}},
		{"close without payload", 1 << 20, stream(frame{fin: true, op: OpClose}),
			[]Message{{Opcode: OpClose}}},
		{"pong", 1 << 20, stream(frame{fin: true, op: OpPong, payload: []byte{1, 2}}),
			[]Message{{Opcode: OpPong, Size: 2, Payload: []byte{1, 2}}}},
		{"compressed (RSV1 on the first frame only)", 1 << 20, stream(
			frame{rsv: 0x40, op: OpText, payload: []byte{0xf2, 0x48}, key: key},
			frame{fin: true, op: OpContinuation, payload: []byte{0xcd, 0xc9, 0xc9, 0x07, 0x00}, key: key},
			frame{fin: true, op: OpText, payload: []byte("plain")},
		), []Message{
			{Opcode: OpText, Size: 7, Payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, Compressed: true},
			{Opcode: OpText, Size: 5, Payload: []byte("plain")},
		}},
		{"truncated at the cap, over fragments", 6, stream(
			frame{op: OpBinary, payload: []byte("abcd"), key: key},
			frame{fin: true, op: OpContinuation, payload: []byte("efghij"), key: key},
			frame{fin: true, op: OpText, payload: []byte("klmnopq")},
		), []Message{
			{Opcode: OpBinary, Size: 10, Payload: []byte("abcdef"), Truncated: true},
			{Opcode: OpText, Size: 7, Payload: []byte("klmnop"), Truncated: true},
		}},
		{"cap 0 keeps sizes and close codes", 0, stream(
			frame{fin: true, op: OpText, payload: []byte("secret"), key: key},
			frame{fin: true, op: OpClose, payload: closePayload(1000, "done"), key: key},
		), []Message{
			{Opcode: OpText, Size: 6, Truncated: true},
			{Opcode: OpClose, Size: 6, Truncated: true, CloseCode: 1000, CloseReason: "done"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 2, 3, 7, 64} {
				got, errs := parse(t, c.max, c.data, chunk)
				if len(errs) > 0 {
					t.Fatalf("chunk %d: errors %v", chunk, errs)
				}
				if !reflect.DeepEqual(normalize(got), normalize(c.want)) {
					t.Fatalf("chunk %d:\n got %s\nwant %s", chunk, show(got), show(c.want))
				}
			}
		})
	}
}

// normalize makes an empty payload nil, so that cases need not care.
func normalize(ms []Message) []Message {
	out := append([]Message(nil), ms...)
	for i := range out {
		if len(out[i].Payload) == 0 {
			out[i].Payload = nil
		}
	}
	return out
}

func show(ms []Message) string {
	var b strings.Builder
	for _, m := range ms {
		p := m.Payload
		if len(p) > 40 {
			p = p[:40]
		}
		fmt.Fprintf(&b, "\n  op=%d size=%d payload=%q truncated=%v compressed=%v close=%d/%q", m.Opcode, m.Size, p, m.Truncated, m.Compressed, m.CloseCode, m.CloseReason)
	}
	return b.String()
}

func TestParseProtocolErrors(t *testing.T) {
	good := frame{fin: true, op: OpText, payload: []byte("ok"), key: key}.bytes()
	cases := []struct {
		name string
		data []byte
		want string
		at   int // where the bad frame starts, if not right after the good one
	}{
		{"reserved opcode", stream(frame{fin: true, op: 0x3}), "reserved opcode 0x3", 0},
		{"reserved control opcode", stream(frame{fin: true, op: 0xB}), "reserved opcode 0xb", 0},
		{"RSV2", stream(frame{fin: true, rsv: 0x20, op: OpText}), "RSV2/RSV3", 0},
		{"RSV3", stream(frame{fin: true, rsv: 0x10, op: OpText}), "RSV2/RSV3", 0},
		{"RSV1 on a control frame", stream(frame{fin: true, rsv: 0x40, op: OpPing}), "control frame (opcode 0x9) with RSV1", 0},
		{"control frame over 125 bytes", stream(frame{fin: true, op: OpPing, payload: make([]byte, 126)}), "of 126 bytes", 0},
		{"fragmented control frame", stream(frame{op: OpClose}), "fragmented control frame", 0},
		{"continuation without a message", stream(frame{fin: true, op: OpContinuation}), "no message to continue", 0},
		{"data frame inside a fragmented message", stream(frame{op: OpText, payload: []byte("a")}, frame{fin: true, op: OpBinary}), "before the previous message's final fragment", 11},
		{"64-bit length with its top bit set", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, "most significant bit", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := append(append(append([]byte(nil), good...), c.data...), good...)
			for _, chunk := range []int{0, 1, 5} {
				got, errs := parse(t, 100, data, chunk)
				if len(errs) != 1 || !errors.Is(errs[0], ErrProtocol) || !strings.Contains(errs[0].Error(), c.want) {
					t.Fatalf("chunk %d: errors %v, want one about %q", chunk, errs, c.want)
				}
				at := max(c.at, len(good))
				if !strings.Contains(errs[0].Error(), fmt.Sprintf("frame at byte %d:", at)) {
					t.Errorf("error %q does not say where the frame starts (byte %d)", errs[0], at)
				}
				// The message before the error is reported; nothing after it.
				if len(got) != 1 || string(got[0].Payload) != "ok" {
					t.Errorf("chunk %d: messages %s", chunk, show(got))
				}
			}
		})
	}
}

// A peer can declare any length and send fragments forever: the parser
// holds at most Max bytes however much arrives.
func TestParseMemoryBounded(t *testing.T) {
	const max = 1000
	chunk := bytes.Repeat([]byte{'x'}, 4096)

	t.Run("declared 2^63-1", func(t *testing.T) {
		p := &Parser{Max: max}
		p.Write([]byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		for range 256 {
			p.Write(chunk)
		}
		if cap(p.data.buf) > max || p.data.size != 256*4096 || p.Err() != nil {
			t.Errorf("cap %d size %d err %v", cap(p.data.buf), p.data.size, p.Err())
		}
	})
	t.Run("endless fragments", func(t *testing.T) {
		var got []Message
		p := &Parser{Max: max, Message: func(m Message) { got = append(got, m) }}
		p.Write(frame{op: OpBinary, payload: chunk}.bytes())
		for range 256 {
			p.Write(frame{op: OpContinuation, payload: chunk, key: key}.bytes())
		}
		if cap(p.data.buf) > max || p.Err() != nil || len(got) != 0 {
			t.Errorf("cap %d err %v messages %d", cap(p.data.buf), p.Err(), len(got))
		}
		p.Write(frame{fin: true, op: OpContinuation, key: key}.bytes())
		if len(got) != 1 || got[0].Size != 257*4096 || len(got[0].Payload) != max || !got[0].Truncated || got[0].Payload[max-1] != 'x' {
			t.Errorf("message %s", show(got))
		}
	})
}

// Each message's payload is its own memory: the parser does not reuse it.
func TestParsePayloadIsFresh(t *testing.T) {
	var got []Message
	p := &Parser{Max: 100, Message: func(m Message) { got = append(got, m) }}
	p.Write(stream(frame{fin: true, op: OpText, payload: []byte("first")}, frame{fin: true, op: OpPing, payload: []byte("p1")}))
	p.Write(stream(frame{fin: true, op: OpText, payload: []byte("second")}, frame{fin: true, op: OpPing, payload: []byte("p2")}))
	if len(got) != 4 || string(got[0].Payload) != "first" || string(got[1].Payload) != "p1" || string(got[2].Payload) != "second" || string(got[3].Payload) != "p2" {
		t.Errorf("messages %s", show(got))
	}
}

func TestParseClose(t *testing.T) {
	for _, c := range []struct {
		in     []byte
		code   int
		reason string
	}{
		{nil, 0, ""},
		{[]byte{3}, 0, ""},
		{closePayload(1000, ""), 1000, ""},
		{closePayload(1001, "going away"), 1001, "going away"},
		{closePayload(4000, "bad \xff byte"), 4000, "bad \uFFFD byte"},
	} {
		if code, reason := ParseClose(c.in); code != c.code || reason != c.reason {
			t.Errorf("ParseClose(%q) = %d, %q; want %d, %q", c.in, code, reason, c.code, c.reason)
		}
	}
}
