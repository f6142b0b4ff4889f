package export

import (
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `'plain'`},
		{"", `''`},
		{"a b $HOME `x` \"q\" \\", `'a b $HOME ` + "`x`" + ` "q" \'`},
		{"it's", `$'it\'s'`},
		{"hi!", `$'hi\x21'`},
		{"line1\nline2", `$'line1\nline2'`},
		{"a\tb\rc", `$'a\tb\rc'`},
		{"back\\slash'", `$'back\\slash\''`},
		{"bell\a esc\x1b del\x7f", `$'bell\x07 esc\x1b del\x7f'`},
		{"naïve ☕ 日本", `'naïve ☕ 日本'`},
		{"c1\u0085", `$'c1\u0085'`},
		{"bad\xffbyte", `$'bad\xffbyte'`},
	} {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func curlExchange(method, url string, h record.Fields, body []byte) record.Exchange {
	return record.Exchange{Request: record.Request{Method: method, URL: url, Host: "example.test", Header: h, Body: completeBody(body)}}
}

func TestCurlMethodInference(t *testing.T) {
	for _, tc := range []struct {
		method string
		body   string
		want   string // the -X or -I line, "" for none
	}{
		{"GET", "", ""},
		{"POST", "a=1", ""},
		{"POST", "", "-X 'POST'"},
		{"GET", "a=1", "-X 'GET'"},
		{"PUT", "a=1", "-X 'PUT'"},
		{"DELETE", "", "-X 'DELETE'"},
		{"HEAD", "", "-I"},
		{"OPTIONS", "", "-X 'OPTIONS'"},
	} {
		got := Curl(curlExchange(tc.method, "http://example.test/", nil, []byte(tc.body)))
		lines := strings.Split(got, " \\\n")
		var flag string
		for _, l := range lines[1:] {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "-X") || l == "-I" {
				flag = l
			}
		}
		if flag != tc.want {
			t.Errorf("%s with body %q: method flag %q, want %q\n%s", tc.method, tc.body, flag, tc.want, got)
		}
	}
}

func TestCurl(t *testing.T) {
	x := curlExchange("POST", "https://api.example.test/v1/items?id=1&q=it's", record.Fields{
		{Name: ":authority", Value: "api.example.test"},
		{Name: "Host", Value: "api.example.test"},
		{Name: "Accept-Encoding", Value: "gzip, br"},
		{Name: "Content-Length", Value: "17"},
		{Name: "Content-Type", Value: "application/json"},
		{Name: "X-Empty", Value: ""},
		{Name: "X-Trace", Value: "a"},
		{Name: "X-Trace", Value: "b"},
	}, []byte("{\"msg\":\"hi!\"}\n"))
	want := strings.Join([]string{
		`curl $'https://api.example.test/v1/items?id=1&q=it\'s'`,
		`  -H 'Content-Type: application/json'`,
		`  -H 'X-Empty;'`,
		`  -H 'X-Trace: a'`,
		`  -H 'X-Trace: b'`,
		`  --data-raw $'{"msg":"hi\x21"}\n'`,
		`  --compressed`,
	}, " \\\n")
	if got := Curl(x); got != want {
		t.Errorf("Curl:\n%s\nwant:\n%s", got, want)
	}
}

func TestCurlGlobOff(t *testing.T) {
	got := Curl(curlExchange("GET", "http://example.test/search?filter[name]=ada&ids={1,2}", nil, nil))
	want := "curl 'http://example.test/search?filter[name]=ada&ids={1,2}' \\\n  --globoff"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestCurlInsecure(t *testing.T) {
	x := curlExchange("GET", "https://127.0.0.1:8443/anything", nil, nil)
	got := CurlWith(x, CurlOptions{Insecure: true, Why: "it is self-signed"})
	want := "curl 'https://127.0.0.1:8443/anything' \\\n  -k\n# -k: curl does not verify the server's certificate: it is self-signed."
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := CurlWith(x, CurlOptions{}); got != Curl(x) || strings.Contains(got, "-k") {
		t.Errorf("without options:\n%s", got)
	}
}

func TestCurlBinaryBody(t *testing.T) {
	x := curlExchange("PUT", "http://example.test/blob", record.Fields{{Name: "Content-Type", Value: "application/octet-stream"}}, []byte{0x89, 'P', 'N', 'G', 0, 1, 2})
	got := Curl(x)
	want := "curl 'http://example.test/blob' \\\n  -X 'PUT' \\\n  -H 'Content-Type: application/octet-stream' \\\n  --data-binary @body.bin\n" +
		"# The request body is binary (7 bytes): save it to body.bin before running this command."
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// NUL is valid UTF-8 but cannot ride in a shell string.
	if got := Curl(curlExchange("POST", "http://example.test/", nil, []byte("a\x00b"))); !strings.Contains(got, "--data-binary @body.bin") {
		t.Errorf("NUL body inline:\n%s", got)
	}
}

func TestCurlPartialBody(t *testing.T) {
	x := curlExchange("POST", "http://example.test/upload", nil, []byte("first part"))
	x.Request.Body.Size, x.Request.Body.Truncated = 5000, true
	got := Curl(x)
	if !strings.Contains(got, "--data-raw 'first part'\n# Warning: the request body was truncated when captured: this sends 10 of its 5000 bytes.") {
		t.Errorf("truncated:\n%s", got)
	}
	x.Request.Body = record.Body{Bytes: []byte("half"), Size: 4}
	if got := Curl(x); !strings.HasSuffix(got, "# Warning: the request body did not complete: this sends the 4 bytes that arrived.") {
		t.Errorf("incomplete:\n%s", got)
	}
}

func TestCurlImportedEncodedBody(t *testing.T) {
	x := curlExchange("POST", "http://example.test/", record.Fields{{Name: "Content-Encoding", Value: "gzip"}, {Name: "Content-Type", Value: "text/plain"}}, []byte("plain now"))
	x.BodiesDecoded = true
	got := Curl(x)
	if strings.Contains(got, "-H 'Content-Encoding") || !strings.Contains(got, "--data-raw 'plain now'") || !strings.Contains(got, "# The body was stored decoded on import") {
		t.Errorf("got:\n%s", got)
	}
}

func completeBody(b []byte) record.Body {
	return record.Body{Bytes: b, Size: int64(len(b)), Complete: true}
}
