package record

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// run records one finished exchange with the given body sizes.
func run(r *Recorder, reqBody, respBody int) uint64 {
	rec := r.Begin(Begin{Role: RoleServe, Request: Request{Method: "POST", URL: "http://x/"}, ContentLength: int64(reqBody)})
	if reqBody > 0 {
		rec.RequestBody(bytes.Repeat([]byte("q"), reqBody))
	}
	rec.RequestEnd(nil)
	rec.Response(Response{Status: 200, Reason: "OK"}, "127.0.0.1:1")
	if respBody > 0 {
		rec.ResponseBody(bytes.Repeat([]byte("r"), respBody))
	}
	rec.Finish(Finish{ResponseComplete: true})
	return rec.ID()
}

func TestEvictByCount(t *testing.T) {
	r := NewRecorder(Limits{MaxExchanges: 3})
	for range 5 {
		run(r, 0, 10)
	}
	snap := r.Snapshot()
	if len(snap) != 3 || snap[0].ID != 3 || snap[2].ID != 5 {
		t.Fatalf("kept %v, want #3..#5", ids(snap))
	}
	s := r.Stats()
	if s.Evicted != 2 || s.Total != 5 || s.Kept != 3 || s.CapturedBytes != 30 {
		t.Errorf("stats %+v", s)
	}
	if _, ok := r.Get(1); ok {
		t.Error("evicted exchange still readable")
	}
}

func TestEvictByBytes(t *testing.T) {
	r := NewRecorder(Limits{MaxExchanges: 100, MaxBodyCapture: 100, MaxCaptureTotal: 250})
	for range 4 {
		run(r, 0, 100)
	}
	snap := r.Snapshot()
	if len(snap) != 2 || snap[0].ID != 3 {
		t.Fatalf("kept %v, want the two newest (250 bytes fit two 100-byte bodies)", ids(snap))
	}
	if s := r.Stats(); s.CapturedBytes > 250 || s.Evicted != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestPerBodyCapTruncates(t *testing.T) {
	r := NewRecorder(Limits{MaxBodyCapture: 10})
	id := run(r, 25, 30)
	x, _ := r.Get(id)
	if len(x.Request.Body.Bytes) != 10 || x.Request.Body.Size != 25 || !x.Request.Body.Truncated {
		t.Errorf("request body %d/%d truncated=%v", len(x.Request.Body.Bytes), x.Request.Body.Size, x.Request.Body.Truncated)
	}
	if len(x.Response.Body.Bytes) != 10 || x.Response.Body.Size != 30 || !x.Response.Body.Truncated {
		t.Errorf("response body %d/%d", len(x.Response.Body.Bytes), x.Response.Body.Size)
	}
	if s := r.Stats(); s.TruncatedBodies != 2 {
		t.Errorf("truncated bodies %d, want 2", s.TruncatedBodies)
	}
}

// TestSingleExchangeLargerThanBudget: when one in-flight body alone reaches
// the total budget, it is truncated rather than evicting itself.
func TestSingleExchangeLargerThanBudget(t *testing.T) {
	r := NewRecorder(Limits{MaxBodyCapture: 100, MaxCaptureTotal: 100})
	rec := r.Begin(Begin{Request: Request{Method: "GET"}})
	rec.Response(Response{Status: 200}, "")
	rec.ResponseBody(bytes.Repeat([]byte("a"), 60))
	rec.ResponseBody(bytes.Repeat([]byte("b"), 60))
	x, ok := r.Get(rec.ID())
	if !ok || len(x.Response.Body.Bytes) != 100 || x.Response.Body.Size != 120 || !x.Response.Body.Truncated {
		t.Fatalf("ok=%v body %d/%d", ok, len(x.Response.Body.Bytes), x.Response.Body.Size)
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	r := NewRecorder(Limits{})
	rec := r.Begin(Begin{Request: Request{Method: "GET", Header: Fields{{"A", "1"}}}})
	rec.Response(Response{Status: 200}, "")
	rec.ResponseBody([]byte("abc"))
	before, _ := r.Get(rec.ID())
	rec.ResponseBody([]byte("def"))
	rec.Finish(Finish{ResponseComplete: true})
	if string(before.Response.Body.Bytes) != "abc" || before.State != InFlight {
		t.Errorf("an earlier copy changed: %q %v", before.Response.Body.Bytes, before.State)
	}
	after, _ := r.Get(rec.ID())
	if string(after.Response.Body.Bytes) != "abcdef" || after.Version <= before.Version {
		t.Errorf("later copy %q version %d→%d", after.Response.Body.Bytes, before.Version, after.Version)
	}
}

func TestPausedRecordsNothing(t *testing.T) {
	r := NewRecorder(Limits{})
	r.SetPaused(true)
	if id := run(r, 5, 5); id != 0 {
		t.Errorf("paused recorder gave id %d", id)
	}
	r.SetPaused(false)
	run(r, 5, 5)
	if s := r.Stats(); s.Total != 1 || s.Skipped != 1 || s.Kept != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestClearDetachesInFlight(t *testing.T) {
	r := NewRecorder(Limits{})
	rec := r.Begin(Begin{Request: Request{Method: "GET"}})
	rec.Response(Response{Status: 200}, "")
	r.Clear()
	rec.ResponseBody([]byte("after clear"))
	rec.Finish(Finish{})
	s := r.Stats()
	if s.Kept != 0 || s.CapturedBytes != 0 || s.InFlight != 0 {
		t.Errorf("stats after clear %+v", s)
	}
}

func TestDelete(t *testing.T) {
	r := NewRecorder(Limits{})
	for range 4 {
		run(r, 0, 10)
	}
	inflight := r.Begin(Begin{Request: Request{Method: "GET"}})
	sub := r.Subscribe(0)
	defer sub.Close()
	r.Delete(2, 4, inflight.ID(), 99)
	if snap := r.Snapshot(); fmt.Sprint(ids(snap)) != "[1 3]" {
		t.Fatalf("kept %v, want [1 3]", ids(snap))
	}
	want := []Event{{EventEvicted, 2}, {EventEvicted, 4}, {EventEvicted, 5}}
	if got := sub.Drain(nil); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}
	inflight.ResponseBody([]byte("after delete"))
	inflight.Finish(Finish{})
	if s := r.Stats(); s.Kept != 2 || s.CapturedBytes != 20 || s.Evicted != 0 || s.InFlight != 0 || s.Total != 5 {
		t.Errorf("stats after delete %+v", s)
	}
}

func TestConcurrentProducers(t *testing.T) {
	r := NewRecorder(Limits{MaxExchanges: 200, MaxBodyCapture: 1 << 10, MaxCaptureTotal: 64 << 10})
	sub := r.Subscribe(64)
	defer sub.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				run(r, i%700, (g*i)%2000)
				if i%50 == 0 {
					_ = r.Snapshot()
					_ = r.Stats()
					sub.Drain(nil)
				}
			}
		}()
	}
	wg.Wait()
	s := r.Stats()
	if s.Total != 4000 || s.InFlight != 0 || s.Kept > 200 || s.CapturedBytes > 64<<10 {
		t.Errorf("stats %+v", s)
	}
	var sum int64
	for _, x := range r.Snapshot() {
		sum += int64(len(x.Request.Body.Bytes) + len(x.Response.Body.Bytes))
	}
	if sum != s.CapturedBytes {
		t.Errorf("captured bytes counter %d, bodies hold %d", s.CapturedBytes, sum)
	}
}

// TestStalledSubscriber: a subscriber that never reads while 10k exchanges
// complete does not slow or block the producer; it is told it lagged, and
// memory stays within the budget.
func TestStalledSubscriber(t *testing.T) {
	r := NewRecorder(Limits{MaxExchanges: 1000, MaxBodyCapture: 4 << 10, MaxCaptureTotal: 1 << 20})
	stalled := r.Subscribe(100)
	defer stalled.Close()
	for range 10_000 {
		run(r, 100, 4<<10)
	}
	s := r.Stats()
	if s.CapturedBytes > 1<<20 || s.Kept > 1000 {
		t.Errorf("over budget: %+v", s)
	}
	evs := stalled.Drain(nil)
	if len(evs) != 1 || evs[0].Kind != EventLagged {
		t.Fatalf("stalled subscriber got %d events (first %v), want one Lagged", len(evs), first(evs))
	}
	if stalled.Lags() == 0 {
		t.Error("lag not counted")
	}
	// After the lag it resyncs from a snapshot and receives new events.
	if n := len(r.Snapshot()); n == 0 {
		t.Fatal("snapshot empty")
	}
	run(r, 0, 0)
	if evs := stalled.Drain(nil); len(evs) == 0 || evs[len(evs)-1].Kind != EventDone {
		t.Errorf("after resync got %v", evs)
	}
}

func TestEventsCoalesceBodyGrowth(t *testing.T) {
	r := NewRecorder(Limits{})
	sub := r.Subscribe(0)
	defer sub.Close()
	rec := r.Begin(Begin{Request: Request{Method: "GET"}})
	rec.Response(Response{Status: 200}, "")
	for range 1000 {
		rec.ResponseBody([]byte("x"))
	}
	rec.Finish(Finish{ResponseComplete: true})
	var kinds []EventKind
	for _, ev := range sub.Drain(nil) {
		kinds = append(kinds, ev.Kind)
	}
	want := []EventKind{EventStarted, EventResponse, EventResponseBody, EventDone}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	select {
	case <-sub.Ready():
	default:
		t.Error("Ready not signalled")
	}
}

// TestMemoryOfFullBuffer fills the default limits with 10k exchanges of
// 1 MiB responses and checks that live heap stays near the 128 MiB budget.
func TestMemoryOfFullBuffer(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 10 GiB through the recorder")
	}
	r := NewRecorder(Limits{MaxExchanges: 10_000})
	chunk := bytes.Repeat([]byte("z"), 32<<10)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range 10_000 {
		rec := r.Begin(Begin{Request: Request{Method: "GET", URL: "http://x/big"}})
		rec.Response(Response{Status: 200, Header: Fields{{"Content-Length", "1048576"}}}, "")
		for range 32 {
			rec.ResponseBody(chunk)
		}
		rec.Finish(Finish{ResponseComplete: true})
	}
	elapsed := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	s := r.Stats()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("10k × 1 MiB responses: kept %d, captured %d MiB (budget %d MiB), live heap +%d MiB, evicted %d, %v",
		s.Kept, s.CapturedBytes>>20, r.Limits().MaxCaptureTotal>>20, heap>>20, s.Evicted, elapsed)
	if s.CapturedBytes > r.Limits().MaxCaptureTotal {
		t.Errorf("captured %d over budget %d", s.CapturedBytes, r.Limits().MaxCaptureTotal)
	}
	if heap > r.Limits().MaxCaptureTotal+16<<20 {
		t.Errorf("live heap grew %d MiB for a %d MiB budget", heap>>20, r.Limits().MaxCaptureTotal>>20)
	}
}

func ids(xs []Exchange) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = x.ID
	}
	return out
}

func first(evs []Event) any {
	if len(evs) == 0 {
		return nil
	}
	return evs[0]
}

func TestStartAfter(t *testing.T) {
	r := NewRecorder(Limits{})
	r.StartAfter(41)
	if id := run(r, 0, 0); id != 42 {
		t.Fatalf("first id %d after StartAfter(41), want 42", id)
	}
	if id := r.Add(Exchange{Request: Request{Method: "GET", URL: "http://x/"}}); id != 43 {
		t.Fatalf("Add gave id %d, want 43", id)
	}
	r.StartAfter(7) // never backwards
	if id := run(r, 0, 0); id != 44 {
		t.Fatalf("id %d after StartAfter(7), want 44", id)
	}
}
