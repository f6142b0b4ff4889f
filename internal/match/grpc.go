package match

// The gRPC keys: grpc (the exchange is a gRPC, gRPC-Web or Connect call),
// grpc-status: (the call's status) and rpc: (its service and method).

import (
	"encoding/json"
	"strings"

	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/suggest"
)

// isGRPCCall reports whether x is a gRPC, gRPC-Web or Connect call: its
// request's or response's Content-Type is one of theirs, or it is a
// Connect unary call (a Connect-Protocol-Version header, or a GET with
// connect=v1 in its query).
func isGRPCCall(x *record.Exchange) bool {
	if _, ok := grpcwire.ProtocolOf(x.Request.Header.Get("Content-Type")); ok {
		return true
	}
	if x.Response != nil {
		if _, ok := grpcwire.ProtocolOf(x.Response.Header.Get("Content-Type")); ok {
			return true
		}
	}
	return isConnectUnary(x)
}

// isConnectUnary reports whether x is a Connect unary call, whose body
// has no envelope.
func isConnectUnary(x *record.Exchange) bool {
	if x.Request.Header.Get("Connect-Protocol-Version") != "" {
		return true
	}
	if x.Request.Method != "GET" {
		return false
	}
	_, q, _ := strings.Cut(x.Request.URL, "?")
	for p := range strings.SplitSeq(q, "&") {
		if p == "connect=v1" {
			return true
		}
	}
	return false
}

// parseGRPCStatus reads grpc-status: a status name (any case, with or
// without underscores) or number, or a list of them.
func parseGRPCStatus(t *term, v string) string {
	for _, alt := range strings.Split(v, ",") {
		code, ok := grpcwire.ParseStatus(alt)
		if !ok {
			msg := "want a gRPC status name (OK, NOT_FOUND, UNAVAILABLE, …) or number, or a list NOT_FOUND,INTERNAL"
			if best, ok := suggest.Nearest(strings.ToUpper(alt), grpcwire.StatusNames()); ok && alt != "" {
				msg = "did you mean " + best + "? " + msg
			}
			return msg
		}
		t.codes = append(t.codes, code)
	}
	return ""
}

func evalGRPCStatus(t *term, x *record.Exchange, _ Env) bool {
	code, ok := grpcStatus(x)
	if !ok {
		return false
	}
	for _, c := range t.codes {
		if c == code {
			return true
		}
	}
	return false
}

// grpcStatus is x's gRPC status: from its grpc-status trailer, or the
// headers of a trailers-only response; for gRPC-Web, from its trailer
// frame, and for Connect streaming from its end-of-stream message (the
// last recorded message from the server, or else the captured response
// body); for Connect unary, OK for a 200 and the code of its JSON error
// otherwise. ok is false when the call has none (yet).
func grpcStatus(x *record.Exchange) (int, bool) {
	rs := x.Response
	if rs == nil {
		return 0, false
	}
	if v := rs.Trailer.Get("Grpc-Status"); v != "" {
		return grpcwire.ParseStatus(v)
	}
	if v := rs.Header.Get("Grpc-Status"); v != "" {
		return grpcwire.ParseStatus(v)
	}
	p, ok := grpcwire.ProtocolOf(rs.Header.Get("Content-Type"))
	if !ok {
		p, ok = grpcwire.ProtocolOf(x.Request.Header.Get("Content-Type"))
	}
	switch {
	case ok && p != grpcwire.GRPC:
		if m, found := lastEnd(x, p); found {
			return endStatus(m)
		}
	case !ok && isConnectUnary(x):
		if rs.Status == 200 {
			return 0, true
		}
		return connectCode(rs.Body.Bytes)
	}
	return 0, false
}

// lastEnd finds the gRPC-Web trailer frame or the Connect end-of-stream
// message of x's response: among the recorded messages, else in the
// captured body.
func lastEnd(x *record.Exchange, p grpcwire.Protocol) (grpcwire.Message, bool) {
	end := func(flags byte) bool {
		if p == grpcwire.Connect {
			return flags&0x02 != 0
		}
		return flags&0x80 != 0
	}
	for i := len(x.Messages) - 1; i >= 0; i-- {
		m := &x.Messages[i]
		if m.Dir == record.ToClient && end(m.Opcode) {
			return grpcwire.Message{Flags: m.Opcode, Compressed: m.Compressed, Trailer: p != grpcwire.Connect, EndStream: p == grpcwire.Connect, Payload: m.Payload}, true
		}
	}
	if len(x.Messages) > 0 || len(x.Response.Body.Bytes) == 0 {
		return grpcwire.Message{}, false
	}
	sp := grpcwire.Splitter{Protocol: p}
	ms, _ := sp.Write(x.Response.Body.Bytes)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Trailer || ms[i].EndStream {
			return ms[i], true
		}
	}
	return grpcwire.Message{}, false
}

// endStatus reads the status in a gRPC-Web trailer frame or a Connect
// end-of-stream message (no error in it is OK).
func endStatus(m grpcwire.Message) (int, bool) {
	if m.Compressed {
		return 0, false
	}
	if m.Trailer {
		code, _, ok := grpcwire.StatusOf(nil, m.Trailers())
		return code, ok
	}
	var end struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(m.Payload, &end) != nil {
		return 0, false
	}
	if end.Error == nil {
		return 0, true
	}
	return grpcwire.ParseStatus(end.Error.Code)
}

// connectCode reads the code of a Connect unary error body.
func connectCode(b []byte) (int, bool) {
	var e struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(b, &e) != nil || e.Code == "" {
		return 0, false
	}
	return grpcwire.ParseStatus(e.Code)
}

// parseRPC reads rpc: text the call's "pkg.Service/Method" contains, or a
// glob that matches it or "Service/Method" whole (case-insensitive; *
// crosses "/" and ".").
func parseRPC(t *term, v string) string {
	t.text = strings.ToLower(v)
	return parseGlob(t, t.text)
}

func evalRPC(t *term, x *record.Exchange, _ Env) bool {
	if !isGRPCCall(x) {
		return false
	}
	path := urlPath(x.Request.URL)
	svc, method, ok := grpcwire.SplitMethod(path)
	if !ok {
		return false
	}
	if t.glob == "" {
		return containsFold(path[1:], t.text)
	}
	short := svc[strings.LastIndexByte(svc, '.')+1:] + "/" + method
	return globMatch(t.glob, strings.ToLower(path[1:])) || globMatch(t.glob, strings.ToLower(short))
}
