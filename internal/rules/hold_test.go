package rules

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// holdWait bounds every wait in the breakpoint tests.
const holdWait = 20 * time.Second

// seenRequest is what the upstream received.
type seenRequest struct {
	method, uri, edited, body string
}

// holdRig is a proxy with breakpoint rules in front of a backend that
// counts its calls, a recorder, and a fake hold timer.
type holdRig struct {
	t       *testing.T
	holds   *Holds
	handler *proxy.Handler
	rec     *record.Recorder
	url     string
	client  *http.Client
	calls   atomic.Int32
	seen    chan seenRequest
	fire    chan time.Time // fires the hold timeout
	logs    *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newHoldRig starts a backend (answer, after the request is counted and
// noted) and a proxy with the given rules, in text form, each named by its
// position as "r1", "r2"….
func newHoldRig(t *testing.T, answer http.HandlerFunc, texts ...string) *holdRig {
	t.Helper()
	r := &holdRig{t: t, seen: make(chan seenRequest, 16), fire: make(chan time.Time), logs: &lockedBuffer{}}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		body, _ := io.ReadAll(req.Body)
		r.seen <- seenRequest{req.Method, req.RequestURI, req.Header.Get("X-Edited"), string(body)}
		answer(w, req)
	}))
	t.Cleanup(backend.Close)

	r.holds = NewHolds(0, slog.New(slog.NewTextHandler(r.logs, nil)))
	r.holds.after = func(time.Duration) (<-chan time.Time, func() bool) { return r.fire, func() bool { return true } }
	var rules []Rule
	for i, text := range texts {
		rule, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		rule.Name = "r" + string(rune('1'+i))
		rules = append(rules, rule)
	}
	set, err := New(rules, Options{Holds: r.holds})
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(backend.URL)
	r.rec = record.NewRecorder(record.Limits{})
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	r.handler, err = proxy.New(proxy.Options{Target: target, Tap: r.rec, Transport: tr, Stages: []proxy.Stage{set}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(r.handler)
	t.Cleanup(front.Close)
	t.Cleanup(func() {
		// A failed test may leave exchanges held: release them, or
		// closing the servers would wait for them.
		for _, h := range r.holds.List() {
			_ = r.holds.Abort(h.ID)
		}
	})
	r.url = front.URL
	r.client = &http.Client{Timeout: holdWait, Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

func okAnswer(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "original")
}

// reply is what a client got.
type reply struct {
	status int
	header http.Header
	body   string
	err    error
}

// send makes the request in the background; the reply arrives on the
// channel.
func (r *holdRig) send(ctx context.Context, method, path, body string) <-chan reply {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	out := make(chan reply, 1)
	go func() {
		res, err := r.client.Do(req)
		if err != nil {
			out <- reply{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		out <- reply{status: res.StatusCode, header: res.Header, body: string(b), err: err}
	}()
	return out
}

func (r *holdRig) reply(ch <-chan reply) reply {
	r.t.Helper()
	select {
	case rep := <-ch:
		if rep.err != nil {
			r.t.Fatalf("client: %v", rep.err)
		}
		return rep
	case <-time.After(holdWait):
		r.t.Fatal("timed out waiting for the client's reply")
	}
	return reply{}
}

// waitHeld waits, through Changed, until List has n exchanges.
func (r *holdRig) waitHeld(n int) []Held {
	r.t.Helper()
	deadline := time.After(holdWait)
	for {
		if l := r.holds.List(); len(l) == n {
			return l
		}
		select {
		case <-r.holds.Changed():
		case <-deadline:
			r.t.Fatalf("timed out waiting for %d held exchanges; have %d", n, len(r.holds.List()))
		}
	}
}

// done waits for exchange id to finish and returns it.
func (r *holdRig) done(id uint64) record.Exchange {
	r.t.Helper()
	sub := r.rec.Subscribe(0)
	defer sub.Close()
	deadline := time.After(holdWait)
	for {
		if x, ok := r.rec.Get(id); ok && x.State == record.Done {
			return x
		}
		select {
		case <-sub.Ready():
			sub.Drain(nil)
		case <-deadline:
			r.t.Fatalf("timed out waiting for exchange #%d to finish", id)
		}
	}
}

func (r *holdRig) upstreamSaw() seenRequest {
	r.t.Helper()
	select {
	case s := <-r.seen:
		return s
	case <-time.After(holdWait):
		r.t.Fatal("the upstream was not called")
	}
	return seenRequest{}
}

// wantMark checks the exchange's last mark of that name.
func wantMark(t *testing.T, x record.Exchange, name, prefix, suffix string) {
	t.Helper()
	v, ok := x.Mark(name)
	if !ok || !strings.HasPrefix(v, prefix) || !strings.HasSuffix(v, suffix) {
		t.Errorf("mark %s = %q (present %v); want %q…%q; marks %v", name, v, ok, prefix, suffix, x.Marks)
	}
}

func TestHoldRequestResumeUnchanged(t *testing.T) {
	r := newHoldRig(t, okAnswer, "method:POST => breakpoint request")
	got := r.send(t.Context(), "POST", "/items?id=1", "hello")
	h := r.waitHeld(1)[0]
	if h.Phase != match.PhaseRequest || h.Rule != "r1" || h.Method != "POST" || !strings.HasSuffix(h.URL, "/items?id=1") || !h.BodyEditable || h.Note != "" {
		t.Errorf("held %+v", h)
	}
	if !strings.HasPrefix(h.Text, "POST /items?id=1 HTTP/1.1\n") || !strings.HasSuffix(h.Text, "\n\nhello\n") {
		t.Errorf("text %q", h.Text)
	}
	if !h.Deadline.Equal(h.Since.Add(DefaultHoldTimeout)) {
		t.Errorf("deadline %v, since %v", h.Deadline, h.Since)
	}
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the upstream was called %d times while the request was held", n)
	}
	// Saved from an editor with CRLF line endings, but not changed.
	if err := r.holds.Resume(h.ID, strings.ReplaceAll(h.Text, "\n", "\r\n")); err != nil {
		t.Fatal(err)
	}
	if rep := r.reply(got); rep.status != 200 || rep.body != "original" {
		t.Errorf("client got %d %q", rep.status, rep.body)
	}
	if s := r.upstreamSaw(); s != (seenRequest{"POST", "/items?id=1", "", "hello"}) {
		t.Errorf("upstream saw %+v", s)
	}
	x := r.done(h.ID)
	wantMark(t, x, "breakpoint", "held ", ", resumed unchanged")
	wantMark(t, x, "rule", "r1", "r1")
	if _, ok := x.Mark("modified"); ok {
		t.Errorf("an unchanged exchange is marked modified: %v", x.Marks)
	}
	if err := r.holds.Resume(h.ID, ""); err == nil || !strings.Contains(err.Error(), "no exchange is held") {
		t.Errorf("second Resume: %v", err)
	}
	if err := r.holds.Abort(h.ID); err == nil {
		t.Error("Abort after Resume succeeded")
	}
}

func TestHoldRequestEdit(t *testing.T) {
	r := newHoldRig(t, okAnswer, "path:/items => breakpoint request")
	got := r.send(t.Context(), "POST", "/items", `{"qty":1}`)
	h := r.waitHeld(1)[0]

	// Text that does not parse is refused with its line; the hold stays.
	err := r.holds.Resume(h.ID, "POST /items HTTP/1.1\nNo colon here\n\n")
	var re *export.RawError
	if !errors.As(err, &re) || re.Line != 2 {
		t.Fatalf("Resume with a bad header: %v; want a *export.RawError on line 2", err)
	}
	if l := r.holds.List(); len(l) != 1 {
		t.Fatalf("after a refused edit, %d held", len(l))
	}

	edited := strings.Replace(h.Text, "POST /items HTTP/1.1\n", "PUT /other?x=1 HTTP/1.1\nX-Edited: yes\n", 1)
	edited = strings.Replace(edited, `{"qty":1}`, `{"qty":99,"note":"edited"}`, 1)
	if err := r.holds.Resume(h.ID, edited); err != nil {
		t.Fatal(err)
	}
	if rep := r.reply(got); rep.status != 200 {
		t.Errorf("client got %d %q", rep.status, rep.body)
	}
	if s := r.upstreamSaw(); s != (seenRequest{"PUT", "/other?x=1", "yes", `{"qty":99,"note":"edited"}`}) {
		t.Errorf("upstream saw %+v", s)
	}
	x := r.done(h.ID)
	wantMark(t, x, "breakpoint", "held ", ", resumed edited")
	wantMark(t, x, "modified", "1", "1")
	if x.Request.Method != "POST" {
		t.Errorf("the recorded request is %s; want the client's POST", x.Request.Method)
	}
}

func TestHoldResponseEdit(t *testing.T) {
	r := newHoldRig(t, okAnswer, "path:/r => breakpoint response")
	got := r.send(t.Context(), "GET", "/r", "")
	h := r.waitHeld(1)[0]
	if h.Phase != match.PhaseResponse || h.Status != 200 || !h.BodyEditable {
		t.Errorf("held %+v", h)
	}
	if !strings.HasPrefix(h.Text, "HTTP/1.1 200 OK\n") || !strings.HasSuffix(h.Text, "\n\noriginal\n") || strings.Contains(h.Text, "Content-Length") {
		t.Errorf("text %q", h.Text)
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("upstream called %d times before a response breakpoint", n)
	}
	err := r.holds.Resume(h.ID, "HTTP/1.1 201 Made Up\nContent-Type: text/plain\nX-Edited: yes\n\nedited body\n")
	if err != nil {
		t.Fatal(err)
	}
	rep := r.reply(got)
	if rep.status != 201 || rep.body != "edited body" || rep.header.Get("X-Edited") != "yes" || rep.header.Get("Content-Length") != "11" {
		t.Errorf("client got %d %v %q", rep.status, rep.header, rep.body)
	}
	x := r.done(h.ID)
	if x.Response == nil || x.Response.Status != 201 || string(x.Response.Body.Bytes) != "edited body" {
		t.Errorf("recorded response %+v", x.Response)
	}
	wantMark(t, x, "breakpoint", "held ", ", resumed edited")
	wantMark(t, x, "modified", "1", "1")
}

func TestHoldAbort(t *testing.T) {
	for _, phase := range []string{"request", "response"} {
		t.Run(phase, func(t *testing.T) {
			r := newHoldRig(t, okAnswer, "* => breakpoint "+phase)
			got := r.send(t.Context(), "GET", "/x", "")
			h := r.waitHeld(1)[0]
			if err := r.holds.Abort(h.ID); err != nil {
				t.Fatal(err)
			}
			rep := r.reply(got)
			if rep.status != 502 || !strings.Contains(rep.body, "aborted in devproxy at a breakpoint (rule r1)") {
				t.Errorf("client got %d %q", rep.status, rep.body)
			}
			wantCalls := int32(0)
			if phase == "response" {
				wantCalls = 1
			}
			if n := r.calls.Load(); n != wantCalls {
				t.Errorf("upstream called %d times; want %d", n, wantCalls)
			}
			x := r.done(h.ID)
			if x.Err == nil || x.Err.Status != 502 || x.Err.Kind != record.ErrRejected {
				t.Errorf("recorded error %+v", x.Err)
			}
			wantMark(t, x, "breakpoint", "held ", ", aborted")
			if len(r.holds.List()) != 0 {
				t.Error("still held after Abort")
			}
		})
	}
}

func TestHoldClientGone(t *testing.T) {
	r := newHoldRig(t, okAnswer, "* => breakpoint request")
	ctx, cancel := context.WithCancel(t.Context())
	got := r.send(ctx, "GET", "/slow", "")
	h := r.waitHeld(1)[0]
	cancel()
	if rep := <-got; rep.err == nil {
		t.Fatalf("client got %d after canceling", rep.status)
	}
	r.waitHeld(0)
	x := r.done(h.ID)
	if x.Err == nil || x.Err.Kind != record.ErrCanceled || x.Err.Status != proxy.StatusClientClosed {
		t.Errorf("recorded error %+v; want canceled, 499", x.Err)
	}
	wantMark(t, x, "breakpoint", "held ", ", client gone")
	if n := r.calls.Load(); n != 0 {
		t.Errorf("the upstream was called %d times for a request whose client went away", n)
	}
	if err := r.holds.Resume(h.ID, ""); err == nil {
		t.Error("Resume of a released exchange succeeded")
	}
}

func TestHoldTimeout(t *testing.T) {
	r := newHoldRig(t, okAnswer, "* => breakpoint request")
	got := r.send(t.Context(), "GET", "/t", "")
	h := r.waitHeld(1)[0]
	r.fire <- time.Now()
	if rep := r.reply(got); rep.status != 200 || rep.body != "original" {
		t.Errorf("client got %d %q", rep.status, rep.body)
	}
	x := r.done(h.ID)
	wantMark(t, x, "breakpoint", "held ", ", timed out")
	want := "breakpoint on #" + strconv.FormatUint(h.ID, 10) + " timed out after 5m; resumed unchanged"
	if logs := r.logs.String(); !strings.Contains(logs, want) {
		t.Errorf("log %q lacks %q", logs, want)
	}
	if len(r.holds.List()) != 0 {
		t.Error("still held after the timeout")
	}
}

func TestHoldResponseHeadersOnly(t *testing.T) {
	for _, tc := range []struct {
		name, note string
		answer     http.HandlerFunc
		cap        int64
		want       string // the body the client gets
	}{
		{"event stream", "the response is an event stream", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: 1\n\n")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "data: 2\n\n")
		}, 0, "data: 1\n\ndata: 2\n\n"},
		{"unknown length", "the response body is streamed (no Content-Length)", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "part 1,")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part 2")
		}, 0, "part 1,part 2"},
		{"larger than the cap", "the response body (8 B) is larger than the 4 B capture cap", okAnswer, 4, "original"},
		{"encoded", "the response body is gzip-encoded", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = io.WriteString(w, "\x1f\x8b not really gzip")
		}, 0, "\x1f\x8b not really gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHoldRig(t, tc.answer, "* => breakpoint response")
			r.holds.SetBodyCap(tc.cap)
			got := r.send(t.Context(), "GET", "/s", "")
			h := r.waitHeld(1)[0]
			if h.BodyEditable || !strings.HasPrefix(h.Note, tc.note) || !strings.HasSuffix(h.Note, "only the status and headers can be edited") || !strings.HasSuffix(h.Text, "\n\n") {
				t.Errorf("held %+v", h)
			}
			err := r.holds.Resume(h.ID, h.Text+"a new body\n")
			if err == nil || !strings.Contains(err.Error(), "cannot be edited") {
				t.Errorf("Resume with a body: %v", err)
			}
			edited := strings.Replace(h.Text, "HTTP/1.1 200 OK\n", "HTTP/1.1 200 OK\nX-Edited: yes\n", 1)
			if err := r.holds.Resume(h.ID, edited); err != nil {
				t.Fatal(err)
			}
			rep := r.reply(got)
			if rep.status != 200 || rep.header.Get("X-Edited") != "yes" || rep.body != tc.want {
				t.Errorf("client got %d %v %q", rep.status, rep.header, rep.body)
			}
		})
	}
}

func TestHoldLargeBodyHeadersOnly(t *testing.T) {
	r := newHoldRig(t, okAnswer, "method:POST => breakpoint request")
	r.holds.SetBodyCap(4)
	got := r.send(t.Context(), "POST", "/big", "more than four bytes")
	h := r.waitHeld(1)[0]
	if h.BodyEditable || !strings.Contains(h.Note, "larger than the 4 B capture cap") || !strings.HasSuffix(h.Text, "\n\n") {
		t.Errorf("held %+v", h)
	}
	edited := strings.Replace(h.Text, "POST /big HTTP/1.1\n", "POST /big HTTP/1.1\nX-Edited: yes\n", 1)
	if err := r.holds.Resume(h.ID, edited); err != nil {
		t.Fatal(err)
	}
	r.reply(got)
	if s := r.upstreamSaw(); s != (seenRequest{"POST", "/big", "yes", "more than four bytes"}) {
		t.Errorf("upstream saw %+v", s)
	}
}

func TestHoldSeveral(t *testing.T) {
	r := newHoldRig(t, okAnswer, "* => breakpoint request")
	replies := map[string]<-chan reply{}
	for _, p := range []string{"/a", "/b", "/c"} {
		replies[p] = r.send(t.Context(), "GET", p, "")
	}
	held := r.waitHeld(3)
	byPath := map[string]Held{}
	for _, h := range held {
		u, _ := url.Parse(h.URL)
		byPath[u.Path] = h
	}
	if err := r.holds.Abort(byPath["/b"].ID); err != nil {
		t.Fatal(err)
	}
	if rep := r.reply(replies["/b"]); rep.status != 502 {
		t.Errorf("/b got %d", rep.status)
	}
	left := r.waitHeld(2)
	for _, h := range left {
		if h.ID == byPath["/b"].ID {
			t.Errorf("the aborted exchange is still listed: %+v", left)
		}
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("upstream called %d times while the others are held", n)
	}
	r.holds.ResumeAll()
	for _, p := range []string{"/a", "/c"} {
		if rep := r.reply(replies[p]); rep.status != 200 {
			t.Errorf("%s got %d", p, rep.status)
		}
	}
	r.waitHeld(0)
}

func TestHoldNeverHoldsReplays(t *testing.T) {
	r := newHoldRig(t, okAnswer, "* => breakpoint request")
	got := r.send(t.Context(), "GET", "/again", "")
	h := r.waitHeld(1)[0]
	if err := r.holds.Resume(h.ID, ""); err != nil {
		t.Fatal(err)
	}
	r.reply(got)
	r.done(h.ID)
	ctx, cancel := context.WithTimeout(t.Context(), holdWait)
	defer cancel()
	id, err := proxy.NewReplayer(r.handler, r.rec).Replay(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	x := r.done(id)
	if x.Response == nil || x.Response.Status != 200 {
		t.Errorf("replay: response %+v, error %+v", x.Response, x.Err)
	}
	if v, ok := x.Mark("breakpoint"); ok {
		t.Errorf("the replay was held: %q", v)
	}
}

func TestBreakpointParse(t *testing.T) {
	for _, text := range []string{"method:POST => breakpoint request", "status:5xx => breakpoint response", "* => breakpoint response p=0.5"} {
		r, err := Parse(text)
		if err != nil {
			t.Errorf("Parse(%q): %v", text, err)
			continue
		}
		if again, err := Parse(r.String()); err != nil || again.String() != r.String() {
			t.Errorf("Parse(%q).String() = %q does not parse back: %v", text, r.String(), err)
		}
	}
	for _, text := range []string{"* => breakpoint", "* => breakpoint both", "status:5xx => breakpoint request"} {
		if _, err := Parse(text); err == nil {
			t.Errorf("Parse(%q) succeeded", text)
		}
	}
	rule, _ := Parse("* => breakpoint request")
	if _, err := New([]Rule{rule}, Options{}); err == nil {
		t.Error("New accepted a breakpoint without Holds")
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		300 * time.Millisecond:     "<1s",
		12 * time.Second:           "12s",
		5 * time.Minute:            "5m",
		90 * time.Second:           "1m30s",
		70 * time.Second:           "1m10s",
		time.Hour:                  "1h",
		time.Hour + 10*time.Minute: "1h10m",
	} {
		if got := heldFor(d); got != want {
			t.Errorf("heldFor(%v) = %q; want %q", d, got, want)
		}
	}
}
