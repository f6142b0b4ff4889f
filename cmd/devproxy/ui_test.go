package main

import (
	"io"
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
