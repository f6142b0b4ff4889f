package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/record"
)

// changedExchange is an exchange whose request and response rules changed:
// a rewritten path, a header set and one removed, a request body replaced,
// and a response whose status and Cache-Control a rule changed.
func changedExchange() record.Exchange {
	body := []byte(`{"name":"Ada"}`)
	return record.Exchange{
		Role: record.RoleServe, Start: t0.Add(-time.Second), End: t0.Add(-time.Second + 12*time.Millisecond), State: record.Done,
		Request: record.Request{Method: "POST", URL: "http://localhost:3000/v1/users?page=2", Proto: "HTTP/1.1", Host: "localhost:3000",
			UpstreamURL: "http://localhost:4000/v2/users?page=2",
			Header:      hdr("Accept", "*/*", "Connection", "keep-alive", "Content-Length", "14", "Content-Type", "application/json", "X-Debug", "1"),
			Sent: &record.SentRequest{Method: "POST", URL: "/v2/users?page=2",
				Header: hdr("Accept", "*/*", "Content-Length", "16", "Content-Type", "application/json", "X-Api-Version", "2")},
			Body: record.Body{Bytes: body, Size: int64(len(body)), Complete: true}},
		Response: &record.Response{Status: 503, Reason: "Service Unavailable", Proto: "HTTP/1.1",
			Header:   hdr("Cache-Control", "no-store", "Content-Length", "2", "Content-Type", "application/json"),
			Upstream: &record.UpstreamResponse{Status: 200, Header: hdr("Cache-Control", "max-age=60", "Content-Length", "2", "Content-Type", "application/json")},
			Body:     record.Body{Bytes: []byte("{}"), Size: 2, Complete: true}},
		Timings: record.NoTimings,
		Marks: []record.Mark{
			{Stage: "rules", Name: "rule", Value: "v2"},
			{Stage: "rules", Name: "rewrite-path", Value: "/v1/users → /v2/users"},
			{Stage: "rules", Name: "modified", Value: "1"},
			{Stage: "rules", Name: "replace", Value: "request body: 1 replacement"},
		},
	}
}

// TestChangedGolden: the Request tab shows what went upstream against
// what the client sent, the Response tab what the upstream answered
// against what the client got.
// Regenerate with: go test ./internal/tui -run TestChangedGolden -update
func TestChangedGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"request", []string{"enter"}},
		{"response", []string{"enter", "2"}},
	}
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := newModel(t, newRecorder(t, changedExchange()), sz[0], sz[1])
				press(t, m, v.keys...)
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}

// TestChangedDiff checks the diff lines themselves: hop headers are no
// change, a changed value is its old line and its new one, and an exchange
// rules did not change has no section.
func TestChangedDiff(t *testing.T) {
	x := changedExchange()
	st := newStyles(darkTheme(), true, 1)
	text := func(x *record.Exchange, tb tab) string {
		c := buildContent(&prepared{x: x}, contentKey{tab: tb, width: 100}, st)
		return strings.Join(c.plain, "\n")
	}
	req := text(&x, tabRequest)
	for _, want := range []string{"Changed before sending (rules)", "− POST /v1/users?page=2", "+ POST /v2/users?page=2",
		"− Content-Length: 14", "+ Content-Length: 16", "− X-Debug: 1", "+ X-Api-Version: 2", "body changed by rule v2 (request body: 1 replacement)"} {
		if !strings.Contains(req, want) {
			t.Errorf("the Request tab has no %q:\n%s", want, req)
		}
	}
	if strings.Contains(req, "Connection") && strings.Contains(req, "− Connection") {
		t.Errorf("a hop header shows as changed:\n%s", req)
	}
	resp := text(&x, tabResponse)
	for _, want := range []string{"Changed before the client got it (rules)", "− 200 OK", "+ 503 Service Unavailable",
		"− Cache-Control: max-age=60", "+ Cache-Control: no-store"} {
		if !strings.Contains(resp, want) {
			t.Errorf("the Response tab has no %q:\n%s", want, resp)
		}
	}
	if strings.Contains(resp, "Content-Type: application/json\n") && strings.Contains(resp, "+ Content-Type") {
		t.Errorf("an unchanged header shows as changed:\n%s", resp)
	}
	x.Request.Sent, x.Response.Upstream, x.Marks = nil, nil, nil
	if s := text(&x, tabRequest) + text(&x, tabResponse); strings.Contains(s, "Changed before") {
		t.Errorf("an exchange rules did not change has a changes section:\n%s", s)
	}
}
