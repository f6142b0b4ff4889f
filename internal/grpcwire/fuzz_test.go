package grpcwire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSplitter feeds a Splitter arbitrary bytes, whole and in arbitrary
// chunks (split gives the chunk sizes, cycling). Besides never panicking:
// the chunking changes neither the messages nor the error nor End, no
// payload is longer than its cap, and what it reports is consistent.
func FuzzSplitter(f *testing.F) {
	f.Add(cat(frame(0, "\x08\x96\x01"), frame(1, "zz"), frame(0, "")), []byte{1}, uint16(100), uint8(0), uint32(0))
	f.Add(cat(frame(0, "data"), frame(0x80, "grpc-status: 0\r\n")), []byte{3, 0, 7}, uint16(2), uint8(1), uint32(0))
	f.Add(cat(frame(0, "x"), frame(2, `{}`), frame(3, "")), []byte{4}, uint16(0), uint8(2), uint32(0))
	f.Add(cat(frame(0, "12345"), frame(0, "123456")), []byte{2, 9}, uint16(3), uint8(0), uint32(5))
	f.Add([]byte("HTTP/1.1 200 OK\r\n"), []byte{}, uint16(10), uint8(0), uint32(0))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 1}, []byte{0}, uint16(10), uint8(1), uint32(0))
	f.Add([]byte("AAAAAAJoaQ==gAAAAA9ncnBjLXN0YXR1czogMA0K"), []byte{2, 5}, uint16(10), uint8(3), uint32(0))
	f.Add([]byte("AAAAAAJoaQ=\nAA"), []byte{1}, uint16(10), uint8(3), uint32(0))
	f.Fuzz(func(t *testing.T, data, split []byte, max16 uint16, proto uint8, limit uint32) {
		mk := func() *Splitter {
			return &Splitter{Protocol: Protocol(proto % 4), Max: int(max16), Limit: int64(limit)}
		}
		whole, wholeErr, wholeEnd := fuzzRun(t, mk(), data, nil)
		chunked, chunkedErr, chunkedEnd := fuzzRun(t, mk(), data, split)
		if !reflect.DeepEqual(whole, chunked) {
			t.Fatalf("chunking changed the messages:\nwhole   %+v\nchunked %+v", whole, chunked)
		}
		if errString(wholeErr) != errString(chunkedErr) || errString(wholeEnd) != errString(chunkedEnd) {
			t.Fatalf("chunking changed the errors: %v, %v vs %v, %v", wholeErr, wholeEnd, chunkedErr, chunkedEnd)
		}
		if wholeErr != nil && !errors.Is(wholeErr, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", wholeErr)
		}
		if wholeErr == nil && wholeEnd != nil && !errors.Is(wholeEnd, ErrIncomplete) {
			t.Fatalf("End() = %v does not wrap ErrIncomplete", wholeEnd)
		}
		var total int64
		for _, m := range whole {
			keep := int(max16)
			if m.Trailer || m.EndStream {
				keep = max(keep, TrailerMax)
			}
			total += 5 + m.Size
			switch {
			case len(m.Payload) > keep:
				t.Fatalf("payload of %d bytes over the cap %d", len(m.Payload), keep)
			case m.Truncated != (int64(len(m.Payload)) < m.Size):
				t.Fatalf("truncated %v with %d of %d bytes", m.Truncated, len(m.Payload), m.Size)
			case proto%4 != uint8(GRPCWebText) && string(m.Payload) != string(data[total-m.Size:][:len(m.Payload)]):
				t.Fatalf("payload %q is not the stream's bytes", m.Payload)
			case m.Compressed != (m.Flags&1 != 0):
				t.Fatalf("flags %#x, compressed %v", m.Flags, m.Compressed)
			}
		}
		if proto%4 != uint8(GRPCWebText) && wholeErr == nil && wholeEnd == nil && total != int64(len(data)) {
			t.Fatalf("messages cover %d of %d bytes, yet End() = nil", total, len(data))
		}
	})
}

// fuzzRun writes data to s in chunks of the sizes in split (cycling; all
// at once when split is empty) and checks the Splitter's own bounds as it
// goes.
func fuzzRun(t *testing.T, s *Splitter, data, split []byte) ([]Message, error, error) {
	var all []Message
	var last error
	for i := 0; len(data) > 0; i++ {
		k := len(data)
		if len(split) > 0 {
			k = min(k, int(split[i%len(split)])+1)
		}
		msgs, err := s.Write(data[:k])
		if last != nil && (len(msgs) > 0 || err != last) {
			t.Fatalf("after error %v: %d messages, error %v", last, len(msgs), err)
		}
		if cap(s.msg.Payload) > max(s.Max, TrailerMax) {
			t.Fatalf("holding %d bytes of a message in progress", cap(s.msg.Payload))
		}
		all = append(all, msgs...)
		last = err
		data = data[k:]
	}
	return all, last, s.End()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzDecodeRaw checks that DecodeRaw never panics, is deterministic,
// stays within its bounds, and says why whenever it is not ok.
func FuzzDecodeRaw(f *testing.F) {
	for _, b := range [][]byte{
		{0x08, 0x96, 0x01},
		append([]byte{0x12, 0x05}, "hello"...),
		{0x1a, 0x03, 0x08, 0x96, 0x01},
		{0x25, 1, 0, 0, 0, 0x29, 1, 2, 3, 4, 5, 6, 7, 8},
		{0x33, 0x3b, 0x08, 0x01, 0x3c, 0x34},
		{0x12, 0x02, 0xff, 0xfe},
		{0x33, 0x08},
		lenField(lenField(lenField([]byte{0x0a, 0x00}))),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		text, ok := DecodeRaw(b)
		if again, ok2 := DecodeRaw(b); again != text || ok2 != ok {
			t.Fatal("not deterministic")
		}
		if len(text) > MaxText+MaxDepth*4+64 {
			t.Fatalf("%d bytes of text", len(text))
		}
		if !utf8.ValidString(text) {
			t.Fatalf("text is not UTF-8: %q", text)
		}
		if !ok && !strings.Contains(text, "\n# ") && !strings.HasPrefix(text, "# ") {
			t.Fatalf("not ok, without a comment saying why: %q", text)
		}
		open := 0
		for line := range strings.Lines(text) {
			switch line = strings.TrimSpace(line); {
			case strings.HasSuffix(line, " {") && !strings.Contains(line, `"`):
				open++
			case line == "}":
				open--
			}
			if open < 0 || open > MaxDepth {
				t.Fatalf("blocks nest %d deep: %q", open, text)
			}
		}
		if open != 0 {
			t.Fatalf("%d blocks left open: %q", open, text)
		}
	})
}
