package grpcwire

import (
	"net/http"
	"strconv"
	"strings"
)

// statusNames are the names of the standard gRPC status codes, by number,
// as grpc/grpc doc/statuscodes.md spells them.
var statusNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// StatusNames returns the names of the standard gRPC status codes, by
// number ("OK", "CANCELLED", …, "UNAUTHENTICATED"), for help and "did you
// mean" hints. The slice is fresh.
func StatusNames() []string { return append([]string(nil), statusNames[:]...) }

// StatusName returns the name of a gRPC status code ("OK", "NOT_FOUND"),
// or the code in decimal when it is not one of the standard codes.
func StatusName(code int) string {
	if code >= 0 && code < len(statusNames) {
		return statusNames[code]
	}
	return strconv.Itoa(code)
}

// ParseStatus reads a gRPC status code written as its name, in any case
// and with or without its underscores ("NOT_FOUND", "not_found",
// "NotFound", grpc-go's spelling "Canceled" too), or as a decimal number
// ("5"). A number need not be a standard code; a name must be.
func ParseStatus(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return 0, false
		}
		return int(n), true
	}
	want := squash(s)
	if want == "CANCELED" {
		want = "CANCELLED"
	}
	for code, name := range statusNames {
		if squash(name) == want {
			return code, true
		}
	}
	return 0, false
}

// squash upper-cases s and drops its underscores and hyphens, so that the
// spellings of one status name compare equal.
func squash(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-':
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SplitMethod splits the path of a gRPC call, "/pkg.Service/Method", into
// its fully qualified service ("pkg.Service") and method ("Method"). A
// query, as a Connect GET carries, is ignored. ok is false for any other
// shape of path: no leading "/", an empty part, or more than two parts.
func SplitMethod(path string) (service, method string, ok bool) {
	path, _, _ = strings.Cut(path, "?")
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "", "", false
	}
	service, method, ok = strings.Cut(rest, "/")
	if !ok || service == "" || method == "" || strings.Contains(method, "/") {
		return "", "", false
	}
	return service, method, true
}

// StatusOf returns a call's gRPC status: the code and message (percent-
// decoded, as grpc-message is sent) from the grpc-status trailer or, when
// there are no trailers of that name, from the headers of a trailers-only
// response. ok is false when neither holds a grpc-status that parses. For
// gRPC-Web, pass the trailer frame's fields (Message.Trailers) as trailer.
func StatusOf(header, trailer http.Header) (code int, msg string, ok bool) {
	h := trailer
	if h.Get("Grpc-Status") == "" {
		h = header
	}
	code, ok = ParseStatus(h.Get("Grpc-Status"))
	if !ok {
		return 0, "", false
	}
	return code, UnescapeMessage(h.Get("Grpc-Message")), true
}

// UnescapeMessage undoes the percent-encoding of a grpc-message value.
// Bad escapes are kept as sent, as the protocol asks of decoders.
func UnescapeMessage(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) && ishex(v[i+1]) && ishex(v[i+2]) {
			b.WriteByte(unhex(v[i+1])<<4 | unhex(v[i+2]))
			i += 2
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func ishex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
