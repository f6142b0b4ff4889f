package rules

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// Options configure a Set.
type Options struct {
	// Rand draws the p= probabilities and the actions' jitter (through
	// Env.Rand), under the Set's lock. Nil: a source seeded at random;
	// tests pass a seeded one for repeatable draws.
	Rand *rand.Rand
	// Now is the clock the actions read; nil is time.Now.
	Now func() time.Time
	// Holds keeps the exchanges breakpoint rules hold. Nil: New and
	// Replace refuse rules with a breakpoint.
	Holds *Holds
	// Logger gets a debug line for every rule that fires; nil discards.
	Logger *slog.Logger
}

// Set is an ordered list of rules and the proxy stage that applies them
// (Name "rules"). At the request phase every enabled rule whose matcher
// needs only the request is tried in order, and each one that matches runs
// its actions in order, so modifiers stack; once an action answers (mock,
// status), no later request action runs, of that rule or the ones after
// it. At the response phase the rules whose matcher needs the response are
// tried, and every action that ran at the request phase, or acts at the
// response phase, sees the response (the answer, too). Each p= is drawn
// once per exchange. Replays (a Replayer sent them) skip faults and
// breakpoints. The rules can be swapped while the Set serves (Replace);
// an exchange a rule matched finishes with the rules it started with.
type Set struct {
	opts   Options
	randMu sync.Mutex
	rnd    *rand.Rand
	list   atomic.Pointer[ruleList]
}

var (
	_ proxy.RequestStage  = (*Set)(nil)
	_ proxy.ResponseStage = (*Set)(nil)
)

// ruleList is one version of a Set's rules, as given and as applied.
type ruleList struct {
	given []Rule
	rules []compiled
	// response: some enabled rule needs the response to match.
	response bool
	// enabled counts the enabled rules.
	enabled int
	// first[i] is the index of rule i's first action among all the
	// rules' actions, of which there are actions.
	first   []int
	actions int
}

// compiled is a rule as a Set applies it.
type compiled struct {
	Rule
	phase match.Phase
	env   Env
}

// skipOnReplay are the actions replays skip: they break or hold an exchange,
// which a replay is sent to see rather than to suffer.
var skipOnReplay = map[string]bool{
	"delay": true, "first-byte": true, "throttle": true, "status": true,
	"reset": true, "truncate": true, "drop": true, "breakpoint": true,
}

// New returns a Set applying rules in order. Rules from Parse or Decode
// are ready; a Rule built by hand is compiled from its Match. It fails,
// naming the rule, for a matcher that does not parse, a breakpoint without
// Options.Holds, or two rules with one name.
func New(rules []Rule, o Options) (*Set, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{opts: o, rnd: o.Rand}
	if s.rnd == nil {
		s.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if err := s.Replace(rules); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is "rules".
func (s *Set) Name() string { return "rules" }

// Replace swaps the Set's rules for rules, at once for exchanges that
// start afterwards. On error (as New's) the Set keeps its rules.
func (s *Set) Replace(rules []Rule) error {
	l := &ruleList{given: append([]Rule(nil), rules...), rules: make([]compiled, len(rules)), first: make([]int, len(rules))}
	names := make(map[string]int, len(rules))
	for i, r := range rules {
		lbl := r.label(i)
		if r.m == nil {
			m, err := compileMatcher(r.Match)
			if err != nil {
				return &Error{Rule: lbl, Pos: -1, Msg: trimFilter(err)}
			}
			r.m = m
		}
		if err := r.checkPhases(); err != nil {
			return label(err, lbl)
		}
		if len(r.Actions) == 0 {
			return &Error{Rule: lbl, Pos: -1, Msg: "has no action; actions are " + joinActions()}
		}
		for _, a := range r.Actions {
			if a.Name() == "breakpoint" && s.opts.Holds == nil {
				return &Error{Rule: lbl, Pos: -1, Msg: "a breakpoint needs the terminal UI to hold exchanges in until you resume them; run with the UI, or remove the rule"}
			}
		}
		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				return &Error{Rule: lbl, Pos: -1, Msg: fmt.Sprintf("rule %d has this name too; give each rule its own name", j+1)}
			}
			names[r.Name] = i
		} else {
			r.Name = strconv.Itoa(i + 1)
		}
		l.first[i] = l.actions
		l.actions += len(r.Actions)
		c := &l.rules[i]
		c.Rule, c.phase = r, r.m.Phase()
		c.env = Env{Rand: s.float, Now: s.opts.Now, Holds: s.opts.Holds, Rule: &c.Rule}
		if r.Enabled {
			l.enabled++
			l.response = l.response || c.phase == match.PhaseResponse
		}
	}
	s.list.Store(l)
	return nil
}

// Rules returns the Set's rules as given to New or Replace.
func (s *Set) Rules() []Rule {
	return append([]Rule(nil), s.list.Load().given...)
}

// float draws a number in [0, 1).
func (s *Set) float() float64 {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rnd.Float64()
}

// flowKey keeps a Set's *flowState on the Flow: each Set its own, since
// several may act on one exchange (the relay's global and per-backend
// rules).
type flowKey struct{ s *Set }

// kindsKey keeps the kind marks made on an exchange (bits of
// kindModified…, an *atomic.Uint32), shared by every Set on it so that
// each kind is marked once; atomic, as body readers note from other
// goroutines.
type kindsKey struct{}

// flowState is what the request phase leaves the response phase.
type flowState struct {
	list  *ruleList
	start time.Time
	// flags: rule i's at i (ruleMatched, ruleFired), action j of rule i's
	// at list.first[i]+j (actDrawn, actFires, actRan).
	flags []uint8
	// answered: an action answered at the request phase.
	answered bool
}

// Flags of flowState.
const (
	ruleMatched uint8 = 1 << iota // the rule matched at the request phase
	ruleFired                     // its "rule" mark was made
	actDrawn                      // the action's p= was drawn
	actFires                      // ... and it fires
	actRan                        // its Request ran
)

func newFlowState(l *ruleList, now time.Time) *flowState {
	return &flowState{list: l, start: now, flags: make([]uint8, len(l.rules)+l.actions)}
}

// act returns the flags of action j of rule i.
func (st *flowState) act(i, j int) *uint8 { return &st.flags[st.list.first[i]+j] }

// state returns the flow's state, making it for the current rules.
func (s *Set) state(f *proxy.Flow) *flowState {
	if st, ok := f.Value(flowKey{s}).(*flowState); ok {
		return st
	}
	st := newFlowState(s.list.Load(), s.opts.Now())
	s.keep(f, st)
	return st
}

// keep puts st on the flow, with the shared kind marks if none are there
// yet. It runs on the request's goroutine before any action does.
func (s *Set) keep(f *proxy.Flow, st *flowState) {
	f.Set(flowKey{s}, st)
	if f.Value(kindsKey{}) == nil {
		f.Set(kindsKey{}, new(atomic.Uint32))
	}
}

// Request runs the request-phase rules on f; see Set.
func (s *Set) Request(f *proxy.Flow) (*http.Response, error) {
	l := s.list.Load()
	if l.enabled == 0 {
		return nil, nil
	}
	x := requestView(f)
	env := match.Env{Now: s.opts.Now()}
	var st *flowState
	var answer *http.Response
	replay := f.Replay()
	for i := range l.rules {
		c := &l.rules[i]
		if !c.Enabled || c.phase != match.PhaseRequest || !c.m.Match(x, env) {
			continue
		}
		if st == nil {
			st = newFlowState(l, env.Now)
			s.keep(f, st)
		}
		st.flags[i] |= ruleMatched
		if st.answered {
			continue
		}
		for j, a := range c.Actions {
			if replay && skipOnReplay[a.Name()] || !s.draw(f, st, i, j) {
				continue
			}
			if a.Phase() == match.PhaseRequest {
				s.fire(f, st, i)
			}
			*st.act(i, j) |= actRan
			res, err := a.Request(f, c.env)
			if err != nil {
				return nil, err
			}
			if res != nil {
				answer, st.answered = res, true
				break
			}
		}
	}
	if st == nil && l.response {
		s.keep(f, newFlowState(l, env.Now))
	}
	return answer, nil
}

// Response runs the response phase on res; see Set.
func (s *Set) Response(f *proxy.Flow, res *http.Response) error {
	st, _ := f.Value(flowKey{s}).(*flowState)
	if st == nil {
		// No rule matched the request and none needs the response, or
		// the Set saw no request (another stage's answer comes first).
		l := s.list.Load()
		if !l.response {
			return nil
		}
		st = s.state(f)
	}
	var x *record.Exchange
	env := match.Env{Now: s.opts.Now()}
	replay := f.Replay()
	for i := range st.list.rules {
		c := &st.list.rules[i]
		if !c.Enabled {
			continue
		}
		if c.phase == match.PhaseResponse {
			if x == nil {
				x = responseView(f, res, st.start)
			}
			if !c.m.Match(x, env) {
				continue
			}
		} else if st.flags[i]&ruleMatched == 0 {
			continue
		}
		for j, a := range c.Actions {
			if *st.act(i, j)&actRan == 0 && a.Phase() != match.PhaseResponse {
				continue
			}
			if replay && skipOnReplay[a.Name()] || !s.draw(f, st, i, j) {
				continue
			}
			if a.Phase() == match.PhaseResponse {
				s.fire(f, st, i)
			}
			if err := a.Response(f, res, c.env); err != nil {
				return err
			}
		}
	}
	return nil
}

// draw decides once per exchange whether action j of rule i fires, and
// records a draw against a p= below 1.
func (s *Set) draw(f *proxy.Flow, st *flowState, i, j int) bool {
	d := st.act(i, j)
	if *d&actDrawn == 0 {
		*d |= actDrawn | actFires
		a := st.list.rules[i].Actions[j]
		if p := a.Prob(); p < 1 {
			v := s.float()
			what := "fired"
			if v >= p {
				*d &^= actFires
				what = "skipped"
			}
			f.Rec.Mark(record.Mark{Stage: "rules", Name: "draw", Value: fmt.Sprintf("rule %s: %s: drew %.3f, %s", st.list.rules[i].Name, a, v, what)})
		}
	}
	return *d&actFires != 0
}

// fire makes rule i's "rule" mark, once per exchange.
func (s *Set) fire(f *proxy.Flow, st *flowState, i int) {
	if st.flags[i]&ruleFired != 0 {
		return
	}
	st.flags[i] |= ruleFired
	name := st.list.rules[i].Name
	f.Rec.Mark(record.Mark{Stage: "rules", Name: "rule", Value: name})
	s.opts.Logger.Debug("rule fired", "rule", name, "exchange", f.Rec.ID())
}

// requestView is the exchange as far as request-phase matchers read it:
// method, URL and host (no request-phase key reads headers or bodies).
func requestView(f *proxy.Flow) *record.Exchange {
	r := f.In
	x := &record.Exchange{Request: record.Request{Method: r.Method, URL: r.URL.RequestURI(), Host: r.Host}}
	if x.Request.Host == "" {
		x.Request.Host = r.URL.Host
	}
	if f.Replay() {
		x.ReplayOf = 1 // which one does not matter to a matcher
	}
	return x
}

// responseView adds the request headers, the response's status and
// headers, and the time since the request phase to requestView. Bodies are
// not there: they have not been read.
func responseView(f *proxy.Flow, res *http.Response, start time.Time) *record.Exchange {
	x := requestView(f)
	x.Start = start
	x.Request.Header = record.FieldsFromHeader(f.In.Header)
	x.Response = &record.Response{Status: res.StatusCode, Proto: res.Proto, Header: record.FieldsFromHeader(res.Header)}
	if res.ContentLength >= 0 {
		x.Response.Body.Size = res.ContentLength
	}
	return x
}

// The kind marks an exchange gets once: it was changed, answered without
// the upstream, or faulted.
const (
	kindModified uint8 = 1 << iota
	kindMocked
	kindFaulted
)

var kindNames = [...]struct {
	bit  uint8
	name string
}{{kindModified, "modified"}, {kindMocked, "mocked"}, {kindFaulted, "faulted"}}

// note marks what an action did: Mark{Stage "rules", Name action, Value
// what}, and the kind marks in kinds (kindModified…), each at most once per
// exchange. It is safe to call from any goroutine (a body reader's).
func note(f *proxy.Flow, action, what string, kinds uint8) {
	f.Rec.Mark(record.Mark{Stage: "rules", Name: action, Value: what})
	made, _ := f.Value(kindsKey{}).(*atomic.Uint32)
	for _, k := range kindNames {
		if kinds&k.bit == 0 {
			continue
		}
		if made != nil && made.Or(uint32(k.bit))&uint32(k.bit) != 0 {
			continue // marked before
		}
		f.Rec.Mark(record.Mark{Stage: "rules", Name: k.name, Value: "1"})
	}
}
