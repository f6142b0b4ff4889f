package invert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
		if rx.Role != "relay" || rx.Response.Status != 200 || rx.Note != "backend web" {
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
	r := newRig(t, TransportTunnel)
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
