package grpcwire

import (
	"encoding/binary"
	"testing"
)

// BenchmarkSplitStream splits 1 MiB sent as 1,024 messages of 1 KiB, in
// 32 KiB writes, keeping every payload: the shape of a streaming call
// recorded whole.
func BenchmarkSplitStream(b *testing.B) {
	var body []byte
	msg := make([]byte, 1<<10)
	for range 1024 {
		body = append(body, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(body[len(body)-4:], uint32(len(msg)))
		body = append(body, msg...)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s := Splitter{Max: 1 << 20}
		n := 0
		for p := body; len(p) > 0; {
			k := min(len(p), 32<<10)
			ms, err := s.Write(p[:k])
			if err != nil {
				b.Fatal(err)
			}
			n += len(ms)
			p = p[k:]
		}
		if n != 1024 {
			b.Fatalf("%d messages", n)
		}
	}
}
