package proxy

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// shapeStage changes the request as set-header, remove-header and
// rewrite-path rules do, and a response header as a response rule does.
type shapeStage struct{ request, response bool }

func (shapeStage) Name() string { return "shape" }

func (s shapeStage) Request(f *Flow) (*http.Response, error) {
	if s.request {
		f.Out.Header.Set("X-Added", "yes")
		f.Out.Header.Del("X-Secret")
		f.Out.URL.Path = "/v2/items"
	}
	return nil, nil
}

func (s shapeStage) Response(_ *Flow, res *http.Response) error {
	if s.response {
		res.Header.Set("Cache-Control", "no-store")
		res.Header.Del("X-Gone")
		res.StatusCode, res.Status = http.StatusAccepted, "202 Accepted"
	}
	return nil
}

func TestSentRecordsWhatStagesChanged(t *testing.T) {
	var got *http.Request
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got = req
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	}), func(o *Options, _ *TransportOptions) { o.Stages = []Stage{shapeStage{request: true}} })
	readAll(t, r.get("/v1/items?page=2", "X-Secret", "s3cret", "Accept", "text/plain"))
	if got.URL.Path != "/v2/items" || got.Header.Get("X-Added") != "yes" || got.Header.Get("X-Secret") != "" {
		t.Fatalf("the upstream got %s with %v", got.URL, got.Header)
	}
	x := r.waitDone(1)[0]
	s := x.Request.Sent
	if s == nil {
		t.Fatalf("no Sent recorded; request %+v", x.Request)
	}
	if s.Method != "GET" || s.URL != "/v2/items?page=2" {
		t.Errorf("Sent line %s %s, want GET /v2/items?page=2", s.Method, s.URL)
	}
	if s.Header.Get("X-Added") != "yes" || s.Header.Get("X-Secret") != "" || s.Header.Get("Accept") != "text/plain" {
		t.Errorf("Sent headers %v: want X-Added, Accept and no X-Secret", s.Header)
	}
	for _, f := range s.Header {
		if record.HopHeader(f.Name) {
			t.Errorf("Sent keeps %s, a header of devproxy's own hop", f.Name)
		}
	}
	if x.Request.Header.Get("X-Secret") != "s3cret" || x.Request.URL != r.proxy.URL+"/v1/items?page=2" {
		t.Errorf("the client's request is recorded as %s %v", x.Request.URL, x.Request.Header)
	}
	if x.Response.Upstream != nil {
		t.Errorf("Upstream %+v recorded for a response no stage changed", x.Response.Upstream)
	}
}

func TestSentAndUpstreamNilWhenNothingChanged(t *testing.T) {
	for name, stages := range map[string][]Stage{"no stages": nil, "a stage that changes nothing": {shapeStage{}}} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
				func(o *Options, _ *TransportOptions) { o.Stages = stages })
			// Headers devproxy drops or sets for its own hop are no change.
			readAll(t, r.get("/a?b=c", "X-Forwarded-For", "10.0.0.1", "Connection", "keep-alive, X-Hop", "X-Hop", "1", "Te", "trailers"))
			x := r.waitDone(1)[0]
			if x.Request.Sent != nil {
				t.Errorf("Sent %+v recorded for a request nothing changed", x.Request.Sent)
			}
			if x.Response == nil || x.Response.Upstream != nil {
				t.Errorf("response %+v: want one without Upstream", x.Response)
			}
		})
	}
}

func TestUpstreamRecordsWhatResponseStagesChanged(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-Gone", "soon")
		io.WriteString(w, "ok")
	}), func(o *Options, _ *TransportOptions) { o.Stages = []Stage{shapeStage{response: true}} })
	res := r.get("/")
	readAll(t, res)
	if res.StatusCode != http.StatusAccepted || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the client got %d Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	x := r.waitDone(1)[0]
	up := x.Response.Upstream
	if up == nil {
		t.Fatalf("no Upstream recorded; response %+v", x.Response)
	}
	if up.Status != http.StatusOK || !slices.Equal(up.Header.Values("Cache-Control"), []string{"max-age=60"}) || up.Header.Get("X-Gone") != "soon" {
		t.Errorf("Upstream %d %v: want 200 with Cache-Control max-age=60 and X-Gone", up.Status, up.Header)
	}
	if !slices.IsSortedFunc(up.Header, func(a, b record.Field) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Upstream headers %v are not in name order", up.Header)
	}
	if x.Response.Status != http.StatusAccepted || x.Response.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("recorded what the client got as %d %v", x.Response.Status, x.Response.Header)
	}
	if x.Request.Sent != nil {
		t.Errorf("Sent %+v recorded for a request no stage changed", x.Request.Sent)
	}
}

// bodyStage replaces the request body as a replace rule does: a new
// ContentLength, the header gone.
type bodyStage struct{}

func (bodyStage) Name() string { return "body" }

func (bodyStage) Request(f *Flow) (*http.Response, error) {
	b := []byte("replaced body")
	f.Out.Body, f.Out.ContentLength, f.Out.GetBody = io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	f.Out.Header.Del("Content-Length")
	return nil, nil
}

func TestSentContentLengthIsTheOneSent(t *testing.T) {
	var got string
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		got = req.Header.Get("Content-Length") + " " + string(b)
	}), func(o *Options, _ *TransportOptions) { o.Stages = []Stage{bodyStage{}} })
	res, err := r.client.Post(r.proxy.URL+"/p", "text/plain", strings.NewReader("original"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	if got != "13 replaced body" {
		t.Fatalf("the upstream got %q", got)
	}
	x := r.waitDone(1)[0]
	if s := x.Request.Sent; s == nil || !slices.Equal(s.Header.Values("Content-Length"), []string{"13"}) {
		t.Errorf("Sent %+v: want Content-Length 13, the one sent", s)
	}
	if v := x.Request.Header.Get("Content-Length"); v != "8" {
		t.Errorf("the client's Content-Length is recorded as %q, want 8", v)
	}
}
