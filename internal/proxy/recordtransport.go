package proxy

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// RecordTransport records the requests devproxy sends by itself (health
// checks, with --show-health) as exchanges of role on tap, each with marks,
// then sends them through inner. The response body is recorded as the
// caller reads it; the exchange ends when it reaches its end or is closed.
func RecordTransport(tap record.Tap, role record.Role, marks []record.Mark, inner http.RoundTripper) http.RoundTripper {
	return &recordTransport{tap: tap, role: role, marks: marks, inner: inner}
}

type recordTransport struct {
	tap   record.Tap
	role  record.Role
	marks []record.Mark
	inner http.RoundTripper
}

func (t *recordTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	rec := t.tap.Begin(record.Begin{
		Role:          t.role,
		Start:         start,
		ClientAddr:    "devproxy",
		Request:       requestRecord(req, req.URL.String()),
		ContentLength: bodyLength(req),
		Marks:         t.marks,
	})
	rec.Upstream(req.URL.String())
	rec.RequestEnd(nil)
	res, err := t.inner.RoundTrip(req)
	if err != nil {
		rec.Finish(record.Finish{End: time.Now(), Err: classify(err, req.URL.Host, req.Context().Err() != nil)})
		return nil, err
	}
	rec.Response(record.Response{Status: res.StatusCode, Reason: reason(res), Proto: res.Proto, Header: record.FieldsFromHeader(res.Header)}, "")
	res.Body = &recordedBody{ReadCloser: res.Body, rec: rec}
	return res, nil
}

// recordedBody tees a response body to its recording and finishes it once.
type recordedBody struct {
	io.ReadCloser
	rec  record.Recording
	once sync.Once
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.rec.ResponseBody(p[:n])
	}
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

func (b *recordedBody) Close() error {
	b.finish(false)
	return b.ReadCloser.Close()
}

func (b *recordedBody) finish(complete bool) {
	b.once.Do(func() { b.rec.Finish(record.Finish{End: time.Now(), ResponseComplete: complete}) })
}
