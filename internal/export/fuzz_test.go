package export

import (
	"bytes"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRaw feeds ParseRaw arbitrary text (seeds in
// testdata/fuzz/FuzzParseRaw). What it accepts is a valid request, and
// FormatRaw then ParseRaw gives the same request back.
func FuzzParseRaw(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\nHost: localhost:8080\n\n",
		"POST /v1/items?id=1 HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}\r\n",
		"PUT https://example.test/doc\nX-A: 1\nX-A: 2\n\nline 1\nline 2\n",
		"GET //x/y\n\n",
	} {
		f.Add([]byte(s), "http://127.0.0.1:8080")
	}
	f.Fuzz(func(t *testing.T, text []byte, base string) {
		req, err := ParseRaw(text, base)
		if err != nil {
			re, ok := err.(*RawError)
			if !ok || re.Line < 1 || re.Line > bytes.Count(text, []byte("\n"))+1 {
				t.Fatalf("error %#v: want a *RawError with a line inside the text", err)
			}
			return
		}
		if !isToken(req.Method) || req.Proto == "" {
			t.Fatalf("method %q proto %q", req.Method, req.Proto)
		}
		u, err := url.Parse(req.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("URL %q is not absolute http(s): %v", req.URL, err)
		}
		if !req.Body.Complete || req.Body.Size != int64(len(req.Body.Bytes)) || req.Body.Truncated {
			t.Fatalf("body %+v", req.Body)
		}
		for _, h := range req.Header {
			if checkHeaderName(h.Name) != "" || strings.ContainsAny(h.Value, "\r\n\x00") ||
				strings.EqualFold(h.Name, "Host") || strings.EqualFold(h.Name, "Content-Length") {
				t.Fatalf("header %q: %q", h.Name, h.Value)
			}
		}
		if RawEditable(req) != nil {
			return // FormatRaw leaves such a body out; nothing to compare
		}
		text2 := FormatRaw(req)
		req2, err := ParseRaw(text2, u.Scheme+"://"+u.Host)
		if err != nil {
			t.Fatalf("ParseRaw(FormatRaw(req)): %v\n%q", err, text2)
		}
		u2, _ := url.Parse(req2.URL)
		want := req
		want.Proto, want.URL = "HTTP/1.1", req2.URL
		if !reflect.DeepEqual(req2, want) {
			t.Fatalf("round trip through %q:\n got %+v\nwant %+v", text2, req2, want)
		}
		if req.Host == u.Host && (u2.Scheme != u.Scheme || u2.Host != u.Host || u2.RequestURI() != u.RequestURI()) {
			t.Fatalf("URL %q came back as %q", req.URL, req2.URL)
		}
	})
}
