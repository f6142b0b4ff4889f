package protoschema

import (
	"bytes"
	"testing"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/grpcwire"
)

// BenchmarkDecode measures Decode with a schema against DecodeRaw, the
// schemaless baseline, on a small message and on one with a 64 KiB
// payload; compare the two as a ratio.
func BenchmarkDecode(b *testing.B) {
	s, err := New(Options{Proto: []string{grpctest.ProtoPath()}})
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name string
		req  grpctest.Req
	}{
		{"small", fullReq},
		{"64KiB", grpctest.Req{Text: "x", Payload: bytes.Repeat([]byte{7}, 64<<10)}},
	} {
		payload := marshal(b, m.req.Message())
		b.Run(m.name+"/raw", func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				grpcwire.DecodeRaw(payload)
			}
		})
		b.Run(m.name+"/json", func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if d := s.Decode("", unaryPath, false, payload, false, ""); d.JSON == "" {
					b.Fatal(d.Err)
				}
			}
		})
	}
}
