package invert

// Interoperability with github.com/google/inverting-proxy. The reference
// programs need Google credentials to start, so these tests use doubles
// written from the protocol's facts (../../shared/notes/tunnel.md §1.2-1.3):
// a stand-alone relay that marks agent calls by header alone, lists ids as
// JSON or null, and serves the inbound request with Request.Write; and an
// agent that polls, fetches, and posts Response.Write output.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// refRelay behaves like the reference stand-alone relay.
type refRelay struct {
	ids  chan string
	mu   sync.Mutex
	reqs map[string]*refPending
	seq  int
}

type refPending struct {
	start time.Time
	req   *http.Request
	resp  chan *http.Response
}

func newRefRelay() *refRelay {
	return &refRelay{ids: make(chan string, 16), reqs: map[string]*refPending{}}
}

func (p *refRelay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderBackendID) != "" { // the header alone marks an agent call
		id := r.Header.Get(HeaderRequestID)
		switch {
		case id == "":
			var ids []string
			select {
			case x := <-p.ids:
				ids = append(ids, x)
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
			b, _ := json.Marshal(ids) // null when empty
			w.Write(b)
		case r.Method == http.MethodPost:
			p.mu.Lock()
			pend := p.reqs[id]
			p.mu.Unlock()
			if pend == nil {
				http.NotFound(w, r)
				return
			}
			res, err := http.ReadResponse(bufio.NewReader(r.Body), pend.req)
			if err != nil {
				http.Error(w, "bad response", http.StatusBadRequest)
				return
			}
			pr, pw := io.Pipe()
			body := res.Body
			res.Body = pr
			pend.resp <- res
			io.Copy(pw, body)
			pw.Close()
		default:
			p.mu.Lock()
			pend := p.reqs[id]
			p.mu.Unlock()
			if pend == nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set(HeaderRequestStartTime, pend.start.Format(time.RFC3339Nano))
			w.WriteHeader(200)
			pend.req.Write(w)
		}
		return
	}
	for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		r.Header.Del(h)
	}
	p.mu.Lock()
	p.seq++
	id := fmt.Sprintf("%064x", p.seq)
	pend := &refPending{start: time.Now(), req: r, resp: make(chan *http.Response)}
	p.reqs[id] = pend
	p.mu.Unlock()
	p.ids <- id
	select {
	case <-r.Context().Done():
	case res := <-pend.resp:
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
		res.Body.Close()
		for k, vs := range res.Trailer {
			for _, v := range vs {
				w.Header().Add(http.TrailerPrefix+k, v)
			}
		}
	}
}

func TestOurAgentAgainstReferenceRelay(t *testing.T) {
	for _, tr := range []Mode{ModePoll, ModeAuto} {
		t.Run(string(tr), func(t *testing.T) {
			backend := httptest.NewServer(httpbin.New())
			t.Cleanup(backend.Close)
			relay := httptest.NewServer(newRefRelay())
			t.Cleanup(relay.Close)
			target, _ := url.Parse(backend.URL)
			rec := record.NewRecorder(record.Limits{})
			h, _ := proxy.New(proxy.Options{Target: target, Role: record.RoleAgent, Tap: rec, TrustForwarded: true, Logger: quiet})
			relayURL, _ := url.Parse(relay.URL + "/")
			a, err := NewAgent(AgentOptions{Relay: relayURL, Backend: "ref", Mode: tr, Handler: h, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { a.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })

			client := &http.Client{Timeout: testTimeout}
			res, err := client.Post(relay.URL+"/anything/ref?q=1", "text/plain", strings.NewReader("ping"))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, res)
			if res.StatusCode != 200 || !strings.Contains(body, `"data": "ping"`) || !strings.Contains(body, `"q": [`) {
				t.Fatalf("status %d body %s", res.StatusCode, body)
			}
			if x := waitDone(t, rec, 1)[0]; x.Request.Method != "POST" || x.Response.Status != 200 {
				t.Errorf("agent recorded %s %d", x.Request.Method, x.Status())
			}
			if tr == ModeAuto && !strings.Contains(a.Status(), "poll") {
				t.Errorf("auto transport state %q: want the poll fallback", a.Status())
			}
		})
	}
}

// refAgent is one cycle of the reference agent's loop: list, fetch, forward
// to the backend, post the response in HTTP/1.1 wire format.
func refAgentServeOne(t *testing.T, relayBase, backendID, backendURL string) {
	t.Helper()
	client := &http.Client{Timeout: testTimeout}
	var ids []string
	for len(ids) == 0 {
		req, _ := http.NewRequest("GET", relayBase+PendingPath, nil)
		req.Header.Set(HeaderBackendID, backendID)
		req.Header.Set("Authorization", "Bearer ya29.a-google-oauth-token-we-cannot-verify")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("list: %d %s", res.StatusCode, b)
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &ids); err != nil {
				t.Fatalf("list body %q: %v", b, err)
			}
		}
	}
	id := ids[0]
	req, _ := http.NewRequest("GET", relayBase+RequestPath, nil)
	req.Header.Set(HeaderBackendID, backendID)
	req.Header.Set(HeaderRequestID, id)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := time.Parse(time.RFC3339Nano, res.Header.Get(HeaderRequestStartTime)); err != nil {
		t.Fatalf("start time %q: %v", res.Header.Get(HeaderRequestStartTime), err)
	}
	inner, err := http.ReadRequest(bufio.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(backendURL)
	inner.URL.Scheme, inner.URL.Host, inner.RequestURI = u.Scheme, u.Host, ""
	bres, err := http.DefaultTransport.RoundTrip(inner)
	if err != nil {
		t.Fatal(err)
	}
	defer bres.Body.Close()
	pr, pw := io.Pipe()
	go func() {
		out := &http.Response{
			Status: http.StatusText(bres.StatusCode), StatusCode: bres.StatusCode,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: bres.Header, Body: bres.Body, TransferEncoding: []string{"chunked"},
			Trailer: http.Header{"X-Ref-Trailer": nil},
		}
		out.Header.Del("Content-Length")
		err := out.Write(&trailerFiller{w: pw, res: out})
		pw.CloseWithError(err)
	}()
	post, _ := http.NewRequest("POST", relayBase+ResponsePath, pr)
	post.Header.Set(HeaderBackendID, backendID)
	post.Header.Set(HeaderRequestID, id)
	post.Header.Set("Content-Type", "text/plain")
	pres, err := client.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, pres)
	if pres.StatusCode != 200 {
		t.Fatalf("post: %d", pres.StatusCode)
	}
}

// trailerFiller sets the trailer value once the body's last chunk is
// written (the "0\r\n" terminator), as a backend's trailer arrives last.
type trailerFiller struct {
	w   io.Writer
	res *http.Response
}

func (f *trailerFiller) Write(p []byte) (int, error) {
	if string(p) == "0\r\n" {
		f.res.Trailer.Set("X-Ref-Trailer", "yes")
	}
	return f.w.Write(p)
}

func TestReferenceAgentAgainstOurRelay(t *testing.T) {
	backend := httptest.NewServer(httpbin.New())
	t.Cleanup(backend.Close)
	reg, _ := OpenRegistry("")
	if _, err := reg.Create(Backend{ID: "ref", Access: Access{Public: true}, AgentAuth: "none"}); err != nil {
		t.Fatal(err)
	}
	rec := record.NewRecorder(record.Limits{})
	relay, err := NewRelay(RelayOptions{Registry: reg, Tap: rec, AgentWait: 10 * time.Second, PollHold: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(relay)
	t.Cleanup(func() { relay.Close(); srv.Close() })

	got := make(chan *http.Response, 1)
	go func() {
		res, err := http.Post(srv.URL+"/anything/through?x=1", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- res
	}()
	refAgentServeOne(t, srv.URL+"/", "ref", backend.URL)
	res := <-got
	if res == nil {
		return
	}
	body := readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(body, `"data": "{\"a\":1}"`) {
		t.Fatalf("status %d body %s", res.StatusCode, body)
	}
	if res.Trailer.Get("X-Ref-Trailer") != "yes" {
		t.Errorf("trailers %v", res.Trailer)
	}
	if x := waitDone(t, rec, 1)[0]; x.Response == nil || x.Response.Status != 200 {
		t.Errorf("relay recorded %+v", x)
	}
}

// TestAgentCallsNeedThePath: the poll header alone does not make a request
// an agent call on our relay (the reference relay's hole): an end user
// sending it to any other path just reaches the backend, header stripped.
func TestAgentCallsNeedThePath(t *testing.T) {
	r := newRig(t, ModeTunnel)
	res := r.get("/headers", HeaderBackendID, "web", HeaderRequestID, "x")
	body := readAll(t, res)
	if res.StatusCode != 200 || strings.Contains(strings.ToLower(body), "x-inverting-proxy") {
		t.Errorf("status %d body %s", res.StatusCode, body)
	}
}
