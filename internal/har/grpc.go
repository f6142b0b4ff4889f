package har

// gRPC calls in HAR. A gRPC, gRPC-Web or Connect streaming call is an
// ordinary HTTP exchange whose bodies are length-prefixed messages, so its
// bodies are written as base64 (postData._encoding and content.encoding
// "base64"; gRPC-Web text bodies, which are base64 already, stay as text),
// and the messages devproxy recorded as they passed are written beside
// them, on the entry:
//
//	"_devproxyGrpcMessages": [
//	  {"type": "send", "time": 1741944413.612345, "size": 7, "flags": 0,
//	   "compressed": false, "truncated": false, "data": "CgVoZWxsbw==",
//	   "decoded": "1: \"hello\"\n", "json": "{\"text\":\"hello\"}"},
//	  {"type": "receive", "time": 1741944413.613, "size": 15, "flags": 128,
//	   "compressed": false, "truncated": false, "data": "Z3JwYy1zdGF0dXM6IDANCg==",
//	   "decoded": "grpc-status: 0\r\n"}
//	]
//
// type is "send" (client to server) or "receive"; time is seconds since
// the Unix epoch (to the microsecond); size is the message's length as
// declared on the wire (less what redaction took out of it); flags is the envelope's flag byte (0 or 1
// compressed; gRPC-Web's trailer frame 0x80/0x81; Connect's end of stream
// 0x02/0x03); data is base64 of the payload as captured (compressed if it
// was sent so; truncated says the capture limit cut it). decoded is the
// payload without a schema, as `protoc --decode_raw` prints it (after
// undoing the call's grpc-encoding for a compressed one; left out when it
// cannot be undone), or, for a trailer frame or end-of-stream message, its
// text. json is the payload as JSON with field names, present only when
// the export was given a schema (Options.DecodeMessage) that knows the
// method. "redacted" says why redaction hid the payload whole; decoded is
// then left out. "_devproxyMessagesDropped" on the entry counts the
// messages not kept past the recorder's per-exchange limit.
//
// Redaction treats each payload as a body of no declared type, as it does
// WebSocket payloads; decoded is the decoding of data as exported, so it
// never shows what data hides; json, which comes from the payload as
// recorded, is redacted as a JSON body. Reading a HAR back restores the
// messages from type, time, size, flags, compressed, truncated and data.

import (
	"encoding/base64"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// harGRPCMessage is one entry of "_devproxyGrpcMessages" as written.
type harGRPCMessage struct {
	Type       string  `json:"type"`
	Time       float64 `json:"time"`
	Size       int64   `json:"size"`
	Flags      int     `json:"flags"`
	Compressed bool    `json:"compressed"`
	Truncated  bool    `json:"truncated"`
	Data       string  `json:"data"`
	Decoded    string  `json:"decoded,omitempty"`
	JSON       string  `json:"json,omitempty"`
	Redacted   string  `json:"redacted,omitempty"`
}

// harInGRPCMessage is one entry of "_devproxyGrpcMessages" as read.
type harInGRPCMessage struct {
	Type       string   `json:"type"`
	Time       *float64 `json:"time"`
	Size       *float64 `json:"size"`
	Flags      *float64 `json:"flags"`
	Compressed bool     `json:"compressed"`
	Truncated  bool     `json:"truncated"`
	Data       *string  `json:"data"`
}

// maxInflated caps what one compressed message inflates to for its
// decoded text.
const maxInflated = grpcwire.MaxText

// isGRPC reports whether x is a call whose bodies are length-prefixed
// messages: its request's or its response's Content-Type is gRPC,
// gRPC-Web or Connect streaming.
func isGRPC(x *record.Exchange) bool {
	if _, ok := grpcwire.ProtocolOf(x.Request.Header.Get("Content-Type")); ok {
		return true
	}
	if x.Response == nil {
		return false
	}
	_, ok := grpcwire.ProtocolOf(x.Response.Header.Get("Content-Type"))
	return ok
}

// grpcBase64 reports whether a body of Content-Type ct is written as
// base64 whatever its bytes: the binary framings of gRPC, gRPC-Web and
// Connect streaming, but not gRPC-Web text, which is base64 already.
func grpcBase64(ct string) bool {
	p, ok := grpcwire.ProtocolOf(ct)
	return ok && p != grpcwire.GRPCWebText
}

// newHARGRPCMessages converts x's messages, redacted by r; decode, when
// not nil, gives the JSON of each (see Options.DecodeMessage).
func newHARGRPCMessages(x *record.Exchange, r *redact.Redactor, decode func(*record.Exchange, record.Message) (string, bool)) []harGRPCMessage {
	if len(x.Messages) == 0 {
		return nil
	}
	var reqEnc, respEnc string
	reqEnc = grpcEncoding(x.Request.Header)
	if x.Response != nil {
		respEnc = grpcEncoding(x.Response.Header)
	}
	out := make([]harGRPCMessage, len(x.Messages))
	for i, m := range x.Messages {
		enc := reqEnc
		if m.Dir == record.ToClient {
			enc = respEnc
		}
		out[i] = newHARGRPCMessage(x, m, enc, r, decode)
	}
	return out
}

// grpcEncoding is the coding of the compressed messages sent with header
// fields h: grpc-encoding, or Connect's connect-content-encoding.
func grpcEncoding(h record.Fields) string {
	if v := h.Get("Grpc-Encoding"); v != "" {
		return v
	}
	return h.Get("Connect-Content-Encoding")
}

func newHARGRPCMessage(x *record.Exchange, m record.Message, enc string, r *redact.Redactor, decode func(*record.Exchange, record.Message) (string, bool)) harGRPCMessage {
	out := harGRPCMessage{
		Type:       m.Dir.String(),
		Flags:      int(m.Opcode),
		Compressed: m.Compressed,
		Truncated:  m.Truncated,
	}
	if !m.Time.IsZero() {
		out.Time = float64(m.Time.UnixMicro()) / 1e6
	}
	text := m.Opcode&0x80 != 0 || m.Opcode&0x02 != 0 // a trailer frame or an end of stream
	undecodable := ""
	if m.Compressed {
		undecodable = enc
		if undecodable == "" {
			undecodable = "unknown grpc-encoding"
		}
	}
	ct := ""
	if text && m.Opcode&0x02 != 0 {
		ct = "application/json" // Connect's end of stream
	}
	data, whole := r.Body(m.Payload, ct, m.Truncated, false, undecodable)
	// The size counts the payload as exported, as body sizes do, so that
	// one redaction shortened is not read back as truncated.
	out.Size = min(max(m.Size+int64(len(data)-len(m.Payload)), int64(len(data))), maxExact)
	out.Data = base64.StdEncoding.EncodeToString(data)
	out.Redacted = whole
	if whole == "" {
		out.Decoded = decodeGRPC(data, m.Compressed, text, enc)
	}
	if decode != nil && !text {
		if js, ok := decode(x, m); ok && js != "" {
			red, hidden := r.Body([]byte(js), "application/json", false, false, "")
			if hidden == "" {
				out.JSON = string(red)
			}
		}
	}
	return out
}

// decodeGRPC renders one payload as its decoded text: a trailer frame or
// end of stream as its text (when UTF-8), a message as DecodeRaw prints
// it, once inflated if it is compressed; "" when it cannot.
func decodeGRPC(p []byte, compressed, text bool, enc string) string {
	if compressed {
		d, err := body.InflateMessage(enc, p, maxInflated)
		if err != nil {
			return ""
		}
		p = d
	}
	if text {
		if utf8.Valid(p) {
			return string(p)
		}
		return ""
	}
	s, _ := grpcwire.DecodeRaw(p)
	return s
}

// readGRPCMessages converts "_devproxyGrpcMessages" as read. Entries that
// are not messages (another type, no data, a flag byte out of range) are
// skipped; data that is not base64 is taken as text.
func readGRPCMessages(in []harInGRPCMessage) []record.Message {
	var out []record.Message
	for _, hm := range in {
		flags, ok := count(hm.Flags)
		if !ok || flags > 0xff {
			continue
		}
		m, ok := readMessage(hm.Type, hm.Time, hm.Data, true, hm.Size, hm.Truncated, hm.Compressed)
		if !ok {
			continue
		}
		m.Opcode = byte(flags)
		out = append(out, m)
	}
	return out
}
