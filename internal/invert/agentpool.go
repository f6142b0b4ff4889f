package invert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/route"
)

// agentPool is the relay's live state for one backend: the agents serving
// it, over either transport, and its requests in flight. The agents that
// take turns are the members of a route.Pool (round robin, with passive
// health), in the order they joined, so the relay chooses among a
// backend's agents exactly as serve chooses among a route's upstreams.
// Each request goes to the one agent picked for it: a tunnel agent has its
// own upstream transport, so a connection kept alive for reuse stays with
// the agent whose turn it was, and a poll agent fetches only the requests
// given to it.
type agentPool struct {
	id string
	r  *Relay
	// members holds the agents in turns: tunnel agents until their tunnel
	// closes or they send a go-away, poll agents while they call. Each
	// member's Value is its *tunnelAgent or *pollAgent. Changed under mu.
	members *route.Pool

	mu       sync.Mutex
	tunnels  map[*tunnelAgent]bool // every open tunnel, also those out of turns after a go-away
	polls    map[string]*pollAgent // poll agents by the name they send in HeaderAgent
	joined   int                   // agents that joined, numbering them ("agent 3 of web")
	changed  chan struct{}         // closed and replaced when agents come, go or stop taking requests
	lastPoll time.Time             // last poll call seen, of any poll agent
	since    time.Time             // when the current run of connectivity began

	inflight atomic.Int64
	poll     *pollQueue
}

// poolAgent is one agent of a pool: a *tunnelAgent or a *pollAgent.
type poolAgent interface {
	// takesLocked reports whether the agent takes new requests now.
	// Callers hold the pool's mu.
	takesLocked(now time.Time) bool
	// member is the agent in the pool's turns.
	member() *route.Member
}

// tunnelAgent is an agent connected over a tunnel. Requests go as the
// tunnel protocol's own (HTTP/2), or as HTTP/1.1 on byte streams of the
// tunnel (yamux; upgrades on HTTP/2) through its transport, which opens
// streams on its own tunnel, so the upstream connections it keeps alive
// carry only the requests this agent was picked for.
type tunnelAgent struct {
	sess      relaySession
	since     time.Time
	transport *http.Transport
	m         *route.Member

	// secret authenticates the relay's fleet announcements on this
	// tunnel (sent in its hello); announced is the fleet version the agent
	// was told, under announceMu (fleet.go).
	secret     string
	announceMu sync.Mutex
	announced  uint64
}

// relaySession is the relay's end of an agent's tunnel.
type relaySession interface {
	// openStream opens a byte stream on which the agent serves HTTP/1.1;
	// errGoingAway when the agent takes no new requests.
	openStream(ctx context.Context) (net.Conn, error)
	// native sends requests as the protocol's own, or is nil (yamux).
	native() http.RoundTripper
	// takes reports whether the agent takes new requests: the tunnel is
	// open and, where the protocol tells without opening a stream, the
	// agent sent no go-away.
	takes() bool
	isClosed() bool
	done() <-chan struct{}
	close()
}

func (a *tunnelAgent) takesLocked(time.Time) bool { return a.sess.takes() }
func (a *tunnelAgent) member() *route.Member      { return a.m }

// RoundTrip sends req to the agent: natively when the protocol can carry
// it, else as HTTP/1.1 on a stream. A request the agent did not take (it
// is going away) fails with a notTaken error.
func (a *tunnelAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt := a.sess.native(); rt != nil && req.Header.Get("Upgrade") == "" {
		res, err := rt.RoundTrip(req)
		if errors.Is(err, errGoingAway) || unsentH2(err) {
			// The agent refused the stream or it was never opened: the
			// agent did not see the request (a body may have been read,
			// which the engine checks before sending it elsewhere).
			err = notTaken(err)
		}
		return res, err
	}
	return a.transport.RoundTrip(req)
}

// dial opens a stream on the agent's tunnel for its transport. When the
// agent is going away or its tunnel closed, the request that needs the
// stream was not sent: the error is notTaken, and the engine asks the
// relay for another agent.
func (a *tunnelAgent) dial(ctx context.Context) (net.Conn, error) {
	st, err := a.sess.openStream(ctx)
	if err != nil && (errors.Is(err, errGoingAway) || a.sess.isClosed()) {
		return nil, notTaken(err)
	}
	return st, err
}

// notTaken wraps the error of a request an agent did not take: it is going
// away, its tunnel closed before a stream opened, or (polling) another
// agent was given the request before this one fetched it. Nothing reached
// the agent, so the error reads as a failed dial: the engine may send the
// request to another agent whatever its method, as long as it can still
// send the body.
func notTaken(err error) error { return &net.OpError{Op: "dial", Net: "agent", Err: err} }

// unsentH2 reports whether an HTTP/2 round trip failed before the agent
// took the request, though the tunnel is lost by now: the connection was
// already unusable when the stream was to open, or the agent's GOAWAY
// (which a closing agent sends first, see h2goaway.go) named an earlier
// stream as its last, or it refused the stream. Go's HTTP/2 client retries
// the same errors (http2canRetryError); its error values are not
// exported, so they are told by their text.
func unsentH2(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "http2: client conn not usable") ||
		strings.Contains(msg, "received Server's graceful shutdown GOAWAY") ||
		strings.Contains(msg, "REFUSED_STREAM")
}

// isNotTaken reports whether err is a notTaken error.
func isNotTaken(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && op.Net == "agent"
}

// pollAgent is an agent that long-polls for requests. Poll agents are told
// apart by the name devproxy agents send in HeaderAgent; agents that send
// none (such as the reference agent) are one pollAgent together and share
// the requests given to it, as they would with the reference relay.
type pollAgent struct {
	name string
	m    *route.Member
	// The fields below are guarded by the pool's mu.
	polling   int       // pending-list calls open now
	lastPoll  time.Time // when its last pending-list call began or ended
	draining  bool      // its latest pending-list call said it is shutting down
	abandoned bool      // it hung up on its latest pending-list call
}

// pollAlive is how long after its last pending-list call ended a poll agent
// still counts as connected. A live agent is always in a list call or about
// to make one (at once after a success, within 3 s after a failure), so a
// longer gap means it is gone.
const pollAlive = 5 * time.Second

// maxPollAgents bounds the named poll agents a pool tells apart; calls under
// further names count as the unnamed agent's.
const maxPollAgents = 64

func (a *pollAgent) member() *route.Member { return a.m }

func (a *pollAgent) connectedLocked(now time.Time) bool {
	return a.polling > 0 || !a.lastPoll.IsZero() && now.Sub(a.lastPoll) < pollAlive
}

// takesLocked: an agent that hung up on its list call (killed, or starting
// to shut down) or that is draining gets no new requests, though it counts
// as connected while the requests it fetched finish.
func (a *pollAgent) takesLocked(now time.Time) bool {
	return !a.draining && !a.abandoned && a.connectedLocked(now)
}

// pollTransport sends requests to one poll agent through the poll queue.
type pollTransport struct {
	p *agentPool
	a *pollAgent
}

// RoundTrip queues req for the agent and waits for its answer. A request
// withdrawn before the agent fetched it fails with a notTaken error.
func (t pollTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.p.r.pollRoundTrip(t.p, t.a, req)
	if errors.Is(err, errPickAgain) {
		err = notTaken(err)
	}
	return res, err
}

// Passive health of a backend's agents: an agent whose request fails at
// the transport level (the tunnel broke, the agent's answer was malformed)
// or whose own engine answers 502 or 504 (it could not reach or hear from
// its backend: refused, reset, timed out) is skipped for
// RelayOptions.AgentFailWindow while the backend has other agents. A backend's own 502 or 504 counts
// the same. A client that went away is never the agent's failure.
var agentFailStatus = []string{"502", "504"}

// newAgentPool returns the pool of r's backend id.
func newAgentPool(r *Relay, id string) *agentPool {
	logger := r.opts.Logger
	members, err := route.NewPool(id, route.RoundRobin, &route.PassiveSpec{MaxFails: 1, FailWindow: r.opts.AgentFailWindow, UnhealthyStatus: agentFailStatus})
	if err != nil {
		panic(err) // the policy and statuses are constants
	}
	members.OnHealth = func(ev route.HealthEvent) {
		if ev.Healthy {
			logger.Info("agent back in turns", "backend", ev.Route, "agent", ev.Upstream, "reason", ev.Reason)
		} else {
			logger.Warn("agent skipped: its requests failed", "backend", ev.Route, "agent", ev.Upstream, "reason", ev.Reason)
		}
	}
	return &agentPool{id: id, r: r, members: members, polls: map[string]*pollAgent{}, tunnels: map[*tunnelAgent]bool{}, changed: make(chan struct{}), poll: newPollQueue()}
}

// newMemberLocked numbers a joining agent and makes its member; the
// caller adds it. Callers hold p.mu.
func (p *agentPool) newMemberLocked(a poolAgent, rt http.RoundTripper) *route.Member {
	p.joined++
	return &route.Member{
		Name: fmt.Sprintf("agent %d of %s", p.joined, p.id),
		// The host is the backend id: nothing resolves or dials it, the
		// agent's transport opens a stream on its tunnel or hands the
		// request to the poll agent.
		URL:       &url.URL{Scheme: "http", Host: p.id},
		Transport: rt,
		Value:     a,
	}
}

// agentsLocked returns the agents in turns, in the order they joined.
func (p *agentPool) agentsLocked() []poolAgent {
	ms := p.members.Members()
	as := make([]poolAgent, len(ms))
	for i, m := range ms {
		as[i] = m.Value.(poolAgent)
	}
	return as
}

// notifyLocked wakes goroutines waiting for an agent. Callers hold p.mu.
func (p *agentPool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *agentPool) connectedLocked(now time.Time) bool {
	for _, a := range p.agentsLocked() {
		switch a := a.(type) {
		case *tunnelAgent:
			if !a.sess.isClosed() {
				return true
			}
		case *pollAgent:
			if a.connectedLocked(now) {
				return true
			}
		}
	}
	return false
}

// removeLocked takes agent a out of turns.
func (p *agentPool) removeLocked(a poolAgent) {
	if a, ok := a.(*pollAgent); ok && p.polls[a.name] == a {
		delete(p.polls, a.name)
	}
	p.members.Remove(a.member())
}

// pruneLocked drops tunnel agents whose tunnel closed and poll agents that
// stopped calling.
func (p *agentPool) pruneLocked(now time.Time) {
	for _, a := range p.agentsLocked() {
		switch a := a.(type) {
		case *tunnelAgent:
			if a.sess.isClosed() {
				p.removeLocked(a)
			}
		case *pollAgent:
			if !a.connectedLocked(now) {
				p.removeLocked(a)
			}
		}
	}
}

func (p *agentPool) addTunnel(a *tunnelAgent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.connectedLocked(time.Now()) {
		p.since = a.since
	}
	a.m = p.newMemberLocked(a, a)
	p.members.Add(a.m)
	p.tunnels[a] = true
	p.notifyLocked()
}

// leave takes a tunnel agent out of turns: it sent a go-away (it finishes
// its requests but takes no new ones).
func (p *agentPool) leave(a *tunnelAgent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(a)
	p.notifyLocked()
}

// removeTunnel drops a tunnel agent whose tunnel closed, and the
// connections its transport keeps.
func (p *agentPool) removeTunnel(a *tunnelAgent) {
	p.mu.Lock()
	p.removeLocked(a)
	p.notifyLocked()
	delete(p.tunnels, a)
	p.mu.Unlock()
	a.transport.CloseIdleConnections()
}

// closeAll drops every agent of the pool (backend deleted, relay stopping).
func (p *agentPool) closeAll() {
	p.mu.Lock()
	var tunnels []*tunnelAgent
	for t := range p.tunnels {
		tunnels = append(tunnels, t)
	}
	p.mu.Unlock()
	for _, t := range tunnels {
		t.sess.close()
		t.transport.CloseIdleConnections()
	}
	p.poll.failAll(proxy.ErrTunnelLost)
}

// pollStart notes the start of a pending-list call by the poll agent of
// that name ("" for agents that send none) and returns the agent.
func (p *agentPool) pollStart(name string, draining bool) *pollAgent {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.pruneLocked(now)
	if !p.connectedLocked(now) {
		p.since = now
	}
	a := p.polls[name]
	if a == nil && len(p.polls) >= maxPollAgents {
		name = ""
		a = p.polls[name]
	}
	if a == nil {
		a = &pollAgent{name: name}
		a.m = p.newMemberLocked(a, pollTransport{p: p, a: a})
		p.polls[name] = a
		p.members.Add(a.m)
	}
	took := a.takesLocked(now)
	a.polling++
	a.lastPoll = now
	a.draining = draining
	a.abandoned = false
	p.lastPoll = now
	if took != a.takesLocked(now) {
		p.notifyLocked()
	}
	return a
}

// pollEnd notes the end of a pending-list call; abandoned says the agent
// hung up on it rather than got an answer.
func (p *agentPool) pollEnd(a *pollAgent, abandoned bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	took := a.takesLocked(now)
	a.polling--
	a.lastPoll = now
	a.abandoned = abandoned
	p.lastPoll = now
	if took != a.takesLocked(now) {
		p.notifyLocked()
	}
}

// pollAgentState reports whether a poll agent stopped calling (gone),
// whether it takes new requests, and whether it is in a list call now.
func (p *agentPool) pollAgentState(a *pollAgent) (gone, takes, listening bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	return !a.connectedLocked(now), a.takesLocked(now), a.polling > 0
}

// othersTake reports whether an agent other than a takes new requests.
func (p *agentPool) othersTake(a poolAgent) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, o := range p.agentsLocked() {
		if o != a && o.takesLocked(now) {
			return true
		}
	}
	return false
}

// changes returns a channel closed when agents next come, go or stop
// taking requests.
func (p *agentPool) changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// pick waits up to wait for an agent that takes new requests and returns
// the one whose turn it is (see chooseLocked), or a NoAgentError naming the
// backend.
func (p *agentPool) pick(r *http.Request, wait time.Duration, tried []*proxy.Upstream) (*route.Member, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		p.pruneLocked(time.Now())
		m := p.chooseLocked(r, tried)
		changed := p.changed
		p.mu.Unlock()
		if m != nil {
			return m, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, &proxy.NoAgentError{Backend: p.id}
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}

// chooseLocked returns the agent for r among those that take new requests,
// or nil when none does. The pool's policy chooses, preferring agents this
// exchange did not try yet. An upgrade (WebSocket) goes to a tunnel agent:
// only a tunnel carries it, so a poll agent gets it (to answer 501) only
// when no tunnel agent is there. Passive health steers requests away from
// agents that failed, but does not refuse them: when every agent that
// takes requests failed lately, the first one in turns gets the request,
// as the only agent of a backend always does. Callers hold p.mu.
func (p *agentPool) chooseLocked(r *http.Request, tried []*proxy.Upstream) *route.Member {
	now := time.Now()
	takes := func(m *route.Member) bool { return m.Value.(poolAgent).takesLocked(now) }
	tunnel := func(m *route.Member) bool {
		_, ok := m.Value.(*tunnelAgent)
		return ok && takes(m)
	}
	untried := func(ok func(*route.Member) bool) func(*route.Member) bool {
		return func(m *route.Member) bool {
			for _, u := range tried {
				if u.Name == m.Name {
					return false
				}
			}
			return ok(m)
		}
	}
	groups := []func(*route.Member) bool{takes}
	if r.Header.Get("Upgrade") != "" {
		groups = []func(*route.Member) bool{tunnel, takes}
	}
	for _, ok := range groups {
		for _, ok := range []func(*route.Member) bool{untried(ok), ok} {
			if m, err := p.members.Pick(r, func(m *route.Member) bool { return !ok(m) }); err == nil {
				return m
			}
		}
		for _, m := range p.members.Members() {
			if ok(m) {
				return m
			}
		}
	}
	return nil
}

// waitAgent waits until an agent takes new requests, without taking a turn.
func (p *agentPool) waitAgent(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := time.Now()
		for _, a := range p.agentsLocked() {
			if a.takesLocked(now) {
				p.mu.Unlock()
				return nil
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// AgentPoolStatus is what the admin API reports about a backend's agents.
type AgentPoolStatus struct {
	Agents     int       `json:"agents"`
	Transports []string  `json:"transports"`
	Since      time.Time `json:"since,omitzero"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
	InFlight   int64     `json:"inFlight"`
}

func (p *agentPool) status() AgentPoolStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.pruneLocked(now)
	st := AgentPoolStatus{InFlight: p.inflight.Load(), Transports: []string{}}
	tunnels, polls, polling := 0, 0, false
	for _, a := range p.agentsLocked() {
		switch a := a.(type) {
		case *tunnelAgent:
			if !a.sess.isClosed() {
				tunnels++
			}
		case *pollAgent:
			if a.connectedLocked(now) {
				polls++
			}
			polling = polling || a.polling > 0
		}
	}
	if tunnels > 0 {
		st.Agents += tunnels
		st.Transports = append(st.Transports, "tunnel")
		st.LastSeen = now.UTC().Truncate(time.Second)
	}
	if polls > 0 {
		st.Agents += polls
		st.Transports = append(st.Transports, "poll")
		if p.lastPoll.After(st.LastSeen) || polling {
			st.LastSeen = now.UTC().Truncate(time.Second)
		}
	} else if st.LastSeen.IsZero() && !p.lastPoll.IsZero() {
		st.LastSeen = p.lastPoll.UTC().Truncate(time.Second)
	}
	if st.Agents > 0 {
		st.Since = p.since.UTC().Truncate(time.Second)
	}
	return st
}
