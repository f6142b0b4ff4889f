package cache

import (
	"io"
)

// tee keeps a copy of a response body as it streams to the client and
// hands the copy to store once the body has ended complete. The client
// never waits for the cache: the copy is an append in Read, and a body
// that grows past limit is simply no longer copied.
type tee struct {
	body  io.ReadCloser
	buf   []byte
	limit int64
	want  int64 // Content-Length, or -1
	store func(body []byte)
	over  bool // passed limit, or already handed over
}

func newTee(body io.ReadCloser, want, limit int64, store func([]byte)) *tee {
	t := &tee{body: body, limit: limit, want: want, store: store}
	if want > 0 && want <= limit {
		t.buf = make([]byte, 0, want)
	}
	return t
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.body.Read(p)
	if !t.over {
		if int64(len(t.buf)+n) > t.limit {
			t.over, t.buf = true, nil
		} else {
			t.buf = append(t.buf, p[:n]...)
		}
	}
	if err == io.EOF && !t.over {
		t.over = true
		if t.want < 0 || int64(len(t.buf)) == t.want {
			t.store(t.buf)
		}
		t.buf = nil
	}
	return n, err
}

// Close closes the body; a body closed before its end is not stored.
func (t *tee) Close() error {
	t.over, t.buf = true, nil
	return t.body.Close()
}
