package invert

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/hashicorp/yamux"
)

// link is the relay's live state for one backend: the tunnels its agents
// opened, its poll agents, and its requests in flight.
type link struct {
	id string

	mu       sync.Mutex
	sessions []*agentSession
	rr       int
	changed  chan struct{} // closed and replaced when agents come or go
	lastPoll time.Time     // last poll call seen
	polling  int           // poll calls open now
	since    time.Time     // when the current run of connectivity began

	inflight atomic.Int64
	poll     *pollQueue
}

type agentSession struct {
	ys    *yamux.Session
	since time.Time
}

func newLink(id string) *link {
	return &link{id: id, changed: make(chan struct{}), poll: newPollQueue()}
}

// pollAlive is how long after its last pending-list call ended a poll agent
// still counts as connected. A live agent is always in a list call or about
// to make one (at once after a success, within 3 s after a failure), so a
// longer gap means it is gone.
const pollAlive = 5 * time.Second

// notifyLocked wakes goroutines waiting for an agent. Callers hold l.mu.
func (l *link) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *link) addSession(s *agentSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connectedLocked(time.Now()) {
		l.since = s.since
	}
	l.sessions = append(l.sessions, s)
	l.notifyLocked()
}

func (l *link) removeSession(s *agentSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.sessions {
		if o == s {
			l.sessions = append(l.sessions[:i], l.sessions[i+1:]...)
			break
		}
	}
	l.notifyLocked()
}

// closeAll drops every agent of the link (backend deleted, relay stopping).
func (l *link) closeAll() {
	l.mu.Lock()
	ss := append([]*agentSession(nil), l.sessions...)
	l.mu.Unlock()
	for _, s := range ss {
		s.ys.Close()
	}
	l.poll.failAll(proxy.ErrTunnelLost)
}

func (l *link) pollStart() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.connectedLocked(now) {
		l.since = now
	}
	l.polling++
	l.lastPoll = now
	l.notifyLocked()
}

func (l *link) pollEnd() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.polling--
	l.lastPoll = time.Now()
}

func (l *link) pollConnectedLocked(now time.Time) bool {
	return l.polling > 0 || !l.lastPoll.IsZero() && now.Sub(l.lastPoll) < pollAlive
}

func (l *link) connectedLocked(now time.Time) bool {
	return len(l.sessions) > 0 || l.pollConnectedLocked(now)
}

// pollAgentGone reports whether the poll agent stopped calling.
func (l *link) pollAgentGone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.pollConnectedLocked(time.Now())
}

// hasTunnel reports whether a tunnel agent is connected.
func (l *link) hasTunnel() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sessions {
		if !s.ys.IsClosed() {
			return true
		}
	}
	return false
}

// pollConnected reports whether a poll agent is calling.
func (l *link) pollConnected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pollConnectedLocked(time.Now())
}

// pick waits up to wait for an agent and returns a tunnel session (round
// robin), or nil when only poll agents are connected.
func (l *link) pick(ctx context.Context, wait time.Duration) (*agentSession, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for len(l.sessions) > 0 {
			l.rr = (l.rr + 1) % len(l.sessions)
			s := l.sessions[l.rr]
			if !s.ys.IsClosed() {
				l.mu.Unlock()
				return s, nil
			}
			l.sessions = append(l.sessions[:l.rr], l.sessions[l.rr+1:]...)
		}
		if l.pollConnectedLocked(time.Now()) {
			l.mu.Unlock()
			return nil, nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return nil, &proxy.NoAgentError{Backend: l.id}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dial opens a stream on one of the backend's tunnels.
func (l *link) dial(ctx context.Context, wait time.Duration) (net.Conn, error) {
	for {
		s, err := l.pick(ctx, wait)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, &proxy.NoAgentError{Backend: l.id}
		}
		st, err := s.ys.Open()
		if err != nil {
			if errors.Is(err, yamux.ErrRemoteGoAway) {
				// That agent is shutting down: it finishes its requests
				// but takes no new ones. Wait for another.
				l.removeSession(s)
				continue
			}
			if s.ys.IsClosed() {
				continue // that agent just went away; try another
			}
			return nil, err
		}
		return &tunnelConn{Conn: st, sess: s.ys}, nil
	}
}

// LinkStatus is what the admin API reports about a backend's agents.
type LinkStatus struct {
	Agents     int       `json:"agents"`
	Transports []string  `json:"transports"`
	Since      time.Time `json:"since,omitzero"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
	InFlight   int64     `json:"inFlight"`
}

func (l *link) status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	st := LinkStatus{InFlight: l.inflight.Load(), Transports: []string{}}
	live := 0
	for _, s := range l.sessions {
		if !s.ys.IsClosed() {
			live++
		}
	}
	if live > 0 {
		st.Agents += live
		st.Transports = append(st.Transports, "tunnel")
		st.LastSeen = now.UTC().Truncate(time.Second)
	}
	if l.pollConnectedLocked(now) {
		st.Agents++
		st.Transports = append(st.Transports, "poll")
		if l.lastPoll.After(st.LastSeen) || l.polling > 0 {
			st.LastSeen = now.UTC().Truncate(time.Second)
		}
	} else if st.LastSeen.IsZero() && !l.lastPoll.IsZero() {
		st.LastSeen = l.lastPoll.UTC().Truncate(time.Second)
	}
	if st.Agents > 0 {
		st.Since = l.since.UTC().Truncate(time.Second)
	}
	return st
}
