package rules

import (
	"errors"
	"net/http"

	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
)

func init() { register("breakpoint", parseBreakpoint) }

// breakpoint is "breakpoint request|response": it holds the exchange in
// Env.Holds at that phase until the user resumes or aborts it (see Holds).
type breakpoint struct{ phase match.Phase }

func parseBreakpoint(args []string) (Action, error) {
	if len(args) == 1 {
		switch args[0] {
		case "request":
			return breakpoint{match.PhaseRequest}, nil
		case "response":
			return breakpoint{match.PhaseResponse}, nil
		}
	}
	return nil, errors.New(`breakpoint takes where to hold the exchange: "breakpoint request" (before the upstream is called) or "breakpoint response" (before the client gets the answer)`)
}

func (b breakpoint) Name() string       { return "breakpoint" }
func (b breakpoint) String() string     { return "breakpoint " + b.phase.String() }
func (b breakpoint) Phase() match.Phase { return b.phase }
func (b breakpoint) Prob() float64      { return 1 }

// Request holds the exchange before the upstream is called.
func (b breakpoint) Request(f *proxy.Flow, env Env) (*http.Response, error) {
	if b.phase != match.PhaseRequest || env.Holds == nil {
		return nil, nil
	}
	_, err := env.Holds.Hold(f, match.PhaseRequest, nil, ruleName(env))
	return nil, err
}

// Response holds the exchange before the response headers go to the
// client.
func (b breakpoint) Response(f *proxy.Flow, res *http.Response, env Env) error {
	if b.phase != match.PhaseResponse || env.Holds == nil {
		return nil
	}
	_, err := env.Holds.Hold(f, match.PhaseResponse, res, ruleName(env))
	return err
}

// ruleName is the name of the rule an action runs for, or "".
func ruleName(env Env) string {
	if env.Rule == nil {
		return ""
	}
	return env.Rule.Name
}
