package invert

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/protoschema"
)

// TestReflectionThroughBackendTransport checks that the relay can ask a
// backend's gRPC server reflection through an agent's tunnel, with
// nothing recorded at the relay, and that a backend it does not know is
// an error naming it.
func TestReflectionThroughBackendTransport(t *testing.T) {
	g := newGRPCRig(t, ModeTunnel, false)
	loaded := make(chan struct{}, 1)
	s, err := protoschema.New(protoschema.Options{Reflection: true, Transport: g.relay.BackendTransport(), OnChange: func() {
		select {
		case loaded <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The relay's recorded upstream URLs name the backend as the host.
	const upstream = "http://grpc"
	if _, _, ok := s.Method(upstream, grpctest.UnaryMethod); ok {
		t.Fatal("a schema before any query")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatal("the reflection query never ended")
	}
	md, src, ok := s.Method(upstream, grpctest.UnaryMethod)
	if !ok || src != protoschema.SourceReflection || md.Input().Name() != "EchoRequest" {
		t.Fatalf("Method = %v, %q, %v; status %q", md, src, ok, s.Status(upstream))
	}
	if n := len(g.relayRec.Snapshot()); n != 0 {
		t.Errorf("the relay recorded %d exchanges of its own reflection calls", n)
	}
	var agentSaw bool
	for _, x := range g.agentRec.Snapshot() {
		agentSaw = agentSaw || strings.Contains(x.Request.URL, "ServerReflectionInfo") && x.Request.Header.Get("User-Agent") == protoschema.UserAgent
	}
	if !agentSaw {
		t.Error("the agent did not record the reflection call it carried")
	}

	req, _ := http.NewRequest("POST", "http://nobody/x", nil)
	if _, err := g.relay.BackendTransport().RoundTrip(req); err == nil || !strings.Contains(err.Error(), `no backend "nobody"`) {
		t.Errorf("unknown backend: %v", err)
	}
}
