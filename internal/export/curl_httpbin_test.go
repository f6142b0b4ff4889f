package export_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/record"
)

// echo is what go-httpbin's /anything answers.
type echo struct {
	Method  string              `json:"method"`
	Args    map[string][]string `json:"args"`
	Headers map[string][]string `json:"headers"`
	Data    string              `json:"data"`
	Form    map[string][]string `json:"form"`
}

// TestCurlAgainstHTTPBin runs generated curl commands with bash against
// go-httpbin and checks that what arrived is what was recorded: method,
// headers (repeats and empty values included) and body bytes.
func TestCurlAgainstHTTPBin(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the generated commands cannot be run")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	srv := httptest.NewServer(httpbin.New())
	t.Cleanup(srv.Close)

	binary := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0xff, 0xfe, '\'', '!'}
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		headers record.Fields
		body    []byte
		args    map[string][]string
		form    map[string][]string
	}{
		{
			name: "json with shell-hostile text", method: "POST", path: "/anything/orders",
			headers: record.Fields{
				{Name: "Content-Type", Value: "application/json"},
				{Name: "X-Quote", Value: `it's "quoted" $HOME !bang`},
				{Name: "X-Trace", Value: "a"}, {Name: "X-Trace", Value: "b"},
				{Name: "X-Empty", Value: ""},
				{Name: "Accept-Encoding", Value: "gzip"},
			},
			// Valid JSON (httpbin parses it), with a real tab and newline
			// between tokens and escapes inside strings.
			body: []byte("{\"note\": \"line1\\nline2\",\t\"raw\": \"it's !important\\t$HOME\", \"uni\": \"naïve ☕\"}\n"),
		},
		{
			name: "text with control characters", method: "PUT", path: "/anything/doc",
			headers: record.Fields{{Name: "Content-Type", Value: "text/plain"}},
			body:    []byte("first line\nsecond\tline with 'quotes' and !bang\r\nbell\a end"),
		},
		{
			name: "binary body from body.bin", method: "POST", path: "/anything/upload",
			headers: record.Fields{{Name: "Content-Type", Value: "application/octet-stream"}},
			body:    binary,
		},
		{
			name: "form post", method: "POST", path: "/anything/login",
			headers: record.Fields{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
			body:    []byte("user=ada&pass=it%27s+secret%21"),
			form:    map[string][]string{"user": {"ada"}, "pass": {"it's secret!"}},
		},
		{
			name: "query with brackets and quote", method: "GET", path: "/anything/search?filter[name]=ada&q=it%27s",
			headers: record.Fields{{Name: "Accept", Value: "application/json"}},
			args:    map[string][]string{"filter[name]": {"ada"}, "q": {"it's"}},
		},
		{
			name: "delete without body", method: "DELETE", path: "/anything/orders/7",
		},
		{
			name: "get with a body", method: "GET", path: "/anything/odd",
			headers: record.Fields{{Name: "Content-Type", Value: "text/plain"}},
			body:    []byte("body on a GET"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := record.Exchange{Request: record.Request{
				Method: tc.method, URL: srv.URL + tc.path, Proto: "HTTP/1.1",
				Host:   strings.TrimPrefix(srv.URL, "http://"),
				Header: append(record.Fields{{Name: "Content-Length", Value: "999"}}, tc.headers...),
				Body:   record.Body{Bytes: tc.body, Size: int64(len(tc.body)), Complete: true},
			}}
			cmdline := export.Curl(x)
			dir := t.TempDir()
			if strings.Contains(cmdline, "@"+export.CurlBodyFile) {
				if err := os.WriteFile(filepath.Join(dir, export.CurlBodyFile), tc.body, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bash, "-c", cmdline)
			cmd.Dir = dir
			// No ~/.curlrc and no proxy from the environment.
			cmd.Env = append(os.Environ(), "HOME="+dir, "CURL_HOME="+dir, "NO_PROXY=*", "no_proxy=*")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v\n%s\ncommand:\n%s", err, stderr.String(), cmdline)
			}
			var got echo
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("reply is not httpbin JSON: %v\n%s", err, out)
			}
			if got.Method != tc.method {
				t.Errorf("method %q, want %q\n%s", got.Method, tc.method, cmdline)
			}
			for _, h := range tc.headers {
				if strings.EqualFold(h.Name, "Accept-Encoding") {
					if len(got.Headers["Accept-Encoding"]) == 0 {
						t.Errorf("--compressed sent no Accept-Encoding")
					}
					continue
				}
				want := x.Request.Header.Values(h.Name)
				if have := got.Headers[h.Name]; !slices.Equal(have, want) {
					t.Errorf("header %s = %q, want %q\n%s", h.Name, have, want, cmdline)
				}
			}
			if cl := got.Headers["Content-Length"]; len(tc.body) > 0 && !slices.Equal(cl, []string{strconv.Itoa(len(tc.body))}) {
				t.Errorf("Content-Length %q, want %d (curl must compute it)", cl, len(tc.body))
			}
			// httpbin echoes a body that is not UTF-8 as a base64 data URL.
			data := []byte(got.Data)
			if b64, ok := strings.CutPrefix(got.Data, "data:application/octet-stream;base64,"); ok {
				if data, err = base64.URLEncoding.DecodeString(b64); err != nil {
					t.Fatalf("httpbin's data URL: %v", err)
				}
			}
			if !bytes.Equal(data, tc.body) && tc.form == nil {
				t.Errorf("body %q, want %q\n%s", data, tc.body, cmdline)
			}
			if tc.form != nil && !equalValues(got.Form, tc.form) {
				t.Errorf("form %v, want %v", got.Form, tc.form)
			}
			if tc.args != nil && !equalValues(got.Args, tc.args) {
				t.Errorf("args %v, want %v", got.Args, tc.args)
			}
		})
	}
}

func equalValues(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
