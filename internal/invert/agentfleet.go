package invert

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// An agent in a fleet (see fleet.go) keeps one tunnel to each relay, each a
// relayLink that reconnects on its own with its own backoff. The entry link
// goes to --proxy, which may be a load balancer: it is how the agent learns
// the fleet (the relay it reaches announces it in its hello), and it stands
// by once the fleet's relays are served over their own links, coming back
// when none of them is connected. Links to relays that left the fleet drain
// and close.
//
// Announcements, not polling: the relay that changes its view tells every
// agent at once over tunnels that are open anyway, so a relay that joins is
// served within a heartbeat, with no request per agent per interval.

// relayLink is the agent's connection to one relay.
type relayLink struct {
	a     *Agent
	url   *url.URL // the relay's base URL, ending in "/"
	entry bool     // the --proxy link
	// drain ends when the link is to take no new requests and not
	// reconnect: the agent shuts down, or the relay left the fleet.
	drain     context.Context
	stopDrain context.CancelFunc
	inflight  atomic.Int64 // requests being served on the link's tunnel

	// Guarded by the agent's mu.
	state     string
	tunnel    agentTunnel // the tunnel being served, if any
	connected bool
	since     time.Time
	relayID   string // the relay behind the link, from its hello
	retiring  bool   // the entry's tunnel drains: its relay's own link is up
}

func (a *Agent) newLink(u *url.URL, entry bool) *relayLink {
	drain, stop := context.WithCancel(a.drain)
	return &relayLink{a: a, url: u, entry: entry, drain: drain, stopDrain: stop, state: "starting"}
}

func (l *relayLink) setState(s string, attrs ...any) { l.setStateLog(s, true, attrs...) }

// setStateLog records the state; it is logged only when asked and changed.
func (l *relayLink) setStateLog(s string, log bool, attrs ...any) {
	l.a.mu.Lock()
	changed := l.state != s
	l.state = s
	l.a.mu.Unlock()
	if changed && log {
		l.a.opts.Logger.Info("agent: "+s, l.where(attrs...)...)
	}
}

// where puts the relay and the backend in front of attrs, for the log.
func (l *relayLink) where(attrs ...any) []any {
	return append([]any{"relay", l.url.String(), "backend", l.a.opts.Backend}, attrs...)
}

// setConnected records that the link's tunnel came up or went down.
func (l *relayLink) setConnected(up bool, since time.Time) {
	a := l.a
	a.mu.Lock()
	l.connected = up
	if up {
		l.since = since
		a.accepted = since
		l.state = fmt.Sprintf("connected to relay (tunnel) since %s", since.Format("15:04:05"))
	}
	a.notifyLocked()
	a.mu.Unlock()
}

// retired reports whether the link's last tunnel was drained because its
// relay's own link took over.
func (l *relayLink) retired() bool {
	l.a.mu.Lock()
	defer l.a.mu.Unlock()
	return l.retiring
}

// counted counts the requests in flight on the link, so that a lost
// tunnel says how many it cut.
func (l *relayLink) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.inflight.Add(1)
		defer l.inflight.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// control answers the relay's own requests on one HTTP/2 tunnel: the hello
// (which sets the tunnel's secret) and fleet announcements (which must
// repeat it). Neither reaches the backend.
func (l *relayLink) control() http.HandlerFunc {
	var secret atomic.Pointer[string]
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(HeaderFleetSecret)
		if r.Header.Get(HeaderTunnel) == "hello" {
			if secret.Load() != nil {
				http.Error(w, "devproxy agent: a second hello", http.StatusBadRequest)
				return
			}
			secret.Store(&got)
		} else if s := secret.Load(); s == nil || *s == "" || subtle.ConstantTimeCompare([]byte(*s), []byte(got)) != 1 {
			http.Error(w, "devproxy agent: fleet announcement without this tunnel's secret", http.StatusForbidden)
			return
		}
		if js := r.Header.Get(HeaderFleet); js != "" {
			var ann fleetAnnouncement
			if err := json.Unmarshal([]byte(js), &ann); err != nil {
				http.Error(w, "devproxy agent: bad "+HeaderFleet+": "+err.Error(), http.StatusBadRequest)
				return
			}
			l.a.setFleet(l, ann)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// notifyLocked wakes whoever waits for a link to change. Callers hold mu.
func (a *Agent) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
	a.retireEntryLocked()
}

// allLinksLocked is the entry link and the fleet's links.
func (a *Agent) allLinksLocked() []*relayLink {
	out := []*relayLink{a.entry}
	for _, l := range a.links {
		out = append(out, l)
	}
	return out
}

// entryStandsBy reports whether the entry link is not needed now: the
// fleet is known and one of its relays' own links is connected (they tell
// the agent when the fleet changes). changed ends when that may change.
func (a *Agent) entryStandsBy() (changed <-chan struct{}, standBy bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.links {
		if l.connected {
			return a.changed, true
		}
	}
	return a.changed, false
}

// retireEntryLocked drains the entry's tunnel once the relay it reached
// has its own link up: one tunnel per relay. Callers hold mu.
func (a *Agent) retireEntryLocked() {
	e := a.entry
	if !e.connected || e.retiring || e.relayID == "" || e.tunnel == nil {
		return
	}
	for _, l := range a.links {
		if l.connected && l.relayID == e.relayID {
			e.retiring = true
			t := e.tunnel
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), linkDrainTimeout)
				defer cancel()
				_ = t.shutdown(ctx)
			}()
			return
		}
	}
}

// linkDrainTimeout bounds how long a link that is no longer wanted lets
// its requests in flight finish.
const linkDrainTimeout = 30 * time.Second

// setFleet takes a relay's announcement, received on link from: the agent
// opens links to relays it has none to and drains those to relays that
// left.
func (a *Agent) setFleet(from *relayLink, ann fleetAnnouncement) {
	var members []FleetMember
	want := map[string]FleetMember{}
	var skipped []string
	for _, m := range ann.Members {
		u, err := checkMemberURL(m.URL)
		if err != nil || m.ID == "" {
			continue
		}
		if a.opts.Relay.Scheme == "https" && u.Scheme == "http" {
			// Never send the agent token in the clear because a relay
			// said so.
			skipped = append(skipped, m.URL)
			continue
		}
		key := linkKey(u)
		if _, dup := want[key]; dup || len(members) >= maxFleet {
			continue
		}
		want[key] = m
		members = append(members, FleetMember{ID: m.ID, URL: key})
	}
	a.mu.Lock()
	from.relayID = ann.Relay.ID
	if a.drain.Err() != nil || a.runCtx == nil || a.runCtx.Err() != nil {
		a.mu.Unlock()
		return
	}
	var warn []string
	for _, s := range skipped {
		if !a.skippedURLs[s] {
			a.skippedURLs[s] = true
			warn = append(warn, s)
		}
	}
	var added, removed []string
	for key, l := range a.links {
		if _, ok := want[key]; !ok {
			delete(a.links, key)
			removed = append(removed, key)
			l.stopDrain()
			if t := l.tunnel; t != nil {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), linkDrainTimeout)
					defer cancel()
					_ = t.shutdown(ctx)
				}()
			}
		}
	}
	for key, m := range want {
		if a.links[key] != nil {
			a.links[key].relayID = m.ID
			continue
		}
		u, _ := url.Parse(key)
		l := a.newLink(u, false)
		l.relayID = m.ID
		a.links[key] = l
		added = append(added, key)
		a.linksWG.Add(1)
		ctx := a.runCtx
		go func() {
			defer a.linksWG.Done()
			_ = l.run(ctx) // only the entry link's run fails
			a.mu.Lock()
			if a.links[key] == l {
				delete(a.links, key)
			}
			a.notifyLocked()
			a.mu.Unlock()
		}()
	}
	a.fleet = members
	a.notifyLocked()
	a.mu.Unlock()
	for _, s := range warn {
		a.opts.Logger.Warn("agent: not connecting to a fleet relay over plain http while --proxy is https", "relay", s)
	}
	if len(added) > 0 || len(removed) > 0 {
		a.opts.Logger.Info("agent: the relay fleet changed", "relays", len(members), "added", strings.Join(added, " "), "removed", strings.Join(removed, " "), "told_by", ann.Relay.ID)
	}
}

// linkKey is a relay's base URL as links are keyed: ending in "/".
func linkKey(u *url.URL) string {
	c := *u
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	return c.String()
}

// notePollFleet takes a poll answer's fleet size: the poll transport
// serves only the relay behind --proxy, which the agent says once.
func (a *Agent) notePollFleet(h http.Header) {
	var n int
	if _, err := fmt.Sscan(h.Get(HeaderFleetSize), &n); err != nil || n < 2 {
		return
	}
	a.mu.Lock()
	first := a.pollFleet == 0
	a.pollFleet = n
	a.mu.Unlock()
	if first {
		a.opts.Logger.Warn(fmt.Sprintf("agent: the relay is one of a fleet of %d relays, but the poll transport reaches only the one behind --proxy; requests that reach the others wait for a tunnel agent: use --transport tunnel", n), a.where()...)
	}
}

// RelayLinkStatus is one of the agent's links to a relay.
type RelayLinkStatus struct {
	// URL is the relay's URL (for the entry link, --proxy).
	URL string
	// RelayID names the relay behind it, once known.
	RelayID string
	// Entry marks the link to --proxy.
	Entry bool
	// Connected says whether its tunnel is up, and since when.
	Connected bool
	Since     time.Time
	// State describes it, as Status does.
	State string
}

// Links reports the agent's links: the entry link first, then the fleet's
// relays in the order of the announcement.
func (a *Agent) Links() []RelayLinkStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := func(l *relayLink) RelayLinkStatus {
		return RelayLinkStatus{URL: l.url.String(), RelayID: l.relayID, Entry: l.entry, Connected: l.connected, Since: l.since, State: l.state}
	}
	out := []RelayLinkStatus{st(a.entry)}
	for _, m := range a.fleet {
		if l := a.links[m.URL]; l != nil {
			out = append(out, st(l))
		}
	}
	return out
}

// Status describes the connection to the relay, for the UI header: the
// entry link's state for a relay that runs alone; in a fleet, how many of
// its relays the agent serves ("3/3 relays"), and what is wrong with the
// first one it does not.
func (a *Agent) Status() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.fleet) == 0 || a.entry.state == "stopped" {
		s := a.entry.state
		if a.pollFleet > 1 && strings.HasPrefix(s, "polling") {
			s += fmt.Sprintf(" · 1 of %d relays: poll serves only --proxy", a.pollFleet)
		}
		return s
	}
	up := 0
	var down []string
	for _, m := range a.fleet {
		l := a.links[m.URL]
		switch {
		case l != nil && l.connected, a.entry.connected && a.entry.relayID == m.ID:
			up++
		case l != nil:
			down = append(down, m.ID+": "+l.state)
		default:
			down = append(down, m.ID+": not connected")
		}
	}
	s := fmt.Sprintf("%d/%d relays connected (tunnel)", up, len(a.fleet))
	if len(down) > 0 {
		s += " · " + down[0]
	}
	if a.drain.Err() != nil {
		s = "shutting down: finishing the requests in flight · " + s
	}
	return s
}
