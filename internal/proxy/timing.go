package proxy

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// timing collects httptrace marks for one exchange. The transport calls its
// hooks from its own goroutines, hence the lock.
type timing struct {
	mu                       sync.Mutex
	start                    time.Time
	getConn, gotConn         time.Time
	dnsStart, dnsDone        time.Time
	connectStart, connectEnd time.Time
	tlsStart, tlsDone        time.Time
	wrote, firstByte         time.Time
	bodyEnd                  time.Time
	reused                   bool
	serverAddr               string
}

func (t *timing) trace() *httptrace.ClientTrace {
	mark := func(p *time.Time) {
		t.mu.Lock()
		if p.IsZero() {
			*p = time.Now()
		}
		t.mu.Unlock()
	}
	return &httptrace.ClientTrace{
		GetConn: func(string) { mark(&t.getConn) },
		GotConn: func(info httptrace.GotConnInfo) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if !t.gotConn.IsZero() {
				return
			}
			t.gotConn = time.Now()
			t.reused = info.Reused
			if info.Conn != nil && info.Conn.RemoteAddr() != nil {
				t.serverAddr = info.Conn.RemoteAddr().String()
			}
		},
		DNSStart:             func(httptrace.DNSStartInfo) { mark(&t.dnsStart) },
		DNSDone:              func(httptrace.DNSDoneInfo) { mark(&t.dnsDone) },
		ConnectStart:         func(string, string) { mark(&t.connectStart) },
		ConnectDone:          func(string, string, error) { mark(&t.connectEnd) },
		TLSHandshakeStart:    func() { mark(&t.tlsStart) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { mark(&t.tlsDone) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { mark(&t.wrote) },
		GotFirstResponseByte: func() { mark(&t.firstByte) },
	}
}

// newAttempt forgets the connection marks of a failed attempt, so the
// phases describe the attempt that answered; the time spent on earlier
// attempts counts as blocked.
func (t *timing) newAttempt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.getConn, t.gotConn = time.Time{}, time.Time{}
	t.dnsStart, t.dnsDone = time.Time{}, time.Time{}
	t.connectStart, t.connectEnd = time.Time{}, time.Time{}
	t.tlsStart, t.tlsDone = time.Time{}, time.Time{}
	t.wrote, t.firstByte = time.Time{}, time.Time{}
	t.reused, t.serverAddr = false, ""
}

func (t *timing) markBodyEnd() {
	t.mu.Lock()
	if t.bodyEnd.IsZero() {
		t.bodyEnd = time.Now()
	}
	t.mu.Unlock()
}

func (t *timing) server() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.serverAddr
}

// phases turns the marks into HAR-style phases; end closes the receive phase
// when the body end was not seen.
func (t *timing) phases(end time.Time) record.Timings {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := record.NoTimings
	span := func(a, b time.Time) time.Duration {
		if a.IsZero() || b.IsZero() {
			return -1
		}
		return max(b.Sub(a), 0)
	}
	if !t.reused {
		ts.DNS = span(t.dnsStart, t.dnsDone)
		connEnd := t.connectEnd
		if !t.tlsDone.IsZero() {
			connEnd = t.tlsDone
		}
		ts.Connect = span(t.connectStart, connEnd)
		ts.TLS = span(t.tlsStart, t.tlsDone)
	}
	if !t.gotConn.IsZero() {
		b := span(t.start, t.gotConn)
		if ts.DNS > 0 {
			b -= ts.DNS
		}
		if ts.Connect > 0 {
			b -= ts.Connect
		}
		ts.Blocked = max(b, 0)
	}
	ts.Send = span(t.gotConn, t.wrote)
	if !t.wrote.IsZero() && !t.firstByte.IsZero() {
		ts.Wait = max(t.firstByte.Sub(t.wrote), 0)
	}
	if !t.firstByte.IsZero() {
		e := t.bodyEnd
		if e.IsZero() {
			e = end
		}
		ts.Receive = span(t.firstByte, e)
	}
	return ts
}
