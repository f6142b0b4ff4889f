package har

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

func readImport(t *testing.T, name string) []record.Exchange {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	xs, err := Read(f)
	if err != nil {
		t.Fatalf("Read(%s): %v", name, err)
	}
	return xs
}

func TestReadHARChrome(t *testing.T) {
	xs := readImport(t, "chrome.har")
	if len(xs) != 4 {
		t.Fatalf("%d exchanges, want 4", len(xs))
	}
	for i, x := range xs {
		if x.Role != record.RoleView || x.State != record.Done || !x.BodiesDecoded || x.ID != uint64(i+1) {
			t.Errorf("#%d: role %q state %v decoded %v id %d", i, x.Role, x.State, x.BodiesDecoded, x.ID)
		}
	}

	doc := xs[0]
	if doc.Request.Host != "shop.example.test" || doc.Request.Header.Get(":path") != "/?ref=home" || doc.Request.Proto != "http/2.0" {
		t.Errorf("document request: %+v", doc.Request)
	}
	if want := time.Date(2025, 2, 3, 14, 5, 6, 100e6, time.UTC); !doc.Start.Equal(want) || !doc.End.Equal(want.Add(95371*time.Microsecond)) {
		t.Errorf("start %v end %v", doc.Start, doc.End)
	}
	wantT := record.Timings{Blocked: 3120 * time.Microsecond, DNS: 10500 * time.Microsecond, Connect: 30001 * time.Microsecond, TLS: 18200 * time.Microsecond,
		Send: 250 * time.Microsecond, Wait: 48300 * time.Microsecond, Receive: 3200 * time.Microsecond}
	if doc.Timings != wantT {
		t.Errorf("timings %+v, want %+v", doc.Timings, wantT)
	}
	if doc.ServerAddr != "192.0.2.44" {
		t.Errorf("ServerAddr %q", doc.ServerAddr)
	}
	b, note, err := body.Response(&doc)
	if err != nil || string(b) != "<!doctype html><title>Shop</title><h1>Welcome to the shop</h1>" || note != "decoded on import (br)" {
		t.Errorf("br body: %q, %q, %v", b, note, err)
	}
	if b := doc.Response.Body; b.Truncated || !b.Complete || b.Size != 62 {
		t.Errorf("body flags %+v", b)
	}

	post := xs[1]
	if string(post.Request.Body.Bytes) != `{"sku":"tea-01","quantity":2}` || post.Request.Header.Get("cookie") != "cart=abc; theme=dark" {
		t.Errorf("post request: %+v", post.Request)
	}
	if !bytes.Equal(post.Response.Body.Bytes, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("base64 content: %q", post.Response.Body.Bytes)
	}
	if post.Timings.DNS != -1 || post.Timings.Connect != -1 {
		t.Errorf("-1 timings should stay not-applicable: %+v", post.Timings)
	}

	failed := xs[2]
	if failed.Response != nil || failed.Err == nil || failed.Err.Kind != record.ErrUnreachable || failed.Err.Message != "net::ERR_CONNECTION_REFUSED" {
		t.Errorf("failed entry: response %v err %+v", failed.Response, failed.Err)
	}
	if failed.ServerAddr != "" {
		t.Errorf("empty serverIPAddress became %q", failed.ServerAddr)
	}

	ws := xs[3]
	if !ws.Upgraded || ws.Response.Status != 101 || ws.Request.Host != "shop.example.test" || ws.Request.Header.Get("Host") != "" {
		t.Errorf("websocket: upgraded %v, %+v", ws.Upgraded, ws.Request)
	}
}

func TestReadHARMitmproxy(t *testing.T) {
	xs := readImport(t, "mitmproxy.har")
	if len(xs) != 3 {
		t.Fatalf("%d exchanges, want 3", len(xs))
	}
	st := xs[0]
	if st.Start.Format(time.RFC3339Nano) != "2025-04-01T08:30:00.25Z" {
		t.Errorf("start %v", st.Start)
	}
	// mitmproxy's ssl lies outside connect; devproxy's inside.
	if st.Timings.Connect != 35500*time.Microsecond || st.Timings.TLS != 25*time.Millisecond || st.Timings.Blocked != -1 || st.Timings.DNS != -1 {
		t.Errorf("timings %+v", st.Timings)
	}
	// mitmproxy's content.size is the wire size; its text is whole.
	if b := st.Response.Body; b.Truncated || b.Size != 44 || string(b.Bytes) != `{"status":"ok","uptime":12345,"region":"eu"}` {
		t.Errorf("gzip body %+v", b)
	}
	if st.Request.Host != "api.example.test" || len(st.Request.Header) != 3 {
		t.Errorf("request %+v", st.Request)
	}

	up := xs[1]
	if string(up.Request.Body.Bytes) != "name=ada&lang=go+en" || !bytes.Equal(up.Response.Body.Bytes, []byte{0, 1, 0xff, 0xfe}) {
		t.Errorf("upload: %q / %q", up.Request.Body.Bytes, up.Response.Body.Bytes)
	}
	if up.Timings.TLS != -1 || up.Timings.Connect != -1 {
		t.Errorf("null and -1 timings: %+v", up.Timings)
	}

	down := xs[2]
	if down.Response != nil || down.Err == nil || down.Err.Kind != record.ErrUnreachable || !strings.Contains(down.Err.Message, "Connection refused") {
		t.Errorf("failed flow: %+v %+v", down.Response, down.Err)
	}
	if down.Timings != record.NoTimings {
		t.Errorf("empty timings: %+v", down.Timings)
	}
}

func TestReadHARFirefox(t *testing.T) {
	xs := readImport(t, "firefox.har") // starts with a BOM
	if len(xs) != 1 {
		t.Fatalf("%d exchanges", len(xs))
	}
	x := xs[0]
	if _, off := x.Start.Zone(); off != 3600 {
		t.Errorf("zone offset %d", off)
	}
	// A body the file leaves out is a truncated capture of its size.
	if b := x.Response.Body; !b.Truncated || b.Size != 2048 || len(b.Bytes) != 0 || !b.Complete {
		t.Errorf("omitted body: %+v", b)
	}
	if x.ServerAddr != "2001:db8::10" || x.Response.Status != 304 {
		t.Errorf("%q %d", x.ServerAddr, x.Response.Status)
	}
}

// Other tools' files, once imported, export as valid devproxy HAR, and
// that export is stable under another round trip.
func TestReadHARForeignRoundTrip(t *testing.T) {
	for _, name := range []string{"chrome.har", "mitmproxy.har", "firefox.har"} {
		t.Run(name, func(t *testing.T) {
			first := exportHAR(t, readImport(t, name), redact.None)
			checkHARInvariants(t, first, nil)
			xs, err := Read(bytes.NewReader(first))
			if err != nil {
				t.Fatal(err)
			}
			if second := exportHAR(t, xs, redact.None); !bytes.Equal(first, second) {
				t.Errorf("not stable:\n%s", firstDiff(second, first))
			}
		})
	}
}

func TestReadHARErrors(t *testing.T) {
	entry := func(s string) string {
		return `{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[` + s + `]}}`
	}
	okReq := `"request":{"method":"GET","url":"http://x/"}`
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "read HAR: empty input"},
		{"bom only", "\xef\xbb\xbf \n", "read HAR: empty input"},
		{"not JSON", "<html>", "read HAR: line 1, column 1: invalid character '<'"},
		{"bad JSON line and column", "{\n  \"log\": {\n    \"entries\": [,]\n  }\n}", "read HAR: line 3, column 17: invalid character ','"},
		{"cut short", `{"log": {"entries": [`, "read HAR: line 1, column 21: unexpected end of JSON input"},
		{"array", `[{"log": {}}]`, "read HAR: not a HAR file: the top level is a JSON array, not an object"},
		{"no log", `{"foo": 1}`, `read HAR: not a HAR file: no "log" object`},
		{"null log", `{"log": null}`, `read HAR: not a HAR file: no "log" object`},
		{"log not object", `{"log": "x"}`, `read HAR: not a HAR file: "log" is a JSON string, not an object (line 1, column 9)`},
		{"no entries", `{"log": {"version": "1.2"}}`, `read HAR: not a HAR file: "log" has no "entries" array`},
		{"version 2", `{"log": {"version": "2.0", "entries": []}}`, `read HAR: HAR version "2.0" is not supported (this reader handles 1.x)`},
		{"entries wrong type", "{\"log\": {\n\"entries\": {}}}", "read HAR: line 2, column 12: log.entries: expected an array, found a JSON object"},
		{"field wrong type", entry(`{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET","url":7}}`), "log.entries.request.url: expected a string, found a JSON number"},
		{"no start", entry(`{` + okReq + `}`), `read HAR: entries[0]: no "startedDateTime"`},
		{"bad start", entry(`{"startedDateTime":"yesterday",` + okReq + `}`), `read HAR: entries[0]: startedDateTime "yesterday" is not an ISO 8601 date and time`},
		{"no request", entry(`{"startedDateTime":"2025-01-01T00:00:00Z"}`), `read HAR: entries[0]: no "request" object`},
		{"no url", entry(`{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET"}}`), `read HAR: entries[0]: request: no "url"`},
		{"bad base64", entry(`{"startedDateTime":"2025-01-01T00:00:00Z",` + okReq + `,"response":{"status":200,"content":{"text":"%%%","encoding":"base64"}}}`), `read HAR: entries[0]: response: content: text is not valid base64`},
		{"odd encoding", entry(`{"startedDateTime":"2025-01-01T00:00:00Z",` + okReq + `,"response":{"status":200,"content":{"text":"x","encoding":"rot13"}}}`), `unknown text encoding "rot13"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xs, err := Read(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error; got %d exchanges", len(xs))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant %q", err, tc.want)
			}
		})
	}
	var se *json.SyntaxError
	if _, err := Read(strings.NewReader("{,}")); !errors.As(err, &se) {
		t.Errorf("syntax errors should wrap *json.SyntaxError: %v", err)
	}
}

// Minimal entries, as the spec's "optional" and other tools' omissions
// allow, still import.
func TestReadHARMinimal(t *testing.T) {
	in := `{"log":{"version":"1.1","entries":[
		{"startedDateTime":"2025-01-01T00:00:00.5+02:00","request":{"method":"GET","url":"http://x/a"},"response":{"status":204}},
		{"startedDateTime":"2025-01-01T00:00:01Z","request":{"method":"PUT","url":"http://x/b","postData":{"mimeType":"application/x-www-form-urlencoded","params":[{"name":"a b","value":"1&2"}]}}}
	]}}`
	xs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if xs[0].Response.Status != 204 || xs[0].Timings != record.NoTimings || xs[0].Err != nil {
		t.Errorf("minimal: %+v", xs[0])
	}
	if string(xs[1].Request.Body.Bytes) != "a+b=1%262" || xs[1].Response != nil || xs[1].Err.Kind != record.ErrUnreachable {
		t.Errorf("params only: %q %+v", xs[1].Request.Body.Bytes, xs[1].Err)
	}
}

// Our own in-flight stub (status 0 without _error) reads back as "no
// response yet", not as a failure.
func TestReadHARInFlight(t *testing.T) {
	x := goldenCases()[0].xs[0]
	x.Response, x.Err, x.State = nil, nil, record.InFlight
	doc := exportHAR(t, []record.Exchange{x}, redact.None)
	xs, err := Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if xs[0].Response != nil || xs[0].Err != nil {
		t.Errorf("in-flight: %+v %+v", xs[0].Response, xs[0].Err)
	}
	if again := exportHAR(t, xs, redact.None); !bytes.Equal(again, doc) {
		t.Errorf("not stable:\n%s", firstDiff(again, doc))
	}
}

func TestReadHARKeepsDevproxyFields(t *testing.T) {
	src := goldenCases()
	var want []record.Exchange
	for _, c := range src {
		if c.name == "replay_trailers" {
			want = c.xs
		}
	}
	xs, err := Read(bytes.NewReader(readGolden(t, "replay_trailers")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range xs {
		g, w := xs[i], want[i]
		if g.ID != w.ID || g.Role != w.Role || g.ReplayOf != w.ReplayOf || !slices.Equal(g.Marks, w.Marks) || g.ClientAddr != w.ClientAddr ||
			g.ServerAddr != w.ServerAddr || g.Request.UpstreamURL != w.Request.UpstreamURL ||
			!reflect.DeepEqual(g.Request.Trailer, w.Request.Trailer) || !reflect.DeepEqual(g.Response.Trailer, w.Response.Trailer) ||
			!reflect.DeepEqual(g.Err, w.Err) || g.Request.Body.Complete != w.Request.Body.Complete || g.Response.Body.Complete != w.Response.Body.Complete ||
			!bytes.Equal(g.Request.Body.Bytes, w.Request.Body.Bytes) || g.Request.Host != w.Request.Host || !reflect.DeepEqual(g.Request.Header, w.Request.Header) {
			t.Errorf("#%d read back as\n%+v\nwant\n%+v", i, g, w)
		}
	}
}

// HAR files written before marks carried a free-text note; it reads as a mark.
func TestReadHARLegacyNote(t *testing.T) {
	in := `{"log":{"version":"1.2","entries":[
		{"startedDateTime":"2025-01-01T00:00:00Z","request":{"method":"GET","url":"http://x/a"},"response":{"status":200},"_devproxyNote":"backend web"}
	]}}`
	xs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := xs[0].Mark("note"); !ok || v != "backend web" {
		t.Errorf("marks %v", xs[0].Marks)
	}
}
