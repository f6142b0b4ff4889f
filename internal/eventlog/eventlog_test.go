package eventlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSinceReturnsWhatIsNew(t *testing.T) {
	l := New(10)
	if got := l.Since(0); got != nil {
		t.Fatalf("empty log: got %v", got)
	}
	for i := range 3 {
		if seq := l.Add(Event{Message: fmt.Sprint(i)}); seq != uint64(i+1) {
			t.Fatalf("Add %d: seq %d", i, seq)
		}
	}
	got := l.Since(1)
	if len(got) != 2 || got[0].Seq != 2 || got[0].Message != "1" || got[1].Seq != 3 {
		t.Fatalf("Since(1) = %+v", got)
	}
	if got[0].Time.IsZero() {
		t.Error("an event without a time did not get one")
	}
	if got := l.Since(3); got != nil {
		t.Errorf("Since(last) = %v, want nothing", got)
	}
	if l.Last() != 3 {
		t.Errorf("Last = %d", l.Last())
	}
}

func TestRingKeepsTheNewestAndCountsTheDropped(t *testing.T) {
	l := New(4)
	for i := 1; i <= 10; i++ {
		l.Add(Event{Message: fmt.Sprint(i)})
	}
	if l.Dropped() != 6 {
		t.Errorf("Dropped = %d, want 6", l.Dropped())
	}
	got := l.Since(0)
	var msgs []string
	for i, e := range got {
		msgs = append(msgs, e.Message)
		if e.Seq != uint64(7+i) {
			t.Errorf("event %d has seq %d", i, e.Seq)
		}
	}
	if strings.Join(msgs, ",") != "7,8,9,10" {
		t.Errorf("kept %v, want the newest four", msgs)
	}
	// A reader that fell behind sees the gap in Seq.
	if got := l.Since(2); len(got) != 4 || got[0].Seq != 7 {
		t.Errorf("Since(2) = %+v", got)
	}
	if got := l.Since(8); len(got) != 2 || got[0].Seq != 9 {
		t.Errorf("Since(8) = %+v", got)
	}
}

func TestConcurrentAddAndSince(t *testing.T) {
	l := New(100)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Add(Event{Message: fmt.Sprint(w, i)})
			}
		}()
	}
	var seen uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		for _, e := range l.Since(seen) {
			if e.Seq <= seen {
				t.Fatalf("event %d after %d: out of order", e.Seq, seen)
			}
			seen = e.Seq
		}
	}
	if l.Last() != 2000 || l.Dropped() != 1900 {
		t.Errorf("Last %d, Dropped %d; want 2000 and 1900", l.Last(), l.Dropped())
	}
}

func TestHandlerAddsRecords(t *testing.T) {
	l := New(0)
	var file bytes.Buffer
	log := slog.New(NewHandler(l, HandlerOptions{Source: "agent", Writer: &file}))
	log.Debug("not kept")
	log.With("relay", "http://127.0.0.1:9000/").WithGroup("retry").Warn("agent: disconnected", "in", 400*time.Millisecond, "reason", "connection refused")
	got := l.Since(0)
	if len(got) != 1 {
		t.Fatalf("got %d events, want 1 (debug is below the default level): %+v", len(got), got)
	}
	e := got[0]
	if e.Source != "agent" || e.Level != slog.LevelWarn || e.Message != "agent: disconnected" {
		t.Errorf("event %+v", e)
	}
	if want := `relay=http://127.0.0.1:9000/ retry.in=400ms retry.reason="connection refused"`; e.Attrs != want {
		t.Errorf("attrs %q, want %q", e.Attrs, want)
	}
	if s := file.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, `level=WARN msg="agent: disconnected" relay=http://127.0.0.1:9000/ retry.in=400ms`) {
		t.Errorf("the writer got %q", s)
	}
}

func TestHandlerWritesJSON(t *testing.T) {
	l := New(0)
	var file bytes.Buffer
	log := slog.New(NewHandler(l, HandlerOptions{Source: "relay", Writer: &file, JSON: true, Level: slog.LevelDebug}))
	log.Debug("agent connected", "backend", "web")
	var rec map[string]any
	if err := json.Unmarshal(file.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %q", err, file.String())
	}
	if rec["msg"] != "agent connected" || rec["backend"] != "web" {
		t.Errorf("JSON line %v", rec)
	}
	if got := l.Since(0); len(got) != 1 || got[0].Attrs != "backend=web" || got[0].Level != slog.LevelDebug {
		t.Errorf("events %+v", got)
	}
}

func TestHandlerFromTheStandardLogger(t *testing.T) {
	l := New(0)
	std := slog.NewLogLogger(NewHandler(l, HandlerOptions{Source: "serve"}), slog.LevelWarn)
	std.Printf("http: TLS handshake error from %s: %s", "127.0.0.1:5555", "client sent an HTTP request to an HTTPS server")
	got := l.Since(0)
	if len(got) != 1 || got[0].Level != slog.LevelWarn || got[0].Message != "http: TLS handshake error from 127.0.0.1:5555: client sent an HTTP request to an HTTPS server" || got[0].Attrs != "" {
		t.Errorf("events %+v", got)
	}
}
