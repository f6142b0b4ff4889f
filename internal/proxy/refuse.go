package proxy

import (
	"net/http"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// Refuse answers a request devproxy will not forward (no route, no access)
// with a one-line error, and records it so the UI shows it like any other
// exchange.
func Refuse(tap record.Tap, role record.Role, w http.ResponseWriter, r *http.Request, status int, kind record.ErrorKind, msg string) {
	if tap == nil {
		tap = record.Discard
	}
	rec := tap.Begin(record.Begin{
		Role:       role,
		Start:      time.Now(),
		ClientAddr: r.RemoteAddr,
		Request:    requestRecord(r, requestURL(r)),
	})
	reject(rec, w, &record.Error{Kind: kind, Message: msg, Status: status})
}

// reject writes e to the client and ends the recording with it.
func reject(rec record.Recording, w http.ResponseWriter, e *record.Error) {
	writeError(w, e)
	rec.Finish(record.Finish{End: time.Now(), Timings: record.NoTimings, Err: e})
}
