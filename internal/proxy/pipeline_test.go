package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// mockStage answers /mock itself and tags every other response.
type mockStage struct{}

func (mockStage) Name() string { return "mock" }

func (mockStage) Request(f *Flow) (*http.Response, error) {
	if f.In.URL.Path != "/mock" {
		return nil, nil
	}
	h := http.Header{"Content-Type": {"text/plain"}}
	return &http.Response{StatusCode: http.StatusTeapot, Header: h, Body: io.NopCloser(strings.NewReader("from the stage")), ContentLength: -1}, nil
}

func (mockStage) Response(f *Flow, res *http.Response) error {
	res.Header.Set("X-Stage", "seen")
	f.Rec.Mark(record.Mark{Stage: "mock", Name: "tagged", Value: "yes"})
	return nil
}

func TestStageAnswerIsRecordedLikeUpstream(t *testing.T) {
	var hits int
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++; io.WriteString(w, "upstream") }),
		func(o *Options, _ *TransportOptions) { o.Stages = []Stage{mockStage{}} })
	res := r.get("/mock")
	body := readAll(t, res)
	if res.StatusCode != http.StatusTeapot || body != "from the stage" || res.Header.Get("X-Stage") != "seen" {
		t.Fatalf("got %d %q X-Stage=%q", res.StatusCode, body, res.Header.Get("X-Stage"))
	}
	if hits != 0 {
		t.Errorf("the upstream was called %d times for an answered request", hits)
	}
	x := r.waitDone(1)[0]
	if x.Err != nil || x.Response == nil || x.Response.Status != http.StatusTeapot || string(x.Response.Body.Bytes) != "from the stage" || !x.Response.Body.Complete {
		t.Fatalf("recorded %+v err %v", x.Response, x.Err)
	}
	if v, _ := x.Mark("answered"); v != "by mock" {
		t.Errorf("marks %v: want answered=by mock", x.Marks)
	}
	if v, _ := x.Mark("tagged"); v != "yes" {
		t.Errorf("marks %v: want the response stage's mark", x.Marks)
	}
	if x.Request.UpstreamURL != "" {
		t.Errorf("recorded an upstream %q for a stage's answer", x.Request.UpstreamURL)
	}
}

func TestRouterChoosesUpstreamPerRequest(t *testing.T) {
	named := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.Path) }))
		t.Cleanup(s.Close)
		return s
	}
	a, b := named("a"), named("b")
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL + "/base")
	var done []string
	router := RouterFunc(func(f *Flow) (*Upstream, error) {
		u := &Upstream{Name: "a", URL: ua}
		if strings.HasPrefix(f.In.URL.Path, "/b/") {
			u = &Upstream{Name: "b", URL: ub}
		}
		u.Done = func(res *http.Response, err error) { done = append(done, u.Name) }
		return u, nil
	})
	r := newRig(t, http.NotFoundHandler(), func(o *Options, _ *TransportOptions) { o.Router = router })
	if got := readAll(t, r.get("/x")); got != "a /x" {
		t.Errorf("got %q", got)
	}
	if got := readAll(t, r.get("/b/y")); got != "b /base/b/y" {
		t.Errorf("got %q", got)
	}
	xs := r.waitDone(2)
	if !strings.HasPrefix(xs[1].Request.UpstreamURL, b.URL+"/base/b/y") {
		t.Errorf("recorded upstream %q", xs[1].Request.UpstreamURL)
	}
	if strings.Join(done, ",") != "a,b" {
		t.Errorf("Done calls %v", done)
	}
}
