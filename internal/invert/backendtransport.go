package invert

import (
	"fmt"
	"net/http"
)

// BackendTransport returns a RoundTripper for the relay's own requests to
// its backends, such as gRPC server reflection: a request goes to the
// backend its URL's host names (the backend id, as the upstream URLs the
// relay records name it, e.g. http://web/…), through one of its agents'
// tunnels, waiting for one up to AgentWait. The relay does not record
// these requests and no rule or stage touches them; the agent records
// them, as it does every request it carries.
func (r *Relay) BackendTransport() http.RoundTripper { return backendTransport{r} }

type backendTransport struct{ r *Relay }

func (t backendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	id := req.URL.Hostname()
	if _, ok := t.r.opts.Registry.Get(id); !ok {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("relay: no backend %q is registered", id)
	}
	p := t.r.pool(id)
	m, err := p.pick(req, t.r.opts.AgentWait, nil)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	return m.Transport.RoundTrip(req)
}
