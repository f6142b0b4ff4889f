package record

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadHAR feeds ReadHAR arbitrary bytes. Checked-in seeds live in
// testdata/fuzz/FuzzReadHAR; the goldens and import fixtures are added too.
// Besides never panicking: what it accepts is well-formed, exports, and
// exporting is stable (export → import → export gives the same bytes) at
// every redaction level.
func FuzzReadHAR(f *testing.F) {
	for _, dir := range []string{"har", "import"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.har"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		xs, err := ReadHAR(bytes.NewReader(data))
		if err != nil {
			if xs != nil {
				t.Fatalf("error %v with %d exchanges", err, len(xs))
			}
			if !strings.HasPrefix(err.Error(), "read HAR: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for i, x := range xs {
			if x.State != Done || !x.BodiesDecoded || x.ID == 0 {
				t.Fatalf("#%d: state %v, decoded %v, id %d", i, x.State, x.BodiesDecoded, x.ID)
			}
			if x.Request.Method == "" || x.Request.URL == "" {
				t.Fatalf("#%d: request without method or URL", i)
			}
			bodies := []Body{x.Request.Body}
			if x.Response != nil {
				bodies = append(bodies, x.Response.Body)
				if x.Response.Status <= 0 {
					t.Fatalf("#%d: response with status %d", i, x.Response.Status)
				}
			}
			for _, b := range bodies {
				if b.Size < int64(len(b.Bytes)) || (b.Size > int64(len(b.Bytes)) && !b.Truncated) {
					t.Fatalf("#%d: body of %d bytes with size %d, truncated %v", i, len(b.Bytes), b.Size, b.Truncated)
				}
			}
		}
		for _, level := range []Redaction{RedactNone, RedactDefault, RedactStrict} {
			var first bytes.Buffer
			if err := WriteHAR(&first, xs, HAROptions{Redact: level}); err != nil {
				t.Fatalf("WriteHAR(%s) of what ReadHAR accepted: %v", level, err)
			}
			again, err := ReadHAR(bytes.NewReader(first.Bytes()))
			if err != nil {
				t.Fatalf("ReadHAR of our own %s export: %v\n%s", level, err, first.Bytes())
			}
			if len(again) != len(xs) {
				t.Fatalf("%s export: %d exchanges read back, want %d", level, len(again), len(xs))
			}
			var second bytes.Buffer
			if err := WriteHAR(&second, again, HAROptions{Redact: level}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatalf("%s export not stable:\n%s", level, firstDiff(second.Bytes(), first.Bytes()))
			}
		}
	})
}

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
