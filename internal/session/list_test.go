package session

import (
	"errors"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/devproxy/devproxy/internal/record"
)

// summaryOf is what Summaries must say of x, from record.Exchange's own
// methods.
func summaryOf(x record.Exchange) Summary {
	sm := Summary{ID: x.ID, Version: x.Version, Status: x.Status(), Dur: -1, Size: -1, Host: x.Request.Host}
	if !x.End.IsZero() {
		sm.Dur = x.End.Sub(x.Start)
	}
	switch {
	case x.Response == nil:
	case x.Upgraded:
		sm.Size = x.UpgradeUp + x.UpgradeDn
	default:
		sm.Size = x.Response.Body.Size
	}
	return sm
}

// listSession writes exchanges of every shape a summary distinguishes,
// and returns them.
func listSession(t *testing.T, s *Store) []record.Exchange {
	t.Helper()
	var xs []record.Exchange
	for id := uint64(1); id <= 40; id++ {
		x := exchange(id, pattern(int(id)*10))
		x.Request.Host = []string{"a.test", "b.test", "c.test:8443"}[id%3]
		switch id % 8 {
		case 1: // failed before a response
			x.Response, x.Err = nil, &record.Error{Kind: record.ErrUnreachable, Message: "refused", Status: 502}
		case 2: // failed after the response's header: its status is the response's
			x.Err = &record.Error{Kind: record.ErrAborted, Message: "reset"}
		case 3: // failed after the response's header, devproxy wrote another status
			x.Err = &record.Error{Kind: record.ErrTimeout, Message: "slow", Status: 504}
		case 4: // upgraded
			x.Response.Status, x.Upgraded, x.UpgradeUp, x.UpgradeDn = 101, true, 1000, 234
		case 5: // no end
			x.End = time.Time{}
		case 6: // a version past int64's half
			x.Version = 1 << 62
		}
		xs = append(xs, x)
		s.Offer(x)
	}
	s.Offer(exchange(41, nil)) // deleted below: IDs have a hole
	if err := errors.Join(s.Flush(), s.Delete(41), s.Flush()); err != nil {
		t.Fatal(err)
	}
	x := exchange(42, []byte("last"))
	xs = append(xs, x)
	s.Offer(x)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return xs
}

func TestSummaries(t *testing.T) {
	defer func(n int) { summaryChunk = n }(summaryChunk)
	summaryChunk = 7 // several queries for one call
	s := open(t, newPath(t), Options{})
	xs := listSession(t, s)
	var want []Summary
	for _, x := range xs {
		want = append(want, summaryOf(x))
	}
	for _, c := range []struct {
		after uint64
		limit int
		want  []Summary
	}{
		{0, 0, want},
		{0, -1, want},
		{0, 7, want[:7]},
		{0, 8, want[:8]},
		{3, 10, want[3:13]},
		{39, 0, want[39:]},
		{40, 5, want[40:]},
		{42, 0, nil},
	} {
		got, err := s.Summaries(c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Summaries(%d, %d)\n got %+v\nwant %+v", c.after, c.limit, got, c.want)
		}
	}
	all, _ := s.Summaries(0, 0)
	if unsafe.StringData(all[0].Host) != unsafe.StringData(all[3].Host) {
		t.Error("equal hosts are not one string")
	}
}

func TestParseSummaries(t *testing.T) {
	hosts := map[string]string{}
	got, err := parseSummaries(nil, []byte("5 1 200 -1 10 3 a b9223372036854775807 2 0 7 -1 0 4 5 0 -9223372036854775808 12 0 "), 3, hosts)
	want := []Summary{{ID: 4, Version: 5, Status: 0, Dur: -1 << 63, Size: 12, Host: ""}, {ID: 5, Version: 1, Status: 200, Dur: -1, Size: 10, Host: "a b"},
		{ID: 1<<63 - 1, Version: 2, Status: 0, Dur: 7, Size: -1, Host: ""}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseSummaries = %+v, %v\nwant %+v (sorted by ID)", got, err, want)
	}
	for _, bad := range []string{"", "1 2 3 4 5", "1 2 3 4 5 6 abc", "1 2 3 4 5 -1 ", "1 2 x 4 5 0 ", "1 2 3 4 5 0 extra", "12345678901234567890 1 1 1 1 0 "} {
		if _, err := parseSummaries(nil, []byte(bad), 1, hosts); !errors.Is(err, errSummaries) {
			t.Errorf("parseSummaries(%q) = %v", bad, err)
		}
	}
}

func TestGetMany(t *testing.T) {
	s := open(t, newPath(t), Options{})
	xs := listSession(t, s)
	for _, id := range []uint64{50, 51} {
		x := rich(id, 10, 20) // with messages
		xs = append(xs, x)
		s.Offer(x)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	byID := map[uint64]record.Exchange{}
	for _, x := range xs {
		byID[x.ID] = x
	}
	want := func(ids ...uint64) []record.Exchange {
		var out []record.Exchange
		for _, id := range ids {
			x := withoutBytes(byID[id])
			x.Messages = byID[id].Messages
			out = append(out, x)
		}
		return out
	}
	for _, c := range []struct {
		ids  []uint64
		want []record.Exchange
	}{
		{nil, nil},
		{[]uint64{41, 1000}, nil}, // deleted, never written
		{[]uint64{51, 3, 50, 3, 41, 1, 1 << 63}, want(1, 3, 50, 51)},
		{[]uint64{42}, want(42)},
	} {
		got, err := s.GetMany(c.ids)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("GetMany(%v)\n got %+v\nwant %+v", c.ids, got, c.want)
		}
	}
	// A few hundred at once: one JSON parameter, however many.
	var ids []uint64
	for id := uint64(1); id <= 400; id++ {
		ids = append(ids, id)
	}
	got, err := s.GetMany(ids)
	if err != nil || len(got) != len(xs) || len(got[len(got)-1].Messages) != 4 {
		t.Errorf("GetMany(1..400) = %d exchanges, %v", len(got), err)
	}
}
