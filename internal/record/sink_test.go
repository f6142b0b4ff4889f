package record

import (
	"testing"
	"time"
)

func TestSinkGetsEachFinishedExchangeOnce(t *testing.T) {
	r := NewRecorder(Limits{MaxExchanges: 2})
	var got []Exchange
	refused := r.AddSink(SinkFunc(func(x Exchange) bool {
		// Offer runs without the recorder's lock: reading it must not deadlock.
		_ = r.Stats()
		got = append(got, x)
		return len(got) != 3 // refuse the third
	}))
	a := r.Begin(Begin{Role: RoleServe, Start: time.Now(), Request: Request{Method: "GET", URL: "http://x/a"}, Marks: []Mark{{Stage: "relay", Name: "backend", Value: "web"}}})
	b := r.Begin(Begin{Role: RoleServe, Start: time.Now(), Request: Request{Method: "GET", URL: "http://x/b"}})
	b.Mark(Mark{Stage: "retry", Name: "attempt", Value: "2"})
	b.Finish(Finish{End: time.Now()})
	b.Finish(Finish{End: time.Now()}) // ignored: already finished
	// a is evicted from memory before it finishes, and is still offered.
	r.Begin(Begin{Request: Request{Method: "GET", URL: "http://x/c"}}).Finish(Finish{})
	r.Begin(Begin{Request: Request{Method: "GET", URL: "http://x/d"}}).Finish(Finish{})
	a.Mark(Mark{Name: "late", Value: "1"})
	a.Finish(Finish{End: time.Now()})
	r.Add(Exchange{Request: Request{Method: "GET", URL: "http://x/imported"}})

	var urls []string
	for _, x := range got {
		urls = append(urls, x.Request.URL)
		if x.State != Done {
			t.Errorf("%s offered in state %s", x.Request.URL, x.State)
		}
	}
	want := []string{"http://x/b", "http://x/c", "http://x/d", "http://x/a", "http://x/imported"}
	if len(urls) != len(want) {
		t.Fatalf("offered %q, want %q", urls, want)
	}
	for i := range want {
		if urls[i] != want[i] {
			t.Fatalf("offered %q, want %q", urls, want)
		}
	}
	if v, ok := got[0].Mark("attempt"); !ok || v != "2" {
		t.Errorf("b's marks %v", got[0].Marks)
	}
	if len(got[3].Marks) != 2 || got[3].Marks[0].String() != "relay: backend=web" || got[3].Marks[1].String() != "late=1" {
		t.Errorf("a's marks %v", got[3].Marks)
	}
	if n := refused(); n != 1 {
		t.Errorf("refused %d, want 1", n)
	}
}

func TestMarksDoNotChangeSnapshots(t *testing.T) {
	r := NewRecorder(Limits{})
	rec := r.Begin(Begin{Request: Request{Method: "GET", URL: "http://x/"}, Marks: []Mark{{Name: "a", Value: "1"}}})
	before, _ := r.Get(rec.ID())
	rec.Mark(Mark{Name: "b", Value: "2"})
	after, _ := r.Get(rec.ID())
	if len(before.Marks) != 1 || len(after.Marks) != 2 || after.Version <= before.Version {
		t.Errorf("before %v (v%d), after %v (v%d)", before.Marks, before.Version, after.Marks, after.Version)
	}
}
