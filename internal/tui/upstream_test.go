package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/record"
)

// routed are exchanges as serve with a route over two upstreams records
// them: one retried after the first upstream refused, one limited, one
// served from the cache, a health check (--show-health).
func routed() []record.Exchange {
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec-5) * time.Second) }
	get := func(sec int, path string, status int, marks ...record.Mark) record.Exchange {
		x := record.Exchange{
			Role: record.RoleServe, Start: at(sec), End: at(sec).Add(12 * time.Millisecond),
			Request:  record.Request{Method: "GET", URL: "http://localhost:8080" + path, Proto: "HTTP/1.1", Host: "localhost:8080"},
			Response: &record.Response{Status: status, Proto: "HTTP/1.1", Header: hdr("Content-Type", "application/json"), Body: record.Body{Complete: true}},
			Timings:  record.Timings{Blocked: time.Millisecond, DNS: -1, Connect: time.Millisecond, TLS: -1, Send: time.Millisecond, Wait: 8 * time.Millisecond, Receive: time.Millisecond},
			Marks:    marks,
		}
		return x
	}
	route := record.Mark{Stage: "route", Name: "route", Value: "/"}
	up := func(n int) record.Mark {
		return record.Mark{Stage: "route", Name: "upstream", Value: fmt.Sprintf("http://127.0.0.1:300%d", n)}
	}
	health := get(4, "/status/200", 200, record.Mark{Stage: "route", Name: "health", Value: "check"})
	health.Request.URL, health.Request.Host = "http://127.0.0.1:3001/status/200", "127.0.0.1:3001"
	return []record.Exchange{
		get(0, "/get", 200, route, record.Mark{Stage: "rate limit", Name: "limit", Value: "allowed"}, record.Mark{Stage: "cache", Name: "cache", Value: "miss"}, up(1)),
		get(1, "/get?retry=1", 200, route,
			record.Mark{Stage: "retry", Name: "attempt", Value: "1 http://127.0.0.1:3001 → dial tcp 127.0.0.1:3001: connect: connection refused (0.4 ms)"},
			record.Mark{Stage: "retry", Name: "attempt", Value: "2 http://127.0.0.1:3002 → 200 (3.1 ms)"},
			record.Mark{Stage: "retry", Name: "retried", Value: "1"},
			up(2)),
		get(2, "/get", 429, route, record.Mark{Stage: "rate limit", Name: "limit", Value: "limited"}, record.Mark{Stage: "rate limit", Name: "answered", Value: "by rate limit"}),
		get(3, "/get", 200, route, record.Mark{Stage: "cache", Name: "cache", Value: "hit"}, record.Mark{Stage: "cache", Name: "answered", Value: "by cache"}),
		health,
	}
}

// TestRoutedGolden shows the marks of routed exchanges: the upstream
// column and health tag in the list, the attempts and verdicts on the
// Timing tab. Regenerate with: go test ./internal/tui -run TestRoutedGolden -update
func TestRoutedGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"list", nil},
		{"timing_retried", []string{"g", "j", "enter", "3"}},
		{"timing_limited", []string{"g", "j", "j", "enter", "3"}},
	}
	for _, sz := range [][2]int{{80, 24}, {120, 35}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := newModel(t, newRecorder(t, routed()...), sz[0], sz[1])
				press(t, m, v.keys...)
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}

func TestUpstreamColumn(t *testing.T) {
	rec := newRecorder(t, routed()...)
	m := newModel(t, rec, 120, 24)
	s := screen(m)
	if !strings.Contains(s, "UPSTREAM") || !strings.Contains(s, ":3001") || !strings.Contains(s, ":3002") {
		t.Fatalf("two upstreams, no column:\n%s", s)
	}
	if !strings.Contains(s, "health 127.0.0.1:3001/status/200") {
		t.Fatalf("the health check is not tagged:\n%s", s)
	}
	// At 80 columns the upstream goes before the URL shrinks.
	m80 := newModel(t, rec, 80, 24)
	if s := screen(m80); strings.Contains(s, "UPSTREAM") || !strings.Contains(s, "TIME") {
		t.Fatalf("80 columns:\n%s", s)
	}
	// With one upstream left the column goes.
	press(t, m, "g", "j", "d")
	if s := screen(m); strings.Contains(s, "UPSTREAM") || strings.Contains(s, ":3001 ") {
		t.Fatalf("one upstream left, the column stays:\n%s", s)
	}
	if len(m.ups) != 1 {
		t.Fatalf("upstream counts after a delete: %v", m.ups)
	}
}

func TestUpstreamLayout(t *testing.T) {
	for _, c := range []struct {
		names []string
		want  string // the labels, in the order of names; "" hidden
	}{
		{[]string{"http://127.0.0.1:3001"}, ""},
		{[]string{"http://127.0.0.1:3001", "http://127.0.0.1:3002"}, ":3001 :3002"},
		{[]string{"http://127.0.0.1:3001", "http://localhost:3002"}, "127.0.0.1:3001 localhost:3002"},
		{[]string{"http://a.test", "http://b.test:81"}, "a.test b.test:81"},
		{[]string{"http://127.0.0.1:3001/a", "http://127.0.0.1:3001/b"}, "http://127.0.0.1:3001/a http://127.0.0.1:3001/b"},
		{[]string{"agent-1", "agent-2"}, "agent-1 agent-2"},
	} {
		u := upstreamCounts{}
		for _, n := range c.names {
			u.add(n, 1)
		}
		l := u.layout()
		var got []string
		if l.width > 0 {
			for _, n := range c.names {
				got = append(got, l.label(n))
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%v: labels %q, want %q", c.names, got, c.want)
		}
		if l.width > 0 && (l.width < colUpMin || l.width > colUpMax) {
			t.Errorf("%v: width %d", c.names, l.width)
		}
	}
}

func TestUpstreamColumnFits(t *testing.T) {
	for w := 40; w <= 240; w++ {
		c := layoutColumns(w, 12345, colUpMax, colStatus, colType)
		if c.fixed()+c.url != w {
			t.Fatalf("%d columns: layout adds up to %d", w, c.fixed()+c.url)
		}
		if c.up > 0 && (c.url < 26 || c.ctype == 0 || c.time == 0 || c.size == 0) {
			t.Fatalf("%d columns: the upstream squeezes the URL or another column: %+v", w, c)
		}
		if c.up == 0 && w >= 120 {
			t.Fatalf("%d columns: no room for the upstream: %+v", w, c)
		}
	}
	// 80 columns keep what they kept without it.
	for _, maxID := range []uint64{99, 9999} {
		for _, cells := range [][2]int{{3, 4}, {colStatus, colType}} {
			if got, want := layoutColumns(80, maxID, colUpMin, cells[0], cells[1]), layoutColumns(80, maxID, 0, cells[0], cells[1]); got != want {
				t.Errorf("80 columns, #%d, cells %v: %+v, want %+v", maxID, cells, got, want)
			}
		}
	}
}
