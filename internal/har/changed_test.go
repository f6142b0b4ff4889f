package har

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// changedExchange is an exchange whose request and response rules changed.
func changedExchange() record.Exchange {
	return record.Exchange{ID: 7, State: record.Done,
		Request: record.Request{Method: "GET", URL: "http://localhost/v1/items", Proto: "HTTP/1.1",
			Header: record.Fields{{Name: "Accept", Value: "*/*"}, {Name: "X-Secret", Value: "s"}},
			Sent: &record.SentRequest{Method: "GET", URL: "/v2/items?page=2",
				Header: record.Fields{{Name: "Accept", Value: "*/*"}, {Name: "Authorization", Value: "Bearer abc"}}},
			Body: record.Body{Complete: true}},
		Response: &record.Response{Status: 202, Reason: "Accepted", Proto: "HTTP/1.1",
			Header:   record.Fields{{Name: "Cache-Control", Value: "no-store"}},
			Upstream: &record.UpstreamResponse{Status: 200, Header: record.Fields{{Name: "Cache-Control", Value: "max-age=60"}}},
			Body:     record.Body{Complete: true}},
		Marks: []record.Mark{{Stage: "rules", Name: "rule", Value: "v2"}, {Stage: "rules", Name: "modified", Value: "1"}},
	}
}

func TestChangedByRulesRoundTrip(t *testing.T) {
	x := changedExchange()
	var b bytes.Buffer
	if err := Write(&b, []record.Exchange{x}, Options{Redact: redact.None}); err != nil {
		t.Fatal(err)
	}
	e := harEntries(t, b.Bytes())[0]
	if got := fmt.Sprint(jsonAt(e, "request", "_devproxySent", "url"), " ", jsonAt(e, "response", "_devproxyUpstream", "status")); got != "/v2/items?page=2 200" {
		t.Errorf("_devproxySent.url, _devproxyUpstream.status = %s; want /v2/items?page=2 200", got)
	}
	xs, err := Read(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(xs[0].Request.Sent, x.Request.Sent) {
		t.Errorf("Sent read back as %+v, want %+v", xs[0].Request.Sent, x.Request.Sent)
	}
	if !reflect.DeepEqual(xs[0].Response.Upstream, x.Response.Upstream) {
		t.Errorf("Upstream read back as %+v, want %+v", xs[0].Response.Upstream, x.Response.Upstream)
	}

	// Without them, nothing is written and nothing read back.
	x.Request.Sent, x.Response.Upstream = nil, nil
	b.Reset()
	if err := Write(&b, []record.Exchange{x}, Options{Redact: redact.None}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("_devproxySent")) || bytes.Contains(b.Bytes(), []byte("_devproxyUpstream")) {
		t.Errorf("an exchange rules did not change has the fields:\n%s", b.Bytes())
	}
	if xs, err = Read(bytes.NewReader(b.Bytes())); err != nil || xs[0].Request.Sent != nil || xs[0].Response.Upstream != nil {
		t.Errorf("read back %+v, %+v, %v: want neither", xs[0].Request.Sent, xs[0].Response.Upstream, err)
	}
}

func TestChangedByRulesRedacted(t *testing.T) {
	x := changedExchange()
	var b bytes.Buffer
	if err := Write(&b, []record.Exchange{x}, Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Bearer abc") {
		t.Errorf("the credentials a rule set went out unredacted:\n%s", b.String())
	}
	if x.Request.Sent.Header.Get("Authorization") != "Bearer abc" {
		t.Errorf("redaction changed the exchange")
	}
}

func TestChangedByRulesBadUpstreamStatus(t *testing.T) {
	const doc = `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":1,
	"request":{"method":"GET","url":"http://h/","httpVersion":"HTTP/1.1","headers":[],"_devproxySent":{"method":"POST","url":"/x","headers":null}},
	"response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","headers":[],"content":{"size":0,"mimeType":""},"_devproxyUpstream":{"status":-3,"headers":[]}},
	"timings":{"send":0,"wait":0,"receive":0}}]}}`
	xs, err := Read(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s := xs[0].Request.Sent; s == nil || s.Method != "POST" || s.URL != "/x" || s.Header != nil {
		t.Errorf("Sent = %+v", s)
	}
	if xs[0].Response.Upstream != nil {
		t.Errorf("Upstream with status -3 read as %+v; want it left out", xs[0].Response.Upstream)
	}
}
