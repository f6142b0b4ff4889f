package invert

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// scriptedPollAgent speaks the poll protocol to a relay and posts a fixed
// answer to every request, as a foreign agent might. It keeps polling, as a
// live agent does, until the test ends.
type scriptedPollAgent struct {
	base, backend string
	answer        string

	mu        sync.Mutex
	requests  []*http.Request // as fetched, bodies read
	postCodes []int
}

func startScriptedPollAgent(t *testing.T, base, backend, answer string) *scriptedPollAgent {
	a := &scriptedPollAgent{base: base, backend: backend, answer: answer}
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			ids := a.list(ctx, client)
			for _, id := range ids {
				wg.Add(1)
				go func() { defer wg.Done(); a.serve(ctx, client, id) }()
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); client.CloseIdleConnections() })
	return a
}

func (a *scriptedPollAgent) call(ctx context.Context, client *http.Client, method, sub, id string, body io.Reader) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, method, a.base+sub, body)
	req.Header.Set(HeaderBackendID, a.backend)
	if id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
	return client.Do(req)
}

func (a *scriptedPollAgent) list(ctx context.Context, client *http.Client) []string {
	res, err := a.call(ctx, client, "GET", PendingPath, "", nil)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var ids []string
	_ = json.NewDecoder(res.Body).Decode(&ids)
	return ids
}

func (a *scriptedPollAgent) serve(ctx context.Context, client *http.Client, id string) {
	res, err := a.call(ctx, client, "GET", RequestPath, id, nil)
	if err != nil {
		return
	}
	defer res.Body.Close()
	req, err := http.ReadRequest(bufio.NewReader(res.Body))
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	a.mu.Lock()
	a.requests = append(a.requests, req)
	a.mu.Unlock()
	post, err := a.call(ctx, client, "POST", ResponsePath, id, strings.NewReader(a.answer))
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, post.Body)
	post.Body.Close()
	a.mu.Lock()
	a.postCodes = append(a.postCodes, post.StatusCode)
	a.mu.Unlock()
}

// TestPollAgentInformationalAnswer: an agent that posts a 1xx (its backend
// answered an upload's Expect: 100-continue, or sent 103 Early Hints) does
// not hang the client: the final answer after it is used, and without one
// the client gets a 502 at once that names the agent's fault. Requests
// reach poll agents without Expect.
func TestPollAgentInformationalAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		status int
		says   string
	}{
		{"100 alone", "HTTP/1.1 100 Continue\r\n\r\n", http.StatusBadGateway, "agent"},
		{"103 alone", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", http.StatusBadGateway, "agent"},
		{"100 then final", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nfinal", http.StatusCreated, "final"},
		{"103 then final", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal", http.StatusOK, "final"},
		{"not HTTP", "nonsense\r\n\r\n", http.StatusBadGateway, "agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, _ := OpenRegistry("")
			if _, err := reg.Create(Backend{ID: "foreign", Access: Access{Public: true}, AgentAuth: "none"}); err != nil {
				t.Fatal(err)
			}
			rec := record.NewRecorder(record.Limits{})
			relay, err := NewRelay(RelayOptions{Registry: reg, Tap: rec, AgentWait: 5 * time.Second, PollHold: time.Second, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(relay)
			t.Cleanup(func() { relay.Close(); srv.Close() })
			agent := startScriptedPollAgent(t, srv.URL+"/", "foreign", tc.answer)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/upload", strings.NewReader(strings.Repeat("u", 64<<10)))
			req.Header.Set("Expect", "100-continue")
			client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
			defer client.CloseIdleConnections()
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("the client got no answer: %v", err)
			}
			body := readAll(t, res)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
				t.Errorf("status %d body %q, want %d saying %q", res.StatusCode, body, tc.status, tc.says)
			}
			agent.mu.Lock()
			defer agent.mu.Unlock()
			for _, r := range agent.requests {
				if v := r.Header.Get("Expect"); v != "" {
					t.Errorf("the poll agent was sent Expect: %s", v)
				}
			}
		})
	}
}
