package session

import (
	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// redactExchange returns x with its secrets hidden at level, as a HAR
// export of x alone would hide them (Options.Redact): header and trailer
// values, URLs, the error message, mark values, bodies and message
// payloads. x's slices are shared with the recorder: they are replaced,
// never modified.
//
// A body with a Content-Encoding is decoded to be redacted, so an exchange
// that had one is stored with BodiesDecoded set, as a HAR import is; a
// body that does not decode is redacted as captured (strict redaction
// hides it whole).
func redactExchange(level redact.Level, x record.Exchange) record.Exchange {
	r := redact.New(level, body.Decoder{})
	r.Learn(&x)
	if level == redact.Strict {
		for _, m := range x.Messages {
			if !m.Compressed && m.Opcode != opClose {
				r.Learn(&record.Exchange{Request: record.Request{Body: record.Body{Bytes: m.Payload, Size: m.Size, Truncated: m.Truncated, Complete: true}}})
			}
		}
	}
	r.Seal()

	reqHeader := x.Request.Header
	x.Request.URL = r.URL(x.Request.URL)
	x.Request.UpstreamURL = r.URL(x.Request.UpstreamURL)
	x.Request.Header = redactFields(r, reqHeader)
	x.Request.Trailer = redactFields(r, x.Request.Trailer)
	if s := x.Request.Sent; s != nil {
		x.Request.Sent = &record.SentRequest{Method: s.Method, URL: r.URL(s.URL), Header: redactFields(r, s.Header)}
	}
	reqDecoded := false
	x.Request.Body, reqDecoded = redactBody(r, x.Request.Body, reqHeader, x.BodiesDecoded)
	if x.Response != nil {
		resp := *x.Response
		resp.Header = redactFields(r, x.Response.Header)
		resp.Trailer = redactFields(r, x.Response.Trailer)
		if up := resp.Upstream; up != nil {
			resp.Upstream = &record.UpstreamResponse{Status: up.Status, Header: redactFields(r, up.Header)}
		}
		respDecoded := false
		resp.Body, respDecoded = redactBody(r, resp.Body, x.Response.Header, x.BodiesDecoded)
		reqDecoded = reqDecoded || respDecoded
		x.Response = &resp
	}
	x.BodiesDecoded = x.BodiesDecoded || reqDecoded
	if x.Err != nil {
		e := *x.Err
		e.Message = r.Text(e.Message)
		x.Err = &e
	}
	if len(x.Marks) > 0 {
		ms := make([]record.Mark, len(x.Marks))
		for i, m := range x.Marks {
			m.Value = r.Text(m.Value)
			ms[i] = m
		}
		x.Marks = ms
	}
	if len(x.Messages) > 0 {
		ms := make([]record.Message, len(x.Messages))
		for i, m := range x.Messages {
			ms[i] = redactMessage(r, m)
		}
		x.Messages = ms
	}
	return x
}

// opClose is the WebSocket close opcode.
const opClose = 8

func redactFields(r *redact.Redactor, fs record.Fields) record.Fields {
	if len(fs) == 0 {
		return fs
	}
	out := make(record.Fields, len(fs))
	for i, f := range fs {
		out[i] = record.Field{Name: f.Name, Value: r.Header(f.Name, f.Value)}
	}
	return out
}

// redactBody redacts one body sent with header fields h, and reports
// whether it decoded it to do so.
func redactBody(r *redact.Redactor, b record.Body, h record.Fields, alreadyDecoded bool) (record.Body, bool) {
	if len(b.Bytes) == 0 {
		return b, false
	}
	data, _, partial, err := body.Decoder{}.Body(b, h, alreadyDecoded)
	undecodable := ""
	if err != nil {
		data, partial, undecodable = b.Bytes, false, body.ContentEncoding(h)
	}
	b.Bytes, _ = r.Body(data, h.Get("Content-Type"), b.Truncated, partial, undecodable)
	return b, err == nil && !alreadyDecoded && body.ContentEncoding(h) != ""
}

// redactMessage redacts a message's payload (a close frame's reason).
func redactMessage(r *redact.Redactor, m record.Message) record.Message {
	if m.Opcode == opClose {
		m.CloseReason = r.Text(m.CloseReason)
		if len(m.Payload) > 2 {
			m.Payload = append(m.Payload[:2:2], r.Text(string(m.Payload[2:]))...)
		}
		return m
	}
	if len(m.Payload) == 0 {
		return m
	}
	undecodable := ""
	if m.Compressed {
		undecodable = "permessage-deflate"
	}
	m.Payload, _ = r.Body(m.Payload, "", m.Truncated, false, undecodable)
	return m
}
