package tui

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/units"
)

// grpcCodes are the names of the standard gRPC status codes, by number.
var grpcCodes = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// isGRPC reports whether x is a gRPC (or gRPC-Web) call: its request's or
// its response's Content-Type is application/grpc….
func isGRPC(x *record.Exchange) bool {
	if isGRPCType(x.Request.Header.Get("Content-Type")) {
		return true
	}
	return x.Response != nil && isGRPCType(x.Response.Header.Get("Content-Type"))
}

func isGRPCType(ct string) bool {
	return len(ct) >= len("application/grpc") && strings.EqualFold(ct[:len("application/grpc")], "application/grpc")
}

// grpcMethod is the short name of x's call, "Service/Method" from the
// path "/pkg.Service/Method", or "" when the path is not of that form.
func grpcMethod(x *record.Exchange) string {
	path := x.Request.URL
	if u, err := url.Parse(path); err == nil {
		path = u.Path
	}
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || svc == "" || method == "" || strings.Contains(method, "/") {
		return ""
	}
	if i := strings.LastIndexByte(svc, '.'); i >= 0 {
		svc = svc[i+1:]
	}
	return sanitizeLine(svc + "/" + method)
}

// grpcStatus is the name of x's gRPC status, from its grpc-status
// trailer or, in a trailers-only response, header; "" when it has none.
// An unknown code shows as its number.
func grpcStatus(x *record.Exchange) string {
	if x.Response == nil {
		return ""
	}
	v := x.Response.Trailer.Get("Grpc-Status")
	if v == "" {
		v = x.Response.Header.Get("Grpc-Status")
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < len(grpcCodes) {
		return grpcCodes[n]
	}
	return sanitizeLine(v)
}

// grpcMessage is x's grpc-message (percent-decoded), from its trailer or,
// in a trailers-only response, header.
func grpcMessage(x *record.Exchange) string {
	v := x.Response.Trailer.Get("Grpc-Message")
	if v == "" {
		v = x.Response.Header.Get("Grpc-Message")
	}
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return sanitizeLine(v)
}

// grpcPayloadRows caps the decoded rows of one gRPC message.
const grpcPayloadRows = 200

// grpcCall is a gRPC call's captured bodies split into their messages
// and decoded: the slow part of its Messages tab, done off the event
// loop (prepare) so that laying it out again at another width is cheap.
type grpcCall struct {
	req, resp grpcSide
}

// grpcSide is one direction of a call split into its messages.
type grpcSide struct {
	msgs []grpcMsg
	err  error  // what stopped the splitter, or how the body ended
	enc  string // the grpc-encoding of compressed messages
}

// grpcMsg is one message with its payload decoded.
type grpcMsg struct {
	grpcwire.Message
	captured int    // payload bytes captured
	text     string // the payload decoded; "" for a compressed one
}

// splitCall splits and decodes x's captured request and response bodies.
func splitCall(x *record.Exchange) *grpcCall {
	reqType := x.Request.Header.Get("Content-Type")
	var respType string
	if x.Response != nil {
		respType = x.Response.Header.Get("Content-Type")
	}
	c := &grpcCall{req: splitBody(x.Request.Body, reqType, respType, x.Request.Header.Get("Grpc-Encoding"))}
	if x.Response != nil {
		c.resp = splitBody(x.Response.Body, respType, reqType, x.Response.Header.Get("Grpc-Encoding"))
	}
	return c
}

// splitBody cuts a captured body into messages, by the protocol of its
// Content-Type (or the other side's, when it has none), and decodes each.
func splitBody(body record.Body, ct, other, enc string) grpcSide {
	p, ok := grpcwire.ProtocolOf(ct)
	if !ok {
		p, _ = grpcwire.ProtocolOf(other)
	}
	sp := &grpcwire.Splitter{Protocol: p, Max: len(body.Bytes)}
	msgs, err := sp.Write(body.Bytes)
	if err == nil {
		err = sp.End()
	}
	if errors.Is(err, grpcwire.ErrIncomplete) && (body.Truncated || !body.Complete) {
		err = nil // the capture stopped (said above the messages) or the call goes on
	}
	if enc == "" {
		enc = "unknown"
	}
	side := grpcSide{msgs: make([]grpcMsg, len(msgs)), err: err, enc: enc}
	for i, m := range msgs {
		gm := grpcMsg{Message: m, captured: len(m.Payload)}
		switch {
		case m.Compressed:
		case m.Trailer || m.EndStream:
			gm.text = strings.ReplaceAll(string(m.Payload), "\r\n", "\n")
		default:
			gm.text, _ = grpcwire.DecodeRaw(m.Payload)
		}
		gm.text = strings.TrimRight(gm.text, "\n")
		gm.Payload = nil // decoded; the text is what is shown
		side.msgs[i] = gm
	}
	return side
}

// grpcMessages lists the length-prefixed messages of a gRPC call's
// captured bodies: a line with the direction, number, size and flags of
// each, then its payload decoded without a schema.
func (b *builder) grpcMessages(x *record.Exchange, c *grpcCall) {
	st := b.st
	b.section(fmt.Sprintf("Messages (%d sent, %d received)", len(c.req.msgs), len(c.resp.msgs)))
	b.blank()
	b.grpcSide("→", "send", "request", c.req, &x.Request.Body)
	if x.Response != nil {
		b.grpcSide("←", "receive", "response", c.resp, &x.Response.Body)
		if gs := grpcStatus(x); gs != "" {
			line := "gRPC status " + gs
			if msg := grpcMessage(x); msg != "" {
				line += ": " + msg
			}
			style := st.ok
			if gs != "OK" {
				style = st.warnNote
			}
			b.text(line, style, 2)
		}
	} else {
		b.label2("No response yet.", st.muted)
	}
	if x.State == record.InFlight {
		b.label2("… the call is open; its messages show as they are captured.", st.inflight)
	}
}

// grpcSide lists one direction's messages (dir "send" or "receive", of
// the side's body, "request" or "response").
func (b *builder) grpcSide(arrow, dir, side string, s grpcSide, body *record.Body) {
	st := b.st
	if body.Truncated {
		b.text(fmt.Sprintf("⚠ The %s body was captured in part (%s of %s): later messages are missing.",
			side, units.Size(int64(len(body.Bytes))), units.Size(body.Size)), st.warnNote, 2)
	}
	if len(s.msgs) == 0 && s.err == nil {
		none := "No messages sent."
		if dir == "receive" {
			none = "No messages received."
		}
		b.label2(arrow+" "+none, st.muted)
	}
	style := st.methodStyle("POST")
	if arrow == "←" {
		style = st.accent
	}
	for i := range s.msgs {
		m := &s.msgs[i]
		kind := dir
		switch {
		case m.Trailer:
			kind = "trailers"
		case m.EndStream:
			kind = "end"
		}
		head := fmt.Sprintf("%s %-8s #%d  %s", arrow, kind, i+1, units.Size(m.Size))
		if m.Compressed {
			head += " · compressed"
		}
		if m.Truncated {
			head += fmt.Sprintf(" · %s captured", units.Size(int64(m.captured)))
		}
		b.labels = true
		pre, suf := affixes(style.Bold(true))
		for j, l := range wrapPlain(sanitizeLine(head), b.w(), 2) {
			if j == 0 {
				b.add(pre+arrow+suf+l[len(arrow):], l)
			} else {
				b.add(l, l)
			}
		}
		b.labels = false
		b.grpcPayload(m, s.enc)
	}
	if s.err != nil {
		b.text("⚠ The "+side+" body: "+s.err.Error(), st.warnNote, 2)
	}
	b.blank()
}

// grpcPayload shows one message's decoded payload, at most
// grpcPayloadRows rows of it.
func (b *builder) grpcPayload(m *grpcMsg, enc string) {
	switch {
	case m.Compressed:
		b.label2(fmt.Sprintf("  compressed (grpc-encoding %s): not decoded", enc), b.st.muted)
		return
	case m.text == "":
		b.label2("  (empty message)", b.st.muted)
		return
	}
	var lines []string
	for _, l := range strings.Split(m.text, "\n") {
		lines = append(lines, wrapPlain(sanitizeLine(l), b.w()-2, 0)...)
		if len(lines) > grpcPayloadRows {
			break
		}
	}
	for i, l := range lines {
		if i == grpcPayloadRows {
			b.label2("  … (more not shown)", b.st.muted)
			break
		}
		b.add("  "+l, "  "+l)
	}
}
