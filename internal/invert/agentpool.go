package invert

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
)

// agentPool is the relay's live state for one backend: the agents serving
// it, over either transport, and its requests in flight. Each request picks
// one agent, taking turns (round robin), and goes to that agent only: a
// tunnel agent has its own upstream transport, so a connection kept alive
// for reuse stays with the agent whose turn it was, and a poll agent fetches
// only the requests given to it.
type agentPool struct {
	id string

	mu       sync.Mutex
	agents   []poolAgent           // in the order they joined; turns go round it
	tunnels  map[*tunnelAgent]bool // every open tunnel, also those out of turns after a go-away
	polls    map[string]*pollAgent // poll agents by the name they send in HeaderAgent
	next     int                   // index in agents where the next turn starts
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

// roundTrip sends req to the agent: natively when the protocol can carry
// it, else as HTTP/1.1 on a stream.
func (a *tunnelAgent) roundTrip(req *http.Request) (*http.Response, error) {
	if rt := a.sess.native(); rt != nil && req.Header.Get("Upgrade") == "" {
		return rt.RoundTrip(req)
	}
	return a.transport.RoundTrip(req)
}

// pollAgent is an agent that long-polls for requests. Poll agents are told
// apart by the name devproxy agents send in HeaderAgent; agents that send
// none (such as the reference agent) are one pollAgent together and share
// the requests given to it, as they would with the reference relay.
type pollAgent struct {
	name string
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

func (a *pollAgent) connectedLocked(now time.Time) bool {
	return a.polling > 0 || !a.lastPoll.IsZero() && now.Sub(a.lastPoll) < pollAlive
}

// takesLocked: an agent that hung up on its list call (killed, or starting
// to shut down) or that is draining gets no new requests, though it counts
// as connected while the requests it fetched finish.
func (a *pollAgent) takesLocked(now time.Time) bool {
	return !a.draining && !a.abandoned && a.connectedLocked(now)
}

func newAgentPool(id string) *agentPool {
	return &agentPool{id: id, polls: map[string]*pollAgent{}, tunnels: map[*tunnelAgent]bool{}, changed: make(chan struct{}), poll: newPollQueue()}
}

// notifyLocked wakes goroutines waiting for an agent. Callers hold p.mu.
func (p *agentPool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *agentPool) connectedLocked(now time.Time) bool {
	for _, a := range p.agents {
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

// removeLocked drops agent i, keeping the turn where it was.
func (p *agentPool) removeLocked(i int) {
	if a, ok := p.agents[i].(*pollAgent); ok && p.polls[a.name] == a {
		delete(p.polls, a.name)
	}
	p.agents = append(p.agents[:i], p.agents[i+1:]...)
	if i < p.next {
		p.next--
	}
}

// pruneLocked drops tunnel agents whose tunnel closed and poll agents that
// stopped calling.
func (p *agentPool) pruneLocked(now time.Time) {
	for i := len(p.agents) - 1; i >= 0; i-- {
		switch a := p.agents[i].(type) {
		case *tunnelAgent:
			if a.sess.isClosed() {
				p.removeLocked(i)
			}
		case *pollAgent:
			if !a.connectedLocked(now) {
				p.removeLocked(i)
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
	p.agents = append(p.agents, a)
	p.tunnels[a] = true
	p.notifyLocked()
}

// leave takes a tunnel agent out of turns: it sent a go-away (it finishes
// its requests but takes no new ones).
func (p *agentPool) leave(a *tunnelAgent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaveLocked(a)
}

func (p *agentPool) leaveLocked(a *tunnelAgent) {
	for i, o := range p.agents {
		if o == a {
			p.removeLocked(i)
			break
		}
	}
	p.notifyLocked()
}

// removeTunnel drops a tunnel agent whose tunnel closed, and the
// connections its transport keeps.
func (p *agentPool) removeTunnel(a *tunnelAgent) {
	p.mu.Lock()
	p.leaveLocked(a)
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
		p.polls[name] = a
		p.agents = append(p.agents, a)
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
	for _, o := range p.agents {
		if o != a && o.takesLocked(now) {
			return true
		}
	}
	return false
}

// pollTakes reports whether a poll agent takes new requests.
func (p *agentPool) pollTakes() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, a := range p.agents {
		if a, ok := a.(*pollAgent); ok && a.takesLocked(now) {
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

// pickFor says which agents a request can use.
type pickFor int

const (
	anyAgent pickFor = iota
	// upgrade: only a tunnel carries an Upgrade (WebSocket); a poll agent
	// is picked only when no tunnel agent is there, to answer 501.
	upgrade
	// stream: the request needs a tunnel stream; when only poll agents are
	// there, pick fails with a NoAgentError.
	stream
)

// pick waits up to wait for an agent that takes new requests and returns
// the next one in turn.
func (p *agentPool) pick(ctx context.Context, wait time.Duration, want pickFor) (poolAgent, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		now := time.Now()
		p.pruneLocked(now)
		a := p.turnLocked(now, want != anyAgent)
		if a == nil && want == upgrade {
			a = p.turnLocked(now, false)
		}
		if a == nil && want == stream && p.turnLocked(now, false) != nil {
			p.mu.Unlock()
			return nil, &proxy.NoAgentError{Backend: p.id}
		}
		changed := p.changed
		p.mu.Unlock()
		if a != nil {
			return a, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, &proxy.NoAgentError{Backend: p.id}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// turnLocked returns the next agent in turn that takes new requests (a
// tunnel agent, with tunnelOnly) and moves the turn past it.
func (p *agentPool) turnLocked(now time.Time, tunnelOnly bool) poolAgent {
	n := len(p.agents)
	for i := range n {
		j := (p.next + i) % n
		a := p.agents[j]
		if _, isTunnel := a.(*tunnelAgent); tunnelOnly && !isTunnel || !a.takesLocked(now) {
			continue
		}
		p.next = j + 1
		return a
	}
	return nil
}

// waitAgent waits until an agent takes new requests, without taking a turn.
func (p *agentPool) waitAgent(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := time.Now()
		for _, a := range p.agents {
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

// dial opens a stream on a's tunnel for a's transport. When a is going away
// (it sent a go-away) or gone, the request that needs the stream was given
// to a but not sent yet, so it takes a stream on the next tunnel agent in
// turn instead, waiting for one up to wait as a new request would. That
// connection then sits in a's transport: a takes no new requests, and its
// idle connections are closed when its tunnel ends.
func (p *agentPool) dial(ctx context.Context, a *tunnelAgent, wait time.Duration) (net.Conn, error) {
	for {
		st, err := a.sess.openStream(ctx)
		if err == nil {
			return st, nil
		}
		switch {
		case errors.Is(err, errGoingAway):
			p.leave(a)
		case a.sess.isClosed():
		default:
			return nil, err
		}
		next, err := p.pick(ctx, wait, stream)
		if err != nil {
			return nil, err
		}
		a = next.(*tunnelAgent)
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
	for _, a := range p.agents {
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
