package record

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"
)

// upgraded begins an exchange that switched protocols.
func upgraded(r *Recorder) Recording {
	rec := r.Begin(Begin{Role: RoleServe, Request: Request{Method: "GET", URL: "http://x/ws"}})
	rec.RequestEnd(nil)
	rec.Response(Response{Status: 101, Reason: "Switching Protocols"}, "127.0.0.1:1")
	return rec
}

func msg(dir Direction, s string) Message {
	return Message{Time: time.Now(), Dir: dir, Opcode: 1, Size: int64(len(s)), Payload: []byte(s)}
}

func TestMessagesRecorded(t *testing.T) {
	r := NewRecorder(Limits{})
	sub := r.Subscribe(0)
	defer sub.Close()
	rec := upgraded(r)
	before, _ := r.Get(rec.ID())
	sub.Drain(nil)
	rec.Message(msg(ToServer, "hello"))
	rec.Message(msg(ToClient, "hello"))
	rec.Message(Message{Dir: ToServer, Opcode: 8, Size: 5, Payload: []byte{0x03, 0xe8, 'b', 'y', 'e'}, CloseCode: 1000, CloseReason: "bye"})
	x, _ := r.Get(rec.ID())
	if len(x.Messages) != 3 || x.Messages[0].Dir != ToServer || x.Messages[1].Dir != ToClient || string(x.Messages[1].Payload) != "hello" || x.Messages[2].CloseReason != "bye" {
		t.Fatalf("messages %+v", x.Messages)
	}
	if x.Version != before.Version+3 {
		t.Errorf("version %d → %d, want a bump per message", before.Version, x.Version)
	}
	if evs := sub.Drain(nil); len(evs) == 0 || evs[0].ID != rec.ID() {
		t.Errorf("events %v, want changes of #%d", evs, rec.ID())
	}
	if s := r.Stats(); s.CapturedBytes != 15 {
		t.Errorf("captured %d bytes, want the 15 of the payloads", s.CapturedBytes)
	}
	rec.Finish(Finish{ResponseComplete: true})
	rec.Message(msg(ToClient, "late"))
	if x, _ := r.Get(rec.ID()); len(x.Messages) != 3 {
		t.Errorf("a message after Finish was recorded: %d messages", len(x.Messages))
	}
}

func TestMessagePayloadCapped(t *testing.T) {
	r := NewRecorder(Limits{MaxBodyCapture: 10})
	rec := upgraded(r)
	rec.Message(msg(ToClient, "0123456789abcdef"))
	rec.Message(msg(ToClient, "short"))
	rec.Message(Message{Opcode: 2, Size: 1 << 40, Payload: []byte("0123"), Truncated: true}) // the engine's own cap
	x, _ := r.Get(rec.ID())
	m := x.Messages
	if string(m[0].Payload) != "0123456789" || m[0].Size != 16 || !m[0].Truncated {
		t.Errorf("capped message %+v", m[0])
	}
	if string(m[1].Payload) != "short" || m[1].Truncated {
		t.Errorf("short message %+v", m[1])
	}
	if string(m[2].Payload) != "0123" || m[2].Size != 1<<40 || !m[2].Truncated {
		t.Errorf("message truncated upstream %+v", m[2])
	}
	if s := r.Stats(); s.CapturedBytes != 19 {
		t.Errorf("captured %d bytes, want 19", s.CapturedBytes)
	}
}

// The first MaxMessages are kept, the rest counted.
func TestMessagesOverLimitDropped(t *testing.T) {
	r := NewRecorder(Limits{})
	rec := upgraded(r)
	for i := range MaxMessages + 5 {
		rec.Message(msg(ToClient, strconv.Itoa(i)))
	}
	x, _ := r.Get(rec.ID())
	if len(x.Messages) != MaxMessages || x.MessagesDropped != 5 {
		t.Fatalf("%d messages, %d dropped; want %d and 5", len(x.Messages), x.MessagesDropped, MaxMessages)
	}
	if string(x.Messages[0].Payload) != "0" || string(x.Messages[MaxMessages-1].Payload) != strconv.Itoa(MaxMessages-1) {
		t.Errorf("kept %q … %q, want the first ones", x.Messages[0].Payload, x.Messages[MaxMessages-1].Payload)
	}
}

// Message payloads count against the total budget like bodies: they evict
// older exchanges, and give their bytes back when evicted or deleted.
func TestMessagesCountAgainstBudget(t *testing.T) {
	r := NewRecorder(Limits{MaxBodyCapture: 100, MaxCaptureTotal: 250})
	old := run(r, 0, 100)
	rec := upgraded(r)
	for range 2 {
		rec.Message(msg(ToClient, string(bytes.Repeat([]byte("m"), 100))))
	}
	if _, ok := r.Get(old); ok {
		t.Error("the older exchange was not evicted to make room for messages")
	}
	if s := r.Stats(); s.CapturedBytes != 200 {
		t.Errorf("captured %d, want 200", s.CapturedBytes)
	}
	// Alone in the buffer, the exchange keeps what fits and counts the rest.
	rec.Message(msg(ToClient, string(bytes.Repeat([]byte("n"), 100))))
	x, _ := r.Get(rec.ID())
	if m := x.Messages[2]; len(m.Payload) != 50 || m.Size != 100 || !m.Truncated {
		t.Errorf("message over the budget: %d of %d bytes, truncated %v", len(m.Payload), m.Size, m.Truncated)
	}
	if s := r.Stats(); s.CapturedBytes != 250 {
		t.Errorf("captured %d, want 250", s.CapturedBytes)
	}
	rec.Finish(Finish{ResponseComplete: true})

	run(r, 0, 100) // evicts the exchange with messages
	if s := r.Stats(); s.CapturedBytes != 100 {
		t.Errorf("after evicting the messages: captured %d, want 100", s.CapturedBytes)
	}
	rec = upgraded(r)
	rec.Message(msg(ToServer, "abc"))
	r.Delete(rec.ID())
	if s := r.Stats(); s.CapturedBytes != 100 {
		t.Errorf("after deleting the messages: captured %d, want 100", s.CapturedBytes)
	}
}

func TestPausedRecordsNoMessages(t *testing.T) {
	r := NewRecorder(Limits{})
	r.SetPaused(true)
	rec := upgraded(r)
	rec.Message(msg(ToClient, "x"))
	if rec.ID() != 0 || len(r.Snapshot()) != 0 || r.Stats().CapturedBytes != 0 {
		t.Errorf("paused recorder recorded: id %d, %d exchanges", rec.ID(), len(r.Snapshot()))
	}
}

// Copies handed out share the messages' backing array with the recorder,
// which appends to it: a reader that appends to its copy, or reads it while
// messages arrive, must not race (run with -race).
func TestMessagesSnapshotsDoNotRace(t *testing.T) {
	r := NewRecorder(Limits{})
	rec := upgraded(r)
	rec.Message(msg(ToClient, "first"))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			rec.Message(msg(ToClient, strconv.Itoa(i)))
		}
	})
	for range 200 {
		for _, x := range r.Snapshot() {
			total := 0
			for _, m := range x.Messages {
				total += len(m.Payload)
			}
			x.Messages = append(x.Messages, msg(ToServer, "mine"))
			x.Messages[0].Payload = append(x.Messages[0].Payload, '!')
			_ = total
		}
		if x, ok := r.Get(rec.ID()); ok {
			x.Messages = append(x.Messages, msg(ToServer, "mine too"))
		}
	}
	wg.Wait()
	x, _ := r.Get(rec.ID())
	if len(x.Messages) != 2001 || string(x.Messages[0].Payload) != "first" || string(x.Messages[1].Payload) != "0" {
		t.Errorf("%d messages, first %q, second %q: a reader's append reached the recorder", len(x.Messages), x.Messages[0].Payload, x.Messages[1].Payload)
	}
}

// Add (a HAR import) keeps messages within the same limits, and copies them.
func TestAddKeepsMessages(t *testing.T) {
	r := NewRecorder(Limits{MaxBodyCapture: 4})
	in := Exchange{Upgraded: true, MessagesDropped: 2, Messages: []Message{msg(ToServer, "hi"), msg(ToClient, "hello")}}
	id := r.Add(in)
	in.Messages[0].Payload[0] = 'X'
	x, _ := r.Get(id)
	if len(x.Messages) != 2 || string(x.Messages[0].Payload) != "hi" || string(x.Messages[1].Payload) != "hell" || !x.Messages[1].Truncated || x.Messages[1].Size != 5 || x.MessagesDropped != 2 {
		t.Errorf("added messages %+v dropped %d", x.Messages, x.MessagesDropped)
	}
	if s := r.Stats(); s.CapturedBytes != 6 {
		t.Errorf("captured %d, want 6", s.CapturedBytes)
	}
}
