package match

import (
	"fmt"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// BenchmarkMatch evaluates matchers against one request, as a rules stage
// does for every exchange: Path is one path glob that does not match,
// Twenty is 20 of them (a rule set of 20 rules that do not match, one
// Match call each), Dur reads Env.Now and Text searches the URL and
// headers. Run with -benchmem: evaluating allocates nothing.
//
//	go test ./internal/match -run '^$' -bench Match -benchmem
func BenchmarkMatch(b *testing.B) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	x := &record.Exchange{
		Start:   t0,
		Request: record.Request{Method: "GET", URL: "/small?x=1", Host: "localhost:3000", Header: record.Fields{{Name: "Accept", Value: "*/*"}}},
	}
	e := Env{Now: t0.Add(time.Second)}
	mustParse := func(s string) *Matcher {
		m, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	var twenty []*Matcher
	for i := range 20 {
		twenty = append(twenty, mustParse(fmt.Sprintf("path:/r%d/*", i)))
	}
	for _, c := range []struct {
		name string
		ms   []*Matcher
		want bool
	}{
		{"Path", twenty[:1], false},
		{"Twenty", twenty, false},
		{"Dur", []*Matcher{mustParse("dur:>500ms")}, true},
		{"Text", []*Matcher{mustParse("method:GET small -header:x-none")}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, m := range c.ms {
					if m.Match(x, e) != c.want {
						b.Fatalf("%s: got %v, want %v", m, !c.want, c.want)
					}
				}
			}
		})
	}
}
