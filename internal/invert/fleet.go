package invert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/regstore"
)

// A fleet is several relays behind one load balancer. Each agent keeps a
// tunnel to every relay of the fleet, so that any relay serves any request
// with no hop between relays (cloudflared's design). A relay learns the
// fleet from the registry (every relay beats into it; one that stops
// beating drops out) or from a static list, and tells its agents: in the
// first request on each tunnel (the "hello") and, when the fleet changes,
// in a control request on every tunnel (HeaderTunnel "fleet"), which the
// agent answers itself. Both carry the fleet as JSON in HeaderFleet; the
// hello also carries a secret for the tunnel (HeaderFleetSecret) that every
// later control request repeats, so nothing but this relay can change what
// an agent believes the fleet is (end users' X-Devproxy-* headers are
// stripped besides).

// Headers of the fleet's announcements.
const (
	// HeaderFleet carries a fleetAnnouncement as JSON, relay → agent, on
	// the tunnel's hello and fleet requests.
	HeaderFleet = "X-Devproxy-Fleet"
	// HeaderFleetSecret carries the tunnel's secret: set by the hello,
	// repeated by every fleet request on the same tunnel.
	HeaderFleetSecret = "X-Devproxy-Fleet-Secret"
	// HeaderFleetSize tells a poll agent how many relays the fleet has: the
	// poll transport reaches only one of them.
	HeaderFleetSize = "X-Devproxy-Fleet-Size"
)

// Fleet defaults.
const (
	// DefaultHeartbeat is how often a relay of a registry fleet beats.
	DefaultHeartbeat = time.Second
	// DefaultMemberTTL is how long a relay that stopped beating stays in
	// the fleet.
	DefaultMemberTTL = 5 * time.Second
	// maxFleet bounds the members an agent connects to, whatever a relay
	// announces.
	maxFleet = 64
	// fleetPushTimeout bounds one announcement to one agent.
	fleetPushTimeout = 5 * time.Second
)

// FleetStore is where the relays of a fleet find each other: a
// regstore.Store (PostgreSQL) does it.
type FleetStore interface {
	Heartbeat(ctx context.Context, m regstore.Member) error
	Members(ctx context.Context, ttl time.Duration) ([]regstore.Member, error)
	Leave(ctx context.Context, id string) error
}

// FleetOptions make a relay one of a fleet (RelayOptions.Fleet).
type FleetOptions struct {
	// URL is this relay's own public URL: where agents reach it directly,
	// not through the load balancer. Required.
	URL string
	// ID names this relay in the fleet. Default: its URL's host and path
	// (stable across restarts, so a relay that restarts takes its place
	// back).
	ID string
	// Static lists the fleet's relays by URL (this relay's may be among
	// them; it is added when not). When set, Store is not asked who the
	// members are.
	Static []string
	// Store finds the members when Static is empty: this relay beats into
	// it every Heartbeat, and relays not seen for TTL are dropped.
	Store FleetStore
	// Heartbeat defaults to DefaultHeartbeat, TTL to DefaultMemberTTL.
	Heartbeat, TTL time.Duration
	// OnChange is called (from the fleet's goroutine) when the members
	// change or the store fails or recovers. Optional.
	OnChange func(FleetStatus)
}

// FleetMember is one relay of the fleet, as agents learn it.
type FleetMember struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// fleetAnnouncement is what a relay tells its agents about the fleet.
type fleetAnnouncement struct {
	// Relay is the relay that sends it.
	Relay FleetMember `json:"relay"`
	// Members are all the relays, sorted by ID (Relay among them).
	Members []FleetMember `json:"members"`
}

// FleetStatus is the fleet as one relay sees it.
type FleetStatus struct {
	// Self is this relay.
	Self FleetMember
	// Members are the relays, sorted by ID, with the agents each holds
	// per backend (this relay's own counts are live; others' are as they
	// last beat; a static fleet knows only its own).
	Members []regstore.Member
	// Static is set for a --fleet list.
	Static bool
	// Err is the store's last error while it fails (the members are then
	// those last seen).
	Err error
}

// RelayAgents says how many of a backend's agents one relay holds.
type RelayAgents struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Agents int    `json:"agents"`
}

// MemberID is the default ID of the relay at URL u: its host and path,
// e.g. "relay-a.example.com" or "10.0.0.5:9000".
func MemberID(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Host + strings.TrimSuffix(p.Path, "/")
}

// fleet runs a relay's membership: it beats, reads the members, and tells
// the agents when they change.
type fleet struct {
	r    *Relay
	o    FleetOptions
	self FleetMember

	mu      sync.Mutex
	members []regstore.Member // sorted by ID, self among them
	view    []FleetMember     // members as announced
	version uint64            // bumped when view changes
	err     error
	// recovered is when the store answered again after failing: for a
	// TTL after it, relays are not dropped (their beats during the
	// outage were lost, and each beats again within a heartbeat).
	recovered time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

func newFleet(r *Relay, o FleetOptions) (*fleet, error) {
	if o.URL == "" {
		return nil, errors.New("relay: a fleet needs this relay's public URL (--public-url), where agents reach it")
	}
	if _, err := checkMemberURL(o.URL); err != nil {
		return nil, fmt.Errorf("relay: public URL: %w", err)
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if o.ID == "" {
		o.ID = MemberID(o.URL)
	}
	if len(o.Static) == 0 && o.Store == nil {
		return nil, errors.New("relay: a fleet needs a static list of relays (--fleet) or a registry that holds them (--registry postgres://…)")
	}
	for _, s := range o.Static {
		if _, err := checkMemberURL(s); err != nil {
			return nil, fmt.Errorf("relay: fleet member: %w", err)
		}
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.TTL <= 0 {
		o.TTL = DefaultMemberTTL
	}
	f := &fleet{r: r, o: o, self: FleetMember{ID: o.ID, URL: o.URL}, done: make(chan struct{})}
	f.setMembers(nil)
	return f, nil
}

// checkMemberURL checks that u is an http(s) URL with a host.
func checkMemberURL(u string) (*url.URL, error) {
	p, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return nil, fmt.Errorf("%q must be an http:// or https:// URL with a host, e.g. http://10.0.0.5:9000", u)
	}
	return p, nil
}

// start runs the membership until stop.
func (f *fleet) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.run(ctx)
}

// stop ends the membership; a registry fleet forgets this relay at once.
func (f *fleet) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
}

func (f *fleet) run(ctx context.Context) {
	defer close(f.done)
	t := time.NewTicker(f.o.Heartbeat)
	defer t.Stop()
	for {
		f.beat(ctx)
		select {
		case <-ctx.Done():
			if f.o.Store != nil && len(f.o.Static) == 0 {
				lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := f.o.Store.Leave(lctx, f.self.ID); err != nil {
					f.r.opts.Logger.Warn("fleet: could not leave the registry; the other relays drop this one once its heartbeat is older than the TTL", "reason", err.Error(), "ttl", f.o.TTL.String())
				}
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

// beat announces this relay and reads the members (a static fleet only
// refreshes this relay's own agent counts).
func (f *fleet) beat(ctx context.Context) {
	if len(f.o.Static) > 0 || f.o.Store == nil {
		f.setMembers(nil)
		return
	}
	bctx, cancel := context.WithTimeout(ctx, max(f.o.Heartbeat, time.Second))
	defer cancel()
	err := f.o.Store.Heartbeat(bctx, regstore.Member{ID: f.self.ID, URL: f.self.URL, Agents: f.r.agentCounts()})
	var ms []regstore.Member
	if err == nil {
		ms, err = f.o.Store.Members(bctx, f.o.TTL)
	}
	if ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	prev := f.err
	f.err = err
	if err == nil && prev != nil {
		f.recovered = time.Now()
	}
	f.mu.Unlock()
	switch {
	case err != nil && prev == nil:
		f.r.opts.Logger.Warn("fleet: the registry does not answer; keeping the relays last seen", "reason", err.Error())
	case err == nil && prev != nil:
		f.r.opts.Logger.Info("fleet: the registry answers again")
	}
	if err != nil {
		f.notify()
		return
	}
	f.setMembers(ms)
}

// setMembers takes the members read from the store (nil: a static fleet,
// or none read yet) and tells the agents when the fleet changed.
func (f *fleet) setMembers(ms []regstore.Member) {
	own := regstore.Member{ID: f.self.ID, URL: f.self.URL, Seen: time.Now(), Agents: f.r.agentCounts()}
	var out []regstore.Member
	if len(f.o.Static) > 0 {
		for _, u := range f.o.Static {
			u = strings.TrimSuffix(u, "/")
			if id := MemberID(u); id != f.self.ID && !slices.ContainsFunc(out, func(m regstore.Member) bool { return m.ID == id }) {
				out = append(out, regstore.Member{ID: id, URL: u})
			}
		}
	} else {
		for _, m := range ms {
			if m.ID != f.self.ID {
				out = append(out, m)
			}
		}
		f.mu.Lock()
		keepAll := ms == nil || time.Since(f.recovered) < f.o.TTL
		for _, m := range f.members {
			if keepAll && m.ID != f.self.ID && !slices.ContainsFunc(out, func(o regstore.Member) bool { return o.ID == m.ID }) {
				out = append(out, m)
			}
		}
		f.mu.Unlock()
	}
	out = append(out, own)
	slices.SortFunc(out, func(a, b regstore.Member) int { return strings.Compare(a.ID, b.ID) })
	view := make([]FleetMember, len(out))
	for i, m := range out {
		view[i] = FleetMember{ID: m.ID, URL: m.URL}
	}
	f.mu.Lock()
	f.members = out
	changed := !slices.Equal(view, f.view)
	if changed {
		f.view = view
		f.version++
	}
	f.mu.Unlock()
	if changed {
		ids := make([]string, len(view))
		for i, m := range view {
			ids[i] = m.ID
		}
		f.r.opts.Logger.Info("fleet: relays", "count", len(view), "relays", strings.Join(ids, " "))
		f.r.announceFleet()
	}
	f.notify()
}

func (f *fleet) notify() {
	if f.o.OnChange != nil {
		f.o.OnChange(f.status())
	}
}

// announcement is what agents are told now, and its version.
func (f *fleet) announcement() (fleetAnnouncement, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fleetAnnouncement{Relay: f.self, Members: f.view}, f.version
}

// status is the fleet as this relay sees it, with its own counts live.
func (f *fleet) status() FleetStatus {
	own := f.r.agentCounts()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FleetStatus{Self: f.self, Static: len(f.o.Static) > 0, Err: f.err}
	for _, m := range f.members {
		if m.ID == f.self.ID {
			m.Agents = own
		}
		st.Members = append(st.Members, m)
	}
	return st
}

// size is the number of relays in the fleet.
func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.view)
}

// holders are the relays that hold agents of backend id.
func (f *fleet) holders(id string) []RelayAgents {
	out := []RelayAgents{}
	for _, m := range f.status().Members {
		if n := m.Agents[id]; n > 0 {
			out = append(out, RelayAgents{ID: m.ID, URL: m.URL, Agents: n})
		}
	}
	return out
}

// Fleet reports the fleet this relay is one of; ok is false when the
// relay runs alone.
func (r *Relay) Fleet() (st FleetStatus, ok bool) {
	if r.fleet == nil {
		return FleetStatus{}, false
	}
	return r.fleet.status(), true
}

// agentCounts counts the agents connected to this relay, per backend.
func (r *Relay) agentCounts() map[string]int {
	pools := r.poolList()
	out := map[string]int{}
	for _, p := range pools {
		if n := p.status().Agents; n > 0 {
			out[p.id] = n
		}
	}
	return out
}

// tunnelHello is the hello request's headers for a new tunnel: its secret
// and, in a fleet, the announcement (whose version the tunnel then holds).
func (r *Relay) tunnelHello() (http.Header, string, uint64) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	h := http.Header{}
	if r.fleet == nil {
		return h, secret, 0
	}
	ann, v := r.fleet.announcement()
	js, _ := json.Marshal(ann)
	h.Set(HeaderFleetSecret, secret)
	h.Set(HeaderFleet, string(js))
	return h, secret, v
}

// announceFleet tells every agent connected over an HTTP/2 tunnel the
// fleet as it is now.
func (r *Relay) announceFleet() {
	pools := r.poolList()
	for _, p := range pools {
		p.mu.Lock()
		for a := range p.tunnels {
			go r.announceTo(a)
		}
		p.mu.Unlock()
	}
}

// announceTo tells one agent the fleet, unless it knows this version
// already. Announcements to one tunnel go one at a time, newest last.
func (r *Relay) announceTo(a *tunnelAgent) {
	s, ok := a.sess.(*h2Session)
	if !ok || r.fleet == nil || a.secret == "" {
		return // yamux (agents that predate fleets), or no fleet
	}
	a.announceMu.Lock()
	defer a.announceMu.Unlock()
	ann, v := r.fleet.announcement()
	if v <= a.announced || s.lost() {
		return
	}
	js, _ := json.Marshal(ann)
	ctx, cancel := context.WithTimeout(context.Background(), fleetPushTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent.invalid/", nil)
	req.Header.Set(HeaderTunnel, "fleet")
	req.Header.Set(HeaderFleetSecret, a.secret)
	req.Header.Set(HeaderFleet, string(js))
	res, err := s.cc.RoundTrip(req)
	if err != nil {
		if !s.lost() {
			r.opts.Logger.Debug("fleet: could not tell an agent", "reason", err.Error())
		}
		return
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNoContent {
		a.announced = v
	}
}
