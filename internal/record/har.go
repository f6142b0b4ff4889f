package record

import "io"

// Redaction is how much of an exchange's secrets a HAR export hides.
type Redaction string

// Redaction levels.
const (
	// RedactDefault hides Authorization, Proxy-Authorization, Cookie,
	// Set-Cookie and the cookies arrays.
	RedactDefault Redaction = "default"
	// RedactStrict also hides query, form and JSON fields named like
	// secrets, and JWT signatures.
	RedactStrict Redaction = "strict"
	// RedactNone exports everything as recorded.
	RedactNone Redaction = "none"
)

// ParseRedaction accepts "default", "strict" or "none".
func ParseRedaction(s string) (Redaction, error) { panic("TODO(har helper)") }

// HAROptions configure a HAR export.
type HAROptions struct {
	Redact Redaction // default RedactDefault
	// Version is devproxy's version, written in log.creator.
	Version string
}

// WriteHAR writes xs as a HAR 1.2 document.
func WriteHAR(w io.Writer, xs []Exchange, o HAROptions) error { panic("TODO(har helper)") }

// WriteHARFile writes xs to path atomically (temp file + rename): the file is
// either the complete export or untouched.
func WriteHARFile(path string, xs []Exchange, o HAROptions) error { panic("TODO(har helper)") }

// ReadHAR parses a HAR document (devproxy's, Chrome's, Firefox's,
// mitmproxy's) into exchanges with Role RoleView. Errors name the position
// and the problem.
func ReadHAR(r io.Reader) ([]Exchange, error) { panic("TODO(har helper)") }
