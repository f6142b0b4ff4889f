package har

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/har")

const goldenVersion = "1.0.0-test"

func goldenPath(name string) string { return filepath.Join("testdata", "har", name+".har") }

func exportHAR(t *testing.T, xs []record.Exchange, level redact.Level) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, xs, Options{Redact: level, Version: goldenVersion}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes()
}

// TestHARGolden compares each export with its golden file; -update
// rewrites them. scripts/har-validate checks the same files against the
// HAR schema.
func TestHARGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			got := exportHAR(t, c.xs, c.redact)
			path := goldenPath(c.name)
			if *updateGolden {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestHARGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("export differs from %s (run with -update if the change is intended):\n%s", path, firstDiff(got, want))
			}
		})
	}
}

// firstDiff shows where two texts part.
func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + g + "\nwant: " + w
		}
	}
	return "(no line differs)"
}

// TestHARRoundTrip reads each golden back and exports it again: the result
// must be byte for byte the golden, directly and after a Recorder.
func TestHARRoundTrip(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			want, err := os.ReadFile(goldenPath(c.name))
			if err != nil {
				t.Fatal(err)
			}
			xs, err := Read(bytes.NewReader(want))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			for _, x := range xs {
				if !x.BodiesDecoded || x.State != record.Done {
					t.Errorf("imported #%d: BodiesDecoded=%v State=%v", x.ID, x.BodiesDecoded, x.State)
				}
			}
			if got := exportHAR(t, xs, c.redact); !bytes.Equal(got, want) {
				t.Errorf("export → import → export changed the file:\n%s", firstDiff(got, want))
			}

			// The Recorder numbers what it adds afresh; give back the ids
			// from the file to compare the rest.
			rec := record.NewRecorder(record.Limits{})
			for _, x := range xs {
				rec.Add(x)
			}
			snap := rec.Snapshot()
			for i := range snap {
				snap[i].ID = xs[i].ID
			}
			if got := exportHAR(t, snap, c.redact); !bytes.Equal(got, want) {
				t.Errorf("export → import → Recorder.Add → export changed the file:\n%s", firstDiff(got, want))
			}
		})
	}
}

// An imported body is decoded and its wire size is gone; with no
// Content-Length to recover it, the re-export says "unknown" (-1) rather
// than inventing one. Everything else stays.
func TestHARRoundTripEncodedWithoutLength(t *testing.T) {
	encoded := gzipBytes([]byte(usersJSON))
	x := goldenCases()[0].xs[0]
	resp := *x.Response
	resp.Header = record.Fields{{Name: "Content-Encoding", Value: "gzip"}, {Name: "Content-Type", Value: "application/json"}}
	resp.Body = completeBody(encoded)
	x.Response = &resp

	first := exportHAR(t, []record.Exchange{x}, redact.None)
	xs, err := Read(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	got, note, err := body.Response(&xs[0])
	if err != nil || string(got) != usersJSON || !strings.Contains(note, "decoded on import") {
		t.Errorf("body.Response = %q, %q, %v", got, note, err)
	}
	second := exportHAR(t, xs, redact.None)
	r1, r2 := harResponseOf(t, first), harResponseOf(t, second)
	if r1["bodySize"] != float64(len(encoded)) || r2["bodySize"] != float64(-1) {
		t.Errorf("bodySize: first %v (want %d), second %v (want -1)", r1["bodySize"], len(encoded), r2["bodySize"])
	}
	if _, ok := r2["content"].(map[string]any)["compression"]; ok {
		t.Error("second export claims a compression it cannot know")
	}
	delete(r1, "bodySize")
	delete(r2, "bodySize")
	delete(r1["content"].(map[string]any), "compression")
	if !reflect.DeepEqual(r1, r2) {
		t.Errorf("responses differ beyond the wire size:\n%v\n%v", r1, r2)
	}
}

func harResponseOf(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	return harEntries(t, doc)[0]["response"].(map[string]any)
}

func harEntries(t *testing.T, doc []byte) []map[string]any {
	t.Helper()
	var d struct {
		Log struct {
			Entries []map[string]any `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Log.Entries
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(goldenPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenEntry(t *testing.T, name string) map[string]any {
	t.Helper()
	return harEntries(t, readGolden(t, name))[0]
}

// jsonAt walks a decoded JSON value by keys.
func jsonAt(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func headerValues(v any, name string) []string {
	var out []string
	list, _ := v.([]any)
	for _, h := range list {
		if strings.EqualFold(jsonAt(h, "name").(string), name) {
			out = append(out, jsonAt(h, "value").(string))
		}
	}
	return out
}

// TestHARGoldenContents checks, case by case, what the goldens must say
// (so an -update cannot quietly bless a regression).
func TestHARGoldenContents(t *testing.T) {
	t.Run("gzip_json", func(t *testing.T) {
		e := goldenEntry(t, "gzip_json")
		c := jsonAt(e, "response", "content")
		if jsonAt(c, "text") != usersJSON || jsonAt(c, "encoding") != nil {
			t.Errorf("content.text should be the decoded JSON as plain text: %v", c)
		}
		wire := float64(len(gzipBytes([]byte(usersJSON))))
		if jsonAt(c, "size") != float64(len(usersJSON)) || jsonAt(e, "response", "bodySize") != wire || jsonAt(c, "compression") != float64(len(usersJSON))-wire {
			t.Errorf("sizes: content %v, response.bodySize %v", c, jsonAt(e, "response", "bodySize"))
		}
		qs := jsonAt(e, "request", "queryString").([]any)
		if len(qs) != 3 || jsonAt(qs[2], "value") != "ada l" {
			t.Errorf("queryString = %v", qs)
		}
		if h := jsonAt(e, "request", "headers").([]any); jsonAt(h[0], "name") != "Host" {
			t.Errorf("Host should come first: %v", h)
		}
		if jsonAt(e, "serverIPAddress") != "203.0.113.10" || jsonAt(e, "_devproxyServerAddr") != "203.0.113.10:443" {
			t.Errorf("server address: %v / %v", jsonAt(e, "serverIPAddress"), jsonAt(e, "_devproxyServerAddr"))
		}
		if jsonAt(e, "request", "postData") != nil {
			t.Error("a GET without a body has no postData")
		}
	})
	t.Run("binary_png", func(t *testing.T) {
		e := goldenEntry(t, "binary_png")
		c := jsonAt(e, "response", "content")
		b, err := base64.StdEncoding.DecodeString(jsonAt(c, "text").(string))
		if err != nil || !bytes.Equal(b, tinyPNG()) || jsonAt(c, "encoding") != "base64" {
			t.Errorf("PNG body should be base64 of the bytes: %v, %v", jsonAt(c, "encoding"), err)
		}
		if jsonAt(e, "startedDateTime") != "2025-03-14T10:26:53.589+01:00" {
			t.Errorf("startedDateTime keeps its zone: %v", jsonAt(e, "startedDateTime"))
		}
	})
	t.Run("sse", func(t *testing.T) {
		r := jsonAt(goldenEntry(t, "sse"), "response")
		if jsonAt(r, "status") != float64(200) || jsonAt(r, "_error") != "client went away during the response" || jsonAt(r, "_devproxyErrorKind") != "canceled" || jsonAt(r, "_devproxyIncomplete") != true {
			t.Errorf("a canceled stream keeps its status and says why it ended: %v", r)
		}
	})
	t.Run("post_form", func(t *testing.T) {
		e := goldenEntry(t, "post_form")
		pd := jsonAt(e, "request", "postData")
		params := jsonAt(pd, "params").([]any)
		if jsonAt(pd, "text") != "username=ada&password=hunter2&remember=on&note=a+b%26c" || len(params) != 4 || jsonAt(params[3], "value") != "a b&c" {
			t.Errorf("postData = %v", pd)
		}
		if jsonAt(e, "response", "redirectURL") != "/home" {
			t.Errorf("redirectURL = %v", jsonAt(e, "response", "redirectURL"))
		}
		if v := headerValues(jsonAt(e, "response", "headers"), "Set-Cookie"); len(v) != 1 || v[0] != "session=[redacted]; Path=/; HttpOnly; SameSite=Lax" {
			t.Errorf("Set-Cookie = %v", v)
		}
	})
	t.Run("post_json", func(t *testing.T) {
		pd := jsonAt(goldenEntry(t, "post_json"), "request", "postData")
		if jsonAt(pd, "mimeType") != "application/json" || !strings.Contains(jsonAt(pd, "text").(string), "naïve café ☕") || jsonAt(pd, "params") != nil {
			t.Errorf("postData = %v", pd)
		}
	})
	t.Run("server_error", func(t *testing.T) {
		e := goldenEntry(t, "server_error")
		if jsonAt(e, "response", "status") != float64(500) || jsonAt(e, "response", "_error") != nil {
			t.Errorf("a 500 is a response, not a failure: %v", jsonAt(e, "response"))
		}
		if jsonAt(e, "serverIPAddress") != "fe80::1" {
			t.Errorf("serverIPAddress = %v, want the IP without brackets, zone or port", jsonAt(e, "serverIPAddress"))
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		r := jsonAt(goldenEntry(t, "unreachable"), "response")
		want := map[string]any{"status": 0.0, "statusText": "", "headersSize": -1.0, "bodySize": -1.0,
			"_error": "dial tcp 127.0.0.1:9: connect: connection refused", "_devproxyErrorKind": "unreachable", "_devproxyErrorStatus": 502.0}
		for k, v := range want {
			if jsonAt(r, k) != v {
				t.Errorf("response.%s = %v, want %v", k, jsonAt(r, k), v)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		e := goldenEntry(t, "truncated")
		for _, part := range []any{jsonAt(e, "request", "postData"), jsonAt(e, "response", "content")} {
			if jsonAt(part, "_devproxyTruncated") != true || !strings.Contains(jsonAt(part, "comment").(string), "first 96 of 5120 bytes") || len(jsonAt(part, "text").(string)) != 96 {
				t.Errorf("truncated body not marked: %v", part)
			}
		}
		if jsonAt(e, "request", "bodySize") != 5120.0 || jsonAt(e, "response", "content", "size") != 5120.0 {
			t.Errorf("sizes should be the whole body's")
		}
	})
	t.Run("websocket", func(t *testing.T) {
		e := goldenEntry(t, "websocket")
		if jsonAt(e, "_resourceType") != "websocket" || jsonAt(e, "_devproxyUpgraded", "up") != 1532.0 || jsonAt(e, "_devproxyUpgraded", "down") != 48211.0 || jsonAt(e, "response", "status") != 101.0 {
			t.Errorf("websocket entry: %v", e)
		}
	})
	t.Run("duplicate_set_cookie", func(t *testing.T) {
		e := goldenEntry(t, "duplicate_set_cookie")
		if v := headerValues(jsonAt(e, "response", "headers"), "Set-Cookie"); len(v) != 3 {
			t.Errorf("Set-Cookie lines = %q, want 3 separate lines", v)
		}
		cs := jsonAt(e, "response", "cookies").([]any)
		if len(cs) != 3 || jsonAt(cs[0], "secure") != true || jsonAt(cs[1], "expires") != "2026-03-14T09:26:53Z" || jsonAt(cs[2], "domain") != "example.test" {
			t.Errorf("response cookies = %v", cs)
		}
		for _, c := range append(cs, jsonAt(e, "request", "cookies").([]any)...) {
			if jsonAt(c, "value") != redact.Marker {
				t.Errorf("cookie value not redacted: %v", c)
			}
		}
		if v := headerValues(jsonAt(e, "request", "headers"), "X-Trace"); !slices.Equal(v, []string{"a", "b"}) {
			t.Errorf("X-Trace = %q", v)
		}
	})
	t.Run("replay_trailers", func(t *testing.T) {
		es := harEntries(t, readGolden(t, "replay_trailers"))
		a, b := es[0], es[1]
		if jsonAt(a, "_devproxyRole") != "relay" || fmt.Sprint(jsonAt(a, "_devproxyMarks")) != "[map[name:backend stage:relay value:laptop-ada]]" || jsonAt(a, "serverIPAddress") != nil || jsonAt(a, "_devproxyServerAddr") != "agent-laptop-ada" {
			t.Errorf("relay entry: %v", a)
		}
		if jsonAt(b, "_devproxyReplayOf") != 7.0 || jsonAt(b, "_devproxyId") != 8.0 {
			t.Errorf("replay entry: %v", b)
		}
		if jsonAt(a, "request", "postData", "_encoding") != "base64" || jsonAt(a, "request", "postData", "text") != "AAAAAAA=" {
			t.Errorf("binary request body: %v", jsonAt(a, "request", "postData"))
		}
		if tr := jsonAt(a, "response", "_devproxyResponseTrailers").([]any); len(tr) != 2 || jsonAt(tr[1], "name") != "Grpc-Status" {
			t.Errorf("trailers: %v", tr)
		}
		if jsonAt(b, "request", "_devproxyIncomplete") != true || jsonAt(b, "response", "_devproxyIncomplete") != true || jsonAt(b, "response", "_devproxyErrorKind") != "aborted" {
			t.Errorf("incomplete bodies not marked: %v", b)
		}
	})
}

// TestHARInvariants asserts over every golden what the HAR schema does not
// check (see shared/notes/ecosystem.md §1.10).
func TestHARInvariants(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "har", "*.har"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	sources := map[string][]record.Exchange{}
	for _, c := range goldenCases() {
		sources[goldenPath(c.name)] = c.xs
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			doc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkHARInvariants(t, doc, sources[f])
		})
	}
}

func checkHARInvariants(t *testing.T, doc []byte, src []record.Exchange) {
	t.Helper()
	entries := harEntries(t, doc)
	var last time.Time
	for i, e := range entries {
		tm := jsonAt(e, "timings").(map[string]any)
		sum := 0.0
		for _, k := range []string{"blocked", "dns", "connect", "send", "wait", "receive"} {
			v, ok := tm[k].(float64)
			if !ok {
				t.Errorf("entry %d: timings.%s missing", i, k)
				continue
			}
			if v < -1 || (v < 0 && v != -1) {
				t.Errorf("entry %d: timings.%s = %v", i, k, v)
			}
			if v >= 0 {
				sum += v
			}
		}
		for _, k := range []string{"send", "wait", "receive"} {
			if v, _ := tm[k].(float64); v < 0 {
				t.Errorf("entry %d: timings.%s = %v, must not be negative", i, k, v)
			}
		}
		if ssl, conn := tm["ssl"].(float64), tm["connect"].(float64); ssl >= 0 && ssl > conn {
			t.Errorf("entry %d: ssl %v lies outside connect %v", i, ssl, conn)
		}
		if got := jsonAt(e, "time").(float64); math.Abs(got-sum) > 1e-9 {
			t.Errorf("entry %d: time %v, want the sum of non-negative timings without ssl, %v", i, got, sum)
		}
		started, err := time.Parse(time.RFC3339Nano, jsonAt(e, "startedDateTime").(string))
		if err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
		if started.Before(last) {
			t.Errorf("entry %d starts before the one above it", i)
		}
		last = started
		if ip, ok := e["serverIPAddress"].(string); ok {
			if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" {
				t.Errorf("entry %d: serverIPAddress %q is not a bare IP", i, ip)
			}
		}
		c := jsonAt(e, "response", "content").(map[string]any)
		if _, ok := c["encoding"]; ok && c["text"] == nil {
			t.Errorf("entry %d: content.encoding without text", i)
		}
		if pd, ok := jsonAt(e, "request", "postData").(map[string]any); ok {
			if _, ok := pd["_encoding"]; ok && pd["text"] == nil {
				t.Errorf("entry %d: postData._encoding without text", i)
			}
			if _, ok := pd["text"].(string); !ok {
				t.Errorf("entry %d: postData without text", i)
			}
		}
		for _, part := range []string{"request", "response"} {
			for _, h := range jsonAt(e, part, "headers").([]any) {
				if strings.EqualFold(jsonAt(h, "name").(string), "Set-Cookie") {
					if n := len(parseCookieHeader(strings.Split(jsonAt(h, "value").(string), ";")[0])); n != 1 {
						t.Errorf("entry %d: a Set-Cookie line holds %d cookies", i, n)
					}
				}
			}
		}
		// Against the source exchange: one HAR line per recorded line, in
		// order, never joined.
		if src == nil {
			continue
		}
		x := src[i]
		want := []string{}
		for _, f := range x.Request.Header {
			want = append(want, f.Name)
		}
		got := []string{}
		for _, h := range jsonAt(e, "request", "headers").([]any) {
			if n := jsonAt(h, "name").(string); n != "Host" {
				got = append(got, n)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("entry %d: request header names %v, want %v", i, got, want)
		}
		if x.Response != nil {
			if n := len(jsonAt(e, "response", "headers").([]any)); n != len(x.Response.Header) {
				t.Errorf("entry %d: %d response header lines, want %d", i, n, len(x.Response.Header))
			}
		}
	}
}

func TestWriteHARSortsByStart(t *testing.T) {
	base := goldenCases()[4].xs[0]
	var xs []record.Exchange
	for i, off := range []int{300, 100, 200, 100} {
		x := base
		x.ID = uint64(i + 1)
		x.Start = fxAt(off)
		xs = append(xs, x)
	}
	var ids []float64
	for _, e := range harEntries(t, exportHAR(t, xs, redact.Default)) {
		ids = append(ids, e["_devproxyId"].(float64))
	}
	if !slices.Equal(ids, []float64{2, 4, 3, 1}) {
		t.Errorf("entry order by id = %v, want by start time then id", ids)
	}
	if xs[0].ID != 1 {
		t.Error("Write reordered its input")
	}
}

// secretsInFixture are the secret values in secretsCase.
var secretsInFixture = []string{
	"hunter2", "k-123", "k-live-123", "t-456", "xyz789", "abc123", "s-777", "r-1", "3f9a1c", "9b2e7d",
	"dXNlcjpwYXNz", "c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1ub3QtcmVhbA",
}

func TestRedactionLevels(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		doc := readGolden(t, "redact_default")
		e := harEntries(t, doc)[0]
		rh := jsonAt(e, "request", "headers")
		for name, want := range map[string]string{
			"Authorization":       redact.Marker,
			"Proxy-Authorization": redact.Marker,
			"Cookie":              "session=[redacted]; theme=[redacted]",
			"X-Api-Key":           "k-live-123", // only strict hides these
		} {
			if v := headerValues(rh, name); len(v) != 1 || v[0] != want {
				t.Errorf("%s = %q, want %q", name, v, want)
			}
		}
		if v := headerValues(jsonAt(e, "response", "headers"), "Set-Cookie"); v[0] != "session=[redacted]; Path=/; HttpOnly" {
			t.Errorf("Set-Cookie = %q", v)
		}
		for _, s := range []string{"hunter2", "xyz789"} {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("default should keep %q (bodies and query are only hidden by strict)", s)
			}
		}
		for _, s := range []string{"3f9a1c", "9b2e7d", "dXNlcjpwYXNz"} {
			if bytes.Contains(doc, []byte(s)) {
				t.Errorf("default leaks %q", s)
			}
		}
		if !strings.Contains(string(doc), `"comment": "devproxy export; redaction: default (Authorization, Proxy-Authorization, Cookie, Set-Cookie hidden, and their values wherever else they appear)"`) {
			t.Error("log.comment does not state the level")
		}
	})
	t.Run("strict", func(t *testing.T) {
		doc := readGolden(t, "redact_strict")
		for _, s := range secretsInFixture {
			if bytes.Contains(doc, []byte(s)) {
				t.Errorf("strict leaks %q", s)
			}
		}
		e := harEntries(t, doc)[0]
		for _, s := range []string{"countess", "req-99", "client_id=app", "state=s1", `"author\":\"yes\"`, "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.redacted"} {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("strict should keep %q", s)
			}
		}
		for _, text := range []string{jsonAt(e, "request", "postData", "text").(string), jsonAt(e, "response", "content", "text").(string)} {
			if !json.Valid([]byte(text)) {
				t.Errorf("redacted JSON is no longer JSON: %s", text)
			}
		}
		if !strings.Contains(string(doc), "redaction: strict") {
			t.Error("log.comment does not state the level")
		}
	})
	t.Run("none", func(t *testing.T) {
		doc := readGolden(t, "redact_none")
		for _, s := range secretsInFixture {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("none should keep %q", s)
			}
		}
		if bytes.Contains(doc, []byte(redact.Marker)) || bytes.Contains(doc, []byte(redact.QueryMarker)) {
			t.Error("none redacted something")
		}
	})
}

// cloneExchange copies an exchange, bytes and all, so a comparison after an
// export sees any write through shared memory.
func cloneExchange(x record.Exchange) record.Exchange {
	c := x
	cp := func(f record.Fields) record.Fields { return append(record.Fields(nil), f...) }
	cpb := func(b record.Body) record.Body { b.Bytes = bytes.Clone(b.Bytes); return b }
	c.Request.Header, c.Request.Trailer, c.Request.Body = cp(x.Request.Header), cp(x.Request.Trailer), cpb(x.Request.Body)
	if x.Response != nil {
		r := *x.Response
		r.Header, r.Trailer, r.Body = cp(r.Header), cp(r.Trailer), cpb(r.Body)
		c.Response = &r
	}
	if x.Err != nil {
		e := *x.Err
		c.Err = &e
	}
	c.Messages = append([]record.Message(nil), x.Messages...)
	for i := range c.Messages {
		c.Messages[i].Payload = bytes.Clone(c.Messages[i].Payload)
	}
	return c
}

func TestRedactionLeavesInputAlone(t *testing.T) {
	var xs []record.Exchange
	for _, c := range goldenCases() {
		xs = append(xs, c.xs...)
	}
	before := make([]record.Exchange, len(xs))
	for i, x := range xs {
		before[i] = cloneExchange(x)
	}
	for _, level := range []redact.Level{redact.Default, redact.Strict, redact.None} {
		exportHAR(t, xs, level)
		for i := range xs {
			if !reflect.DeepEqual(xs[i], before[i]) {
				t.Fatalf("%s export changed exchange %d (%s)", level, i, xs[i].Request.URL)
			}
		}
	}
}

func TestWriteUnknownLevel(t *testing.T) {
	if err := Write(&bytes.Buffer{}, nil, Options{Redact: "some"}); err == nil {
		t.Error("Write accepted an unknown redaction level")
	}
}

func TestWriteHARFile(t *testing.T) {
	dir := t.TempDir()
	xs := goldenCases()[0].xs
	path := filepath.Join(dir, "out.har")
	if err := WriteFile(path, xs, Options{Version: goldenVersion}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, readGolden(t, "gzip_json")) {
		t.Error("file differs from Write's output")
	}

	// A failed export leaves the old file untouched and no temp file.
	if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	err := WriteFile(path, xs, Options{Redact: "bogus"})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("failed export changed the file: %q", b)
	}
	if err := WriteFile(path, xs, Options{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the existing file's 0640", st.Mode().Perm())
	}
	// Renaming onto a directory fails after the temp file was written.
	sub := filepath.Join(dir, "adir")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "x"), nil, 0o644)
	if err := WriteFile(sub, xs, Options{}); err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("err = %v, want one naming %s", err, sub)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.har"), xs, Options{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: err = %v", err)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"adir", "out.har"}) {
		t.Errorf("files left in %s: %v (a temp file was not removed)", dir, names)
	}
}

// TestRulesField: the names of the rules that fired are listed in
// _devproxyRules, beside the marks.
func TestRulesField(t *testing.T) {
	x := record.Exchange{ID: 1, State: record.Done, Request: record.Request{Method: "GET", URL: "http://localhost/x"},
		Response: &record.Response{Status: 503},
		Marks: []record.Mark{
			{Stage: "rules", Name: "rule", Value: "flaky"},
			{Stage: "rules", Name: "status", Value: "503"},
			{Stage: "rules", Name: "faulted", Value: "1"},
		}}
	path := filepath.Join(t.TempDir(), "x.har")
	if err := WriteFile(path, []record.Exchange{x}, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	es := harEntries(t, b)
	if got := fmt.Sprint(jsonAt(es[0], "_devproxyRules")); got != "[flaky]" {
		t.Errorf("_devproxyRules = %s, want [flaky]", got)
	}
}
