package protoschema

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/devproxy/devproxy/internal/grpctest"
)

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fullReq = grpctest.Req{Text: "hello", Number: -7, Tags: []string{"a", "b"}, Note: "n", Level: 3, Payload: []byte{1, 2}, ReplySize: 4, Delay: 1500 * time.Millisecond}

const fullReqJSON = `{
  "text": "hello",
  "number": "-7",
  "tags": [
    "a",
    "b"
  ],
  "nested": {
    "note": "n",
    "level": 3
  },
  "payload": "AQI=",
  "replySize": "4",
  "delay": "1.500s"
}`

func TestDecodeWithProto(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{grpctest.ProtoPath()}})
	d := s.Decode("http://x", unaryPath, false, marshal(t, fullReq.Message()), false, "")
	if d.JSON != fullReqJSON || d.Source != SourceProto || d.Unknown != "" || d.Raw != "" || d.Err != nil {
		t.Errorf("Decode = %+v\nwant JSON %s", d, fullReqJSON)
	}
	resp := grpctest.Resp{Text: "hi", Index: 2, ReceivedBytes: 9}.Message()
	d = s.Decode("", unaryPath, true, marshal(t, resp), false, "")
	if want := "{\n  \"text\": \"hi\",\n  \"index\": 2,\n  \"receivedBytes\": \"9\"\n}"; d.JSON != want {
		t.Errorf("response JSON = %s, want %s", d.JSON, want)
	}
	// An empty message is {}.
	if d := s.Decode("", unaryPath, true, nil, false, ""); d.JSON != "{}" || d.Err != nil {
		t.Errorf("empty message: %+v", d)
	}
}

func TestDecodeGzip(t *testing.T) {
	s := newSchemas(t, Options{DescriptorSets: []string{grpctest.DescriptorSet(t)}})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(marshal(t, fullReq.Message()))
	zw.Close()
	d := s.Decode("", unaryPath, false, buf.Bytes(), true, "gzip")
	if d.JSON != fullReqJSON || d.Source != SourceDescriptorSet || d.Err != nil {
		t.Errorf("Decode = %+v", d)
	}
	for _, tc := range []struct{ coding, want string }{
		{"", "names no grpc-encoding"},
		{"identity", "names no grpc-encoding"},
		{"snappy", `compressed with "snappy"`},
		{"deflate", "deflate message"},
	} {
		d := s.Decode("", unaryPath, false, buf.Bytes(), true, tc.coding)
		if d.Err == nil || !strings.Contains(d.Err.Error(), tc.want) || d.JSON != "" || d.Raw != "" {
			t.Errorf("Decode with %q = %+v, want an error with %q", tc.coding, d, tc.want)
		}
	}
}

// A schema older than the server: what it lacks is listed apart, under the
// path of the message it was found in.
func TestDecodeStaleSchema(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/stale/echo.proto"}})
	d := s.Decode("", unaryPath, false, marshal(t, fullReq.Message()), false, "")
	wantJSON := "{\n  \"text\": \"hello\",\n  \"nested\": {\n    \"note\": \"n\"\n  }\n}"
	wantUnknown := `$:
  2: 18446744073709551609
  3: "a"
  3: "b"
  5: "\001\002"
  6: 4
  9 {
    1: 1
    2: 500000000
  }
$.nested:
  2: 3
`
	if d.JSON != wantJSON || d.Unknown != wantUnknown || d.Err != nil {
		t.Errorf("Decode = JSON %s\nunknown:\n%s\nerr %v\nwant JSON %s\nunknown:\n%s", d.JSON, d.Unknown, d.Err, wantJSON, wantUnknown)
	}
}

// orderJSON is a shop.v1.Order using Any, maps, an enum, a Timestamp and a
// oneof, as Decode renders it.
const orderJSON = `{
  "id": "o-1",
  "items": [
    {
      "sku": "A",
      "quantity": 2,
      "price": 9.5
    }
  ],
  "bySku": {
    "A": {
      "sku": "A"
    },
    "B": {
      "quantity": 1
    }
  },
  "extra": {
    "@type": "type.googleapis.com/shop.v1.Note",
    "text": "gift"
  },
  "status": "STATUS_PAID",
  "placedAt": "2026-01-02T03:04:05Z",
  "points": "120",
  "byPosition": {
    "2": {
      "sku": "B"
    },
    "10": {
      "sku": "C"
    }
  }
}`

func TestDecodeAnyMapsEnumsOneof(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/protos"}})
	b, err := s.Encode("", placePath, false, []byte(orderJSON))
	if err != nil {
		t.Fatal(err)
	}
	d := s.Decode("", placePath, false, b, false, "")
	if d.JSON != orderJSON || d.Err != nil || d.Unknown != "" {
		t.Errorf("Decode = %+v\nwant JSON %s", d, orderJSON)
	}
	// Proto field names are accepted too.
	b2, err := s.Encode("", placePath, false, []byte(`{"by_sku": {"A": {"sku": "A"}}, "placed_at": "2026-01-02T03:04:05Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Decode("", placePath, false, b2, false, ""); !strings.Contains(d.JSON, `"bySku"`) || !strings.Contains(d.JSON, `"placedAt"`) {
		t.Errorf("Decode = %s", d.JSON)
	}
}

// Unknown fields deep in lists, maps and Any-free nesting are found, in
// field and key order.
func TestUnknownPaths(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/protos"}})
	item := func(extra byte) []byte { return []byte{0x0a, 1, 'x', 0xa0, 0x06, extra} } // sku "x", field 100 = extra
	var order []byte
	order = protowireBytes(order, 2, item(1))                  // items[0]
	order = protowireBytes(order, 2, []byte{0x0a, 1, 'y'})     // items[1], nothing unknown
	order = protowireBytes(order, 2, item(2))                  // items[2]
	order = protowireBytes(order, 3, mapEntry("k\"", item(3))) // bySku["k\""]
	order = protowireBytes(order, 9, append([]byte{0x08, 10}, protowireBytes(nil, 2, item(4))...))
	order = protowireBytes(order, 9, append([]byte{0x08, 2}, protowireBytes(nil, 2, item(5))...))
	order = append(order, 0xa8, 0x06, 7) // field 101 at the top
	d := s.Decode("", placePath, false, order, false, "")
	want := `$:
  101: 7
$.items[0]:
  100: 1
$.items[2]:
  100: 2
$.bySku["k\""]:
  100: 3
$.byPosition[2]:
  100: 5
$.byPosition[10]:
  100: 4
`
	if d.Unknown != want || d.Err != nil {
		t.Errorf("Unknown:\n%s\nerr %v\nwant:\n%s\nJSON %s", d.Unknown, d.Err, want, d.JSON)
	}
}

func protowireBytes(b []byte, field byte, v []byte) []byte {
	b = append(b, field<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func mapEntry(key string, value []byte) []byte {
	return protowireBytes(protowireBytes(nil, 1, []byte(key)), 2, value)
}

// Bytes that do not fit the schema are shown raw, with the reason.
func TestDecodeMisfit(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{grpctest.ProtoPath()}})
	for _, tc := range []struct {
		name    string
		payload []byte
		raw     string
	}{
		{"truncated", marshal(t, fullReq.Message())[:5], "# malformed: at byte 2: field 1: length 5 past the end"},
		{"wrong wire type", []byte{0x08, 0x01, 0x0a, 0x02, 0xff, 0xfe}, ""},
		{"invalid utf-8 in a string", []byte{0x0a, 0x02, 0xff, 0xfe}, "1: \"\\377\\376\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := s.Decode("", unaryPath, false, tc.payload, false, "")
			if d.JSON != "" || d.Err == nil || !strings.Contains(d.Err.Error(), "does not fit devproxy.test.v1.EchoRequest (schema from proto)") || d.Raw == "" {
				t.Fatalf("Decode = %+v", d)
			}
			if tc.raw != "" && !strings.HasPrefix(d.Raw, tc.raw) {
				t.Errorf("Raw = %q, want it to start %q", d.Raw, tc.raw)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{grpctest.ProtoPath()}})
	orig := marshal(t, fullReq.Message())
	b, err := s.Encode("", unaryPath, false, []byte(fullReqJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, orig) {
		t.Errorf("Encode = %x, want %x", b, orig)
	}
	// An edited message for replay, framed for the wire.
	edited, err := s.Encode("", unaryPath, false, []byte(`{"text": "edited", "call_id": "c1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Decode("", unaryPath, false, edited, false, ""); d.JSON != "{\n  \"text\": \"edited\",\n  \"callId\": \"c1\"\n}" {
		t.Errorf("edited = %s", d.JSON)
	}
	framed := Frame(edited)
	if framed[0] != 0 || binary.BigEndian.Uint32(framed[1:5]) != uint32(len(edited)) || !bytes.Equal(framed[5:], edited) {
		t.Errorf("Frame = %x", framed)
	}
	resp, err := s.Encode("", unaryPath, true, []byte(`{"index": 3}`))
	if err != nil || !bytes.Equal(resp, []byte{0x30, 3}) {
		t.Errorf("Encode response = %x, %v", resp, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{grpctest.ProtoPath()}})
	for _, tc := range []struct {
		name, path, json, want string
	}{
		{"unknown field", unaryPath, `{"nope": 1}`, `the JSON is not a devproxy.test.v1.EchoRequest: `},
		{"not JSON", unaryPath, `{text`, `the JSON is not a devproxy.test.v1.EchoRequest`},
		{"wrong type", unaryPath, `{"number": "x"}`, `the JSON is not a devproxy.test.v1.EchoRequest`},
		{"no schema", "/other.Svc/M", `{}`, "no schema for /other.Svc/M (server reflection is off): give its .proto with --proto"},
		{"not a method", "/", `{}`, `"/" is not a gRPC method path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Encode("", tc.path, false, []byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Encode error = %v, want %q in it", err, tc.want)
			}
		})
	}
}

// A nil *Schemas knows no schema and never panics.
func TestNilSchemas(t *testing.T) {
	var s *Schemas
	if _, _, ok := s.Method("http://x", unaryPath); ok {
		t.Error("Method found something")
	}
	if got := s.Status("http://x"); got != "" {
		t.Errorf("Status = %q", got)
	}
	d := s.Decode("http://x", unaryPath, false, []byte{0x08, 0x96, 0x01}, false, "")
	if d.Raw != "1: 150\n" || d.JSON != "" || d.Err != nil {
		t.Errorf("Decode = %+v", d)
	}
	if _, err := s.Encode("http://x", unaryPath, false, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "--proto") {
		t.Errorf("Encode error = %v", err)
	}
	s.Close()
}

func TestStatusWithoutReflection(t *testing.T) {
	s := newSchemas(t, Options{})
	if got := s.Status("http://127.0.0.1:1"); got != "reflection: off" {
		t.Errorf("Status = %q", got)
	}
	if _, _, ok := s.Method("http://127.0.0.1:1", unaryPath); ok {
		t.Error("found a method")
	}
}

func TestUpstreamKey(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:50051":       "http://127.0.0.1:50051",
		"HTTP://LocalHost:8080/":       "http://localhost:8080",
		"https://api.example.com/v1/x": "https://api.example.com",
		" http://h:1 ":                 "http://h:1",
		"":                             "",
		"127.0.0.1:50051":              "",
		"ws://h:1":                     "",
	} {
		got, ok := upstreamKey(in)
		if got != want || ok != (want != "") {
			t.Errorf("upstreamKey(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// protobuf-go panics on a map entry whose key comes twice, the second time
// with the wrong wire type; Decode shows such bytes raw.
func TestDecodeRuntimePanic(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/protos"}})
	entry := []byte{0x08, 0x30, 0x0a, 0x01, 0x30} // key 48, then key as bytes
	d := s.Decode("", placePath, false, protowireBytes(nil, 9, entry), false, "")
	if !errors.Is(d.Err, errPanic) || d.JSON != "" || !strings.HasPrefix(d.Raw, "9 {\n  1: 48\n") {
		t.Errorf("Decode = %+v", d)
	}
}
