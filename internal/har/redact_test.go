package har

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// Helpers shared by the redaction tests.

// redactExchange is a finished exchange numbered id, started id*10 ms after
// the fixture start, so that exports keep the order the cases list.
func redactExchange(id int, req record.Request, resp *record.Response) record.Exchange {
	if req.Method == "" {
		req.Method = "GET"
	}
	if req.Proto == "" {
		req.Proto = "HTTP/1.1"
	}
	if req.Host == "" {
		req.Host = "127.0.0.1:8080"
	}
	if resp != nil {
		if resp.Status == 0 {
			resp.Status, resp.Reason = 200, "OK"
		}
		if resp.Proto == "" {
			resp.Proto = "HTTP/1.1"
		}
	}
	return record.Exchange{
		ID: uint64(id), Role: record.RoleServe, Start: fxAt(id * 10), End: fxAt(id*10 + 5), State: record.Done,
		ClientAddr: "127.0.0.1:51400", ServerAddr: "127.0.0.1:8080",
		Request: req, Response: resp, Timings: reusedTimings,
	}
}

// findLeaks lists the JSON paths of doc whose string holds secret: as
// written, URL-encoded, base64-encoded (a binary body), or inside a string
// that is itself JSON (a JSON-escaped echo).
func findLeaks(t *testing.T, doc []byte, secret string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	var out []string
	walkStrings("", v, func(path, s string) {
		if leaksIn(s, secret, 2) {
			out = append(out, path)
		}
	})
	return out
}

func walkStrings(path string, v any, f func(path, s string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			walkStrings(path+"."+k, x, f)
		}
	case []any:
		for i, x := range v {
			walkStrings(path+"["+strconv.Itoa(i)+"]", x, f)
		}
	case string:
		f(path, v)
	}
}

func leaksIn(s, secret string, depth int) bool {
	if strings.Contains(s, secret) {
		return true
	}
	if u, err := url.QueryUnescape(s); err == nil && strings.Contains(u, secret) {
		return true
	}
	if u, err := url.PathUnescape(s); err == nil && strings.Contains(u, secret) {
		return true
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && bytes.Contains(b, []byte(secret)) {
		return true
	}
	if depth > 0 {
		dec := json.NewDecoder(strings.NewReader(s))
		found := false
		for {
			var v any
			if dec.Decode(&v) != nil {
				break
			}
			walkStrings("", v, func(_, inner string) {
				if inner != s && leaksIn(inner, secret, depth-1) {
					found = true
				}
			})
		}
		return found
	}
	return false
}

// checkStable asserts that doc, read back and exported again at level,
// comes out byte for byte the same (what TestHARRoundTrip asks of the
// goldens).
func checkStable(t *testing.T, doc []byte, level redact.Level) {
	t.Helper()
	xs, err := Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("Read of the export: %v", err)
	}
	if again := exportHAR(t, xs, level); !bytes.Equal(again, doc) {
		t.Errorf("export → import → export changed the file:\n%s", firstDiff(again, doc))
	}
}
