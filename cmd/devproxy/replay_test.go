package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

func harWith(t *testing.T, xs ...record.Exchange) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.har")
	if err := har.WriteFile(p, xs, har.Options{Redact: redact.None}); err != nil {
		t.Fatal(err)
	}
	return p
}

func recorded(id uint64, method, path string, status int, body string) record.Exchange {
	return record.Exchange{
		ID: id, Role: record.RoleServe, State: record.Done,
		Start: time.Date(2026, 1, 2, 3, 4, 5, int(id), time.UTC), End: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Request: record.Request{Method: method, URL: "http://127.0.0.1:8080" + path, Proto: "HTTP/1.1", Host: "127.0.0.1:8080",
			Body: record.Body{Bytes: []byte(body), Size: int64(len(body)), Complete: true}},
		Response: &record.Response{Status: status, Reason: "X", Proto: "HTTP/1.1", Body: record.Body{Complete: true}},
		Timings:  record.NoTimings,
	}
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // temporary sessions go there
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestReplayCommand(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)

	same := harWith(t, recorded(1, "GET", "/status/200", 200, ""), recorded(2, "POST", "/status/201", 201, "x=1"))
	out, err := runCmd(t, "replay", same, "--target", backend.URL)
	if err != nil || !strings.Contains(out, "200 → 200") || !strings.Contains(out, "2 entries: 2 same, 0 differ, 0 could not be sent, 0 skipped") {
		t.Fatalf("all same: %v\n%s", err, out)
	}

	differs := harWith(t, recorded(1, "GET", "/status/404", 200, ""))
	out, err = runCmd(t, "replay", differs, "--target", backend.URL)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 1 || !strings.Contains(out, "200 → 404") {
		t.Fatalf("a status differs: %v (%+v)\n%s", err, ex, out)
	}

	trunc := recorded(1, "PUT", "/anything", 200, "abc")
	trunc.Request.Body.Size, trunc.Request.Body.Truncated = 100, true
	skipped := harWith(t, trunc, recorded(2, "GET", "/get", 200, ""))
	out, err = runCmd(t, "replay", skipped, "--target", backend.URL)
	if !errors.As(err, &ex) || ex.code != 2 || !strings.Contains(out, "could not be sent: the request body was captured only in part") || !strings.Contains(out, "1 same, 0 differ, 1 could not be sent") {
		t.Fatalf("cannot send: %v (%+v)\n%s", err, ex, out)
	}

	out, err = runCmd(t, "replay", same, "--target", backend.URL, "--filter", "method:POST")
	if err != nil || strings.Contains(out, "/status/200") || !strings.Contains(out, "1 entry: 1 same") {
		t.Fatalf("filter: %v\n%s", err, out)
	}
	if _, err = runCmd(t, "replay", same, "--target", backend.URL, "--filter", "status:>>1"); err == nil || !strings.Contains(err.Error(), "--filter") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestViewBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"broken.har":  "{\n  \"log\": {\n    \"entries\": [,]\n  }\n}",
		"notahar.har": `{"hello": "world"}`,
	} {
		p := filepath.Join(dir, name)
		if err := writeFile(p, body); err != nil {
			t.Fatal(err)
		}
		_, err := runCmd(t, "view", p, "--no-tui")
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := runCmd(t, "view", filepath.Join(dir, "missing.har"), "--no-tui"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// closedAddr is a loopback address that refuses connections: a listener's
// port, closed again.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestReplayUnreachableTargetIsNotSent: devproxy's own 502 for a target
// that refuses the connection is not the target's answer, even when the
// recording holds the same 502.
func TestReplayUnreachableTargetIsNotSent(t *testing.T) {
	target := "http://" + closedAddr(t)
	for _, tc := range []struct{ name, har string }{
		{"recorded 200", harWith(t, recorded(1, "GET", "/get", 200, ""))},
		{"recorded 502 from devproxy", filepath.Join("..", "..", "internal", "har", "testdata", "har", "unreachable.har")},
		{"recorded 502 from the target", harWith(t, recorded(1, "GET", "/status/502", 502, ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, "replay", tc.har, "--target", target)
			var ex exitError
			if !errors.As(err, &ex) || ex.code != 2 {
				t.Fatalf("want exit code 2, got %v (%+v)\n%s", err, ex, out)
			}
			if !strings.Contains(out, "could not be sent: "+target+" refused the connection") || !strings.Contains(out, "1 could not be sent") {
				t.Errorf("the table does not say the request could not be sent:\n%s", out)
			}
			if strings.Contains(out, "→ 502") || strings.Contains(out, "same") && !strings.Contains(out, "0 same") {
				t.Errorf("devproxy's 502 is reported as the target's answer:\n%s", out)
			}
		})
	}
}

// redactedHAR records requests carrying credentials through a real proxy
// in front of go-httpbin and exports them with the default redaction.
func redactedHAR(t *testing.T, xs ...record.Exchange) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "redacted.har")
	if err := har.WriteFile(p, xs, har.Options{Redact: redact.Default}); err != nil {
		t.Fatal(err)
	}
	return p
}

func withHeaders(x record.Exchange, kv ...string) record.Exchange {
	for i := 0; i < len(kv); i += 2 {
		x.Request.Header = append(x.Request.Header, record.Field{Name: kv[i], Value: kv[i+1]})
	}
	return x
}

// sentHeaders reads a replay's --har output (no redaction) and returns what
// go-httpbin's /anything echoed for header name in each entry, in order.
func echoedHeaders(t *testing.T, harPath, name string) []string {
	t.Helper()
	f, err := os.Open(harPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	xs, err := har.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range xs {
		var echo struct{ Headers map[string][]string }
		if x.Response == nil {
			t.Fatalf("%s: no response", x.Request.URL)
		}
		if err := json.Unmarshal(x.Response.Body.Bytes, &echo); err != nil {
			t.Fatalf("%s: %v\n%s", x.Request.URL, err, x.Response.Body.Bytes)
		}
		got = append(got, strings.Join(echo.Headers[name], ", "))
	}
	return got
}

func TestReplayRedactedHAR(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	in := redactedHAR(t,
		withHeaders(recorded(1, "GET", "/anything/a", 200, ""), "Authorization", "Bearer s3cret", "Cookie", "sid=abc; theme=dark"),
		withHeaders(recorded(2, "GET", "/anything/b", 200, ""), "Authorization", "Bearer s3cret"),
		recorded(3, "GET", "/anything/c", 200, ""),
	)

	t.Run("warns and sends the placeholder", func(t *testing.T) {
		outHAR := filepath.Join(t.TempDir(), "out.har")
		out, err := runCmd(t, "replay", in, "--target", backend.URL, "--har", outHAR, "--har-redact", "none")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, w := range []string{"2 of 3 requests carry redacted values (Authorization, Cookie)", "sent as the literal text [redacted]", "--header 'Authorization: Bearer", "--skip-redacted"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if got := echoedHeaders(t, outHAR, "Authorization"); strings.Join(got, "|") != "[redacted]|[redacted]|" {
			t.Errorf("target saw Authorization %q", got)
		}
	})

	t.Run("--header supplies the secret", func(t *testing.T) {
		outHAR := filepath.Join(t.TempDir(), "out.har")
		out, err := runCmd(t, "replay", in, "--target", backend.URL, "--har", outHAR, "--har-redact", "none",
			"--header", "Authorization: Bearer t0ken", "--header", "cookie:sid=real")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if strings.Contains(out, "redacted") {
			t.Errorf("warned although every redacted header was supplied:\n%s", out)
		}
		if got := echoedHeaders(t, outHAR, "Authorization"); strings.Join(got, "|") != "Bearer t0ken|Bearer t0ken|Bearer t0ken" {
			t.Errorf("target saw Authorization %q", got)
		}
		if got := echoedHeaders(t, outHAR, "Cookie"); strings.Join(got, "|") != "sid=real|sid=real|sid=real" {
			t.Errorf("target saw Cookie %q", got)
		}
	})

	t.Run("--header with no value drops the header", func(t *testing.T) {
		outHAR := filepath.Join(t.TempDir(), "out.har")
		out, err := runCmd(t, "replay", in, "--target", backend.URL, "--har", outHAR, "--har-redact", "none",
			"--header", "Authorization: Bearer t0ken", "--header", "Cookie:")
		if err != nil || strings.Contains(out, "redacted") {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := echoedHeaders(t, outHAR, "Cookie"); strings.Join(got, "|") != "||" {
			t.Errorf("target saw Cookie %q", got)
		}
	})

	t.Run("--skip-redacted", func(t *testing.T) {
		outHAR := filepath.Join(t.TempDir(), "out.har")
		out, err := runCmd(t, "replay", in, "--target", backend.URL, "--har", outHAR, "--har-redact", "none",
			"--skip-redacted", "--header", "Cookie: sid=real")
		if err != nil {
			t.Fatalf("skipping by request is not a failure: %v\n%s", err, out)
		}
		for _, w := range []string{"skipping 2 of 3 requests that carry redacted values (Authorization)", "skipped: redacted Authorization", "3 entries: 1 same, 0 differ, 0 could not be sent, 2 skipped"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if got := echoedHeaders(t, outHAR, "Cookie"); strings.Join(got, "|") != "sid=real" {
			t.Errorf("target saw Cookie %q", got)
		}
	})
}

// TestReplayRedactedFixture uses an export written by devproxy's HAR
// writer with default redaction.
func TestReplayRedactedFixture(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	fixture := filepath.Join("..", "..", "internal", "har", "testdata", "har", "redact_default.har")
	out, _ := runCmd(t, "replay", fixture, "--target", backend.URL)
	if !strings.Contains(out, "1 of 1 requests carry redacted values (Authorization, Proxy-Authorization, Cookie") {
		t.Errorf("no warning:\n%s", out)
	}
	out, err := runCmd(t, "replay", fixture, "--target", backend.URL, "--skip-redacted")
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 2 || !strings.Contains(err.Error(), "nothing was replayed") {
		t.Errorf("every entry skipped: want exit 2, got %v\n%s", err, out)
	}
}

func TestReplayHeaderFlagErrors(t *testing.T) {
	har := harWith(t, recorded(1, "GET", "/get", 200, ""))
	for _, tc := range []struct{ header, want string }{
		{"Authorization Bearer x", `--header "Authorization Bearer x": want 'Name: value'`},
		{": x", "no header name"},
		{"Bad Name: x", `"Bad Name" is not a valid header name`},
		{"X-A: a\nb", "control character"},
		{"Host: example.com", "--preserve-host"},
		{"Content-Length: 3", "devproxy sets Content-Length itself"},
	} {
		_, err := runCmd(t, "replay", har, "--target", "http://"+closedAddr(t), "--header", tc.header)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--header %q: %v; want %q", tc.header, err, tc.want)
		}
	}
}

// TestReplayHeaderFromConfig: a list of headers in the config file is one
// --header per item, and a comma inside a value stays in it.
func TestReplayHeaderFromConfig(t *testing.T) {
	file := writeConfig(t, "replay:\n  header:\n    - 'Authorization: Bearer t0ken'\n    - 'Accept: text/html, application/json'\n")
	cmd, err := prepare(t, "replay", "x.har", "--target", "http://127.0.0.1:1", "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	o, err := replayOptionsFrom(cmd)
	if err != nil {
		t.Fatal(err)
	}
	want := record.Fields{{Name: "Authorization", Value: "Bearer t0ken"}, {Name: "Accept", Value: "text/html, application/json"}}
	if fmt.Sprint(o.headers) != fmt.Sprint(want) {
		t.Errorf("headers %q, want %q", o.headers, want)
	}
}

// TestReplaySendsWhatWentUpstream: a request that rules changed in flight
// is replayed as it went upstream; --original sends it as the client did.
func TestReplaySendsWhatWentUpstream(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	x := recorded(1, "GET", "/status/418", 200, "")
	x.Request.Sent = &record.SentRequest{Method: "GET", URL: "/status/200", Header: record.Fields{{Name: "X-Rule", Value: "yes"}}}
	file := harWith(t, x)

	out, err := runCmd(t, "replay", file, "--target", backend.URL)
	if err != nil || !strings.Contains(out, "200 → 200") {
		t.Fatalf("as sent: want the rewritten path /status/200 (200): %v\n%s", err, out)
	}
	out, _ = runCmd(t, "replay", file, "--target", backend.URL, "--original")
	if !strings.Contains(out, "200 → 418") {
		t.Fatalf("--original: want the client's /status/418 (418):\n%s", out)
	}
}
