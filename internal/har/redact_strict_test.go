package har

import (
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// TestStrictRedactionFailsClosed: strict redaction hides what it can parse
// field by field, and hides whole, saying why, what it cannot parse. Each
// body is sent and echoed back, so both postData and content are checked.
func TestStrictRedactionFailsClosed(t *testing.T) {
	long := `{"password":"hunter22","items":[` + strings.Repeat(`{"n":1},`, 50) + `{"n":2}]}`
	multipart := "--XyZ\r\n" +
		"Content-Disposition: form-data; name=\"user\"\r\n\r\nada\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter22\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"meta\"; filename=\"m.json\"\r\nContent-Type: application/json\r\n\r\n{\"api_key\":\"k-live-999\",\"size\":3}\r\n" +
		"--XyZ--\r\n"
	upload := "--XyZ\r\n" +
		"Content-Disposition: form-data; name=\"user\"\r\n\r\nada\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\x00\xff hunter22 \xfe\r\n" +
		"--XyZ--\r\n"
	for _, c := range []struct {
		name    string
		header  record.Fields // besides Content-Type
		ctype   string
		body    record.Body
		secrets []string
		keep    []string // still in the body text
		whole   string   // the reason given when the body is hidden whole
	}{
		{
			name: "JSON over the capture cap", ctype: "application/json",
			body:    record.Body{Bytes: []byte(long[:64]), Size: int64(len(long)), Truncated: true, Complete: true},
			secrets: []string{"hunter22"}, whole: "truncated at capture cap",
		},
		{
			name: "one byte that is not UTF-8", ctype: "application/json",
			body:    completeBody([]byte(`{"password":"hunter22","name":"caf` + "\xe9" + `"}`)),
			secrets: []string{"hunter22"}, whole: "not UTF-8 text",
		},
		{
			name: "JSON that does not parse", ctype: "application/json",
			body:    completeBody([]byte(`{"password":"hunter22",}`)),
			secrets: []string{"hunter22"}, whole: "not valid JSON",
		},
		{
			name: "Content-Encoding that does not decode", ctype: "application/x-www-form-urlencoded",
			// With a Content-Length, so that the wire size survives a
			// round trip (TestHARRoundTripEncodedWithoutLength).
			header:  record.Fields{{Name: "Content-Encoding", Value: "gzip"}, {Name: "Content-Length", Value: "26"}},
			body:    completeBody([]byte("user=ada&password=hunter22")),
			secrets: []string{"hunter22"}, whole: `Content-Encoding "gzip" could not be undone`,
		},
		{
			name: "multipart form fields", ctype: "multipart/form-data; boundary=XyZ",
			body:    completeBody([]byte(multipart)),
			secrets: []string{"hunter22", "k-live-999"},
			keep:    []string{"\r\n\r\nada\r\n", `name="password"`, `"size":3`, "--XyZ--"},
		},
		{
			name: "multipart upload with a binary file", ctype: "multipart/form-data; boundary=XyZ",
			body:    completeBody([]byte(upload)),
			secrets: []string{"hunter22"},
			keep:    []string{"\r\n\r\nada\r\n", `filename="a.png"`},
		},
		{
			name: "multipart without its closing boundary", ctype: "multipart/form-data; boundary=XyZ",
			body:    completeBody([]byte(multipart[:strings.Index(multipart, "--XyZ--")])),
			secrets: []string{"hunter22", "k-live-999"}, whole: "malformed multipart body",
		},
		{
			name: "urlencoded data inside JSON strings", ctype: "application/json",
			body:    completeBody([]byte(`{"form":"user=ada&password=hunter22","raw":"a=1\u0026client_secret=cs-998877\u0026code=c0de-4455","n":1}`)),
			secrets: []string{"hunter22", "cs-998877", "c0de-4455"},
			keep:    []string{"user=ada", `"raw":"a=1`, `"n":1`},
		},
		{
			name: "URLs with secret query parameters inside a body", ctype: "text/html; charset=utf-8",
			body:    completeBody([]byte(`<a href="https://app.test/reset?user=ada&token=rst-445566#top">reset</a> <a href='/cb#access_token=at-112233&token_type=bearer'>go</a> next: https://app.test/cb?code=c0de-7788&state=s1`)),
			secrets: []string{"rst-445566", "at-112233", "c0de-7788"},
			keep:    []string{"user=ada", "state=s1", "#top", "token_type="}, // its value is hidden: the name holds "token"
		},
		{
			name: "key names that hold secrets", ctype: "application/json",
			body:    completeBody([]byte(`{"name":"ada","private_key":"-----BEGIN KEY-----pk-5566","passphrase":"correct horse","pwd":"pw-7788","credentials":{"user":"ada","secret":"cr-9900"},"db_pass":"dbp-1122","X-Amz-Signature":"sig-3344"}`)),
			secrets: []string{"pk-5566", "correct horse", "pw-7788", "cr-9900", "dbp-1122", "sig-3344"},
			keep:    []string{`"name":"ada"`},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := append(record.Fields{{Name: "Content-Type", Value: c.ctype}}, c.header...)
			x := redactExchange(1,
				record.Request{Method: "POST", URL: "http://127.0.0.1:8080/anything", Header: h, Body: c.body},
				&record.Response{Header: h, Body: c.body})
			doc := exportHAR(t, []record.Exchange{x}, redact.Strict)
			for _, s := range c.secrets {
				if paths := findLeaks(t, doc, s); len(paths) > 0 {
					t.Errorf("strict export leaks %q at %v", s, paths)
				}
			}
			e := harEntries(t, doc)[0]
			for _, part := range []any{jsonAt(e, "request", "postData"), jsonAt(e, "response", "content")} {
				text, _ := jsonAt(part, "text").(string)
				if c.whole != "" {
					want := "[redacted: body could not be parsed for redaction (" + c.whole + ")]"
					if text != want {
						t.Errorf("text = %q, want %q", text, want)
					}
					if got := jsonAt(part, "_devproxyRedacted"); got != c.whole {
						t.Errorf("_devproxyRedacted = %v, want %q", got, c.whole)
					}
					if com, _ := jsonAt(part, "comment").(string); !strings.Contains(com, c.whole) {
						t.Errorf("comment %q does not say why the body was hidden", com)
					}
					if jsonAt(part, "encoding") != nil || jsonAt(part, "_encoding") != nil {
						t.Errorf("a hidden body is plain text, not base64: %v", part)
					}
				}
				for _, k := range c.keep {
					if !strings.Contains(text, k) {
						t.Errorf("strict should keep %q in %q", k, text)
					}
				}
			}
			checkStable(t, doc, redact.Strict)
		})
	}
}
