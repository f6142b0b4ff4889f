package match

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// grpcFrame is one length-prefixed message.
func grpcFrame(flag byte, payload string) []byte {
	b := make([]byte, 5, 5+len(payload))
	b[0] = flag
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// grpcSamples are calls of every protocol the gRPC keys read, and
// exchanges that must not pass for one.
func grpcSamples() map[string]*record.Exchange {
	call := func(path, ct string, resp *record.Response) *record.Exchange {
		return &record.Exchange{
			State:    record.Done,
			Request:  record.Request{Method: "POST", URL: "http://localhost:8080" + path, Header: record.Fields{{Name: "Content-Type", Value: ct}}},
			Response: resp,
		}
	}
	grpcResp := func(header, trailer record.Fields) *record.Response {
		return &record.Response{Status: 200, Header: append(record.Fields{{Name: "Content-Type", Value: "application/grpc"}}, header...), Trailer: trailer}
	}
	webTrailer := string(grpcFrame(0x80, "grpc-status: 14\r\ngrpc-message: down\r\n"))
	xs := map[string]*record.Exchange{
		"unaryOK": call("/devproxy.test.v1.Echo/Unary", "application/grpc", grpcResp(nil, record.Fields{{Name: "Grpc-Status", Value: "0"}})),
		"trailersOnly": call("/devproxy.test.v1.Echo/ServerStream", "application/grpc+proto",
			grpcResp(record.Fields{{Name: "Grpc-Status", Value: "5"}, {Name: "Grpc-Message", Value: "no%20such"}}, nil)),
		"inflight": call("/users.v1.Users/GetUser", "application/grpc", nil),
		"webMessages": call("/users.v1.Users/ListUsers", "application/grpc-web+proto",
			&record.Response{Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "application/grpc-web+proto"}}}),
		"webBody": call("/users.v1.Users/DeleteUser", "application/grpc-web",
			&record.Response{Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "application/grpc-web"}},
				Body: record.Body{Bytes: append(grpcFrame(0, "x"), webTrailer...), Complete: true}}),
		"connectStream": call("/chat.v1.Chat/Talk", "application/connect+json",
			&record.Response{Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "application/connect+json"}}}),
		"connectUnary": {
			State: record.Done,
			Request: record.Request{Method: "POST", URL: "http://localhost:8080/chat.v1.Chat/Say",
				Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "Connect-Protocol-Version", Value: "1"}}},
			Response: &record.Response{Status: 403, Header: record.Fields{{Name: "Content-Type", Value: "application/json"}},
				Body: record.Body{Bytes: []byte(`{"code":"permission_denied","message":"no"}`), Complete: true}},
		},
		"connectGet": {
			State:    record.Done,
			Request:  record.Request{Method: "GET", URL: "http://localhost:8080/chat.v1.Chat/Get?connect=v1&encoding=json&message=%7B%7D"},
			Response: &record.Response{Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "application/json"}}},
		},
		"rest": {
			State:    record.Done,
			Request:  record.Request{Method: "POST", URL: "http://localhost:8080/Echo/Unary", Header: record.Fields{{Name: "Content-Type", Value: "application/json"}}},
			Response: &record.Response{Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "application/json"}}},
		},
		"websocket": {
			State: record.Done, Upgraded: true,
			Request:  record.Request{Method: "GET", URL: "http://localhost:8080/ws"},
			Response: &record.Response{Status: 101, Header: record.Fields{{Name: "Upgrade", Value: "websocket"}}},
			Messages: []record.Message{{Dir: record.ToClient, Opcode: 2, Payload: []byte(`{"error":{"code":"internal"}}`)}},
		},
	}
	xs["webMessages"].Messages = []record.Message{
		{Dir: record.ToServer, Payload: []byte("q")},
		{Dir: record.ToClient, Payload: []byte("a")},
		{Dir: record.ToClient, Opcode: 0x80, Payload: []byte("grpc-status: 13\r\n")},
	}
	xs["connectStream"].Messages = []record.Message{
		{Dir: record.ToClient, Payload: []byte(`{"text":"hi"}`)},
		{Dir: record.ToClient, Opcode: 0x02, Payload: []byte(`{"error":{"code":"resource_exhausted","message":"slow down"}}`)},
	}
	return xs
}

func TestGRPCKeys(t *testing.T) {
	xs := grpcSamples()
	names := []string{"connectGet", "connectStream", "connectUnary", "inflight", "rest", "trailersOnly", "unaryOK", "webBody", "webMessages", "websocket"}
	for _, tt := range []struct{ expr, want string }{
		{"grpc", "connectGet connectStream connectUnary inflight trailersOnly unaryOK webBody webMessages"},
		{"-grpc", "rest websocket"},
		{`"grpc"`, "inflight trailersOnly unaryOK webBody webMessages"}, // text: the Content-Type
		{"grpc-status:OK", "connectGet unaryOK"},
		{"grpc-status:0", "connectGet unaryOK"},
		{"grpc-status:NOT_FOUND", "trailersOnly"},
		{"grpc-status:not_found", "trailersOnly"},
		{"grpc-status:NotFound", "trailersOnly"},
		{"grpc-status:5", "trailersOnly"},
		{"grpc-status:INTERNAL", "webMessages"},             // trailer frame among the messages
		{"grpc-status:UNAVAILABLE", "webBody"},              // trailer frame in the captured body
		{"grpc-status:RESOURCE_EXHAUSTED", "connectStream"}, // end of stream
		{"grpc-status:permission_denied", "connectUnary"},   // Connect's error body
		{"grpc-status:internal,unavailable", "webBody webMessages"},
		{"-grpc-status:OK", "connectStream connectUnary inflight rest trailersOnly webBody webMessages websocket"},
		{"grpc -grpc-status:OK", "connectStream connectUnary inflight trailersOnly webBody webMessages"},
		{"rpc:Echo", "trailersOnly unaryOK"},
		{"rpc:echo/unary", "unaryOK"},
		{"rpc:devproxy.test.v1.Echo/Unary", "unaryOK"},
		{"rpc:Echo/*", "trailersOnly unaryOK"},
		{"rpc:*.Echo/*Stream", "trailersOnly"},
		{"rpc:Users/*User", "inflight webBody"},
		{"rpc:users.v1.*", "inflight webBody webMessages"},
		{"rpc:*/Get*", "connectGet inflight"},
		{"rpc:Chat", "connectGet connectStream connectUnary"},
		{"rpc:Unary", "unaryOK"}, // not the REST path /Echo/Unary
	} {
		f, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		var got []string
		for _, name := range names {
			if f.Match(xs[name], env) {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%q matched [%s], want [%s]", tt.expr, g, tt.want)
		}
	}
}

func TestGRPCKeyErrors(t *testing.T) {
	for _, tt := range []struct{ expr, msg string }{
		{"grpc-status:NOT_FOUDN", "did you mean NOT_FOUND?"},
		{"grpc-status:unavailabel", "did you mean UNAVAILABLE?"},
		{"grpc-status:nope", "want a gRPC status name"},
		{"grpc-status:-1", "want a gRPC status name"},
		{"grpc-status:OK,", "want a gRPC status name"},
		{"grpc-status:", "needs a value"},
		{"rpc:[a-", "bad glob"},
		{"rcp:Echo", "did you mean rpc:?"},
		{"grpc-stat:OK", "did you mean grpc-status:?"},
	} {
		_, err := Parse(tt.expr)
		var fe *Error
		if !errors.As(err, &fe) || fe.Token != tt.expr || !strings.Contains(fe.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %v, want an error on the token saying %q", tt.expr, err, tt.msg)
		}
	}
}

func TestGRPCKeysPhaseAndString(t *testing.T) {
	for _, tt := range []struct {
		expr, canon string
		phase       Phase
	}{
		{"grpc", "grpc", PhaseRequest},
		{"rpc:Echo/*", "rpc:Echo/*", PhaseRequest},
		{"grpc-status:not_found", "grpc-status:not_found", PhaseResponse},
		{`"grpc" "limited" "mocked"`, `"grpc" "limited" "mocked"`, PhaseResponse}, // text that would read as words stays quoted
	} {
		m, err := Parse(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != tt.canon || m.Phase() != tt.phase || m.NeedsBodies() != (tt.phase == PhaseResponse && strings.HasPrefix(tt.expr, `"`)) {
			t.Errorf("%q: canonical %q, phase %v, bodies %v", tt.expr, m.String(), m.Phase(), m.NeedsBodies())
		}
	}
	// Matching a call by name or status allocates nothing when the name is
	// plain text and the status is in the trailers.
	x := grpcSamples()["unaryOK"]
	for _, expr := range []string{"grpc", "rpc:echo", "grpc-status:OK"} {
		m, _ := Parse(expr)
		if n := testing.AllocsPerRun(100, func() { m.Match(x, Env{}) }); n != 0 {
			t.Errorf("%s: Match allocates %v times, want 0", expr, n)
		}
	}
}
