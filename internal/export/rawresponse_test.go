package export

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

func TestFormatRawResponse(t *testing.T) {
	res := record.Response{
		Status: 404, Reason: "Not Found", Proto: "HTTP/2.0",
		Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Length", Value: "16"}, {Name: "Transfer-Encoding", Value: "chunked"}, {Name: "X-A", Value: "1"}},
		Body:   completeBody([]byte(`{"error":"nope"}`)),
	}
	want := "HTTP/1.1 404 Not Found\nContent-Type: application/json\nX-A: 1\n\n{\"error\":\"nope\"}\n"
	if got := string(FormatRawResponse(res)); got != want {
		t.Errorf("FormatRawResponse:\n%q\nwant\n%q", got, want)
	}
	// A body that cannot be edited as text is left out.
	res.Body = record.Body{Bytes: []byte{0xff, 0xfe}, Size: 2, Complete: true}
	if got := string(FormatRawResponse(res)); !strings.HasSuffix(got, "X-A: 1\n\n") {
		t.Errorf("binary body written: %q", got)
	}
	if RawResponseEditable(res) == nil {
		t.Error("RawResponseEditable accepts a binary body")
	}
}

func TestRawResponseRoundTrip(t *testing.T) {
	for _, res := range []record.Response{
		{Status: 200, Reason: "OK", Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}, {Name: "X-B", Value: "a"}, {Name: "X-B", Value: "b"}}, Body: completeBody([]byte("hello\n"))},
		{Status: 201, Reason: "Created", Body: completeBody([]byte("no newline"))},
		{Status: 204, Reason: "No Content", Body: record.Body{Complete: true}},
		{Status: 599, Reason: "", Body: completeBody([]byte("\n\n"))},
	} {
		text := FormatRawResponse(res)
		got, err := ParseRawResponse(text)
		if err != nil {
			t.Fatalf("ParseRawResponse(%q): %v", text, err)
		}
		want := res
		want.Proto = "HTTP/1.1"
		if len(want.Body.Bytes) == 0 {
			want.Body.Bytes = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip through %q:\n got %+v\nwant %+v", text, got, want)
		}
	}
}

func TestParseRawResponseCRLF(t *testing.T) {
	got, err := ParseRawResponse([]byte("\r\nHTTP/1.0 503 Busy Now\r\nRetry-After: 5\r\nContent-Length: 99\r\n\r\nlater\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := record.Response{Status: 503, Reason: "Busy Now", Proto: "HTTP/1.0", Header: record.Fields{{Name: "Retry-After", Value: "5"}}, Body: completeBody([]byte("later"))}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseRawResponseErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
		msg  string
	}{
		{"", 1, "empty response"},
		{"\n\n", 2, "empty response"},
		{"200 OK\n\n", 1, `expected "HTTP/1.1 200 OK"`},
		{"HTTP/1.1 2000 OK\n\n", 1, "not a code from 100 to 599"},
		{"HTTP/1.1 099\n\n", 1, "not a code from 100 to 599"},
		{"HTTP/1.1 200 OK\nX-A 1\n\n", 2, `has no ":"`},
		{"HTTP/1.1 200 OK\nX-A: 1\n  folded\n\n", 3, "folded header lines"},
		{"HTTP/1.1 200 OK\nBad Name: 1\n\n", 2, "has a space in its name"},
	} {
		_, err := ParseRawResponse([]byte(tc.text))
		var re *RawError
		if !errors.As(err, &re) || re.Line != tc.line || !strings.Contains(re.Msg, tc.msg) {
			t.Errorf("ParseRawResponse(%q) = %v; want line %d containing %q", tc.text, err, tc.line, tc.msg)
		}
	}
}

// FuzzParseRawResponse: what ParseRawResponse accepts formats and parses
// back to the same response.
func FuzzParseRawResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nhi\n",
		"HTTP/1.0 503\r\nRetry-After: 5\r\n\r\n",
		"\nHTTP/1.1 404 Not Found\n\n\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		res, err := ParseRawResponse(text)
		if err != nil {
			var re *RawError
			if !errors.As(err, &re) || re.Line < 1 || re.Line > strings.Count(string(text), "\n")+1 {
				t.Fatalf("error %#v: want a *RawError with a line inside the text", err)
			}
			return
		}
		if res.Status < 100 || res.Status > 599 || !res.Body.Complete || res.Body.Size != int64(len(res.Body.Bytes)) {
			t.Fatalf("response %+v", res)
		}
		if RawResponseEditable(res) != nil {
			return
		}
		again, err := ParseRawResponse(FormatRawResponse(res))
		if err != nil {
			t.Fatalf("ParseRawResponse(FormatRawResponse(res)): %v", err)
		}
		want := res
		want.Proto = "HTTP/1.1"
		if want.Reason == "" {
			want.Reason = again.Reason // FormatRawResponse fills in the status text
		}
		if !reflect.DeepEqual(again, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, want)
		}
	})
}
