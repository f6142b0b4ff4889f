package main

import (
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeLogLine is the headless log line the README shows, found by its
// start.
var readmeLogLine = regexp.MustCompile(`(?m)^time=… level=INFO msg="#\d+ .*$`)

// TestReadmeLogLineIsWhatDemoPrints runs demo headless, sends the requests
// the README's example line implies, and compares the line demo logs with
// the README's: the same message, keys, order and values, but for the
// time, the port and the duration.
func TestReadmeLogLineIsWhatDemoPrints(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := readmeLogLine.FindString(string(readme))
	if want == "" {
		t.Fatalf("README.md has no log line starting %q", "time=… level=INFO msg=\"#")
	}
	m := regexp.MustCompile(`msg="#(\d+) GET (http://127\.0\.0\.1:8080(/\S*))`).FindStringSubmatch(want)
	if m == nil {
		t.Fatalf("the README's log line is not a GET to http://127.0.0.1:8080: %s", want)
	}
	id, path := m[1], m[3]
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > 20 {
		t.Fatalf("the README's log line has id %s; keep it small", id)
	}

	isolate(t)
	r := startRole(t, "demo", "--no-session")
	base := r.out.waitMatch(t, listeningRE)
	client := &http.Client{Timeout: 10 * time.Second}
	// n-1 exchanges before the README's, so that the ids agree.
	for i := 1; i <= n; i++ {
		p := "/get"
		if i == n {
			p = path
		}
		res, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	got := r.out.waitMatch(t, regexp.MustCompile(`(?m)^(time=\S+ level=INFO msg="#`+id+` .*)$`))

	// What differs from run to run: the time, the port, the duration.
	got = regexp.MustCompile(`^time=\S+`).ReplaceAllString(got, "time=…")
	got = strings.ReplaceAll(got, strings.TrimPrefix(base, "http://"), "127.0.0.1:8080")
	dur := regexp.MustCompile(` duration_ms=([0-9]+(\.[0-9]+)?) `)
	if w := dur.FindStringSubmatch(want); w != nil {
		got = dur.ReplaceAllString(got, " duration_ms="+w[1]+" ")
	}
	if got != want {
		t.Errorf("the README's log line differs from what demo prints:\nREADME: %s\ndemo:   %s", want, got)
	}
}
