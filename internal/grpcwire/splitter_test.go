package grpcwire

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// frame encodes one length-prefixed message.
func frame(flags byte, payload string) []byte {
	b := []byte{flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// split writes data to s in chunks of size (all at once when 0) and
// returns every message and the last error.
func split(s *Splitter, data []byte, size int) ([]Message, error) {
	var all []Message
	var err error
	for len(data) > 0 {
		k := len(data)
		if size > 0 {
			k = min(k, size)
		}
		var msgs []Message
		msgs, err = s.Write(data[:k])
		all = append(all, msgs...)
		data = data[k:]
	}
	return all, err
}

func TestSplitter(t *testing.T) {
	stream := cat(frame(0, "\x08\x96\x01"), frame(1, "gzipped"), frame(0, ""), frame(0, "0123456789"))
	want := []Message{
		{Flags: 0, Size: 3, Payload: []byte("\x08\x96\x01")},
		{Flags: 1, Compressed: true, Size: 7, Payload: []byte("gzipped")},
		{Flags: 0, Size: 0},
		{Flags: 0, Size: 10, Payload: []byte("01234567"), Truncated: true},
	}
	for _, size := range []int{0, 1, 2, 4, 5, 6, 7, 13} {
		s := &Splitter{Max: 8}
		got, err := split(s, stream, size)
		if err != nil {
			t.Fatalf("chunks of %d: %v", size, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunks of %d:\ngot  %+v\nwant %+v", size, got, want)
		}
		if err := s.End(); err != nil {
			t.Errorf("chunks of %d: End() = %v", size, err)
		}
	}
}

func TestSplitterKeepsNothingByDefault(t *testing.T) {
	got, err := (&Splitter{}).Write(frame(0, "abc"))
	want := []Message{{Size: 3, Truncated: true}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
}

func TestSplitterMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     Splitter
		data  []byte
		msgs  int
		error string
	}{
		{"flag 2", Splitter{}, cat(frame(0, "ok"), frame(2, "x")),
			1, "grpcwire: not a stream of gRPC length-prefixed messages: message at byte 7: flag byte 0x02 is not 0 (uncompressed) or 1 (compressed); the body is not gRPC"},
		{"HTTP/1 text", Splitter{}, []byte("HTTP/1.1 502 Bad Gateway\r\n"),
			0, "flag byte 0x48 is not 0"},
		{"trailer frame in gRPC", Splitter{}, frame(0x80, "grpc-status: 0\r\n"),
			0, "flag byte 0x80 marks a gRPC-Web trailer frame; read the body as gRPC-Web"},
		{"over the default limit", Splitter{}, []byte{0, 0x10, 0, 0, 1},
			0, "message at byte 0 declares 268435457 bytes, over the limit of 268435456; the body is probably not gRPC (if it is, raise the limit)"},
		{"over a set limit", Splitter{Limit: 4}, cat(frame(0, "1234"), frame(0, "12345")),
			1, "message at byte 9 declares 5 bytes, over the limit of 4"},
		{"gRPC-Web flag", Splitter{Protocol: GRPCWeb}, frame(0x02, ""),
			0, "flag byte 0x02 is not 0x00, 0x01 (compressed), 0x80 or 0x81 (trailers); the body is not gRPC-Web"},
		{"Connect flag", Splitter{Protocol: Connect}, frame(0x80, ""),
			0, "flag byte 0x80 is not 0x00, 0x01 (compressed), 0x02 or 0x03 (end of stream); the body is not Connect streaming"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			msgs, err := s.Write(tc.data)
			if len(msgs) != tc.msgs {
				t.Errorf("%d messages before the error, want %d", len(msgs), tc.msgs)
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("error %v, want one wrapping ErrMalformed containing %q", err, tc.error)
			}
			// It stops splitting: what follows is ignored, the error stays.
			msgs, err2 := s.Write(frame(0, "fine"))
			if len(msgs) != 0 || err2 != err || s.Err() != err || s.End() != err {
				t.Errorf("after the error: %d messages, Write error %v, Err %v, End %v", len(msgs), err2, s.Err(), s.End())
			}
		})
	}
}

func TestSplitterEnd(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"in prefix", string(frame(0, "ab")) + "\x00\x00", "grpcwire: stream ended inside a gRPC message: 2 of the 5 prefix bytes at byte 7; the call was cut short"},
		{"in payload", string(frame(0, "ab")) + string(frame(0, "hello")[:7]), "grpcwire: stream ended inside a gRPC message: message at byte 7 has 2 of its 5 bytes; the call was cut short"},
		{"prefix only", string(frame(0, "hello")[:5]), "message at byte 0 has 0 of its 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for size := range 4 {
				s := &Splitter{Max: 100}
				if _, err := split(s, []byte(tc.data), size); err != nil {
					t.Fatal(err)
				}
				err := s.End()
				if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("chunks of %d: End() = %v, want %q", size, err, tc.want)
				}
			}
		})
	}
}

func TestSplitterGRPCWebTrailers(t *testing.T) {
	trailer := "grpc-status: 5\r\ngrpc-message: no such user\r\nx-custom:  a b \r\n"
	s := &Splitter{Protocol: GRPCWeb, Max: 2}
	got, err := split(s, cat(frame(0, "\x08\x01"), frame(0x80, trailer)), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Trailer || !got[1].Trailer || got[1].Truncated || string(got[1].Payload) != trailer {
		t.Fatalf("got %+v", got)
	}
	want := http.Header{"Grpc-Status": {"5"}, "Grpc-Message": {"no such user"}, "X-Custom": {"a b"}}
	if h := got[1].Trailers(); !reflect.DeepEqual(h, want) {
		t.Errorf("Trailers() = %v, want %v", h, want)
	}
	if h := got[0].Trailers(); h != nil {
		t.Errorf("Trailers() of a data frame = %v", h)
	}
}

func TestSplitterConnectEndStream(t *testing.T) {
	end := `{"error":{"code":"not_found"}}`
	got, err := (&Splitter{Protocol: Connect}).Write(cat(frame(0, "x"), frame(2, end)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{{Size: 1, Truncated: true}, {Flags: 2, EndStream: true, Size: int64(len(end)), Payload: []byte(end)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestProtocolOf(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want Protocol
		ok   bool
	}{
		{"application/grpc", GRPC, true},
		{"application/grpc+proto", GRPC, true},
		{"Application/GRPC; charset=utf-8", GRPC, true},
		{"application/grpc-web", GRPCWeb, true},
		{"application/grpc-web+json", GRPCWeb, true},
		{"application/grpc-web-text", GRPCWebText, true},
		{"application/grpc-web-text+proto", GRPCWebText, true},
		{"application/connect+proto", Connect, true},
		{"application/connect", 0, false},
		{"application/proto", 0, false},
		{"application/json", 0, false},
		{"", 0, false},
		{"application/grpc;;bad", GRPC, true},
		{"APPLICATION/GRPC; charset=utf-8", GRPC, true},
		{" application/grpc", GRPC, true},
		{"application/grpcx", 0, false},
		{"application/", 0, false},
		{"text/plain", 0, false},
	} {
		got, ok := ProtocolOf(tc.ct)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ProtocolOf(%q) = %v, %v; want %v, %v", tc.ct, got, ok, tc.want, tc.ok)
		}
		if n := testing.AllocsPerRun(10, func() { ProtocolOf(tc.ct) }); n != 0 {
			t.Errorf("ProtocolOf(%q) allocates %v times", tc.ct, n)
		}
	}
}

func TestSplitterGRPCWebText(t *testing.T) {
	// Two flushes, each padded on its own, as a gRPC-Web text server
	// sends them: a message, then the trailer frame.
	body := base64.StdEncoding.EncodeToString(frame(0, "hi")) +
		base64.StdEncoding.EncodeToString(frame(0x80, "grpc-status: 0\r\n"))
	if !strings.Contains(body, "=") {
		t.Fatal("test body has no padding mid-stream")
	}
	want := []Message{
		{Size: 2, Payload: []byte("hi")},
		{Flags: 0x80, Trailer: true, Size: 16, Payload: []byte("grpc-status: 0\r\n")},
	}
	for size := range 9 {
		s := &Splitter{Protocol: GRPCWebText, Max: 10}
		got, err := split(s, []byte(body), size)
		if err != nil || s.End() != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("chunks of %d: %+v, %v, End %v", size, got, err, s.End())
		}
	}

	bad := body[:12] + "\n" + body[12:]
	for size := range 9 {
		s := &Splitter{Protocol: GRPCWebText, Max: 10}
		got, err := split(s, []byte(bad), size)
		const msg = `grpcwire: not a stream of gRPC length-prefixed messages: the gRPC-Web text body has "\ngAA", which is not base64, after decoded byte 7`
		if len(got) != 1 || err == nil || err.Error() != msg {
			t.Errorf("chunks of %d: %d messages, error %v", size, len(got), err)
		}
	}

	s := &Splitter{Protocol: GRPCWebText}
	if _, err := s.Write([]byte(body[:14])); err != nil {
		t.Fatal(err)
	}
	if err := s.End(); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "2 base64 characters left over after byte 7") {
		t.Errorf("End() = %v", err)
	}
}
