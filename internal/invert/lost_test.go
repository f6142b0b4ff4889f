package invert

import (
	"net/http"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/record/recordtest"
)

// TestAgentRecordsTheRelayLost checks that a request in flight at the
// agent when the relay goes away is recorded by the agent as lost with the
// tunnel, not as a client that went away.
func TestAgentRecordsTheRelayLost(t *testing.T) {
	r := newRig(t, ModeTunnel)
	arrived := make(chan struct{})
	r.mux.HandleFunc("/hang", func(w http.ResponseWriter, req *http.Request) {
		close(arrived)
		<-req.Context().Done()
	})
	go func() {
		if res, err := r.client.Get(r.relaySrv.URL + "/hang"); err == nil {
			res.Body.Close()
		}
	}()
	<-arrived
	r.relay.Close() // the relay goes away, its tunnels with it
	x := recordtest.WaitExchange(t, r.agentRec, 1, testTimeout)
	if !strings.HasSuffix(x.Request.URL, "/hang") {
		t.Fatalf("the agent's first exchange is %s", x.Request.URL)
	}
	if x.Err == nil || x.Err.Kind != record.ErrTunnelLost || !strings.Contains(x.Err.Message, "tunnel to the relay broke") {
		t.Fatalf("the agent recorded %+v", x.Err)
	}
}
