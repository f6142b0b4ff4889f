package har

// WebSocket messages in HAR. HAR 1.2 has no place for them; Chrome DevTools
// writes them on the entry as "_webSocketMessages", and so does devproxy:
//
//	"_webSocketMessages": [
//	  {"type": "send", "time": 1741944413.612345, "opcode": 1, "data": "hello"},
//	  {"type": "receive", "time": 1741944413.613, "opcode": 2, "data": "AAEC/w=="}
//	]
//
// type is "send" (client to server) or "receive"; time is seconds since the
// Unix epoch (devproxy writes microseconds); opcode is the WebSocket opcode
// of the message's first frame; data is the text of a text message (opcode
// 1) and base64 of any other payload, as in the DevTools protocol. Chrome
// records data messages only; devproxy also writes close, ping and pong
// frames, whose data is likewise their payload in base64 (for a close
// frame: the two-byte status code, then the reason).
//
// devproxy adds, only where Chrome's form cannot say it:
// "_devproxyEncoding": "base64" on a text message whose bytes are not
// UTF-8 (compressed, or cut at the capture cap inside a character);
// "_devproxySize" and "_devproxyTruncated" on a message captured in part;
// "_devproxyCompressed" on a permessage-deflate message, whose data is the
// compressed bytes as sent; "_devproxyRedacted" on one hidden whole by
// redaction; "_devproxyCloseCode" and "_devproxyCloseReason" on a close
// frame whose captured payload is too short to hold them; and, on the
// entry, "_devproxyMessagesDropped", the messages not kept past the
// recorder's per-exchange limit.
//
// Payloads are bodies to redaction: known secrets are followed through
// them at every level, and strict redaction redacts each as a body of no
// declared type (JSON when it parses) and hides whole what it cannot parse
// (binary, truncated, compressed). A close reason is redacted as free text.

import (
	"encoding/base64"
	"math"
	"time"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/devproxy/devproxy/internal/wsframe"
)

// harMessage is one entry of "_webSocketMessages" as written.
type harMessage struct {
	Type        string  `json:"type"`
	Time        float64 `json:"time"`
	Opcode      int     `json:"opcode"`
	Data        string  `json:"data"`
	Encoding    string  `json:"_devproxyEncoding,omitempty"`
	Size        int64   `json:"_devproxySize,omitempty"`
	Truncated   bool    `json:"_devproxyTruncated,omitempty"`
	Compressed  bool    `json:"_devproxyCompressed,omitempty"`
	Redacted    string  `json:"_devproxyRedacted,omitempty"`
	CloseCode   int     `json:"_devproxyCloseCode,omitempty"`
	CloseReason string  `json:"_devproxyCloseReason,omitempty"`
}

// harInMessage is one entry of "_webSocketMessages" as read.
type harInMessage struct {
	Type        string   `json:"type"`
	Time        *float64 `json:"time"`
	Opcode      *float64 `json:"opcode"`
	Data        *string  `json:"data"`
	Encoding    string   `json:"_devproxyEncoding"`
	Size        *float64 `json:"_devproxySize"`
	Truncated   bool     `json:"_devproxyTruncated"`
	Compressed  bool     `json:"_devproxyCompressed"`
	CloseCode   *float64 `json:"_devproxyCloseCode"`
	CloseReason string   `json:"_devproxyCloseReason"`
}

// newHARMessages converts x's messages, redacted by r.
func newHARMessages(x *record.Exchange, r *redact.Redactor) []harMessage {
	if len(x.Messages) == 0 {
		return nil
	}
	out := make([]harMessage, len(x.Messages))
	for i, m := range x.Messages {
		out[i] = newHARMessage(m, r)
	}
	return out
}

func newHARMessage(m record.Message, r *redact.Redactor) harMessage {
	out := harMessage{
		Type:       m.Dir.String(),
		Opcode:     int(m.Opcode),
		Truncated:  m.Truncated,
		Compressed: m.Compressed,
	}
	if !m.Time.IsZero() {
		out.Time = float64(m.Time.UnixMicro()) / 1e6
	}
	data := m.Payload
	if m.Opcode == wsframe.OpClose {
		if len(data) >= 2 {
			data = append(data[:2:2], r.Text(string(data[2:]))...)
		} else if m.CloseCode != 0 {
			out.CloseCode, out.CloseReason = m.CloseCode, r.Text(m.CloseReason)
		}
	} else {
		undecodable := ""
		if m.Compressed {
			undecodable = "permessage-deflate"
		}
		var whole string
		data, whole = r.Body(data, "", m.Truncated, false, undecodable)
		out.Redacted = whole
	}
	if out.Truncated {
		out.Size = min(max(m.Size+int64(len(data)-len(m.Payload)), int64(len(data))), maxExact)
	}
	switch {
	case m.Opcode != wsframe.OpText:
		out.Data = base64.StdEncoding.EncodeToString(data)
	case utf8.Valid(data):
		out.Data = string(data)
	default:
		out.Data, out.Encoding = base64.StdEncoding.EncodeToString(data), "base64"
	}
	return out
}

// learnMessages teaches r the secrets strict redaction finds in x's
// message payloads, as it learns those of bodies, so that they are hidden
// wherever else they appear: each payload that can be read as text is
// offered as the body of an otherwise empty exchange.
func learnMessages(r *redact.Redactor, x *record.Exchange) {
	if r.Level() != redact.Strict {
		return
	}
	for _, m := range x.Messages {
		if m.Compressed || m.Opcode == wsframe.OpClose {
			continue
		}
		r.Learn(&record.Exchange{Request: record.Request{Body: record.Body{Bytes: m.Payload, Size: m.Size, Truncated: m.Truncated, Complete: true}}})
	}
}

// readMessages converts "_webSocketMessages" as read. Entries that are not
// messages (Chrome's "error" type, opcodes outside 0-15) are skipped; data
// that should be base64 and is not is taken as text, as some tools write
// binary messages.
func readMessages(in []harInMessage) []record.Message {
	var out []record.Message
	for _, hm := range in {
		op, ok := count(hm.Opcode)
		if !ok || op > 15 {
			continue
		}
		m, ok := readMessage(hm.Type, hm.Time, hm.Data, byte(op) != wsframe.OpText || hm.Encoding != "", hm.Size, hm.Truncated, hm.Compressed)
		if !ok {
			continue
		}
		m.Opcode = byte(op)
		if m.Opcode == wsframe.OpClose {
			m.CloseCode, m.CloseReason = wsframe.ParseClose(m.Payload)
			if c, ok := count(hm.CloseCode); ok && m.CloseCode == 0 && c <= math.MaxUint16 {
				m.CloseCode, m.CloseReason = int(c), hm.CloseReason
			}
		}
		out = append(out, m)
	}
	return out
}

// readMessage reads the fields a WebSocket and a gRPC message share: its
// type ("send" or "receive"; false for any other), time, data (base64
// when b64 says it should be and is, else text), size and flags.
func readMessage(typ string, at *float64, data *string, b64 bool, size *float64, truncated, compressed bool) (record.Message, bool) {
	var m record.Message
	switch typ {
	case "send":
		m.Dir = record.ToServer
	case "receive":
		m.Dir = record.ToClient
	default:
		return m, false
	}
	if at != nil && *at != 0 { // 0: no time recorded
		m.Time = time.UnixMicro(int64(max(min(math.Round(*at*1e6), maxExact), -maxExact))).UTC()
	}
	if data != nil {
		m.Payload = []byte(*data)
		if b64 {
			if b, err := harText(*data, "base64"); err == nil {
				m.Payload = b
			}
		}
	}
	n, _ := count(size)
	m.Size = max(n, int64(len(m.Payload)))
	m.Truncated = truncated || m.Size > int64(len(m.Payload))
	m.Compressed = compressed
	if len(m.Payload) == 0 {
		m.Payload = nil
	}
	return m, true
}
