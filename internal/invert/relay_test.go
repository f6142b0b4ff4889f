package invert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestGetThroughRelay(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		res := r.get("/headers?x=1", "X-Forwarded-For", "6.6.6.6", "X-Inverting-Proxy-User-Id", "admin@example.com", "X-Devproxy-Backend", "other")
		body := readAll(t, res)
		if res.StatusCode != 200 {
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
		var echo struct{ Headers map[string][]string }
		if err := json.Unmarshal([]byte(body), &echo); err != nil {
			t.Fatal(err)
		}
		h := http.Header(echo.Headers)
		if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("backend saw X-Forwarded-For %q, want the client's address as the relay saw it", got)
		}
		if got, want := h.Get("X-Forwarded-Host"), strings.TrimPrefix(r.relaySrv.URL, "http://"); got != want {
			t.Errorf("X-Forwarded-Host %q, want %q", got, want)
		}
		for _, spoofed := range []string{"X-Inverting-Proxy-User-Id", "X-Devproxy-Backend"} {
			if v := h.Values(spoofed); len(v) > 0 {
				t.Errorf("client-set %s = %q reached the backend", spoofed, v)
			}
		}
		if via := h.Get("Via"); strings.Count(via, "devproxy") != 2 {
			t.Errorf("Via %q: want the relay and the agent", via)
		}
		rx := waitDone(t, r.relayRec, 1)[0]
		ax := waitDone(t, r.agentRec, 1)[0]
		if rx.Role != "relay" || rx.Response.Status != 200 || func() bool { v, _ := rx.Mark("backend"); return v != "web" }() {
			t.Errorf("relay recorded %+v", rx)
		}
		if ax.Role != "agent" || ax.ClientAddr != "127.0.0.1" || ax.Response.Status != 200 {
			t.Errorf("agent recorded role %s client %q status %d", ax.Role, ax.ClientAddr, ax.Status())
		}
	})
}

func TestPostThroughRelay(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		req, _ := http.NewRequest("POST", r.relaySrv.URL+"/anything", strings.NewReader(`{"hello":"relay"}`))
		req.Header.Set("Content-Type", "application/json")
		res := r.do(req)
		body := readAll(t, res)
		if res.StatusCode != 200 || !strings.Contains(body, `"data": "{\"hello\":\"relay\"}"`) {
			t.Fatalf("status %d body %s", res.StatusCode, body)
		}
	})
}

func TestStreamingThroughRelay(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		next := make(chan struct{})
		r.mux.HandleFunc("/events", func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				http.NewResponseController(w).Flush()
				select {
				case <-next:
				case <-req.Context().Done():
					return
				}
			}
		})
		res := r.get("/events")
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("data: %d\n", i) {
				t.Fatalf("event %d: %q %v", i, line, err)
			}
			br.ReadString('\n')
			next <- struct{}{} // the client saw event i before the backend wrote i+1
		}
	})
}

func TestTrailersThroughRelay(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		r.mux.HandleFunc("/trailer", func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Trailer", "Grpc-Status")
			fmt.Fprint(w, "payload")
			w.Header().Set("Grpc-Status", "0")
		})
		res := r.get("/trailer")
		if body := readAll(t, res); body != "payload" {
			t.Fatalf("body %q", body)
		}
		if got := res.Trailer.Get("Grpc-Status"); got != "0" {
			t.Errorf("trailer %q, want 0", got)
		}
	})
}

func TestContentLengthKept(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		res := r.get("/bytes/1000")
		body := readAll(t, res)
		if len(body) != 1000 {
			t.Fatalf("got %d bytes", len(body))
		}
		if res.ContentLength != 1000 {
			t.Errorf("Content-Length %d: the backend's framing should survive the relay", res.ContentLength)
		}
	})
}

func TestNoRoute404(t *testing.T) {
	r := newRig(t, ModeTunnel)
	if err := r.reg.Delete("web"); err != nil {
		t.Fatal(err)
	}
	res := r.get("/anything")
	body := readAll(t, res)
	if res.StatusCode != 404 || !strings.Contains(body, "no backend serves") {
		t.Errorf("status %d body %q", res.StatusCode, body)
	}
	if x := waitDone(t, r.relayRec, 1)[0]; x.Status() != 404 {
		t.Errorf("refusal not recorded: %+v", x)
	}
}

func TestBodyBytesEqual(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		payload := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		req, _ := http.NewRequest("PUT", r.relaySrv.URL+"/anything", bytes.NewReader(payload))
		req.Header.Set("Content-Type", "text/plain")
		res := r.do(req)
		var echo struct{ Data string }
		if err := json.Unmarshal([]byte(readAll(t, res)), &echo); err != nil {
			t.Fatal(err)
		}
		if echo.Data != string(payload) {
			t.Errorf("backend got %d bytes, want %d identical", len(echo.Data), len(payload))
		}
	})
}

// TestBodylessAnswersThroughPoll: answers that carry a Content-Length but
// never a body (HEAD, 304) reach the client with their headers, in one post
// from the agent, and the backend sees the request once.
func TestBodylessAnswersThroughPoll(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"HEAD", http.MethodHead, "/bodyless/head", http.StatusOK},
		{"304", http.MethodGet, "/bodyless/304", http.StatusNotModified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, ModePoll)
			var hits atomic.Int64
			r.mux.HandleFunc("/bodyless/", func(w http.ResponseWriter, req *http.Request) {
				hits.Add(1)
				// Raw, because Go's server drops Content-Length from a 304;
				// other servers send it (the length the 200 would have).
				conn, bw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Length: 1000\r\nETag: \"v1\"\r\n\r\n", tc.status, http.StatusText(tc.status))
				bw.Flush()
			})
			req, _ := http.NewRequest(tc.method, r.relaySrv.URL+tc.path, nil)
			res := r.do(req)
			body := readAll(t, res)
			if res.StatusCode != tc.status || body != "" || res.Header.Get("ETag") != `"v1"` {
				t.Errorf("status %d etag %q body %q, want %d with the backend's headers", res.StatusCode, res.Header.Get("ETag"), body, tc.status)
			}
			if tc.method == http.MethodHead && res.ContentLength != 1000 {
				t.Errorf("HEAD Content-Length %d, want the backend's 1000", res.ContentLength)
			}
			// Shutting the agent down waits for its posts to end.
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := r.agent.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if x := waitDone(t, r.relayRec, 1)[0]; x.Err != nil {
				t.Errorf("relay recorded error %+v", x.Err)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("backend saw %d requests, want 1", n)
			}
			if n := r.posts.Load(); n != 1 {
				t.Errorf("agent posted the response %d times, want once", n)
			}
		})
	}
}
