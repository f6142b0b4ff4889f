package export

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

func TestFormatRaw(t *testing.T) {
	req := record.Request{
		Method: "POST", URL: "https://api.example.test/v1/items?id=1&q=a%20b#frag", Proto: "HTTP/2.0", Host: "api.example.test",
		Header: record.Fields{{Name: ":authority", Value: "api.example.test"}, {Name: "Content-Type", Value: "application/json"}, {Name: "Content-Length", Value: "12"}, {Name: "Transfer-Encoding", Value: "chunked"}, {Name: "X-Trace", Value: "a"}, {Name: "X-Trace", Value: "b"}},
		Body:   completeBody([]byte(`{"qty": 2}` + "\n")),
	}
	want := "POST /v1/items?id=1&q=a%20b HTTP/1.1\nHost: api.example.test\nContent-Type: application/json\nX-Trace: a\nX-Trace: b\n\n{\"qty\": 2}\n\n"
	if got := string(FormatRaw(req)); got != want {
		t.Errorf("FormatRaw:\n%q\nwant\n%q", got, want)
	}
}

func TestRawRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  record.Request
		base string
	}{
		{"json body ending in newline", record.Request{Method: "POST", URL: "http://localhost:8080/v1/orders", Host: "localhost:8080",
			Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Trace", Value: "a"}, {Name: "X-Trace", Value: "b"}},
			Body:   completeBody([]byte("{\"item\":\"tea\"}\n"))}, "http://localhost:8080"},
		{"body without newline", record.Request{Method: "PUT", URL: "https://example.test/doc?v=2", Host: "example.test",
			Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}},
			Body:   completeBody([]byte("line 1\r\nline 2"))}, "https://example.test"},
		{"body of blank lines", record.Request{Method: "POST", URL: "http://localhost:8080/", Host: "localhost:8080",
			Body: completeBody([]byte("\n\n"))}, "http://localhost:8080"},
		{"no body", record.Request{Method: "GET", URL: "http://localhost:8080/health", Host: "localhost:8080",
			Header: record.Fields{{Name: "Accept", Value: "*/*"}, {Name: "X-Empty", Value: ""}},
			Body:   record.Body{Complete: true}}, "http://localhost:8080"},
		{"host differs from base", record.Request{Method: "GET", URL: "http://api.internal:9000/x", Host: "api.internal:9000",
			Body: record.Body{Complete: true}}, "http://127.0.0.1:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := FormatRaw(tc.req)
			got, err := ParseRaw(text, tc.base)
			if err != nil {
				t.Fatalf("ParseRaw(%q): %v", text, err)
			}
			want := tc.req
			want.Proto = "HTTP/1.1"
			if len(want.Body.Bytes) == 0 {
				want.Body.Bytes = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip through\n%s\n got %+v\nwant %+v", text, got, want)
			}
			if again := FormatRaw(got); string(again) != string(text) {
				t.Errorf("FormatRaw(ParseRaw(text)) differs:\n%q\n%q", again, text)
			}
		})
	}
}

func TestParseRaw(t *testing.T) {
	t.Run("CRLF, absolute URL, no version, editor newline", func(t *testing.T) {
		got, err := ParseRaw([]byte("\r\nPATCH https://example.test/a?b=1\r\nHost: other.test\r\nContent-Length: 99\r\nX-A:   spaced value  \r\n\r\nbody\r\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		want := record.Request{Method: "PATCH", URL: "https://example.test/a?b=1", Proto: "HTTP/1.1", Host: "other.test",
			Header: record.Fields{{Name: "X-A", Value: "spaced value"}}, Body: completeBody([]byte("body"))}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("path joined with base, Host replaces its host", func(t *testing.T) {
		got, err := ParseRaw([]byte("GET /x/y?z=1 HTTP/1.0\nHost: api.test:81\n"), "https://127.0.0.1:8443")
		if err != nil {
			t.Fatal(err)
		}
		if got.URL != "https://api.test:81/x/y?z=1" || got.Proto != "HTTP/1.0" || got.Host != "api.test:81" || got.Body.Bytes != nil || !got.Body.Complete {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("only one trailing newline is stripped", func(t *testing.T) {
		got, err := ParseRaw([]byte("POST / HTTP/1.1\nHost: h\n\nabc\n\n"), "")
		if err != nil || string(got.Body.Bytes) != "abc\n" || got.Body.Size != 4 {
			t.Errorf("body %q (size %d), %v", got.Body.Bytes, got.Body.Size, err)
		}
	})
}

func TestParseRawErrors(t *testing.T) {
	for _, tc := range []struct {
		text, base string
		want       string
	}{
		{"", "", "line 1: empty request"},
		{" \n\t\n", "", "line 1: empty request"},
		{"GET\n", "", `line 1: expected "METHOD /path HTTP/1.1"`},
		{"GET / HTTP/1.1 extra\n", "", `line 1: expected "METHOD /path HTTP/1.1"`},
		{"\n\nG@T / HTTP/1.1\n", "http://h", `line 3: method "G@T" is not a valid HTTP token`},
		{"GET / HTTX/1.1\n", "http://h", `line 1: version "HTTX/1.1" is not like "HTTP/1.1"`},
		{"GET /\nHost: a\nX Bad: 1\n", "", `line 3: header "X Bad" has a space in its name`},
		{"GET /\nHost: a\nX-Ok: 1\nNoColon\n", "", `line 4: header "NoColon" has no ":"; expected "Name: value"`},
		{"GET /\nHost: a\nX-Ü: 1\n", "", `line 3: header name "X-Ü" has an invalid character 'Ü'`},
		{"GET /\nHost: a\n: v\n", "", `line 3: a header line starts with ":"; expected "Name: value"`},
		{"GET /\nHost: a\nX-A: 1\r2\n", "", `line 3: header "X-A" has a control character ('\r') in its value`},
		{"GET /\nHost: a\nX-A: 1\x002\n", "", `line 3: header "X-A" has a control character ('\x00') in its value`},
		{"GET /\nX-A: 1\n  folded\n", "http://h", "line 3: folded header lines"},
		{"GET /\nHost: a\nHost: b\n", "", "line 3: a second Host header (the first is on line 2)"},
		{"GET /path\n", "", "line 1: the request line has only a path"},
		{"GET /path\n", "localhost:8080", `line 1: base URL "localhost:8080" is not an absolute http(s) URL`},
		{"GET ftp://x/y\n", "", `line 1: target "ftp://x/y" is neither a path`},
		{"GET http://[::1/\n", "", `line 1: URL "http://[::1/"`},
	} {
		_, err := ParseRaw([]byte(tc.text), tc.base)
		var re *RawError
		if !errors.As(err, &re) {
			t.Errorf("ParseRaw(%q): err = %v, want a *RawError", tc.text, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseRaw(%q):\n got %q\nwant %q…", tc.text, err, tc.want)
		}
	}
}

func TestRawEditable(t *testing.T) {
	ok := record.Request{Body: completeBody([]byte("text ☕"))}
	if err := RawEditable(ok); err != nil {
		t.Errorf("text body: %v", err)
	}
	if err := RawEditable(record.Request{}); err != nil {
		t.Errorf("no body: %v", err)
	}
	for name, b := range map[string]record.Body{
		"truncated":  {Bytes: []byte("abc"), Size: 10, Truncated: true, Complete: true},
		"incomplete": {Bytes: []byte("abc"), Size: 3},
		"binary":     completeBody([]byte{0xff, 0xfe, 0}),
	} {
		err := RawEditable(record.Request{Body: b})
		if err == nil || !strings.Contains(err.Error(), name[:6]) {
			t.Errorf("%s: %v", name, err)
		}
		if got := string(FormatRaw(record.Request{Method: "POST", URL: "http://h/", Body: b})); strings.Contains(got, "abc") || !strings.HasSuffix(got, "\n\n") {
			t.Errorf("%s: FormatRaw wrote the body: %q", name, got)
		}
	}
}
