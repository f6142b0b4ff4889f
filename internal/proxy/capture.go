package proxy

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/wsframe"
)

// requestTee hands request body bytes to the recording as the upstream reads
// them; nothing is buffered beyond what the transport asked for.
type requestTee struct {
	body io.ReadCloser
	req  *http.Request
	rec  record.Recording
	done bool
	// grpc records the messages of a gRPC call's request; nil otherwise.
	grpc *grpcSplitter

	mu  sync.Mutex // the transport reads on its own goroutine
	err error      // the first read error other than EOF: the client's body was bad or cut
}

func (t *requestTee) readErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func (t *requestTee) Read(p []byte) (int, error) {
	if t.done {
		// The body ended; net/http may close it once the response has
		// begun, and the transport reads once more to see the end.
		return 0, io.EOF
	}
	n, err := t.body.Read(p)
	if n > 0 {
		t.rec.RequestBody(p[:n])
		if t.grpc != nil {
			t.grpc.write(p[:n])
		}
	}
	if err != nil && err != io.EOF {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
	}
	if err == io.EOF && !t.done {
		t.done = true
		t.rec.RequestEnd(record.FieldsFromHeader(t.req.Trailer))
	}
	return n, err
}

func (t *requestTee) Close() error { return t.body.Close() }

// headerFlushDelay: when a response with a known length has sent headers but
// the upstream holds its body back, the headers go out after this long
// without waiting for it.
const headerFlushDelay = 2 * time.Millisecond

// responseWriter sits between ReverseProxy and the client's ResponseWriter:
// it sees exactly what the client gets, tees the body to the recording,
// cleans 1xx headers, and notices a client that went away.
//
// With streamFlush (the default), it owns flushing for responses of known
// length: each write is flushed at once unless it completed the body (the
// server sends that at the end anyway), so a slow drip arrives as it is
// produced while a small response costs one write, not two. The headers of
// such a response wait for its first body bytes, unless the upstream holds
// those back for headerFlushDelay (see bodyEnd). Responses of
// unknown length and event streams are flushed after every write by
// ReverseProxy itself, through Flush.
type responseWriter struct {
	http.ResponseWriter
	rec         record.Recording
	streamFlush bool
	// grpc is the exchange's gRPC call, nil for any other exchange; the
	// final response's headers give grpcBody, which records the messages
	// of the response body.
	grpc     *grpcCall
	grpcBody *grpcSplitter

	mu         sync.Mutex // the header timer flushes from its own goroutine
	tee        bool       // set once the upstream response is recorded
	wroteFinal bool
	status     int
	length     int64 // Content-Length of the response, or -1
	written    int64
	writeErr   error
	timer      *time.Timer
	done       bool // the handler returned: the writer must not be used
}

func (w *responseWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) are copied verbatim by
		// ReverseProxy (go#81319); strip what must not cross a proxy.
		removeHopByHop(w.Header(), false)
		cleanResponseHeaders(w.Header())
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if !w.wroteFinal {
		w.wroteFinal = true
		w.status = code
		w.length = -1
		if cl := w.Header().Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
				w.length = n
			}
		}
		if w.grpc != nil && w.tee {
			w.grpcBody = w.grpc.response(w.Header().Get("Content-Type"))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// waitingForBody arms the header timer before a read of the upstream body
// that may block, when the headers of a response of known length are still
// held back waiting for it; the returned func disarms it once the read
// returns. The timer measures how long the upstream withholds the body, not
// how late this goroutine runs: armed from WriteHeader, a busy process would
// send the headers of most responses in a write of their own.
func (w *responseWriter) waitingForBody() (disarm func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.streamFlush || w.length <= 0 || w.written > 0 || w.done || w.timer != nil {
		return nil
	}
	w.timer = time.AfterFunc(headerFlushDelay, w.flushHeaders)
	return w.stopTimer
}

func (w *responseWriter) stopTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.wroteFinal {
		w.wroteFinal = true
		w.status = http.StatusOK
		w.length = -1
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	if n > 0 && w.tee {
		w.rec.ResponseBody(p[:n])
		if w.grpcBody != nil {
			w.grpcBody.write(p[:n])
		}
	}
	if err == nil && w.streamFlush && w.length > 0 && w.written < w.length {
		err = w.flushLocked()
	}
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

// wrote reports whether any response (headers or body) reached the writer.
func (w *responseWriter) wrote() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wroteFinal
}

// flushHeaders sends the headers of a response whose body has not started.
func (w *responseWriter) flushHeaders() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && w.written == 0 {
		_ = w.flushLocked()
	}
}

// Flush keeps streaming working; ReverseProxy flushes through a
// ResponseController, which finds this method.
func (w *responseWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil && w.writeErr == nil {
		w.writeErr = err
	}
}

func (w *responseWriter) flushLocked() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// close stops the header timer; call it before the handler returns.
func (w *responseWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// Unwrap lets http.ResponseController reach Hijack and deadlines.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingConn wraps the upstream side of an upgraded (101) connection and
// counts bytes each way for the recording. On a WebSocket it also reads the
// frames going each way, beside the copy, and records the messages.
type countingConn struct {
	io.ReadWriteCloser
	rec      record.Recording
	up, down atomic.Int64
	// send reads client-to-upstream frames, recv the others; nil when the
	// protocol is not WebSocket or the exchange is not recorded. Each is
	// used only by its direction's copy goroutine.
	send, recv *wsframe.Parser
}

// newCountingConn wraps rwc. When websocket is set and the exchange is
// recorded, messages are recorded too, with payloads cut at maxPayload.
func newCountingConn(rwc io.ReadWriteCloser, rec record.Recording, websocket bool, maxPayload int) *countingConn {
	c := &countingConn{ReadWriteCloser: rwc, rec: rec}
	if websocket && rec.ID() != 0 {
		c.send = messageParser(rec, record.ToServer, maxPayload)
		c.recv = messageParser(rec, record.ToClient, maxPayload)
	}
	return c
}

// messageParser reads the WebSocket frames going one way and records each
// message, stamped when its last byte passed. A stream that stops making
// sense as frames is left alone from there on, with a mark that says so.
func messageParser(rec record.Recording, dir record.Direction, maxPayload int) *wsframe.Parser {
	from := "client"
	if dir == record.ToClient {
		from = "upstream"
	}
	return &wsframe.Parser{
		Max: maxPayload,
		Message: func(m wsframe.Message) {
			rec.Message(record.Message{
				Time: time.Now(), Dir: dir, Opcode: m.Opcode,
				Size: m.Size, Payload: m.Payload, Truncated: m.Truncated, Compressed: m.Compressed,
				CloseCode: m.CloseCode, CloseReason: m.CloseReason,
			})
		},
		Error: func(err error) {
			rec.Mark(record.Mark{Stage: "websocket", Name: "websocket", Value: "messages from the " + from + " no longer recorded: " + err.Error()})
		},
	}
}

// isWebSocket reports whether an Upgrade header names WebSocket.
func isWebSocket(upgrade string) bool {
	for p := range strings.SplitSeq(upgrade, ",") {
		if strings.EqualFold(strings.TrimSpace(p), "websocket") {
			return true
		}
	}
	return false
}

// messageCap is how many bytes of each WebSocket or gRPC message are kept
// for the recording: the tap's body capture limit, when it has Limits
// (see record.Tap).
func messageCap(tap record.Tap) int {
	if l, ok := tap.(interface{ Limits() record.Limits }); ok {
		return int(min(max(l.Limits().MaxBodyCapture, 0), math.MaxInt))
	}
	return record.DefaultMaxBodyCapture
}

// Read is upstream to client.
func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if n > 0 {
		c.rec.Upgraded(c.up.Load(), c.down.Add(int64(n)))
		if c.recv != nil {
			c.recv.Write(p[:n])
		}
	}
	return n, err
}

// Write is client to upstream.
func (c *countingConn) Write(p []byte) (int, error) {
	// The client's frames are read before they go on, as the upstream's
	// are before they reach the client: a message is on record before it
	// can be answered. ReverseProxy stops waiting for the copy goroutines
	// once one fails, so a client's close read after the upstream's answer
	// could come after the exchange finished, and be lost.
	if c.send != nil {
		c.send.Write(p)
	}
	n, err := c.ReadWriteCloser.Write(p)
	if n > 0 {
		c.rec.Upgraded(c.up.Add(int64(n)), c.down.Load())
	}
	return n, err
}

// CloseWrite passes half-closes through, so WebSocket close handshakes work.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.ReadWriteCloser.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// bodyEnd marks the moment the response body reached EOF. Around its first
// read it arms the header timer of rw (see responseWriter.waitingForBody).
type bodyEnd struct {
	io.ReadCloser
	t    *timing
	rw   *responseWriter
	read bool // a read returned bytes or an error: the timer is done with
	eof  atomic.Bool
	err  error // the first read error other than EOF; read after the copy ends
}

func (b *bodyEnd) Read(p []byte) (int, error) {
	var n int
	var err error
	if !b.read && b.rw != nil {
		disarm := b.rw.waitingForBody()
		n, err = b.ReadCloser.Read(p)
		if disarm != nil {
			disarm()
		}
		b.read = n > 0 || err != nil
	} else {
		n, err = b.ReadCloser.Read(p)
	}
	switch {
	case err == io.EOF:
		b.eof.Store(true)
		b.t.markBodyEnd()
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

var _ http.Flusher = (*responseWriter)(nil)
