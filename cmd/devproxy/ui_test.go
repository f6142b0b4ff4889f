package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/rules"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// TestUIHolds: the UI gets the run's breakpoint holds through uiConfig,
// lists a held POST as the engine holds it, and resumes it as edited.
func TestUIHolds(t *testing.T) {
	seen := make(chan string, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- string(b)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)

	holds := rules.NewHolds(time.Minute, nil)
	rs, err := rules.ParseAll([]string{"method:POST => breakpoint request"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.New(rs, rules.Options{Holds: holds})
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewRecorder(record.Limits{})
	target, _ := url.Parse(backend.URL)
	h, err := proxy.New(proxy.Options{Target: target, Tap: rec, Stages: []proxy.Stage{set}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	t.Cleanup(func() {
		for _, x := range holds.List() {
			_ = holds.Abort(x.ID)
		}
	})

	cfg := uiConfig(&roleRun{role: record.RoleServe, rec: rec, holds: holds})
	if cfg.Holds == nil {
		t.Fatal("uiConfig left Holds nil with breakpoint rules")
	}
	if uiConfig(&roleRun{role: record.RoleServe, rec: rec}).Holds != nil {
		t.Fatal("uiConfig set Holds without breakpoint rules")
	}

	got := make(chan string, 1)
	go func() {
		res, err := http.Post(front.URL+"/post", "application/x-www-form-urlencoded", strings.NewReader("x=1"))
		if err != nil {
			got <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- res.Status + " " + string(b)
	}()
	deadline := time.After(10 * time.Second)
	for len(cfg.Holds.List()) == 0 {
		select {
		case <-cfg.Holds.Changed():
		case <-deadline:
			t.Fatal("the POST was not held")
		}
	}
	held := cfg.Holds.List()[0]
	if held.Phase != match.PhaseRequest || held.Rule != "1" || held.Method != "POST" || !held.BodyEditable ||
		!strings.HasSuffix(held.URL, "/post") || !strings.HasSuffix(held.Text, "x=1\n") || held.Deadline.Sub(held.Since) != time.Minute {
		t.Fatalf("held: %+v", held)
	}
	if err := cfg.Holds.Resume(held.ID, strings.Replace(held.Text, "x=1", "x=2", 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-seen:
		if body != "x=2" {
			t.Errorf("the upstream got %q, want the edited x=2", body)
		}
	case <-deadline:
		t.Fatal("the upstream was not called")
	}
	select {
	case s := <-got:
		if s != "200 OK ok" {
			t.Errorf("the client got %q", s)
		}
	case <-deadline:
		t.Fatal("the client got no answer")
	}
	if n := len(cfg.Holds.List()); n != 0 {
		t.Errorf("%d still held after Resume", n)
	}
}

// TestUIRules: with the UI, a role has a rule Set and holds even without
// rules; a rule added through the UI's adapter acts on the next request,
// and switching, moving and deleting it take effect as well; the intercept
// holds a POST until it is resumed. Headless, nothing changes.
func TestUIRules(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	rec := record.NewRecorder(record.Limits{})
	s := &roleRun{role: record.RoleServe, rec: rec, logger: slog.New(slog.DiscardHandler)}
	stages, err := s.newRules(nil, true, time.Minute, "--breakpoint-timeout")
	if err != nil || len(stages) != 1 || s.rules == nil || s.holds == nil {
		t.Fatalf("with the UI and no rules: %d stages, rules %v, holds %v, err %v", len(stages), s.rules, s.holds, err)
	}
	headless := &roleRun{role: record.RoleServe, rec: rec, logger: slog.New(slog.DiscardHandler)}
	if stages, err := headless.newRules(nil, false, time.Minute, "--breakpoint-timeout"); err != nil || stages != nil || headless.rules != nil || headless.holds != nil {
		t.Fatalf("headless with no rules: %d stages, err %v", len(stages), err)
	}
	bp, _ := rules.ParseAll([]string{"method:POST => breakpoint request"})
	if _, err := headless.newRules(bp, false, time.Minute, "--breakpoint-timeout"); err == nil || !strings.Contains(err.Error(), "there is no UI") {
		t.Fatalf("headless with a breakpoint: %v", err)
	}

	target, _ := url.Parse(backend.URL)
	h, err := proxy.New(proxy.Options{Target: target, Tap: rec, Stages: stages})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	t.Cleanup(func() { s.holds.ResumeAll() })
	status := func(method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, front.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	cfg := uiConfig(s)
	rs := cfg.Rules
	if rs == nil || cfg.Holds == nil {
		t.Fatal("uiConfig gave the UI no rules or no holds")
	}
	var re *tui.RuleError
	if err := rs.Add("path:/status/* => stauts 418"); !errors.As(err, &re) || re.Col != 19 || !strings.Contains(re.Msg, `"stauts"`) {
		t.Fatalf("a misspelt action: %#v", err)
	}
	if err := rs.Check("path:/status/* => status 418"); err != nil {
		t.Fatal(err)
	}
	if got := status("GET", "/status/200"); got != 200 {
		t.Fatalf("before the rule: %d", got)
	}
	if err := rs.Add("path:/status/* => status 418"); err != nil {
		t.Fatal(err)
	}
	if got := status("GET", "/status/200"); got != 418 {
		t.Fatalf("after adding the rule: %d, want 418", got)
	}
	if got := status("GET", "/get"); got != 200 {
		t.Fatalf("a path the rule does not match: %d", got)
	}
	if err := rs.Add("path:/status/* => status 503"); err != nil {
		t.Fatal(err)
	}
	if err := rs.Move(1, -1); err != nil {
		t.Fatal(err)
	}
	if got := status("GET", "/status/200"); got != 503 {
		t.Fatalf("after moving the 503 rule first: %d", got)
	}
	if err := rs.Toggle(0); err != nil {
		t.Fatal(err)
	}
	if got := status("GET", "/status/200"); got != 418 {
		t.Fatalf("with the 503 rule off: %d", got)
	}
	if err := rs.Delete(1); err != nil {
		t.Fatal(err)
	}
	if got := status("GET", "/status/200"); got != 200 {
		t.Fatalf("with the 418 rule deleted: %d", got)
	}
	if l := rs.List(); len(l) != 1 || l[0].Enabled || l[0].Text != "path:/status/* => status 503" {
		t.Fatalf("list: %+v", l)
	}
	if err := rs.Toggle(5); err == nil {
		t.Fatal("Toggle(5) of one rule did not fail")
	}

	// The intercept: the matcher decides the phase, and the errors name
	// columns in the expression.
	for expr, want := range map[string]string{
		"method:POST => status 418": "column 13: the intercept is a filter expression only",
		"method:POST body:x":        "rules cannot search bodies",
		"status:abc":                "column 1: status:abc",
	} {
		if err := rs.CheckIntercept(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckIntercept(%q) = %v, want %q", expr, err, want)
		}
	}
	if err := rs.CheckIntercept(" "); err == nil {
		t.Error("an empty intercept passed the check")
	}
	if err := rs.SetIntercept("*"); err != nil {
		t.Fatal(err)
	}
	if l := rs.List(); len(l) != 2 || l[1].Text != "* => breakpoint request" || l[1].Match != "*" {
		t.Fatalf("the intercept of every exchange: %+v", l)
	}
	if err := rs.SetIntercept("status:5xx"); err != nil {
		t.Fatal(err)
	}
	if l := rs.List(); l[1].Name != tui.InterceptRule || l[1].Text != "status:5xx => breakpoint response" {
		t.Fatalf("list: %+v", l)
	}
	if err := rs.SetIntercept("method:POST"); err != nil {
		t.Fatal(err)
	}
	if l := rs.List(); len(l) != 2 || l[1].Text != "method:POST => breakpoint request" || l[1].Match != "method:POST" || !l[1].Enabled {
		t.Fatalf("list: %+v", l)
	}
	got := make(chan int, 1)
	go func() {
		res, err := http.Post(front.URL+"/post", "text/plain", strings.NewReader("x=1"))
		if err != nil {
			got <- 0
			return
		}
		res.Body.Close()
		got <- res.StatusCode
	}()
	deadline := time.After(10 * time.Second)
	for len(cfg.Holds.List()) == 0 {
		select {
		case <-cfg.Holds.Changed():
		case <-deadline:
			t.Fatal("the POST was not held")
		}
	}
	if held := cfg.Holds.List()[0]; held.Rule != tui.InterceptRule || held.Method != "POST" {
		t.Fatalf("held: %+v", held)
	}
	if err := cfg.Holds.Resume(cfg.Holds.List()[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-got:
		if code != 200 {
			t.Fatalf("the resumed POST got %d", code)
		}
	case <-deadline:
		t.Fatal("the resumed POST got no answer")
	}
	if err := rs.ClearIntercept(); err != nil {
		t.Fatal(err)
	}
	if l := rs.List(); len(l) != 1 {
		t.Fatalf("after ClearIntercept: %+v", l)
	}
	if got := status("POST", "/post"); got != 200 {
		t.Fatalf("a POST after the intercept was cleared: %d", got)
	}
}

// TestUIExitLine: nothing is printed before the UI (the banner and the
// hints are in it); when it ends, one line says what the run recorded and
// how it ended, and a new admin token, shown once, stays on the terminal.
func TestUIExitLine(t *testing.T) {
	var stderr strings.Builder
	rec := record.NewRecorder(record.Limits{})
	for range 9 {
		rec.Add(record.Exchange{Role: record.RoleServe, Request: record.Request{Method: "GET", URL: "http://localhost/"}})
	}
	s := &roleRun{role: record.RoleServe, name: "demo", rec: rec, stderr: &stderr,
		banner: "devproxy serve: http://127.0.0.1:8080 → http://127.0.0.1:3000",
		hints: []string{"Try it from another terminal:", "  curl http://127.0.0.1:8080/anything",
			"admin token (shown once, stored hashed): dpa_0123"}}
	defer func(run func(context.Context, tui.Config) (tui.Tally, error)) { runTUI = run }(runTUI)
	runTUI = func(context.Context, tui.Config) (tui.Tally, error) {
		if stderr.Len() > 0 {
			t.Errorf("printed before the UI: %q", stderr.String())
		}
		return tui.Tally{Exchanges: 9, Failed: 1, Client: 2, Server: 3}, nil
	}
	if err := runUI(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	want := "devproxy demo: stopped; 9 exchanges recorded (1 failed · 2 4xx · 3 5xx); not saved (--har FILE or --session FILE keeps them)\n" +
		"devproxy: admin token (shown once, stored hashed): dpa_0123\n"
	if got := stderr.String(); got != want {
		t.Fatalf("on exit:\n%s\nwant:\n%s", got, want)
	}

	// With --har, what it writes says where they went.
	stderr.Reset()
	s.hints, s.out.har = nil, "out.har"
	if err := runUI(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got, want := stderr.String(), "devproxy demo: stopped; 9 exchanges recorded (1 failed · 2 4xx · 3 5xx)\n"; got != want {
		t.Fatalf("with --har: %q, want %q", got, want)
	}
}
