// Package bench holds devproxy's benchmarks. Run them with
//
//	go test ./bench -bench . -benchmem
//
// Each group has a small baseline measured in the same run, so results can
// be read as ratios as well as absolute times.
package bench

import (
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/tui"
)

var benchT0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// exchange is a finished exchange with a small JSON body, varied by i.
func exchange(i int) record.Exchange {
	start := benchT0.Add(time.Duration(i) * time.Millisecond)
	body := []byte(fmt.Sprintf(`{"id":%d,"name":"user %d","tags":["a","b"]}`, i, i))
	status := 200
	switch i % 17 {
	case 3:
		status = 404
	case 5:
		status = 500
	}
	x := record.Exchange{
		Role: record.RoleServe, Start: start, End: start.Add(time.Duration(i%900) * time.Millisecond),
		Request: record.Request{Method: []string{"GET", "POST", "PUT", "DELETE"}[i%4],
			URL: fmt.Sprintf("http://localhost:3000/api/v1/users/%d/orders?page=%d&sort=desc", i, i%7), Host: "localhost:3000",
			Header: record.Fields{{Name: "Accept", Value: "application/json"}}},
		Response: &record.Response{Status: status, Header: record.Fields{{Name: "Content-Type", Value: "application/json"}},
			Body: record.Body{Bytes: body, Size: int64(len(body)), Complete: true}},
		Timings: record.NoTimings,
	}
	if i%31 == 0 {
		x.Response = nil
		x.Err = &record.Error{Kind: record.ErrUnreachable, Message: "localhost:3000 refused the connection", Status: 502}
	}
	if i%13 == 0 {
		x.ReplayOf = uint64(i/2 + 1)
	}
	return x
}

func recorderWith(n int) *record.Recorder {
	rec := record.NewRecorder(record.Limits{MaxExchanges: n})
	for i := 0; i < n; i++ {
		rec.Add(exchange(i))
	}
	return rec
}

func model(rec *record.Recorder, w, h int) *tui.Model {
	m := tui.New(tui.Config{Source: tui.RecorderSource(rec), Role: "serve", Listen: "http://127.0.0.1:8080", Target: "http://localhost:3000",
		Now: func() time.Time { return benchT0.Add(time.Hour) }})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// BenchmarkView renders the list screen. Rows are memoized, so this is the
// cost of a frame in which nothing but the clock changed.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("exchanges=%d/200x50", n), func(b *testing.B) {
			m := model(recorderWith(n), 200, 50)
			m.View()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = m.View()
			}
		})
	}
}

// BenchmarkScroll is a key press and a frame while scrolling up through
// 10,000 exchanges: a new row enters the view each time.
func BenchmarkScroll(b *testing.B) {
	m := model(recorderWith(10000), 200, 50)
	up := tea.KeyPressMsg{Code: 'k', Text: "k"}
	bottom := tea.KeyPressMsg{Code: 'G', Text: "G"}
	m.View()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%9000 == 0 {
			m.Update(bottom)
		}
		m.Update(up)
		_ = m.View()
	}
}

// BenchmarkUpdateBatch applies one frame's batch of 100 events to a model
// of 10,000 exchanges: bodies growing on 100 exchanges in flight, or 50 new
// exchanges (started and done) that each evict the oldest.
func BenchmarkUpdateBatch(b *testing.B) {
	b.Run("growing=100", func(b *testing.B) {
		rec := recorderWith(10000)
		m := model(rec, 200, 50)
		recs := make([]record.Recording, 100)
		for i := range recs {
			recs[i] = rec.Begin(record.Begin{Role: record.RoleServe, Start: benchT0,
				Request: record.Request{Method: "GET", URL: "http://localhost:3000/events", Host: "localhost:3000"}})
			recs[i].Response(record.Response{Status: 200, Header: record.Fields{{Name: "Content-Type", Value: "text/event-stream"}}}, "")
		}
		sub := rec.Subscribe(1 << 16)
		defer sub.Close()
		chunk := []byte("data: {\"n\":1}\n\n")
		var evs []record.Event
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for _, r := range recs {
				r.ResponseBody(chunk)
			}
			evs = sub.Drain(evs[:0])
			b.StartTimer()
			m.ApplyEvents(evs)
		}
	})
	b.Run("new=50", func(b *testing.B) {
		rec := recorderWith(10000)
		m := model(rec, 200, 50)
		sub := rec.Subscribe(1 << 16)
		defer sub.Close()
		next := 10000
		var evs []record.Event
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for j := 0; j < 50; j++ { // Started+Done each: 100 events, plus evictions
				rec.Add(exchange(next))
				next++
			}
			evs = sub.Drain(evs[:0])
			b.StartTimer()
			m.ApplyEvents(evs)
		}
	})
}
