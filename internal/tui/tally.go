package tui

import (
	"strconv"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
)

// Tally counts the exchanges the UI lists by how they ended, as the
// header bar shows them and Run returns them when the UI ends. An
// exchange in flight, answered below 400, or abandoned by its client is
// in none of Failed, Client and Server.
type Tally struct {
	// Exchanges is how many exchanges the list holds.
	Exchanges int
	// Failed ended without an answer from the upstream: refused, timed
	// out, a TLS or DNS failure, a broken stream. The status the list
	// shows for one (502, 504) is devproxy's, so it is not counted in
	// Server.
	Failed int
	// Client were answered 4xx, Server 5xx.
	Client, Server int
}

// Classes is "1 failed · 2 4xx · 3 5xx".
func (t Tally) Classes() string {
	return strings.Join([]string{
		strconv.Itoa(t.Failed) + " failed",
		strconv.Itoa(t.Client) + " 4xx",
		strconv.Itoa(t.Server) + " 5xx",
	}, " · ")
}

// outcome is how an exchange ended, as the tally counts it.
type outcome uint8

const (
	outcomeOther  outcome = iota // in flight, below 400, or abandoned by the client
	outcomeFailed                // no answer from the upstream
	outcomeClient                // answered 4xx
	outcomeServer                // answered 5xx
	outcomes
)

// outcomeCounts counts entries by outcome.
type outcomeCounts [outcomes]int

// outcomeOf is how e's exchange ended, from the exchange when it is read,
// else from its summary (which knows the status and whether there was a
// response, not the error).
func outcomeOf(e *entry) outcome {
	if x := e.x; x != nil {
		switch {
		case x.Err != nil && x.Err.Kind == record.ErrCanceled:
			return outcomeOther
		case x.Err != nil:
			return outcomeFailed
		case x.Response != nil:
			return statusOutcome(x.Response.Status)
		}
		return outcomeOther
	}
	switch s := int(e.sum.status); {
	case s == 0:
		return outcomeOther
	case e.sum.size < 0 && s == statusClientClosed:
		return outcomeOther
	case e.sum.size < 0:
		return outcomeFailed // a status without a response is devproxy's
	default:
		return statusOutcome(s)
	}
}

// statusClientClosed is the status of an exchange whose client went away
// before anything was written (proxy.StatusClientClosed).
const statusClientClosed = 499

// statusOutcome is the outcome of an answer with status code.
func statusOutcome(code int) outcome {
	switch {
	case code >= 500 && code < 600:
		return outcomeServer
	case code >= 400 && code < 500:
		return outcomeClient
	}
	return outcomeOther
}

// count counts e, a new entry of the model.
func (m *Model) count(e *entry) {
	e.outcome = outcomeOf(e)
	m.outcomes[e.outcome]++
}

// uncount forgets e, an entry leaving the model.
func (m *Model) uncount(e *entry) { m.outcomes[e.outcome]-- }

// recount counts e again after its exchange changed.
func (m *Model) recount(e *entry) {
	if o := outcomeOf(e); o != e.outcome {
		m.outcomes[e.outcome]--
		e.outcome = o
		m.outcomes[o]++
	}
}

// Tally is what the list holds, by outcome.
func (m *Model) Tally() Tally {
	return Tally{Exchanges: len(m.entries), Failed: m.outcomes[outcomeFailed],
		Client: m.outcomes[outcomeClient], Server: m.outcomes[outcomeServer]}
}
