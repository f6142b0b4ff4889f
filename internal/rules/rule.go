// Package rules is devproxy's rule engine: rules written as
// "MATCHER => ACTION [ARGS…] [p=P] [; ACTION …]" that delay, fail, mock,
// rewrite or hold the exchanges their matcher selects. A Set of rules is
// one proxy stage (Name "rules") that runs at the request and the
// response phase.
package rules

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
)

// Rule is one rule: which exchanges (Match) and what to do (Actions, in
// order).
type Rule struct {
	// Name identifies the rule in marks (rule:NAME) and messages; Parse
	// leaves it empty, Decode takes it from the config entry's name. A Set
	// names an unnamed rule by its position from 1 ("2"), in its marks and
	// in Env.Rule; Set.Rules still returns it unnamed.
	Name string
	// Match is the matcher expression as written; "" and "*" match every
	// exchange.
	Match string
	// Actions run in order on every exchange Match selects.
	Actions []Action
	// Enabled rules apply; a disabled one is kept (and shown) but skipped.
	Enabled bool

	m *match.Matcher
}

// Action is one step of a rule. Every action, whichever file implements
// it, goes through this interface and is registered with register.
type Action interface {
	// Name is the action's name as written, e.g. "delay".
	Name() string
	// String is the action in normal form, with its p= when given, e.g.
	// "delay 300ms±100ms p=0.2".
	String() string
	// Phase is when the action acts: match.PhaseRequest or
	// match.PhaseResponse.
	Phase() match.Phase
	// Prob is the probability that the action fires on an exchange its
	// rule matches: 1 unless p= was given.
	Prob() float64
	// Request runs at the request phase: it may change f.Out, answer (a
	// non-nil response), or fail the exchange (an error). A Set calls it
	// for every action of a rule whose matcher matched the request,
	// response-phase actions too (which may do nothing there, or act on
	// the request body as well); never under a matcher that needs the
	// response.
	Request(f *proxy.Flow, env Env) (*http.Response, error)
	// Response runs at the response phase on res: it may change its
	// headers or wrap its body. A Set calls it for the actions whose
	// Request ran, and for every response-phase action of a rule that
	// matched (also after another action answered the request).
	Response(f *proxy.Flow, res *http.Response, env Env) error
}

// Env is what an action may use besides the flow.
type Env struct {
	// Rand returns a number in [0, 1) (for jitter and the like).
	Rand func() float64
	// Now is the clock.
	Now func() time.Time
	// Holds keeps the exchanges breakpoints hold; nil when the Set has
	// none.
	Holds *Holds
	// Rule is the rule the action belongs to.
	Rule *Rule
}

// parser parses an action's arguments (the words after its name, p=
// removed and quotes undone) into an Action.
type parser func(args []string) (Action, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]parser{}
)

// register makes the action name known to Parse. Each file that implements
// actions registers them from an init function; registering a name twice
// panics.
func register(name string, parse func(args []string) (Action, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("rules: action " + name + " registered twice")
	}
	registry[name] = parse
}

// lookupAction returns the parser registered for name, or nil.
func lookupAction(name string) parser {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registry[name]
}

// Actions lists the names of the known actions, sorted.
func Actions() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Matcher returns the rule's compiled matcher (nil matches everything).
func (r Rule) Matcher() *match.Matcher { return r.m }

// String is the rule in normal form, "MATCHER => ACTION …; ACTION …", as
// `devproxy rules check` prints it. An empty matcher is written "*".
// Parse(r.String()) yields an equivalent rule with the same String.
func (r Rule) String() string {
	var b strings.Builder
	m := strings.TrimSpace(r.Match)
	if r.m != nil {
		// The matcher's canonical form, unless it would not read back
		// (text that looks like "=>" or "*" loses its quotes there).
		if c := r.m.String(); c != "*" && findArrow(c) < 0 {
			m = c
		}
	}
	if m == "" {
		m = "*"
	}
	b.WriteString(m)
	b.WriteString(" =>")
	for i, a := range r.Actions {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteByte(' ')
		b.WriteString(a.String())
	}
	return b.String()
}

// label names the rule in messages: its name, or "rule N" (1-based).
func (r Rule) label(i int) string {
	if r.Name != "" {
		return fmt.Sprintf("rule %q", r.Name)
	}
	return fmt.Sprintf("rule %d", i+1)
}
