package body

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// IsBinary reports whether b cannot be carried as text: it is not UTF-8,
// or it holds a NUL byte (which ends a C string and which no shell string
// can carry). HAR writes such bodies as base64, curl reads them from a file.
func IsBinary(b []byte) bool {
	return !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0
}

// IsForm reports whether contentType (a Content-Type value, parameters
// allowed) is application/x-www-form-urlencoded.
func IsForm(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}
