package proxy

import (
	"net/http"
	"strconv"
	"time"
)

// grpcDeadlinePassed reports whether r is a gRPC call whose grpc-timeout,
// counted from start (when devproxy received it), has passed. A gRPC server
// resets such a call's stream (grpc-go sends RST_STREAM CANCEL) rather than
// answering, which the engine sees as a failed round trip.
func grpcDeadlinePassed(r *http.Request, start time.Time) bool {
	if !isGRPC(r.Header.Get("Content-Type")) {
		return false
	}
	d, ok := parseGRPCTimeout(r.Header.Get("Grpc-Timeout"))
	return ok && time.Since(start) >= d
}

// parseGRPCTimeout reads a grpc-timeout value: at most 8 digits and a unit
// (H, M, S, m, u, n).
func parseGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// writeGRPCDeadline answers a gRPC call whose deadline passed as a gRPC
// server would: trailers-only, grpc-status 4 (DEADLINE_EXCEEDED), so the
// client reports its deadline, not a proxy error, whichever side noticed
// first. The recorded error stays what the engine saw.
func writeGRPCDeadline(w http.ResponseWriter, why string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", "4")
	h.Set("Grpc-Message", grpcMessageEscape("deadline exceeded (devproxy: "+why+")"))
	w.WriteHeader(http.StatusOK)
}

// grpcMessageEscape percent-encodes a grpc-message value as the gRPC
// protocol asks: bytes outside printable ASCII, and '%'.
func grpcMessageEscape(s string) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' || c == '%' {
			out = append(out, '%', hex[c>>4], hex[c&15])
			continue
		}
		out = append(out, c)
	}
	return string(out)
}
