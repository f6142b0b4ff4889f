package har

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// grpcGolden is the grpc golden's exchanges.
func grpcGolden(t *testing.T) []record.Exchange {
	for _, c := range goldenCases() {
		if c.name == "grpc" {
			return c.xs
		}
	}
	t.Fatal("no grpc golden")
	return nil
}

// The grpc golden reads back to the messages it was written from, on
// exchanges that did not switch protocols, with the dropped count.
func TestHARGRPCMessagesRoundTrip(t *testing.T) {
	want := grpcGolden(t)
	xs, err := Read(bytes.NewReader(readGolden(t, "grpc")))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		if x.Upgraded {
			t.Errorf("#%d read back as upgraded", i)
		}
		if x.MessagesDropped != want[i].MessagesDropped {
			t.Errorf("#%d: %d dropped, want %d", i, x.MessagesDropped, want[i].MessagesDropped)
		}
		sameMessages(t, x.Messages, want[i].Messages)
		if !bytes.Equal(x.Request.Body.Bytes, want[i].Request.Body.Bytes) {
			t.Errorf("#%d: request body %x, want %x", i, x.Request.Body.Bytes, want[i].Request.Body.Bytes)
		}
	}
}

// entryJSON exports xs with o and returns the entries as generic JSON.
func entryJSON(t *testing.T, xs []record.Exchange, o Options) []any {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, xs, o); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return jsonAt(doc, "log", "entries").([]any)
}

// gRPC bodies are base64 even when their bytes would pass as text, and
// gRPC-Web text bodies stay text; each message has its fields, decoded
// text, and JSON when the export has a decoder that knows the call.
func TestHARGRPCFields(t *testing.T) {
	xs := grpcGolden(t)
	// A body of one empty compressed message is valid UTF-8 without NULs…
	xs[0].Request.Body = completeBody([]byte{1, 0x7f, 0x7f, 0x7f, 0x7f})
	text := record.Exchange{
		ID: 3, Role: record.RoleServe, Start: fxAt(200), State: record.Done,
		Request: record.Request{Method: "POST", URL: "http://localhost:8080/a.B/C",
			Header: record.Fields{{Name: "Content-Type", Value: "application/grpc-web-text"}},
			Body:   completeBody([]byte("AAAAAAA="))},
	}
	var asked []string
	decode := func(x *record.Exchange, m record.Message) (string, bool) {
		asked = append(asked, m.Dir.String())
		if x.ID != 1 {
			return "", false
		}
		return `{"text":"ada lovelace","number":"3"}`, true
	}
	es := entryJSON(t, append(xs, text), Options{Redact: redact.None, DecodeMessage: decode})
	if got := jsonAt(es[0], "request", "postData", "_encoding"); got != "base64" {
		t.Errorf("gRPC request body: _encoding %v, want base64 (…but is written as base64)", got)
	}
	if got := jsonAt(es[2], "request", "postData"); jsonAt(got, "text") != "AAAAAAA=" || jsonAt(got, "_encoding") != nil {
		t.Errorf("gRPC-Web text body written as %v", got)
	}
	if jsonAt(es[2], "_devproxyGrpcMessages") != nil {
		t.Error("an exchange without messages has _devproxyGrpcMessages")
	}
	ms := jsonAt(es[0], "_devproxyGrpcMessages").([]any)
	wantKeys := " type time size flags compressed truncated data decoded json "
	for i, m := range ms {
		for k := range m.(map[string]any) {
			if !strings.Contains(wantKeys, " "+k+" ") {
				t.Errorf("message %d has the field %q", i, k)
			}
		}
		if jsonAt(m, "json") != `{"text":"ada lovelace","number":"3"}` {
			t.Errorf("message %d: json %v", i, jsonAt(m, "json"))
		}
	}
	if got := jsonAt(ms[2], "decoded"); got != "1: \"hello, ada\"\n3: 1\n" || jsonAt(ms[2], "compressed") != true || jsonAt(ms[2], "flags") != 1.0 {
		t.Errorf("gzip message: decoded %q, compressed %v, flags %v", got, jsonAt(ms[2], "compressed"), jsonAt(ms[2], "flags"))
	}
	web := jsonAt(es[1], "_devproxyGrpcMessages").([]any)
	if m := web[3]; jsonAt(m, "flags") != 128.0 || jsonAt(m, "json") != nil || !strings.HasPrefix(jsonAt(m, "decoded").(string), "grpc-status: 5\r\n") {
		t.Errorf("trailer frame written as %v", m)
	}
	if m := web[2]; jsonAt(m, "truncated") != true || jsonAt(m, "size") != 4099.0 {
		t.Errorf("truncated message written as %v", m)
	}
	if jsonAt(es[1], "_devproxyMessagesDropped") != 3.0 || jsonAt(es[1], "_webSocketMessages") != nil || jsonAt(es[1], "_resourceType") != nil {
		t.Errorf("gRPC-Web entry: dropped %v, websocket fields %v %v", jsonAt(es[1], "_devproxyMessagesDropped"), jsonAt(es[1], "_webSocketMessages"), jsonAt(es[1], "_resourceType"))
	}
	// Asked once per message that is not a trailer frame.
	if strings.Join(asked, " ") != "send receive receive send receive receive" {
		t.Errorf("decoder asked for %v", asked)
	}
}

// A secret the export hides is hidden in a message's data, its decoded
// text and its JSON, at every level but none.
func TestHARGRPCRedacted(t *testing.T) {
	const token = "tok-5ecret-5ecret-99"
	payload := append([]byte{0x0a, byte(len(token))}, token...)
	x := grpcGolden(t)[0]
	x.Request.Header = append(record.Fields{{Name: "Authorization", Value: "Bearer " + token}}, x.Request.Header...)
	x.Messages = []record.Message{{Time: fxAt(1), Dir: record.ToServer, Size: int64(len(payload)), Payload: payload}}
	decode := func(*record.Exchange, record.Message) (string, bool) {
		return `{"token":"` + token + `","password":"hunter2"}`, true
	}
	for _, level := range []redact.Level{redact.Default, redact.Strict, redact.None} {
		es := entryJSON(t, []record.Exchange{x}, Options{Redact: level, DecodeMessage: decode})
		m := jsonAt(es[0], "_devproxyGrpcMessages").([]any)[0]
		data, err := base64.StdEncoding.DecodeString(jsonAt(m, "data").(string))
		if err != nil {
			t.Fatal(err)
		}
		decoded, _ := jsonAt(m, "decoded").(string)
		js, _ := jsonAt(m, "json").(string)
		all := string(data) + "\n" + decoded + "\n" + js
		if hidden := !strings.Contains(all, token); hidden != (level != redact.None) {
			t.Errorf("%s: token hidden %v:\n%s", level, hidden, all)
		}
		if level == redact.Strict && strings.Contains(js, "hunter2") {
			t.Errorf("strict: json keeps a password: %s", js)
		}
		if level == redact.Default && !strings.Contains(js, "hunter2") {
			t.Errorf("default: json lost a field that is no known secret: %s", js)
		}
	}
}
