package record

// FormatRaw renders a request as HTTP/1.1 text for editing: request line
// with the path, a Host line, the other headers, a blank line, the body.
func FormatRaw(req Request) []byte { panic("TODO(har helper)") }

// ParseRaw reads HTTP/1.1 request text as FormatRaw writes it (and as a user
// may edit it). base supplies scheme and host when the request line holds a
// path only. Errors are *RawError with the 1-based line.
func ParseRaw(text []byte, base string) (Request, error) { panic("TODO(har helper)") }

// RawError is a parse error in raw request text.
type RawError struct {
	Line int
	Msg  string
}

func (e *RawError) Error() string { panic("TODO(har helper)") }
