package proxy

import (
	"errors"

	"github.com/devproxy/devproxy/internal/record"
)

// AbortError ends an exchange the way a crashed server would, for fault
// injection: instead of an error response, the client's connection is
// closed (on HTTP/2, its stream is reset). A request or response stage
// returns it (or an error that wraps it) to close the connection before
// any answer; a response body a stage wrapped returns it from Read to cut
// the body off where it is, after the headers and the bytes so far went
// out. The exchange is recorded as failed with Kind and Message (and the
// status already sent, if any); then the handler panics with
// http.ErrAbortHandler, which is how net/http closes a connection without
// logging. A replay has no connection to close: it is only recorded.
type AbortError struct {
	// Kind and Message are how the exchange is recorded.
	Kind    record.ErrorKind
	Message string
}

// Error is "KIND: MESSAGE", like record.Error's.
func (e *AbortError) Error() string { return string(e.Kind) + ": " + e.Message }

// abortOf returns the AbortError in err's chain, or nil.
func abortOf(err error) *AbortError {
	var ab *AbortError
	if errors.As(err, &ab) {
		return ab
	}
	return nil
}
