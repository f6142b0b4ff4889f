package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// mapStage sends /mapped to its URL through Flow.MapTo.
type mapStage struct{ to *url.URL }

func (mapStage) Name() string { return "map" }

func (m mapStage) Request(f *Flow) (*http.Response, error) {
	if strings.HasPrefix(f.In.URL.Path, "/mapped") {
		f.MapTo = m.to
	}
	return nil, nil
}

func TestMapToReplacesTheRoutersChoice(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other "+r.URL.Path) }))
	t.Cleanup(other.Close)
	to, _ := url.Parse(other.URL + "/base")
	routed := 0
	router := RouterFunc(func(*Flow) (*Upstream, error) { routed++; return nil, errors.New("no route") })
	r := newRig(t, http.NotFoundHandler(), func(o *Options, _ *TransportOptions) {
		o.Router = router
		o.Stages = []Stage{mapStage{to}}
	})
	if got := readAll(t, r.get("/mapped/x")); got != "other /base/mapped/x" {
		t.Errorf("got %q", got)
	}
	if routed != 0 {
		t.Errorf("the Router was asked %d times for a mapped flow", routed)
	}
	x := r.waitDone(1)[0]
	if v, _ := x.Mark("upstream"); v != other.URL+"/base" {
		t.Errorf("upstream mark %q", v)
	}
	res := r.get("/else")
	readAll(t, res)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("unmapped: %d, want the Router's failure", res.StatusCode)
	}
}
