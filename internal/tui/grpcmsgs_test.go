package tui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/protoschema"
	"github.com/devproxy/devproxy/internal/record"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// echoSchemas are the schemas of grpctest's Echo service from its .proto
// file, as --proto loads them.
func echoSchemas(t testing.TB) *protoschema.Schemas {
	t.Helper()
	s, err := protoschema.New(protoschema.Options{Proto: []string{grpctest.ProtoPath()}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// echoResponse is an EchoResponse on the wire, its fields in number
// order.
func echoResponse(t testing.TB, text string, index int32) []byte {
	t.Helper()
	d, err := grpctest.Files().FindDescriptorByName("devproxy.test.v1.EchoResponse")
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	m.Set(m.Descriptor().Fields().ByName("text"), protoreflect.ValueOfString(text))
	m.Set(m.Descriptor().Fields().ByName("index"), protoreflect.ValueOfInt32(index))
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return inOrder(t, b)
}

// echoRequest is an EchoRequest on the wire, its fields in number order.
func echoRequest(t testing.TB, r grpctest.Req) []byte {
	t.Helper()
	b, err := proto.Marshal(r.Message())
	if err != nil {
		t.Fatal(err)
	}
	return inOrder(t, b)
}

// inOrder is message b with its fields in number order (a dynamicpb
// message writes them in any order), so that goldens are stable.
func inOrder(t testing.TB, b []byte) []byte {
	t.Helper()
	type field struct {
		num protowire.Number
		raw []byte
	}
	var fs []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if n < 0 || m < 0 {
			t.Fatal("bad wire bytes")
		}
		fs = append(fs, field{num, b[:n+m]})
		b = b[n+m:]
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].num < fs[j].num })
	var out []byte
	for _, f := range fs {
		out = append(out, f.raw...)
	}
	return out
}

// serverStream is a ServerStream call of Echo, recorded with its
// messages as the engine records them: the request, three responses
// (the last one with a field the schema does not know), the trailers.
func serverStream(t testing.TB, inFlight bool) record.Exchange {
	req := echoRequest(t, grpctest.Req{Text: "hi", Count: 3, Tags: []string{"a", "b"}})
	start := t0.Add(-time.Second)
	msgs := []record.Message{{Time: start.Add(400 * time.Microsecond), Dir: record.ToServer, Size: int64(len(req)), Payload: req}}
	for i := range 3 {
		p := echoResponse(t, fmt.Sprintf("hi #%d", i), int32(i))
		if i == 2 {
			p = append(p, 0xc8, 0x01, 0x2a) // field 25 = 42: newer than the schema
		}
		msgs = append(msgs, record.Message{Time: start.Add(time.Duration(i+1) * 1500 * time.Microsecond), Dir: record.ToClient, Size: int64(len(p)), Payload: p})
	}
	x := record.Exchange{
		Role: record.RoleServe, Start: start, State: record.Done, End: start.Add(6 * time.Millisecond),
		Request: record.Request{Method: "POST", URL: "http://localhost:3000" + grpctest.ServerStreamMethod, UpstreamURL: "http://127.0.0.1:50051" + grpctest.ServerStreamMethod,
			Proto: "HTTP/2.0", Host: "localhost:3000",
			Header: hdr("Content-Type", "application/grpc", "Te", "trailers", "Grpc-Timeout", "5S", "X-Token", "t0k"),
			Body:   record.Body{Bytes: protoschema.Frame(req), Size: int64(len(req) + 5), Complete: true}},
		Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/2.0", Header: hdr("Content-Type", "application/grpc"),
			Trailer: hdr("Grpc-Status", "0"), Body: record.Body{Size: 60, Complete: true}},
		Messages: msgs,
		Timings:  record.NoTimings,
	}
	if inFlight {
		x.State, x.End, x.Response.Trailer = record.InFlight, time.Time{}, nil
		x.Messages = x.Messages[:2]
	}
	return x
}

// TestGRPCRecordedMessagesGolden compares the Messages tab of a recorded
// server stream decoded with a .proto schema, and without one, with
// testdata/TestGRPCRecordedMessagesGolden/*.golden. Regenerate with
// -update.
func TestGRPCRecordedMessagesGolden(t *testing.T) {
	s := echoSchemas(t)
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		for _, v := range []struct {
			name    string
			schemas *protoschema.Schemas
		}{{"proto", s}, {"schemaless", nil}} {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := newModel(t, newRecorder(t, serverStream(t, false)), sz[0], sz[1], func(c *Config) { c.Schemas = v.schemas })
				press(t, m, "enter", "4")
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}

// TestGRPCMessagesGrow checks that the tab of a stream in flight shows
// each message as it is recorded, and a gRPC-Web call's status from its
// trailer frame once it comes.
func TestGRPCMessagesGrow(t *testing.T) {
	rec := record.NewRecorder(record.Limits{MaxExchanges: 10})
	x := serverStream(t, false)
	x.Request.Header = hdr("Content-Type", "application/grpc-web+proto")
	r := rec.Begin(record.Begin{Role: x.Role, Start: x.Start, Request: x.Request, ContentLength: -1})
	r.Upstream(x.Request.UpstreamURL)
	r.Message(x.Messages[0])
	resp := *x.Response
	resp.Header, resp.Trailer = hdr("Content-Type", "application/grpc-web+proto"), nil
	r.Response(resp, "127.0.0.1:50051")
	m := newModel(t, rec, 120, 40, func(c *Config) { c.Schemas = echoSchemas(t) })
	press(t, m, "enter", "4")
	if s := screen(m); !strings.Contains(s, "Messages (1 sent, 0 received)") || !strings.Contains(s, "call is open") {
		t.Fatalf("before:\n%s", s)
	}
	for _, msg := range x.Messages[1:] {
		r.Message(msg)
		run(t, m, m.ApplyEvents([]record.Event{{Kind: record.EventResponseBody, ID: r.ID()}}), 0)
	}
	s := screen(m)
	for _, want := range []string{"Messages (1 sent, 3 received)", `"text": "hi #2"`, `"index": 2`, "25: 42"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	trailer := []byte("grpc-status: 5\r\ngrpc-message: gone%20away\r\n")
	r.Message(record.Message{Time: x.End, Dir: record.ToClient, Opcode: 0x80, Size: int64(len(trailer)), Payload: trailer})
	r.Finish(record.Finish{End: x.End, Timings: record.NoTimings, ResponseComplete: true})
	run(t, m, m.ApplyEvents([]record.Event{{Kind: record.EventResponseBody, ID: r.ID()}}), 0)
	s = screen(m)
	for _, want := range []string{"← trailers", "grpc-status: 5", "gRPC status NOT_FOUND: gone away", "NOT_FOUND"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
}

// TestGRPCCopyAsGrpcurl checks that c offers grpcurl for a gRPC call with
// a schema, and says why not without one.
func TestGRPCCopyAsGrpcurl(t *testing.T) {
	x := serverStream(t, false)
	m := newModel(t, newRecorder(t, x), 120, 40, func(c *Config) {
		c.Schemas = echoSchemas(t)
		c.SchemaFiles = SchemaFiles{ImportPaths: []string{"/protos"}}
	})
	press(t, m, "c")
	if s := screen(m); !strings.Contains(s, "Copy #1 as") || !strings.Contains(s, "grpcurl") {
		t.Fatalf("no copy menu:\n%s", s)
	}
	press(t, m, "g")
	got := curlText(m)
	want := strings.Join([]string{
		"grpcurl",
		"  -plaintext",
		"  -import-path /protos",
		"  -proto echo.proto",
		"  -max-time 5",
		"  -H 'x-token: t0k'",
		`  -d '{"text":"hi","tags":["a","b"],"count":3}'`,
		"  localhost:3000",
		"  devproxy.test.v1.Echo/ServerStream",
	}, " \\\n")
	if got != want {
		t.Errorf("grpcurl:\n%s\nwant\n%s", got, want)
	}

	m = newModel(t, newRecorder(t, x), 120, 40)
	press(t, m, "c")
	if s := screen(m); !strings.Contains(s, "unavailable") || !strings.Contains(s, "--proto") {
		t.Fatalf("the menu does not say why grpcurl is unavailable:\n%s", s)
	}
	press(t, m, "g")
	if curlText(m) != "" {
		t.Fatal("g copied grpcurl without a schema")
	}
	press(t, m, "c")
	if got := curlText(m); !strings.HasPrefix(got, "curl 'http://localhost:3000/devproxy.test.v1.Echo/ServerStream'") {
		t.Errorf("curl:\n%s", got)
	}
}

// TestGRPCReplayUnaryOnly checks that replay and edit refuse a streaming
// call, by its schema or, without one, by its messages.
func TestGRPCReplayUnaryOnly(t *testing.T) {
	for _, s := range []*protoschema.Schemas{echoSchemas(t), nil} {
		rp := &fakeReplayer{}
		rp.calls = nil
		m := newModel(t, newRecorder(t, serverStream(t, false)), 120, 40, func(c *Config) { c.Schemas, c.Replayer = s, rp })
		for _, k := range []string{"r", "e"} {
			press(t, m, k)
			if !strings.Contains(m.status, "server streaming gRPC call; replay is for unary calls only") {
				t.Errorf("%s (schema %v): status %q", k, s != nil, m.status)
			}
		}
		if len(rp.calls) != 0 {
			t.Errorf("a streaming call was replayed")
		}
	}
}

// TestGRPCEditJSON checks that a unary call's request is edited as JSON
// and sent encoded with its schema and framed, Content-Length left to the
// sender.
func TestGRPCEditJSON(t *testing.T) {
	s := echoSchemas(t)
	x := serverStream(t, false)
	x.Request.URL = "http://localhost:3000" + grpctest.UnaryMethod
	x.Request.UpstreamURL = "http://127.0.0.1:50051" + grpctest.UnaryMethod
	x.Messages = x.Messages[:2]
	text, err := editGRPC(&x, s, "")
	if err != nil {
		t.Fatal(err)
	}
	wantHead := "POST /devproxy.test.v1.Echo/Unary HTTP/1.1\nHost: localhost:3000\n"
	if !strings.HasPrefix(string(text), wantHead) || !strings.HasSuffix(string(text), "\n\n{\n  \"text\": \"hi\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ],\n  \"count\": 3\n}\n") {
		t.Fatalf("edit text:\n%s", text)
	}
	edited := bytes.Replace(text, []byte(`"hi"`), []byte(`"edited"`), 1)
	raw, err := encodeGRPCEdit(edited, s, "http://127.0.0.1:50051")
	if err != nil {
		t.Fatal(err)
	}
	req, err := export.ParseRaw(raw, "http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	want := protoschema.Frame(echoRequest(t, grpctest.Req{Text: "edited", Count: 3, Tags: []string{"a", "b"}}))
	if !bytes.Equal(req.Body.Bytes, want) {
		t.Errorf("body % x\nwant % x", req.Body.Bytes, want)
	}
	if req.Header.Get("Content-Type") != "application/grpc" || req.Header.Get("Content-Length") != "" {
		t.Errorf("headers %v", req.Header)
	}

	bad := bytes.Replace(text, []byte(`"count": 3`), []byte(`"count": "many"`), 1)
	var re *export.RawError
	if _, err := encodeGRPCEdit(bad, s, ""); err == nil || !errors.As(err, &re) || re.Line != 14 {
		t.Errorf("bad JSON: %v", err)
	}
}

// TestGRPCReflectionRedraws checks that the Messages tab, drawn without a
// schema while the upstream's reflection is asked, is drawn again with it
// when the answer comes (Schemas' OnChange, then a schemaChangedMsg).
func TestGRPCReflectionRedraws(t *testing.T) {
	srv := grpctest.Start(t, grpctest.Options{})
	changed := make(chan struct{}, 1)
	s, err := protoschema.New(protoschema.Options{Reflection: true, OnChange: func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	x := serverStream(t, false)
	x.Request.UpstreamURL = srv.URL + grpctest.ServerStreamMethod
	m := newModel(t, newRecorder(t, x), 120, 40, func(c *Config) { c.Schemas = s })
	press(t, m, "enter", "4")
	if sc := screen(m); !strings.Contains(sc, "No schema for devproxy.test.v1.Echo/ServerStream (reflection: ") {
		t.Fatalf("before the answer:\n%s", sc)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no reflection answer")
	}
	send(t, m, schemaChangedMsg{})
	if sc := screen(m); !strings.Contains(sc, "Schema of devproxy.test.v1.Echo/ServerStream from the server's reflection.") || !strings.Contains(sc, `"text": "hi #0"`) {
		t.Fatalf("after the answer:\n%s", sc)
	}
}

// TestGRPCStatusDetails checks that the Messages tab shows a failed call's
// grpc-status-details-bin: each detail's type, decoded with the schema
// when it knows the type, else as decode_raw.
func TestGRPCStatusDetails(t *testing.T) {
	var detail, anyMsg, st []byte
	detail = protowire.AppendTag(detail, 1, protowire.BytesType)
	detail = protowire.AppendString(detail, "quota spent")
	anyMsg = protowire.AppendTag(anyMsg, 1, protowire.BytesType)
	anyMsg = protowire.AppendString(anyMsg, "type.googleapis.com/devproxy.test.v1.ErrorDetail")
	anyMsg = protowire.AppendTag(anyMsg, 2, protowire.BytesType)
	anyMsg = protowire.AppendBytes(anyMsg, detail)
	st = protowire.AppendTag(st, 1, protowire.VarintType)
	st = protowire.AppendVarint(st, 8)
	st = protowire.AppendTag(st, 3, protowire.BytesType)
	st = protowire.AppendBytes(st, anyMsg)
	x := serverStream(t, false)
	x.Response.Trailer = hdr("Grpc-Status", "8", "Grpc-Message", "slow down", "Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(st))
	for _, tc := range []struct {
		name    string
		schemas *protoschema.Schemas
		want    []string
	}{
		{"schema", echoSchemas(t), []string{"gRPC status RESOURCE_EXHAUSTED: slow down", "detail type.googleapis.com/devproxy.test.v1.ErrorDetail", `"reason": "quota spent"`}},
		{"none", nil, []string{"gRPC status RESOURCE_EXHAUSTED: slow down", "detail type.googleapis.com/devproxy.test.v1.ErrorDetail", `1: "quota spent"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, newRecorder(t, x), 120, 60, func(c *Config) { c.Schemas = tc.schemas })
			press(t, m, "enter", "4", "G")
			s := screen(m)
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("no %q in\n%s", w, s)
				}
			}
		})
	}
}

// TestGRPCLayoutsKeptMatchFresh checks that a stream's messages laid out
// from the kept layouts, as the stream grows and the width changes, are
// the lines a fresh layout makes.
func TestGRPCLayoutsKeptMatchFresh(t *testing.T) {
	x := serverStream(t, true)
	st := newStyles(darkTheme(), true, 1)
	env := grpcEnv{schemas: echoSchemas(t), cache: newGRPCCache()}
	fresh := func(x *record.Exchange, width int) []string {
		p := prepare(nil, x, tabMessages, grpcEnv{schemas: env.schemas})
		return buildContent(p, contentKey{tab: tabMessages, width: width}, st).lines
	}
	for i, width := range []int{80, 80, 120, 80} {
		p := echoResponse(t, fmt.Sprintf("more %d: %s", i, strings.Repeat("a long line that wraps at eighty columns ", 3)), int32(10+i))
		x.Messages = append(x.Messages, record.Message{Time: x.Start.Add(time.Duration(10+i) * time.Millisecond), Dir: record.ToClient, Size: int64(len(p)), Payload: p})
		x.Version++
		pr := prepare(nil, &x, tabMessages, env)
		if pr.grpc.lay == nil {
			t.Fatal("no layouts kept for a recorded stream")
		}
		got := buildContent(pr, contentKey{tab: tabMessages, width: width}, st).lines
		if want := fresh(&x, width); !slices.Equal(got, want) {
			t.Fatalf("step %d at %d columns: kept layout differs from a fresh one:\n%s\n---\n%s", i, width, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestGRPCEditWithoutSchema checks that e refuses to open a unary gRPC
// call's request as text without a schema, even when its bytes happen to
// be valid UTF-8, and says how to edit it as JSON.
func TestGRPCEditWithoutSchema(t *testing.T) {
	x := serverStream(t, false)
	x.Request.URL = "http://localhost:3000" + grpctest.UnaryMethod
	x.Request.UpstreamURL = "http://127.0.0.1:50051" + grpctest.UnaryMethod
	x.Messages = x.Messages[:2]
	rp := &fakeReplayer{}
	m := newModel(t, newRecorder(t, x), 120, 40, func(c *Config) { c.Replayer = rp })
	press(t, m, "e")
	if !strings.Contains(m.status, "cannot edit #1 as text: its gRPC message is binary") || !strings.Contains(m.status, "--proto") {
		t.Errorf("status %q", m.status)
	}
	if len(rp.calls) != 0 {
		t.Error("something was sent")
	}
}

// TestGRPCTruncatedMessage checks that a message captured in part is
// shown as decode_raw reads that part, saying so, not as a message that
// does not fit its schema, and that the tab still names the schema.
func TestGRPCTruncatedMessage(t *testing.T) {
	x := serverStream(t, false)
	head := echoResponse(t, "cut short", 7)
	full := protowire.AppendTag(head, 5, protowire.BytesType) // a payload, cut off
	full = protowire.AppendBytes(full, make([]byte, 200))
	x.Messages = append(x.Messages[:1], record.Message{Time: x.Start.Add(time.Millisecond), Dir: record.ToClient, Size: int64(len(full)), Payload: full[:len(head)+10], Truncated: true})
	m := newModel(t, newRecorder(t, x), 120, 40, func(c *Config) { c.Schemas = echoSchemas(t) })
	press(t, m, "enter", "4")
	s := screen(m)
	for _, want := range []string{"Schema of devproxy.test.v1.Echo/ServerStream from --proto.", "captured in part (--max-body-capture), so it is shown as protoc --decode_raw reads that part", `1: "cut short"`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "does not fit") {
		t.Errorf("a message captured in part is shown as not fitting its schema:\n%s", s)
	}
}
