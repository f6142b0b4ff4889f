// Package codec adds the content codings that need modules outside the
// standard library to record.DecodeBody: "br" (Brotli, via
// github.com/andybalholm/brotli) and "zstd" (Zstandard, via
// github.com/klauspost/compress/zstd). internal/record itself imports only
// the standard library, so programs that show or export bodies import this
// package for its side effect:
//
//	import _ "github.com/devproxy/devproxy/internal/codec"
package codec

import (
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/devproxy/devproxy/internal/record"
)

func init() {
	record.RegisterDecoder("br", brotliReader)
	record.RegisterDecoder("zstd", zstdReader)
}

// brotliReader wraps r in a Brotli decoder, registered as "br".
func brotliReader(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil }

// zstdReader wraps r in a streaming Zstandard decoder, registered as "zstd".
// It runs in the calling goroutine and refuses windows larger than
// record.MaxDecoded, so a hostile frame header cannot make it allocate
// more; DecodeBody caps the output. The reader is an io.ReadCloser, which
// DecodeBody closes.
func zstdReader(r io.Reader) (io.Reader, error) {
	d, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(record.MaxDecoded),
	)
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}
