package invert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/devproxy/devproxy/internal/record"
)

func TestWebSocketOverTunnel(t *testing.T) {
	r := newRig(t, ModeTunnel)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.relaySrv.URL, "http")+"/websocket/echo", &websocket.DialOptions{HTTPClient: r.client})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two", strings.Repeat("z", 200_000)} {
		if err := c.Write(ctx, websocket.MessageBinary, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("echo: %v (len %d, want %d)", err, len(got), len(msg))
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	x := waitDone(t, r.relayRec, 1)[0]
	if !x.Upgraded || x.UpgradeUp < 200_000 || x.UpgradeDn < 200_000 {
		t.Errorf("relay recorded upgraded=%v up=%d down=%d", x.Upgraded, x.UpgradeUp, x.UpgradeDn)
	}
}

func TestWebSocketOverPoll501(t *testing.T) {
	r := newRig(t, ModePoll)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.relaySrv.URL, "http")+"/websocket/echo", &websocket.DialOptions{HTTPClient: r.client})
	if err == nil {
		t.Fatal("WebSocket over the poll transport succeeded")
	}
	if res == nil || res.StatusCode != http.StatusNotImplemented {
		t.Fatalf("response %v, want 501", res)
	}
	if body := readAll(t, res); !strings.Contains(body, "the tunnel transport") {
		t.Errorf("501 body %q should say what to do", body)
	}
}

// flat memory: 64 MiB each way through relay and agent in one process.
const bulk = 64 << 20

type pattern struct{ left int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range b[:n] {
		b[i] = byte('a' + i%26)
	}
	p.left -= n
	return int(n), nil
}

func heapNow() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

type sampler struct {
	r          io.Reader
	n, next    int64
	peak, base uint64
}

func newSampler(r io.Reader) *sampler {
	runtime.GC()
	return &sampler{r: r, base: heapNow()}
}

func (s *sampler) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n >= s.next {
		s.peak = max(s.peak, heapNow())
		s.next += 4 << 20
	}
	return n, err
}

// The proxies capture up to 1 MiB per body on each side; the rest is
// buffers. Buffering the transfer would need 64 MiB or more.
const maxGrowth = 40 << 20

func TestBulkDownloadFlatMemory(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		r.mux.HandleFunc("/bulk", func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(bulk))
			io.CopyBuffer(w, &pattern{left: bulk}, make([]byte, 32<<10))
		})
		res := r.get("/bulk")
		s := newSampler(res.Body)
		n, err := io.Copy(io.Discard, s)
		res.Body.Close()
		if err != nil || n != bulk {
			t.Fatalf("read %d, err %v", n, err)
		}
		if g := int64(s.peak) - int64(s.base); g > maxGrowth {
			t.Errorf("heap grew %d MiB during a %d MiB download", g>>20, bulk>>20)
		}
	})
}

func TestBulkUploadFlatMemory(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		var s *sampler
		r.mux.HandleFunc("/sink", func(w http.ResponseWriter, req *http.Request) {
			s = newSampler(req.Body)
			n, err := io.Copy(io.Discard, s)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			io.WriteString(w, strconv.FormatInt(n, 10))
		})
		req, _ := http.NewRequest("POST", r.relaySrv.URL+"/sink", &pattern{left: bulk})
		req.ContentLength = bulk
		res := r.do(req)
		if body := readAll(t, res); body != strconv.Itoa(bulk) {
			t.Fatalf("backend received %q bytes", body)
		}
		if g := int64(s.peak) - int64(s.base); g > maxGrowth {
			t.Errorf("heap grew %d MiB during a %d MiB upload", g>>20, bulk>>20)
		}
	})
}

// TestAgentKilledMidRequest: the agent dies while a request waits for the
// backend: the relay answers 502 and records "tunnel lost". A new agent
// then serves a request that was waiting for one.
func TestAgentKilledMidRequest(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		arrived := make(chan struct{})
		r.mux.HandleFunc("/hang", func(w http.ResponseWriter, req *http.Request) {
			close(arrived)
			<-req.Context().Done()
		})
		got := make(chan *http.Response, 1)
		go func() { got <- r.get("/hang") }()
		<-arrived
		r.killAgent()
		res := <-got
		body := readAll(t, res)
		if res.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d body %q, want 502", res.StatusCode, body)
		}
		var lost *record.Exchange
		for _, x := range waitDone(t, r.relayRec, 1) {
			if strings.HasSuffix(x.Request.URL, "/hang") {
				lost = &x
			}
		}
		if lost == nil || lost.Err == nil || lost.Err.Kind != record.ErrTunnelLost {
			t.Fatalf("relay recorded %+v, want tunnel lost", lost)
		}

		// A request that arrives while no agent is connected waits for one.
		waiting := make(chan *http.Response, 1)
		go func() { waiting <- r.get("/get?while=down") }()
		r.startAgent("web", r.token)
		res = <-waiting
		if body := readAll(t, res); res.StatusCode != 200 {
			t.Fatalf("after the agent came back: status %d body %q", res.StatusCode, body)
		}
	})
}

func TestNoAgent503(t *testing.T) {
	r := newRig(t, ModeTunnel)
	r.killAgent()
	r.waitNoAgent("web")
	r.relay.opts.AgentWait = 1 // nanosecond: do not wait for a new agent
	res := r.get("/get")
	body := readAll(t, res)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"web"`) {
		t.Fatalf("status %d body %q, want 503 naming the backend", res.StatusCode, body)
	}
}

// TestRelayRestart: the registry survives a restart and the agent
// reconnects on its own.
func TestRelayRestart(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		r.relay.Close()
		r.startRelay()
		if _, ok := r.reg.Get("web"); !ok {
			t.Fatal("backend lost across restart")
		}
		r.waitAgent("web")
		res := r.get("/get")
		if body := readAll(t, res); res.StatusCode != 200 {
			t.Fatalf("status %d body %q", res.StatusCode, body)
		}
	})
}

// TestAgentAuth: every agent endpoint refuses a wrong token and an unknown
// backend id with the same 401 and the same body, so a caller without a
// token cannot learn which backend ids exist. Only whether a token was sent
// changes the answer ("no agent token" or "wrong").
func TestAgentAuth(t *testing.T) {
	r := newRig(t, ModeTunnel)
	otherTok, err := r.reg.Create(Backend{ID: "other", Access: Access{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	// The first answer seen for each endpoint; all cases must match it.
	first := map[string]answer{}
	check := func(t *testing.T, endpoint, token string, res *http.Response) {
		t.Helper()
		got := answer{res.StatusCode, readAll(t, res)}
		if got.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d (%q), want 401", endpoint, got.status, got.body)
		}
		if missing := strings.Contains(got.body, "no agent token"); missing != (token == "") {
			t.Errorf("%s with token %q: %q does not say whether the token is missing or wrong", endpoint, token, got.body)
		}
		endpoint += fmt.Sprintf(" (token sent: %t)", token != "")
		if want, ok := first[endpoint]; !ok {
			first[endpoint] = got
		} else if got != want {
			t.Errorf("%s: answer %d %q differs from %d %q: it tells known backend ids from unknown ones", endpoint, got.status, got.body, want.status, want.body)
		}
	}
	for _, tc := range []struct {
		name, backend, token string
	}{
		{"wrong token", "web", "dpt_wrong"},
		{"no token", "web", ""},
		{"token of another backend", "web", otherTok},
		{"unknown backend", "nope", r.token},
		{"unknown backend without token", "nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Native tunnel handshake.
			req, _ := http.NewRequest("GET", r.relaySrv.URL+TunnelPath, nil)
			req.Header.Set(HeaderTunnelBackend, tc.backend)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			check(t, "tunnel", tc.token, r.do(req))
			// Poll calls.
			for _, c := range []struct{ method, sub string }{{"GET", PendingPath}, {"GET", RequestPath}, {"POST", ResponsePath}} {
				req, _ := http.NewRequest(c.method, r.relaySrv.URL+"/"+c.sub, strings.NewReader("HTTP/1.1 200 OK\r\n\r\n"))
				req.Header.Set(HeaderBackendID, tc.backend)
				req.Header.Set(HeaderRequestID, "abc")
				if tc.token != "" {
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				check(t, c.sub, tc.token, r.do(req))
			}
		})
	}
}

func TestAdminAPI(t *testing.T) {
	r := newRig(t, ModeTunnel)
	admin, err := r.reg.EnsureAdminToken("")
	if err != nil || admin == "" {
		t.Fatalf("admin token %q %v", admin, err)
	}
	call := func(method, path, token, body string) (int, map[string]any, string) {
		req, _ := http.NewRequest(method, r.relaySrv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res := r.do(req)
		raw := readAll(t, res)
		var m map[string]any
		_ = json.Unmarshal([]byte(raw), &m)
		return res.StatusCode, m, raw
	}
	if code, _, _ := call("GET", "/api/backends", "", ""); code != 401 {
		t.Errorf("list without token: %d", code)
	}
	if code, _, _ := call("GET", "/api/backends", "wrong-admin-token", ""); code != 401 {
		t.Errorf("list with a wrong token: %d", code)
	}
	if code, _, _ := call("GET", "/api/backends", r.token, ""); code != 401 {
		t.Errorf("an agent token is not an admin token: %d", code)
	}
	code, m, raw := call("POST", "/api/backends", admin, `{"id":"api","pathPrefixes":["/v1"],"access":{"tokens":["end-user-secret"]}}`)
	if code != 201 || m["id"] != "api" || !strings.HasPrefix(m["agentToken"].(string), "dpt_") {
		t.Fatalf("create: %d %s", code, raw)
	}
	if code, _, _ := call("POST", "/api/backends", admin, `{"id":"api"}`); code != 409 {
		t.Errorf("duplicate create: %d", code)
	}
	if code, _, raw := call("POST", "/api/backends", admin, `{"id":"Bad ID"}`); code != 400 || !strings.Contains(raw, "lower-case") {
		t.Errorf("bad id: %d %s", code, raw)
	}
	code, _, raw = call("GET", "/api/backends", admin, "")
	if code != 200 || !strings.Contains(raw, `"id":"api"`) || !strings.Contains(raw, `"agents":1`) || strings.Contains(raw, "end-user-secret") {
		t.Errorf("list: %d %s", code, raw)
	}
	if code, _, _ := call("DELETE", "/api/backends/api", admin, ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _, _ := call("DELETE", "/api/backends/api", admin, ""); code != 404 {
		t.Errorf("delete again: %d", code)
	}
}

func TestEndUserAccess(t *testing.T) {
	r := newRig(t, ModeTunnel)
	tok, err := r.reg.Create(Backend{ID: "private", PathPrefixes: []string{"/anything"}, Access: mustAccess(t, `{"tokens":["s3cret-token"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	r.startAgent("private", tok)
	res := r.get("/anything/private")
	readAll(t, res)
	if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	res = r.get("/anything/private", "Authorization", "Bearer nope-nope")
	if readAll(t, res); res.StatusCode != 401 {
		t.Errorf("wrong token: %d", res.StatusCode)
	}
	res = r.get("/anything/private", "Authorization", "Bearer s3cret-token")
	body := readAll(t, res)
	if res.StatusCode != 200 || strings.Contains(body, "s3cret-token") {
		t.Errorf("bearer: %d; the relay's credential must not reach the backend: %s", res.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", r.relaySrv.URL+"/anything/basic", nil)
	req.SetBasicAuth("me", "s3cret-token")
	if res := r.do(req); readAll(t, res) == "" || res.StatusCode != 200 {
		t.Errorf("basic: %d", res.StatusCode)
	}
	// The public backend "web" still serves other paths.
	if res := r.get("/get"); readAll(t, res) == "" || res.StatusCode != 200 {
		t.Errorf("public backend: %d", res.StatusCode)
	}
}

func mustAccess(t *testing.T, raw string) Access {
	a, err := parseAccess(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAdminAPIBody: a body over the cap is 413 naming the limit, not a
// JSON syntax error; data after the JSON object is refused, not ignored.
func TestAdminAPIBody(t *testing.T) {
	r := newRig(t, ModeTunnel)
	admin, err := r.reg.EnsureAdminToken("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		body   string
		status int
		says   string
	}{
		{"over the cap", `{"id":"big","pathPrefixes":["/` + strings.Repeat("a", 2<<20) + `"]}`, http.StatusRequestEntityTooLarge, "1 MiB"},
		{"trailing object", `{"id":"one"} {"id":"two"}`, http.StatusBadRequest, "after the JSON object"},
		{"trailing garbage", `{"id":"one"}garbage`, http.StatusBadRequest, "after the JSON object"},
		{"trailing newline is fine", "{\"id\":\"fine\"}\n", http.StatusCreated, "agentToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", r.relaySrv.URL+"/api/backends", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+admin)
			res := r.do(req)
			body := readAll(t, res)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
				t.Errorf("status %d body %.300q, want %d saying %q", res.StatusCode, body, tc.status, tc.says)
			}
		})
	}
	for _, id := range []string{"big", "one", "two"} {
		if _, ok := r.reg.Get(id); ok {
			t.Errorf("backend %q was created from a refused body", id)
		}
	}
}
