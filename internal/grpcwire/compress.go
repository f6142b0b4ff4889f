package grpcwire

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrTooLarge is wrapped by the error Decompress returns when a message
// inflates past its cap.
var ErrTooLarge = errors.New("decompressed message too large")

// Decompress inflates one message's payload compressed with the call's
// grpc-encoding (Connect: connect-content-encoding): "gzip", "deflate"
// (zlib, as gRPC's deflate is; raw deflate is accepted too), or "identity"
// and "", which return payload itself. Names are matched without regard
// to case. Any other coding is an error that names it.
//
// At most max bytes come out (max <= 0 means DefaultLimit): a message that
// inflates to more is an error wrapping ErrTooLarge, so a small
// compression bomb costs at most max bytes of memory. A truncated or
// corrupt payload is an error too.
func Decompress(encoding string, payload []byte, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultLimit
	}
	coding := strings.ToLower(strings.TrimSpace(encoding))
	var (
		r   io.Reader
		err error
	)
	switch coding {
	case "", "identity":
		return payload, nil
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(payload))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(payload))
		if errors.Is(err, zlib.ErrHeader) {
			r, err = flate.NewReader(bytes.NewReader(payload)), nil
		}
	default:
		return nil, fmt.Errorf("grpcwire: the message is compressed with %q, which devproxy cannot inflate (it reads gzip and deflate); ask the client or server for gzip or identity to see it", encoding)
	}
	var out []byte
	if err == nil {
		out, err = io.ReadAll(io.LimitReader(r, max+1))
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("grpcwire: %s message ends early (%d compressed bytes): it was probably cut short by the capture limit", coding, len(payload))
	case err != nil:
		return nil, fmt.Errorf("grpcwire: %s message: %w", coding, err)
	case int64(len(out)) > max:
		return nil, fmt.Errorf("grpcwire: %w: the %s message inflates past %d bytes", ErrTooLarge, coding, max)
	}
	return out, nil
}
