package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/devproxy/devproxy/internal/record"
)

// requestTee hands request body bytes to the recording as the upstream reads
// them; nothing is buffered beyond what the transport asked for.
type requestTee struct {
	body io.ReadCloser
	req  *http.Request
	rec  record.Recording
	done bool
}

func (t *requestTee) Read(p []byte) (int, error) {
	n, err := t.body.Read(p)
	if n > 0 {
		t.rec.RequestBody(p[:n])
	}
	if err == io.EOF && !t.done {
		t.done = true
		t.rec.RequestEnd(record.FieldsFromHeader(t.req.Trailer))
	}
	return n, err
}

func (t *requestTee) Close() error { return t.body.Close() }

// responseWriter sits between ReverseProxy and the client's ResponseWriter:
// it sees exactly what the client gets, tees the body to the recording,
// cleans 1xx headers, and notices a client that went away.
type responseWriter struct {
	http.ResponseWriter
	rec        record.Recording
	tee        bool // set once the upstream response is recorded
	wroteFinal bool
	status     int
	written    int64
	writeErr   error
}

func (w *responseWriter) WriteHeader(code int) {
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
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteFinal {
		w.wroteFinal = true
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	if n > 0 && w.tee {
		w.rec.ResponseBody(p[:n])
	}
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

// Flush keeps streaming working; ReverseProxy flushes through a
// ResponseController, which finds this method.
func (w *responseWriter) Flush() {
	if err := http.NewResponseController(w.ResponseWriter).Flush(); err != nil && w.writeErr == nil && !errors.Is(err, http.ErrNotSupported) {
		w.writeErr = err
	}
}

// Unwrap lets http.ResponseController reach Hijack and deadlines.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingConn wraps the upstream side of an upgraded (101) connection and
// counts bytes each way for the recording.
type countingConn struct {
	io.ReadWriteCloser
	rec      record.Recording
	up, down atomic.Int64
}

// Read is upstream to client.
func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if n > 0 {
		c.rec.Upgraded(c.up.Load(), c.down.Add(int64(n)))
	}
	return n, err
}

// Write is client to upstream.
func (c *countingConn) Write(p []byte) (int, error) {
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

// bodyEnd marks the moment the response body reached EOF.
type bodyEnd struct {
	io.ReadCloser
	t   *timing
	eof atomic.Bool
	err error // the first read error other than EOF; read after the copy ends
}

func (b *bodyEnd) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
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
