package route

import (
	"net/http"
	"sync/atomic"

	"github.com/devproxy/devproxy/internal/proxy"
)

// Switch holds the current Table and swaps it on a live reload. It is a
// proxy.Router, RequestStage and ResponseStage ("route") that delegates to
// the Table current when a flow's request stage ran: the flow is pinned to
// it, so its retries and response stages use the same Table after a swap.
type Switch struct {
	cur atomic.Pointer[Table]
}

// switchKey holds the *Table a flow is pinned to.
type switchKey struct{}

// NewSwitch returns a Switch serving t.
func NewSwitch(t *Table) *Switch {
	s := &Switch{}
	s.cur.Store(t)
	return s
}

// Swap makes t current and returns the previous table. The caller closes
// the old one (at once is fine: a closed Table still serves the flows
// pinned to it; only its health checks stop).
func (s *Switch) Swap(t *Table) (old *Table) { return s.cur.Swap(t) }

// Current is the table new flows go to.
func (s *Switch) Current() *Table { return s.cur.Load() }

// Health reports the current table's pools.
func (s *Switch) Health() []PoolHealth { return s.Current().Health() }

// Name is the stage's name, "route".
func (s *Switch) Name() string { return "route" }

// table is the flow's pinned table, pinning the current one if none.
func (s *Switch) table(f *proxy.Flow) *Table {
	if t, _ := f.Value(switchKey{}).(*Table); t != nil {
		return t
	}
	t := s.Current()
	f.Set(switchKey{}, t)
	return t
}

// Request runs the pinned table's request stage.
func (s *Switch) Request(f *proxy.Flow) (*http.Response, error) { return s.table(f).Request(f) }

// Response runs the pinned table's response stage.
func (s *Switch) Response(f *proxy.Flow, res *http.Response) error {
	return s.table(f).Response(f, res)
}

// Route routes with the pinned table.
func (s *Switch) Route(f *proxy.Flow) (*proxy.Upstream, error) { return s.table(f).Route(f) }
