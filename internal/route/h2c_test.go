package route

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// h2cOnly is an upstream that speaks only HTTP/2 with prior knowledge and
// answers with the protocol it saw (health checks included).
func h2cOnly(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "saw "+r.Proto)
	}))
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestRouteUpstreamH2C(t *testing.T) {
	h2 := h2cOnly(t)
	h1 := newUpstream(t, "h1")
	specs, err := Decode([]any{
		map[string]any{"match": map[string]any{"path": "/h2c"}, "upstreams": []any{h2.URL}, "upstream_h2c": true,
			"health": map[string]any{"path": "/healthz", "interval": "1h"}},
		map[string]any{"match": map[string]any{"path": "/"}, "upstreams": []any{h1.URL()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !specs[0].UpstreamH2C || specs[1].UpstreamH2C {
		t.Fatalf("decoded upstream_h2c %v, %v; want true, false", specs[0].UpstreamH2C, specs[1].UpstreamH2C)
	}
	f := newFront(t, specs, Options{})
	if res, body := f.get("/h2c/x"); res.StatusCode != 200 || body != "saw HTTP/2.0" {
		t.Errorf("the h2c route: %d %q, want 200 from HTTP/2", res.StatusCode, body)
	}
	if res, body := f.get("/other"); res.StatusCode != 200 || body != "h1" {
		t.Errorf("the other route: %d %q, want h1 over HTTP/1.1", res.StatusCode, body)
	}
	// The h2c route's health checks speak h2c too, so its upstream is up.
	c := f.table.byConf[0].health
	if ok, reason := c.check(t.Context(), c.pool.Members()[0]); !ok {
		t.Errorf("the health check of the h2c upstream failed: %s", reason)
	}
}

func TestDecodeUpstreamH2CErrors(t *testing.T) {
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"upstreams": "http://127.0.0.1:1", "upstream_h2c": "yes"}, "upstream_h2c"},
		{map[string]any{"upstreams": "http://127.0.0.1:1", "h2c": true}, `did you mean "upstream_h2c"`},
	} {
		_, err := Decode([]any{c.in})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%v) = %v, want an error naming %s", c.in, err, c.want)
		}
	}
}
