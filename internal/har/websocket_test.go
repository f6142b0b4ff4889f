package har

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// wsExchange is the websocket golden's exchange.
func wsExchange(t *testing.T) record.Exchange {
	for _, c := range goldenCases() {
		if c.name == "websocket" {
			return c.xs[0]
		}
	}
	t.Fatal("no websocket golden")
	return record.Exchange{}
}

// sameMessages compares messages, times by instant.
func sameMessages(t *testing.T, got, want []record.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("message %d: time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// The websocket golden reads back to the messages it was written from:
// directions, opcodes, payloads (text, binary, compressed), truncation,
// close codes and reasons, times to the microsecond.
func TestHARWebSocketMessagesRoundTrip(t *testing.T) {
	xs, err := Read(bytes.NewReader(readGolden(t, "websocket")))
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, xs[0].Messages, wsMessages())
}

func TestHARWebSocketChromeFormat(t *testing.T) {
	ms := jsonAt(goldenEntry(t, "websocket"), "_webSocketMessages").([]any)
	want := []map[string]any{
		{"type": "send", "opcode": 1.0, "data": `{"op":"subscribe","channel":"ticks"}`, "time": float64(fxAt(15).UnixMicro()) / 1e6},
		{"type": "receive", "opcode": 1.0, "data": `{"tick":1,"price":"12.50"}`},
		{"type": "send", "opcode": 2.0, "data": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})},
	}
	for i, w := range want {
		for k, v := range w {
			if got := jsonAt(ms[i], k); got != v {
				t.Errorf("message %d: %s = %v, want %v", i, k, got, v)
			}
		}
	}
	for i, m := range ms[:3] {
		for k := range m.(map[string]any) {
			if !strings.Contains(" type time opcode data ", " "+k+" ") {
				t.Errorf("message %d, complete and plain, has the extra field %q", i, k)
			}
		}
	}
}

func TestReadHARChromeWebSocket(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "har", "chrome_websocket.har"))
	if err != nil {
		t.Fatal(err)
	}
	xs, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	x := xs[0]
	at := func(sec int, us int) time.Time { return time.Date(2025, 2, 3, 14, 5, sec, us*1000, time.UTC) }
	want := []record.Message{
		{Time: at(10, 123456), Dir: record.ToServer, Opcode: 1, Size: 39, Payload: []byte(`{"type":"subscribe","channel":"orders"}`)},
		{Time: at(10, 145000), Dir: record.ToClient, Opcode: 1, Size: 33, Payload: []byte(`{"type":"ack","channel":"orders"}`)},
		{Time: at(11, 500000), Dir: record.ToClient, Opcode: 2, Size: 4, Payload: []byte{0xde, 0xad, 0xbe, 0xef}},
		{Time: at(12, 250000), Dir: record.ToServer, Opcode: 1, Size: 7, Payload: []byte("bye ✓")},
	}
	if !x.Upgraded || x.Response.Status != 101 {
		t.Errorf("upgraded %v status %d", x.Upgraded, x.Response.Status)
	}
	sameMessages(t, x.Messages, want) // the "error" entry is not a message

	// Exported again, the messages read the same.
	var b bytes.Buffer
	if err := Write(&b, xs, Options{Redact: redact.None}); err != nil {
		t.Fatal(err)
	}
	again, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, again[0].Messages, want)
}

// Other tools write binary data as text; an entry that is not a message
// (another type, an opcode out of range) is skipped.
func TestReadHARWebSocketLenient(t *testing.T) {
	doc := `{"log":{"version":"1.2","creator":{"name":"x"},"entries":[{"startedDateTime":"2025-02-03T14:05:10Z","time":0,
		"request":{"method":"GET","url":"ws://h/"},"response":{"status":101},"_webSocketMessages":[
		{"type":"receive","time":1,"opcode":2,"data":"not base64!"},
		{"type":"sent","time":1,"opcode":1,"data":"?"},
		{"type":"send","time":1,"opcode":16,"data":"?"},
		{"type":"send","time":1,"opcode":1.5,"data":"?"},
		{"type":"send","opcode":8,"data":"A+g="},
		{"type":"send","opcode":8,"data":"","_devproxyCloseCode":4000,"_devproxyCloseReason":"cut"}]}]}}`
	xs, err := Read(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	ms := xs[0].Messages
	if len(ms) != 3 || string(ms[0].Payload) != "not base64!" || ms[1].CloseCode != 1000 || !ms[1].Time.IsZero() || ms[2].CloseCode != 4000 || ms[2].CloseReason != "cut" {
		t.Errorf("messages %+v", ms)
	}
}

func TestHARWebSocketMessagesDropped(t *testing.T) {
	x := wsExchange(t)
	x.MessagesDropped = 3
	out := exportHAR(t, []record.Exchange{x}, redact.Default)
	if got := jsonAt(harEntries(t, out)[0], "_devproxyMessagesDropped"); got != 3.0 {
		t.Errorf("_devproxyMessagesDropped = %v", got)
	}
	xs, err := Read(bytes.NewReader(out))
	if err != nil || xs[0].MessagesDropped != 3 {
		t.Errorf("read back %d dropped, %v", xs[0].MessagesDropped, err)
	}
}

// Message payloads are redacted as bodies are: known secrets are followed
// into them at every level but none; strict also hides secret-named JSON
// fields, learns them for the rest of the export, and hides whole what it
// cannot parse. A close frame keeps its code; its reason is free text.
func TestHARWebSocketRedaction(t *testing.T) {
	const cookie = "3f9a1c7e55"
	x := wsExchange(t)
	x.Request.Header = append(x.Request.Header, record.Field{Name: "Cookie", Value: "session=" + cookie})
	msg := func(op byte, s string) record.Message {
		return record.Message{Time: fxAt(20), Opcode: op, Size: int64(len(s)), Payload: []byte(s)}
	}
	x.Messages = []record.Message{
		msg(1, `{"session":"`+cookie+`","api_key":"k-live-999-abcdef","note":"hi"}`),
		msg(1, "your key is k-live-999-abcdef"),
		msg(2, "\x00\x01\xff"),
		{Time: fxAt(21), Opcode: 1, Size: 7, Payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, Compressed: true},
		msg(8, "\x03\xe9bye "+cookie),
	}
	data := func(e map[string]any, i int) string {
		m := jsonAt(e, "_webSocketMessages").([]any)[i]
		s := jsonAt(m, "data").(string)
		if op := jsonAt(m, "opcode"); op != 1.0 || jsonAt(m, "_devproxyEncoding") == "base64" {
			b, _ := base64.StdEncoding.DecodeString(s)
			s = string(b)
		}
		return s
	}
	redacted := func(e map[string]any, i int) any {
		return jsonAt(jsonAt(e, "_webSocketMessages").([]any)[i], "_devproxyRedacted")
	}

	none := harEntries(t, exportHAR(t, []record.Exchange{x}, redact.None))[0]
	for i, m := range x.Messages {
		if got := data(none, i); got != string(m.Payload) {
			t.Errorf("none: message %d %q, want %q", i, got, m.Payload)
		}
	}

	def := harEntries(t, exportHAR(t, []record.Exchange{x}, redact.Default))[0]
	if got := data(def, 0); got != `{"session":"[redacted]","api_key":"k-live-999-abcdef","note":"hi"}` {
		t.Errorf("default: cookie value not followed into the message: %s", got)
	}
	if got := data(def, 4); got != "\x03\xe9bye [redacted]" {
		t.Errorf("default: close %q", got)
	}
	if got := data(def, 2); got != "\x00\x01\xff" || redacted(def, 2) != nil {
		t.Errorf("default: binary %q, %v", got, redacted(def, 2))
	}

	strict := harEntries(t, exportHAR(t, []record.Exchange{x}, redact.Strict))[0]
	if got := data(strict, 0); strings.Contains(got, "k-live") || strings.Contains(got, cookie) || !strings.Contains(got, `"note":"hi"`) {
		t.Errorf("strict: %s", got)
	}
	if got := data(strict, 1); got != "your key is [redacted]" {
		t.Errorf("strict: a secret learned from one message is not hidden in another: %q", got)
	}
	for _, i := range []int{2, 3} {
		if got := data(strict, i); !strings.HasPrefix(got, "[redacted: body could not be parsed") || redacted(strict, i) == nil {
			t.Errorf("strict: message %d not hidden whole: %q, %v", i, got, redacted(strict, i))
		}
	}
	if got := data(strict, 4); got != "\x03\xe9bye [redacted]" {
		t.Errorf("strict: close %q", got)
	}

	// What strict redaction wrote reads back and exports the same.
	out := exportHAR(t, []record.Exchange{x}, redact.Strict)
	xs, err := Read(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if again := exportHAR(t, xs, redact.Strict); !bytes.Equal(again, out) {
		t.Errorf("strict export → import → export changed:\n%s", firstDiff(again, out))
	}
}
