package invert

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAgentGracefulShutdown: an agent told to shut down stops taking new
// requests, finishes the one in flight with the backend's own answer, and
// only then goes; a request that arrives meanwhile is served by another
// agent of the backend, over either transport.
func TestAgentGracefulShutdown(t *testing.T) {
	for _, c := range []struct{ first, second Mode }{
		{ModeTunnel, ModeTunnel},
		{ModePoll, ModePoll},
		{ModePoll, ModeTunnel},
		{ModeTunnel, ModePoll},
		{ModeYamux, ModeTunnel}, // an agent before HTTP/2 tunnels, replaced
	} {
		t.Run(string(c.first)+" then "+string(c.second), func(t *testing.T) {
			testGracefulShutdown(t, newRig(t, c.first), c.second)
		})
	}
}

func testGracefulShutdown(t *testing.T, r *rig, secondTransport Mode) {
	{
		arrived := make(chan struct{})
		release := make(chan struct{})
		var slowHits, otherHits atomic.Int64
		r.mux.HandleFunc("/slow", func(w http.ResponseWriter, req *http.Request) {
			slowHits.Add(1)
			close(arrived)
			select {
			case <-release:
				io.WriteString(w, "slow answer from the backend")
			case <-req.Context().Done():
			}
		})
		r.mux.HandleFunc("/after", func(w http.ResponseWriter, req *http.Request) {
			otherHits.Add(1)
			io.WriteString(w, "the old agent served this")
		})
		inflight := r.goGet("/slow")
		select {
		case <-arrived:
		case <-time.After(testTimeout):
			t.Fatal("the slow request never reached the backend")
		}

		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		old := r.agent
		shutdown := make(chan error, 1)
		go func() { shutdown <- old.Shutdown(ctx) }()
		waitShuttingDown(t, old)
		if r.transport != ModePoll {
			waitGoAwaySeen(t, r.relay.pool("web"))
		}

		// A second agent of the backend, answering on its own.
		relayURL, _ := url.Parse(r.relaySrv.URL)
		second, err := NewAgent(AgentOptions{Relay: relayURL, Backend: "web", Token: r.token, Mode: secondTransport, Logger: quiet,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, "the new agent served this") })})
		if err != nil {
			t.Fatal(err)
		}
		secondCtx, stopSecond := context.WithCancel(context.Background())
		secondDone := make(chan struct{})
		go func() { second.Run(secondCtx); close(secondDone) }()
		defer func() { stopSecond(); <-secondDone }()

		res := r.get("/after")
		if body := readAll(t, res); res.StatusCode != 200 || body != "the new agent served this" {
			t.Errorf("request after shutdown began: status %d body %q, want the new agent's answer", res.StatusCode, body)
		}
		if n := otherHits.Load(); n != 0 {
			t.Errorf("the shutting-down agent took %d new request(s)", n)
		}

		close(release)
		res = r.wait(inflight)
		if body := readAll(t, res); res.StatusCode != 200 || body != "slow answer from the backend" {
			t.Errorf("in-flight request: status %d body %q, want the backend's answer", res.StatusCode, body)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case <-r.agentDone:
		case <-time.After(testTimeout):
			t.Fatal("Run did not return after Shutdown")
		}
		if n := slowHits.Load(); n != 1 {
			t.Errorf("backend saw the slow request %d times", n)
		}
	}
}

// TestAgentShutdownTimeout: requests still in flight when the shutdown
// context ends are cancelled, and Shutdown says so.
func TestAgentShutdownTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, r *rig) {
		arrived := make(chan struct{})
		r.mux.HandleFunc("/hang", func(w http.ResponseWriter, req *http.Request) {
			close(arrived)
			<-req.Context().Done()
		})
		got := r.goGet("/hang")
		<-arrived
		ctx, cancel := context.WithCancel(context.Background())
		shutdown := make(chan error, 1)
		go func() { shutdown <- r.agent.Shutdown(ctx) }()
		waitShuttingDown(t, r.agent)
		cancel()
		if err := <-shutdown; !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown: %v, want context.Canceled", err)
		}
		res := r.wait(got)
		if body := readAll(t, res); res.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d body %q, want 502", res.StatusCode, body)
		}
		<-r.agentDone
	})
}

// waitShuttingDown waits until a has begun (or finished) shutting down.
func waitShuttingDown(t *testing.T, a *Agent) {
	t.Helper()
	waitFor(t, "the agent to begin shutting down", func() bool {
		s := a.Status()
		return strings.HasPrefix(s, "shutting down") || s == "stopped"
	})
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGoAwaySeen waits until the relay has read the go-away of every tunnel
// of p (it no longer opens streams on them), so a request sent next cannot
// race with it.
func waitGoAwaySeen(t *testing.T, p *agentPool) {
	t.Helper()
	waitFor(t, "the relay to see the tunnel's go-away", func() bool {
		p.mu.Lock()
		var ss []*tunnelAgent
		for _, a := range p.agentsLocked() {
			if s, ok := a.(*tunnelAgent); ok {
				ss = append(ss, s)
			}
		}
		p.mu.Unlock()
		for _, s := range ss {
			gone := !s.sess.takes()
			if y, ok := s.sess.(*yamuxSession); ok {
				gone = y.goingAway()
			}
			if !gone {
				return false
			}
		}
		return true
	})
}
