package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
)

// testTimeout bounds every network wait in these tests.
const testTimeout = 20 * time.Second

// rig is a proxy in front of a backend, both on loopback, with a recorder.
type rig struct {
	t       *testing.T
	backend *httptest.Server
	proxy   *httptest.Server
	handler *Handler
	rec     *record.Recorder
	client  *http.Client
}

type rigOption func(*Options, *TransportOptions)

func newRig(t *testing.T, backend http.Handler, opts ...rigOption) *rig {
	t.Helper()
	b := httptest.NewServer(backend)
	t.Cleanup(b.Close)
	return newRigFor(t, b, opts...)
}

func newRigFor(t *testing.T, b *httptest.Server, opts ...rigOption) *rig {
	t.Helper()
	target, _ := url.Parse(b.URL)
	rec := record.NewRecorder(record.Limits{})
	o := Options{Target: target, Tap: rec}
	var to TransportOptions
	for _, f := range opts {
		f(&o, &to)
	}
	if o.Transport == nil {
		tr, err := NewTransport(to)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		o.Transport = tr
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	p := httptest.NewServer(h)
	t.Cleanup(p.Close)
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	return &rig{t: t, backend: b, proxy: p, handler: h, rec: rec, client: client}
}

func (r *rig) get(path string, hdr ...string) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest("GET", r.proxy.URL+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitDone waits until n exchanges are recorded as done and returns them.
func (r *rig) waitDone(n int) []record.Exchange {
	return recordtest.WaitDone(r.t, r.rec, n, testTimeout)
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func urlParse(s string) (*url.URL, error) { return url.Parse(s) }

func runtimeGosched() { runtime.Gosched() }
