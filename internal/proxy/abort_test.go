package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// abortStage closes the connection on /reset (request phase), /reset-late
// (response phase), and cuts the body of /cut after 5 bytes.
type abortStage struct{}

func (abortStage) Name() string { return "fault" }

func (abortStage) Request(f *Flow) (*http.Response, error) {
	if f.In.URL.Path == "/reset" {
		return nil, fmt.Errorf("rule 1: %w", &AbortError{Kind: record.ErrAborted, Message: "connection reset by a rule"})
	}
	return nil, nil
}

func (abortStage) Response(f *Flow, res *http.Response) error {
	switch f.In.URL.Path {
	case "/reset-late":
		return &AbortError{Kind: record.ErrAborted, Message: "reset after the upstream answered"}
	case "/cut":
		res.Body = &cutBody{ReadCloser: res.Body, left: 5}
	}
	return nil
}

// cutBody passes left bytes, then fails with an AbortError.
type cutBody struct {
	io.ReadCloser
	left int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, &AbortError{Kind: record.ErrAborted, Message: "body cut after 5 bytes"}
	}
	n, err := c.ReadCloser.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

func TestAbortClosesConnectionWithoutAnswer(t *testing.T) {
	var hits atomic.Int32
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "0123456789")
	}), func(o *Options, _ *TransportOptions) { o.Stages = []Stage{abortStage{}} })

	for i, path := range []string{"/reset", "/reset-late"} {
		res, err := r.client.Get(r.proxy.URL + path)
		if err == nil {
			res.Body.Close()
			t.Fatalf("%s: got a response %d; want the connection closed", path, res.StatusCode)
		}
		x := r.waitDone(i + 1)[i]
		if x.Err == nil || x.Err.Kind != record.ErrAborted || x.Err.Status != 0 || !strings.Contains(x.Err.Message, "reset") {
			t.Errorf("%s: recorded error %+v; want aborted, status 0", path, x.Err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("upstream called %d times; want once (for /reset-late only)", n)
	}
	// The proxy still serves.
	if got := readAll(t, r.get("/ok")); got != "0123456789" {
		t.Errorf("after the resets: %q", got)
	}
}

func TestAbortFromBodyCutsResponse(t *testing.T) {
	r := newRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "0123456789")
	}), func(o *Options, _ *TransportOptions) { o.Stages = []Stage{abortStage{}} })

	res := r.get("/cut")
	if res.StatusCode != http.StatusOK || res.ContentLength != 10 {
		t.Fatalf("status %d, Content-Length %d; want 200 and the original 10", res.StatusCode, res.ContentLength)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "01234" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("client read %q, %v; want 5 bytes then unexpected EOF", b, err)
	}
	x := r.waitDone(1)[0]
	if x.Err == nil || x.Err.Kind != record.ErrAborted || x.Err.Status != http.StatusOK || x.Err.Message != "body cut after 5 bytes" {
		t.Errorf("recorded error %+v", x.Err)
	}
	if x.Response == nil || string(x.Response.Body.Bytes) != "01234" || x.Response.Body.Complete {
		t.Errorf("recorded body %+v", x.Response)
	}
}

func TestAbortInReplayIsRecorded(t *testing.T) {
	r := newRig(t, http.NotFoundHandler(), func(o *Options, _ *TransportOptions) { o.Stages = []Stage{abortStage{}} })
	rp := NewReplayer(r.handler, r.rec)
	id, err := rp.Send(context.Background(), record.Request{Method: "GET", URL: "http://x/reset"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := r.rec.Get(id)
	if x.Err == nil || x.Err.Kind != record.ErrAborted {
		t.Errorf("replay recorded %+v", x.Err)
	}
}
