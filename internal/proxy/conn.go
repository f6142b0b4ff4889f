package proxy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// watchListener wraps each accepted connection in a watchedConn. It is used
// on plain-HTTP listeners, where the server sees the bytes as the client
// sent them.
type watchListener struct {
	net.Listener
	srv *Server
}

func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, srv: l.srv, scan: newRequestScanner(l.srv.opts.MaxHeaderBytes + 4096 + 64)}, nil
}

// watchedConn follows the requests on one client connection: it judges
// each header block before net/http hides what it saw (see
// requestScanner), and it notices what net/http does without calling the
// handler — refusing a request it cannot parse, or dropping a connection
// whose headers did not arrive in time — so those show up in the recording
// like every other exchange.
type watchedConn struct {
	net.Conn
	srv *Server

	mu       sync.Mutex
	scan     *requestScanner
	active   bool // a handler is running for a request on this connection
	reported bool // a refusal or timeout was recorded; nothing more to say

	// hijacked is set once net/http handed the connection over (an
	// upgrade: a WebSocket, a tunnel): what crosses it is no longer
	// HTTP/1.1 requests, so it is passed through unwatched.
	hijacked atomic.Bool

	// preface holds the first bytes read while they may still be the
	// HTTP/2 client preface; once it is complete the connection is h2c
	// (net/http serves it as HTTP/2) and, like a hijacked one, it is
	// passed through unwatched. Only the reading goroutine touches it.
	preface     []byte
	prefaceDone bool
}

// h2Preface starts every HTTP/2 connection (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// watchPreface notes the first bytes of the connection and turns the
// watching off once they are the HTTP/2 preface.
func (c *watchedConn) watchPreface(p []byte) {
	if c.prefaceDone {
		return
	}
	n := min(len(p), len(h2Preface)-len(c.preface))
	c.preface = append(c.preface, p[:n]...)
	switch {
	case !strings.HasPrefix(h2Preface, string(c.preface)):
		c.prefaceDone, c.preface = true, nil
	case len(c.preface) == len(h2Preface):
		c.prefaceDone, c.preface = true, nil
		c.hijacked.Store(true)
	}
}

type connKey struct{}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.hijacked.Load() {
		return n, err
	}
	c.watchPreface(p[:n])
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > 0 {
		c.scan.feed(p[:n])
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && !c.active && c.scan.partial() && !c.reported {
		c.reported = true
		c.srv.recordRefusal(c, c.scan.hdr, &record.Error{
			Kind:    record.ErrRejected,
			Message: "the client did not finish sending the request headers within " + c.srv.opts.ReadHeaderTimeout.String() + "; the connection was closed and nothing was sent",
			// Status 0: nothing was written (net/http closes silently).
		})
	}
	return n, err
}

// goErrorHeaders is how net/http's own refusals (400, 431, 501, 505) end
// their headers; its handlers' responses always carry a Date header.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *watchedConn) Write(p []byte) (int, error) {
	if c.hijacked.Load() {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	if !c.active && !c.reported && bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		if head, body, ok := bytes.Cut(p, []byte(goErrorHeaders)); ok && !bytes.Contains(head, []byte("\r\nDate:")) {
			c.reported = true
			c.srv.recordRefusal(c, c.scan.hdr, parserRefusal(string(head), string(body), c.srv.opts.MaxHeaderBytes))
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// begin marks a handler running for the next request and returns the
// verdict on its header block (empty: it may be served) and, for a refused
// one, the header block as it arrived: net/http has dropped the
// Content-Length that made it suspect.
func (c *watchedConn) begin() (verdict string, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = true
	verdict = c.scan.next()
	if verdict != "" {
		raw = append([]byte(nil), c.scan.hdr...)
	}
	return verdict, raw
}

func (c *watchedConn) end() {
	c.mu.Lock()
	c.active = false
	c.mu.Unlock()
}

// parserRefusal describes a response net/http wrote itself.
func parserRefusal(head, body string, maxHeader int) *record.Error {
	status := 400
	if f := strings.Fields(head); len(f) > 1 {
		if n, err := strconv.Atoi(f[1]); err == nil {
			status = n
		}
	}
	msg := "the request could not be parsed as HTTP (a malformed request line or header)"
	if _, why, ok := strings.Cut(body, ": "); ok {
		msg = "the request could not be parsed as HTTP: " + strings.TrimSpace(why)
	}
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		msg = "the request headers are larger than the " + formatBytes(int64(maxHeader)) + " limit"
	case http.StatusNotImplemented:
		msg = "the request uses a transfer coding other than chunked"
	}
	return &record.Error{Kind: record.ErrRejected, Message: msg + " (refused by the HTTP parser)", Status: status}
}

// recordRefusal records an exchange for a request net/http refused or a
// connection it dropped, from the raw header bytes that arrived.
func (s *Server) recordRefusal(c net.Conn, raw []byte, e *record.Error) {
	line, fields, _ := splitHeaderBlock(raw)
	s.logRefusal(c, line, e)
	if s.opts.Tap == nil {
		return
	}
	req := record.Request{Proto: "HTTP/1.1"}
	parts := strings.Fields(line)
	if len(parts) > 0 {
		req.Method = parts[0]
	}
	target := ""
	if len(parts) > 1 {
		target = parts[1]
	}
	if len(parts) > 2 {
		req.Proto = parts[2]
	}
	for _, f := range fields {
		req.Header = append(req.Header, record.Field{Name: f.name, Value: f.value})
		if strings.EqualFold(f.name, "Host") && req.Host == "" {
			req.Host = f.value
		}
	}
	host := req.Host
	if host == "" {
		host = c.LocalAddr().String()
	}
	switch {
	case strings.HasPrefix(target, "/"):
		req.URL = "http://" + host + target
	case strings.Contains(target, "://"):
		req.URL = target
	default:
		req.URL = "http://" + host + "/" + target
	}
	if req.Method == "" {
		req.Method = "-"
	}
	now := time.Now()
	rec := s.opts.Tap.Begin(record.Begin{Role: s.opts.Role, Start: now, ClientAddr: c.RemoteAddr().String(), Request: req})
	rec.Finish(record.Finish{End: now, Timings: record.NoTimings, Err: e})
}

// formatBytes is n in the largest binary unit that divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// connFrom returns the watched connection a request arrived on, if any.
func connFrom(ctx context.Context) *watchedConn {
	c, _ := ctx.Value(connKey{}).(*watchedConn)
	return c
}
