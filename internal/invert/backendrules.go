package invert

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/rules"
)

// backendRules is the relay's stage that applies each backend's own rules
// (Backend.Rules) to the requests routed to it, after the relay's global
// rules. It keeps one *rules.Set per backend, built from the registry's
// current rules and rebuilt when their text changes, so a change through
// the admin API applies from the next request on.
type backendRules struct {
	reg    *Registry
	holds  *rules.Holds
	logger *slog.Logger

	mu   sync.Mutex
	sets map[string]*backendSet
}

// backendSet is a backend's rules as text and the Set built from them.
type backendSet struct {
	texts []string
	set   *rules.Set
}

var (
	_ proxy.RequestStage  = (*backendRules)(nil)
	_ proxy.ResponseStage = (*backendRules)(nil)
)

// Name is "rules", as the global rules' stage is named.
func (b *backendRules) Name() string { return "rules" }

// set returns the Set of backend id's rules as they are now, or nil when
// it has none.
func (b *backendRules) set(id string) (*rules.Set, error) {
	texts := b.reg.rulesOf(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.sets[id]
	if len(texts) == 0 {
		delete(b.sets, id)
		return nil, nil
	}
	if cur != nil && slices.Equal(cur.texts, texts) {
		return cur.set, nil
	}
	rs, err := parseRules(id, texts)
	if err != nil {
		return nil, err
	}
	set, err := rules.New(rs, rules.Options{Holds: b.holds, Logger: b.logger})
	if err != nil {
		return nil, fmt.Errorf("backend %q: rules: %w", id, err)
	}
	b.sets[id] = &backendSet{texts: texts, set: set}
	return set, nil
}

// backendSetKey keeps on the exchange's Flow the Set its request phase
// ran, so its response phase uses the same rules after a change.
type backendSetKey struct{}

// Request runs the rules of the request's backend.
func (b *backendRules) Request(f *proxy.Flow) (*http.Response, error) {
	id, _ := f.In.Context().Value(backendKey{}).(string)
	if id == "" {
		return nil, nil
	}
	set, err := b.set(id)
	if err != nil || set == nil {
		return nil, err
	}
	f.Set(backendSetKey{}, set)
	return set.Request(f)
}

// Response runs the response phase of the rules the exchange started with
// (the backend's current ones when an earlier stage answered the request).
func (b *backendRules) Response(f *proxy.Flow, res *http.Response) error {
	set, _ := f.Value(backendSetKey{}).(*rules.Set)
	if set == nil {
		id, _ := f.In.Context().Value(backendKey{}).(string)
		if id == "" {
			return nil
		}
		var err error
		if set, err = b.set(id); err != nil || set == nil {
			return err
		}
	}
	return set.Response(f, res)
}
