package protoschema

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/grpcwire"
)

// fuzzMethods are the methods FuzzDecode decodes with, by its which
// argument.
var fuzzMethods = []struct {
	path     string
	response bool
}{
	{unaryPath, false},
	{unaryPath, true},
	{placePath, false},
	{placePath, true},
	{"/no.Such/Method", false}, // no schema: raw
}

// FuzzDecode decodes any bytes as any of a few messages, plain and
// gzipped. Besides never panicking: exactly one rendering comes out, and
// JSON encodes back to bytes that decode to the same JSON.
// testdata/fuzz/FuzzDecode holds seeds beside the ones added here.
func FuzzDecode(f *testing.F) {
	s, err := New(Options{Proto: []string{grpctest.ProtoPath(), "testdata/protos"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(marshal(f, fullReq.Message()), uint8(0), false)
	f.Add(marshal(f, grpctest.Resp{Text: "x", Index: 3}.Message()), uint8(1), true)
	f.Add([]byte("\x0a\x03o-1\x12\x05\x0a\x01A\x10\x02\x22\x00\x28\x02"), uint8(2), false)
	f.Add([]byte("\x0a\x02r1\x12\x04\x0a\x02ok"), uint8(3), false)
	order, err := s.Encode("", placePath, false, []byte(orderJSON))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(order, uint8(2), true)
	f.Add([]byte("\x08\x96\x01"), uint8(4), false)
	f.Add([]byte("\xff\xff\xff"), uint8(0), false)
	f.Fuzz(func(t *testing.T, payload []byte, which uint8, compressed bool) {
		m := fuzzMethods[int(which)%len(fuzzMethods)]
		wire, coding := payload, ""
		if compressed {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(payload)
			zw.Close()
			wire, coding = buf.Bytes(), "gzip"
		}
		d := s.Decode("", m.path, m.response, wire, compressed, coding)
		if errors.Is(d.Err, errPanic) && !strings.Contains(d.Err.Error(), "cannot convert nil to map key") {
			// Only the known panic (see recoverInto) is expected.
			t.Fatalf("Decode: %v", d.Err)
		}
		if d.JSON != "" && d.Raw != "" {
			t.Fatalf("JSON %q and Raw %q: want one", d.JSON, d.Raw)
		}
		if d.JSON == "" {
			if raw, _ := grpcwire.DecodeRaw(payload); d.Raw != raw {
				t.Fatalf("no JSON, and Raw %q is not DecodeRaw's %q", d.Raw, raw)
			}
			if d.Unknown != "" || d.Source != SourceNone {
				t.Fatalf("no JSON but Unknown %q, Source %q", d.Unknown, d.Source)
			}
			return
		}
		if d.Err != nil || d.Source != SourceProto {
			t.Fatalf("JSON with Err %v, Source %q", d.Err, d.Source)
		}
		b, err := s.Encode("", m.path, m.response, []byte(d.JSON))
		if err != nil {
			t.Fatalf("Decode's JSON does not encode: %v\n%s", err, d.JSON)
		}
		again := s.Decode("", m.path, m.response, b, false, "")
		if again.JSON != d.JSON || again.Unknown != "" {
			t.Fatalf("round trip changed the JSON:\n%s\nto\n%s\nunknown %q", d.JSON, again.JSON, again.Unknown)
		}
	})
}
