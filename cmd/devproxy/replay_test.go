package main

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

func harWith(t *testing.T, xs ...record.Exchange) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.har")
	if err := record.WriteHARFile(p, xs, record.HAROptions{Redact: record.RedactNone}); err != nil {
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
	if err != nil || !strings.Contains(out, "200 → 200") || !strings.Contains(out, "2 replayed: 2 same") {
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
	if !errors.As(err, &ex) || ex.code != 2 || !strings.Contains(out, "skipped: the request body was captured only in part") {
		t.Fatalf("cannot send: %v (%+v)\n%s", err, ex, out)
	}

	out, err = runCmd(t, "replay", same, "--target", backend.URL, "--filter", "method:POST")
	if err != nil || strings.Contains(out, "/status/200") || !strings.Contains(out, "1 replayed") {
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
