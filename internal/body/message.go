package body

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrTooLarge is wrapped by the error InflateMessage returns when a
// message inflates past its cap.
var ErrTooLarge = errors.New("decompressed message too large")

// InflateMessage undoes coding on one whole message, such as a gRPC
// message compressed with its call's grpc-encoding (Connect:
// connect-content-encoding), with the standard table (see Codings):
// "identity" and "" return b itself, names are matched without regard to
// case, and any other coding is an error that names it.
//
// Unlike Decode it is strict, since a message decodes only whole: at most
// max bytes come out (max <= 0 means MaxDecoded), and a message that
// inflates to more is an error wrapping ErrTooLarge, so a small
// compression bomb costs at most max bytes of memory; a truncated or
// corrupt message is an error too.
func InflateMessage(coding string, b []byte, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxDecoded
	}
	c := strings.ToLower(strings.TrimSpace(coding))
	if c == "" || c == "identity" {
		return b, nil
	}
	fn := standard[c]
	if fn == nil {
		return nil, fmt.Errorf("the message is compressed with %q, which devproxy cannot inflate (it reads gzip, deflate, br and zstd); ask the client or server for gzip or identity to see it", coding)
	}
	r, err := fn(bytes.NewReader(b))
	var out []byte
	if err == nil {
		if cl, ok := r.(io.Closer); ok {
			defer cl.Close()
		}
		out, err = io.ReadAll(io.LimitReader(r, max+1))
	}
	switch {
	case isTruncation(err):
		return nil, fmt.Errorf("%s message ends early (%d compressed bytes): it was probably cut short by the capture limit", c, len(b))
	case err != nil:
		return nil, fmt.Errorf("%s message: %w", c, err)
	case int64(len(out)) > max:
		return nil, fmt.Errorf("%w: the %s message inflates past %d bytes", ErrTooLarge, c, max)
	}
	return out, nil
}
