package har

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// TestRedactionFollowsSecrets: a value known to be secret (a credential, a
// cookie, a strict-level field) is hidden wherever else it appears in the
// export: other headers, URLs, bodies (text or base64), other entries,
// earlier or later. Values too short to follow stay.
func TestRedactionFollowsSecrets(t *testing.T) {
	js := record.Fields{{Name: "Content-Type", Value: "application/json"}}
	basic := base64.StdEncoding.EncodeToString([]byte("ada:hunter22"))
	both := []redact.Level{redact.Default, redact.Strict}
	for _, c := range []struct {
		name    string
		levels  []redact.Level
		xs      []record.Exchange
		secrets []string
		keep    []string // still in the export, as written in the HAR
	}{
		{
			name: "httpbin /anything echoes the request", levels: both,
			xs: []record.Exchange{redactExchange(1,
				record.Request{URL: "http://127.0.0.1:8080/anything?x=1", Header: record.Fields{{Name: "Authorization", Value: "Bearer s3cretTOKEN"}, {Name: "Cookie", Value: "sid=abcdef123"}}},
				&record.Response{
					Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Echo-Auth", Value: "Bearer s3cretTOKEN"}},
					Body:   completeBody([]byte(`{"args":{"x":"1"},"headers":{"Authorization":"Bearer s3cretTOKEN","Cookie":"sid=abcdef123","Host":"127.0.0.1:8080"},"url":"http://127.0.0.1:8080/anything?x=1"}`)),
				})},
			secrets: []string{"s3cretTOKEN", "abcdef123"},
			keep:    []string{`\"x\":\"1\"`, "anything?x=1", `\"Host\":\"127.0.0.1:8080\"`},
		},
		{
			name: "a token issued before it is used", levels: both,
			xs: []record.Exchange{
				redactExchange(1, record.Request{Method: "POST", URL: "http://127.0.0.1:8080/login"},
					&record.Response{Header: js, Body: completeBody([]byte(`{"issued":"tk-9f8e7d6c5b","ttl":60}`))}),
				redactExchange(2, record.Request{URL: "http://127.0.0.1:8080/me", Header: record.Fields{{Name: "Authorization", Value: "Bearer tk-9f8e7d6c5b"}}},
					&record.Response{Header: js, Body: completeBody([]byte(`{"user":"ada"}`))}),
			},
			secrets: []string{"tk-9f8e7d6c5b"},
			keep:    []string{`\"ttl\":60`, `\"user\":\"ada\"`},
		},
		{
			name: "a cookie set, then echoed by a later entry", levels: both,
			xs: []record.Exchange{
				redactExchange(1, record.Request{URL: "http://127.0.0.1:8080/cookies/set"},
					&record.Response{Status: 302, Reason: "Found", Header: record.Fields{{Name: "Set-Cookie", Value: "session=Zm9vYmFyYmF6; Path=/; HttpOnly"}, {Name: "Location", Value: "/cookies"}}}),
				redactExchange(2,
					record.Request{URL: "http://127.0.0.1:8080/debug?s=Zm9vYmFyYmF6&keep=1", Header: record.Fields{{Name: "X-Echo", Value: "Zm9vYmFyYmF6"}}},
					&record.Response{Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}}, Body: completeBody([]byte("session Zm9vYmFyYmF6 ok")),
						Trailer: record.Fields{{Name: "X-Last", Value: "Zm9vYmFyYmF6"}}}),
			},
			secrets: []string{"Zm9vYmFyYmF6"},
			keep:    []string{"keep=1", "session [redacted] ok"},
		},
		{
			name: "basic credentials, encoded and decoded", levels: both,
			xs: []record.Exchange{
				redactExchange(1,
					record.Request{URL: "http://127.0.0.1:8080/basic-auth/ada/hunter22", Header: record.Fields{{Name: "Authorization", Value: "Basic " + basic}}},
					&record.Response{Header: js, Body: completeBody([]byte(`{"authenticated":true,"user":"ada","raw":"ada:hunter22","b64":"` + basic + `"}`))}),
				redactExchange(2, record.Request{URL: "http://ada:hunter22@127.0.0.1:8080/x"}, &record.Response{Header: js, Body: completeBody([]byte(`{"pw":"hunter22"}`))}),
			},
			secrets: []string{basic, "ada:hunter22", "hunter22"},
			keep:    []string{`\"user\":\"ada\"`, "/basic-auth/ada/"},
		},
		{
			name: "URL-encoded and JSON-escaped copies", levels: both,
			xs: []record.Exchange{
				redactExchange(1, record.Request{URL: "http://127.0.0.1:8080/", Header: record.Fields{{Name: "Cookie", Value: "pref=x&y<z>1234"}, {Name: "Authorization", Value: "Bearer ab/cd+ef==gh"}}}, nil),
				redactExchange(2,
					record.Request{URL: "http://127.0.0.1:8080/echo/x&y%3Cz%3E1234?p=x%26y%3Cz%3E1234&t=ab%2Fcd%2Bef%3D%3Dgh"},
					&record.Response{Header: js, Body: completeBody([]byte(`{"cookies":{"pref":"x\u0026y\u003cz\u003e1234"},"t":"ab\/cd+ef==gh"}`))}),
			},
			secrets: []string{"x&y<z>1234", "ab/cd+ef==gh"},
		},
		{
			name: "a binary body exported as base64", levels: both,
			xs: []record.Exchange{redactExchange(1,
				record.Request{URL: "http://127.0.0.1:8080/bytes", Header: record.Fields{{Name: "Authorization", Value: "Bearer s3cretTOKEN"}}},
				&record.Response{Header: record.Fields{{Name: "Content-Type", Value: "application/octet-stream"}}, Body: completeBody([]byte("\xff\x00\x01s3cretTOKEN\xfe"))})},
			secrets: []string{"s3cretTOKEN"},
		},
		{
			name: "a truncated body that ends inside the secret", levels: both,
			xs: []record.Exchange{redactExchange(1,
				record.Request{URL: "http://127.0.0.1:8080/stream", Header: record.Fields{{Name: "Authorization", Value: "Bearer s3cretTOKEN"}}},
				&record.Response{Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}}, Body: record.Body{Bytes: []byte("your token is s3cretTO"), Size: 100, Truncated: true, Complete: true}})},
			secrets: []string{"s3cretTO"},
		},
		{
			name: "short values are not followed", levels: both,
			xs: []record.Exchange{redactExchange(1,
				record.Request{URL: "http://127.0.0.1:8080/cookies", Header: record.Fields{{Name: "Cookie", Value: "a=1; lang=en-US; theme=dark"}}},
				&record.Response{Header: js, Body: completeBody([]byte(`{"id":1,"lang":"en-US","theme":"dark"}`))})},
			keep: []string{`{\"id\":1,\"lang\":\"en-US\",\"theme\":\"dark\"}`},
		},
		{
			name: "strict field values are followed", levels: []redact.Level{redact.Strict},
			xs: []record.Exchange{
				redactExchange(1, record.Request{Method: "POST", URL: "http://127.0.0.1:8080/login",
					Header: record.Fields{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}, Body: completeBody([]byte("user=ada&password=hunter22pw"))}, nil),
				redactExchange(2, record.Request{Method: "POST", URL: "http://127.0.0.1:8080/keys", Header: js, Body: completeBody([]byte(`{"api_key":"ak-55aa66bb"}`))}, nil),
				redactExchange(3, record.Request{URL: "http://127.0.0.1:8080/echo", Header: record.Fields{{Name: "X-Echo-Key", Value: "ak-55aa66bb"}}},
					&record.Response{Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}}, Body: completeBody([]byte("welcome ada, your password hunter22pw was accepted"))}),
			},
			secrets: []string{"hunter22pw", "ak-55aa66bb"},
			keep:    []string{"welcome ada"},
		},
	} {
		for _, level := range c.levels {
			t.Run(c.name+"/"+string(level), func(t *testing.T) {
				doc := exportHAR(t, c.xs, level)
				for _, s := range c.secrets {
					if paths := findLeaks(t, doc, s); len(paths) > 0 {
						t.Errorf("%s export leaks %q at %v", level, s, paths)
					}
				}
				for _, k := range c.keep {
					if !strings.Contains(string(doc), k) {
						t.Errorf("%s export should keep %q", level, k)
					}
				}
				checkStable(t, doc, level)
			})
		}
	}
}
