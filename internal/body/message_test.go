package body

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"strings"
	"testing"
)

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInflateMessage(t *testing.T) {
	msg := []byte("\x0a\x05hello\x10\x2a" + strings.Repeat("x", 1000))
	var z, fl bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(msg)
	zw.Close()
	fw, _ := flate.NewWriter(&fl, flate.BestSpeed)
	fw.Write(msg)
	fw.Close()
	for _, tc := range []struct {
		name, encoding string
		payload        []byte
	}{
		{"gzip", "gzip", gzipped(t, msg)},
		{"gzip any case", " GZip ", gzipped(t, msg)},
		{"deflate is zlib", "deflate", z.Bytes()},
		{"raw deflate", "deflate", fl.Bytes()},
		{"identity", "identity", msg},
		{"none", "", msg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InflateMessage(tc.encoding, tc.payload, 0)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("InflateMessage(%q) = %q, %v", tc.encoding, got, err)
			}
		})
	}
}

func TestInflateMessageErrors(t *testing.T) {
	big := gzipped(t, make([]byte, 1<<20))
	for _, tc := range []struct {
		name, encoding string
		payload        []byte
		max            int64
		want           string
		is             error
	}{
		{"unknown coding", "snappy", []byte("x"), 0, `compressed with "snappy"`, nil},
		{"bomb", "gzip", big, 4096, "inflates past 4096 bytes", ErrTooLarge},
		{"truncated", "gzip", gzipped(t, []byte("hello, world"))[:15], 0, "ends early", nil},
		{"empty", "gzip", nil, 0, "ends early", nil},
		{"not gzip", "gzip", []byte("hello, world, not gzip"), 0, "gzip message: gzip: invalid header", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InflateMessage(tc.encoding, tc.payload, tc.max)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decompress = %d bytes, %v; want an error with %q", len(got), err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestInflateMessageExactlyMax(t *testing.T) {
	got, err := InflateMessage("gzip", gzipped(t, make([]byte, 4096)), 4096)
	if err != nil || len(got) != 4096 {
		t.Fatalf("Decompress = %d bytes, %v; want 4096, nil", len(got), err)
	}
}
