package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

func TestReplay(t *testing.T) {
	r := newRig(t, httpbin.New())
	req, _ := http.NewRequest("POST", r.proxy.URL+"/anything/orig?x=1", strings.NewReader(`{"n":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Trace", "abc")
	readAll(t, mustDo(t, r, req))
	orig := r.waitDone(1)[0]

	rp := NewReplayer(r.handler, r.rec)
	id, err := rp.Replay(context.Background(), orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := r.rec.Get(id)
	if !ok || x.ReplayOf != orig.ID || x.State != record.Done {
		t.Fatalf("replay %d: ok=%v ReplayOf=%d state=%v", id, ok, x.ReplayOf, x.State)
	}
	if x.Request.Method != "POST" || string(x.Request.Body.Bytes) != `{"n":1}` || x.Request.Header.Get("X-Trace") != "abc" {
		t.Errorf("replayed request %s %q %v", x.Request.Method, x.Request.Body.Bytes, x.Request.Header)
	}
	if x.Response == nil || x.Response.Status != 200 || !bytes.Contains(x.Response.Body.Bytes, []byte(`"data": "{\"n\":1}"`)) {
		t.Errorf("replayed response %d %s", x.Status(), x.Response.Body.Bytes)
	}
	if !strings.HasSuffix(x.Request.UpstreamURL, "/anything/orig?x=1") {
		t.Errorf("upstream %q", x.Request.UpstreamURL)
	}
}

func TestReplayRefusesTruncatedBody(t *testing.T) {
	b := newRig(t, httpbin.New())
	rec := record.NewRecorder(record.Limits{MaxBodyCapture: 4})
	h, _ := New(Options{Target: b.handler.opts.Target, Tap: rec})
	rp := NewReplayer(h, rec)
	id := rp.mustSend(t, record.Request{Method: "PUT", URL: "http://x/anything", Body: record.Body{Bytes: []byte("0123456789"), Size: 10, Complete: true}})
	_, err := rp.Replay(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "captured only in part") || !errors.Is(err, ErrBodyTruncated) {
		t.Fatalf("error %v", err)
	}
	if _, err := rp.Replay(context.Background(), 999); err == nil || !strings.Contains(err.Error(), "no longer recorded") {
		t.Errorf("unknown id: %v", err)
	}
}

func (rp *Replayer) mustSend(t *testing.T, req record.Request) uint64 {
	t.Helper()
	id, err := rp.Send(context.Background(), req, 0)
	if err != nil || id == 0 {
		t.Fatalf("send: %d %v", id, err)
	}
	return id
}

func TestReplayRaw(t *testing.T) {
	r := newRig(t, httpbin.New())
	readAll(t, r.get("/get?before=1"))
	orig := r.waitDone(1)[0]
	rp := NewReplayer(r.handler, r.rec)

	edited := "POST /anything/edited?after=2 HTTP/1.1\nHost: example.test\nContent-Type: text/plain\nX-Edited: yes\n\nnew body\n"
	id, err := rp.ReplayRaw(context.Background(), orig.ID, []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := r.rec.Get(id)
	if x.ReplayOf != orig.ID || x.Request.Method != "POST" || string(x.Request.Body.Bytes) != "new body" {
		t.Errorf("edited replay: %s %q ReplayOf %d", x.Request.Method, x.Request.Body.Bytes, x.ReplayOf)
	}
	if !bytes.Contains(x.Response.Body.Bytes, []byte(`"X-Edited"`)) || !bytes.Contains(x.Response.Body.Bytes, []byte("/anything/edited?after=2")) {
		t.Errorf("the backend did not see the edit: %s", x.Response.Body.Bytes)
	}

	_, err = rp.ReplayRaw(context.Background(), orig.ID, []byte("GET / HTTP/1.1\nHost: x\nBad Header\n\n"))
	var re *export.RawError
	if !errors.As(err, &re) || re.Line != 3 {
		t.Fatalf("parse error %v, want a RawError on line 3", err)
	}
}

func mustDo(t *testing.T, r *rig, req *http.Request) *http.Response {
	t.Helper()
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestReplayRedacted(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  record.Request
		want string
	}{
		{"nothing", record.Request{URL: "http://x/a?q=1", Header: record.Fields{{Name: "Authorization", Value: "Bearer t"}}, Body: record.Body{Bytes: []byte(`{"a":1}`)}}, ""},
		{"default export", record.Request{URL: "http://x/", Header: record.Fields{
			{Name: "Authorization", Value: "[redacted]"}, {Name: "Accept", Value: "*/*"}, {Name: "cookie", Value: "sid=[redacted]; theme=[redacted]"}, {Name: "Authorization", Value: "[redacted]"},
		}}, "Authorization, Cookie"},
		{"strict export", record.Request{
			URL:    "http://x/cb?code=%5Bredacted%5D",
			Header: record.Fields{{Name: "X-Id", Value: "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.redacted"}},
			Body:   record.Body{Bytes: []byte(`{"password":"[redacted]"}`)},
		}, "X-Id, URL, body"},
		{"unparsed body", record.Request{URL: "http://x/", Body: record.Body{Bytes: []byte("[redacted: body could not be parsed for redaction (bad JSON)]")}}, "body"},
		{"form body", record.Request{URL: "http://x/", Body: record.Body{Bytes: []byte("user=a&password=%5Bredacted%5D")}}, "body"},
	} {
		if got := strings.Join(Redacted(tc.req), ", "); got != tc.want {
			t.Errorf("%s: Redacted = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestReplayWithHeaders(t *testing.T) {
	orig := record.Request{Method: "GET", URL: "http://x/", Header: record.Fields{
		{Name: "Authorization", Value: "[redacted]"}, {Name: "Accept", Value: "*/*"}, {Name: "Cookie", Value: "a=[redacted]"}, {Name: "authorization", Value: "[redacted]"},
	}}
	kept := append(record.Fields(nil), orig.Header...)
	got := WithHeaders(orig, record.Fields{{Name: "authorization", Value: "Bearer t0ken"}, {Name: "Cookie", Value: ""}, {Name: "X-New", Value: "1"}, {Name: "X-New", Value: "2"}})
	want := record.Fields{{Name: "Accept", Value: "*/*"}, {Name: "authorization", Value: "Bearer t0ken"}, {Name: "X-New", Value: "1"}, {Name: "X-New", Value: "2"}}
	if fmt.Sprint(got.Header) != fmt.Sprint(want) {
		t.Errorf("headers %v, want %v", got.Header, want)
	}
	if fmt.Sprint(orig.Header) != fmt.Sprint(kept) {
		t.Errorf("the recorded request was changed: %v", orig.Header)
	}
}

// TestReplayUnreachableHasNoAnswer: the 502 devproxy writes for a target
// that refuses the connection is recorded as an error, not a response, so
// a replay can tell it from the target's own 502.
func TestReplayUnreachableHasNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := &url.URL{Scheme: "http", Host: l.Addr().String()}
	l.Close()
	rec := record.NewRecorder(record.Limits{})
	h, err := New(Options{Target: closed, Tap: rec})
	if err != nil {
		t.Fatal(err)
	}
	rp := NewReplayer(h, rec)
	x, _ := rec.Get(rp.mustSend(t, record.Request{Method: "GET", URL: "http://x/get"}))
	e := NoAnswer(&x)
	if e == nil || e.Kind != record.ErrUnreachable || !strings.Contains(e.Message, "refused the connection") {
		t.Fatalf("NoAnswer = %v; the exchange has status %d, response %v", e, x.Status(), x.Response)
	}

	b := newRig(t, httpbin.New())
	rp = NewReplayer(b.handler, b.rec)
	x, _ = b.rec.Get(rp.mustSend(t, record.Request{Method: "GET", URL: "http://x/status/502"}))
	if e := NoAnswer(&x); e != nil || x.Response == nil || x.Response.Status != 502 {
		t.Errorf("the target's own 502: NoAnswer = %v, response %v", e, x.Response)
	}
}
