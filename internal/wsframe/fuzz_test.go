package wsframe

import (
	"reflect"
	"testing"
)

// FuzzParse feeds a Parser arbitrary bytes, whole and in arbitrary chunks
// (split gives the chunk sizes, cycling). Besides never panicking: the
// chunking changes nothing, no payload is longer than Max, the parser
// never holds more than Max bytes of a message in progress, and what it
// reports is consistent (sizes, truncation, opcodes, one error at most).
func FuzzParse(f *testing.F) {
	f.Add(stream(frame{fin: true, op: OpText, payload: []byte("hello"), key: key}), []byte{1}, uint16(100))
	f.Add(stream(
		frame{op: OpText, payload: []byte("frag"), key: key},
		frame{fin: true, op: OpPing, payload: []byte("ping"), key: key},
		frame{fin: true, op: OpContinuation, payload: []byte("mented"), key: key},
		frame{fin: true, op: OpClose, payload: closePayload(1000, "bye"), key: key},
	), []byte{3, 1, 7}, uint16(4))
	f.Add(stream(frame{fin: true, op: OpBinary, payload: make([]byte, 300)}, frame{fin: true, rsv: 0x40, op: OpText, payload: []byte{1, 2}}), []byte{200, 2}, uint16(0))
	f.Add([]byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}, []byte{5}, uint16(2))
	f.Add([]byte{0x89, 126, 0, 200}, []byte{}, uint16(10))
	f.Fuzz(func(t *testing.T, data, split []byte, max16 uint16) {
		max := int(max16)
		whole, wholeErr := run(t, max, data, nil)
		chunked, chunkedErr := run(t, max, data, split)
		if !reflect.DeepEqual(whole, chunked) {
			t.Fatalf("chunking changed the messages:\nwhole   %s\nchunked %s", show(whole), show(chunked))
		}
		if errString(wholeErr) != errString(chunkedErr) {
			t.Fatalf("chunking changed the error: %v vs %v", wholeErr, chunkedErr)
		}
		for _, m := range whole {
			switch {
			case len(m.Payload) > max:
				t.Fatalf("payload of %d bytes over the cap %d", len(m.Payload), max)
			case m.Size < int64(len(m.Payload)):
				t.Fatalf("size %d under the payload's %d bytes", m.Size, len(m.Payload))
			case m.Truncated != (int64(len(m.Payload)) < m.Size):
				t.Fatalf("truncated %v with %d of %d bytes", m.Truncated, len(m.Payload), m.Size)
			case m.Opcode != OpText && m.Opcode != OpBinary && m.Opcode != OpClose && m.Opcode != OpPing && m.Opcode != OpPong:
				t.Fatalf("reported opcode %#x", m.Opcode)
			case m.Opcode&0x8 != 0 && (m.Size > maxControl || m.Compressed):
				t.Fatalf("control message of %d bytes, compressed %v", m.Size, m.Compressed)
			case m.Opcode != OpClose && (m.CloseCode != 0 || m.CloseReason != ""):
				t.Fatalf("close code on opcode %#x", m.Opcode)
			}
		}
	})
}

// run parses data, written in chunks of the sizes in split (cycling; all
// at once when split is empty), and checks the parser's own bounds as it
// goes.
func run(t *testing.T, max int, data, split []byte) ([]Message, error) {
	var msgs []Message
	errs := 0
	p := &Parser{Max: max, Message: func(m Message) { msgs = append(msgs, m) }, Error: func(error) { errs++ }}
	for i := 0; len(data) > 0; i++ {
		k := len(data)
		if len(split) > 0 {
			k = min(k, int(split[i%len(split)])+1)
		}
		if n, err := p.Write(data[:k]); n != k || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		if cap(p.data.buf) > max {
			t.Fatalf("holding %d bytes of a message in progress, cap %d", cap(p.data.buf), max)
		}
		data = data[k:]
	}
	if errs > 1 || (errs == 1) != (p.Err() != nil) {
		t.Fatalf("%d errors reported, Err() = %v", errs, p.Err())
	}
	return msgs, p.Err()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
