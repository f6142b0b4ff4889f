package body

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"maps"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Coding wraps an encoded stream in a decoder for one content coding. If the
// reader it returns is also an io.Closer, the Decoder closes it when done.
type Coding func(r io.Reader) (io.Reader, error)

// standard is the table the zero Decoder uses. It is never modified:
// Codings hands out copies.
var standard = map[string]Coding{
	"gzip":    gunzip,
	"x-gzip":  gunzip,
	"deflate": inflate,
	"br":      brotliReader,
	"zstd":    zstdReader,
}

// Codings returns a new copy of the standard table, keyed by lower-case
// coding name: gzip, x-gzip, deflate, br (Brotli) and zstd (Zstandard). Add
// to the copy and set it as Decoder.Codings to decode more.
func Codings() map[string]Coding { return maps.Clone(standard) }

func gunzip(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

// inflate reads "deflate" bodies. RFC 9110 says zlib-wrapped, but some
// servers send a bare deflate stream, so the zlib header is checked first.
func inflate(r io.Reader) (io.Reader, error) {
	br, ok := r.(*bytes.Reader)
	if !ok {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		br = bytes.NewReader(b)
	}
	var head [2]byte
	if n, _ := br.ReadAt(head[:], 0); n == 2 && head[0]&0x0f == 8 && head[0]>>4 <= 7 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

// brotliReader wraps r in a Brotli decoder ("br").
func brotliReader(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil }

// zstdReader wraps r in a streaming Zstandard decoder ("zstd"). It runs in
// the calling goroutine and refuses windows larger than MaxDecoded, so a
// hostile frame header cannot make it allocate more; the Decoder caps the
// output. The reader is an io.ReadCloser, which the Decoder closes.
func zstdReader(r io.Reader) (io.Reader, error) {
	d, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(MaxDecoded),
	)
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}
