package body

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

func brEncode(t *testing.T, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := brotli.NewWriterLevel(&b, 5)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdEncode(t *testing.T, p []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(p, nil)
}

// sample is compressible text, large enough that a cut in the middle of the
// compressed stream still leaves whole blocks to decode.
var sample = []byte(strings.Repeat(`{"id": 12, "name": "devproxy", "tags": ["a", "b"]}`+"\n", 4000))

func TestDecodeRegistered(t *testing.T) {
	for _, tc := range []struct {
		coding  string
		encoded []byte
	}{
		{"br", brEncode(t, sample)},
		{"BR", brEncode(t, sample)},
		{"zstd", zstdEncode(t, sample)},
		{"gzip, br", brEncode(t, gzipBytes(sample))},
		{"br, zstd", zstdEncode(t, brEncode(t, sample))},
		{"zstd, identity, gzip", gzipBytes(zstdEncode(t, sample))},
	} {
		t.Run(tc.coding, func(t *testing.T) {
			got, note, err := Decode(tc.encoded, tc.coding)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got, sample) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(sample))
			}
			if !strings.HasPrefix(note, "decoded from ") || strings.Contains(note, "truncated") {
				t.Errorf("note = %q", note)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, tc := range []struct {
		coding  string
		encoded []byte
	}{
		{"br", brEncode(t, sample)},
		{"zstd", zstdEncode(t, sample)},
	} {
		t.Run(tc.coding, func(t *testing.T) {
			cut := tc.encoded[:len(tc.encoded)*2/3]
			got, note, err := Decode(cut, tc.coding)
			if err != nil {
				t.Fatalf("a truncated capture should decode what it can, got %v", err)
			}
			if !bytes.HasPrefix(sample, got) || len(got) >= len(sample) {
				t.Errorf("decoded %d bytes: want a proper prefix of the %d-byte sample", len(got), len(sample))
			}
			if !strings.Contains(note, "ended early") {
				t.Errorf("note %q does not say the input ended early", note)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	for _, coding := range []string{"br", "zstd"} {
		_, _, err := Decode([]byte("this is not compressed at all, not even a little"), coding)
		if err == nil || !strings.Contains(err.Error(), coding) {
			t.Errorf("%s: err = %v, want an error naming the coding", coding, err)
		}
	}
}

// A small zstd body that expands past MaxDecoded stops there and says
// so, instead of filling memory.
func TestDecodeZstdBomb(t *testing.T) {
	enc := zstdEncode(t, make([]byte, MaxDecoded+1<<20))
	got, note, err := Decode(enc, "zstd")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxDecoded {
		t.Errorf("decoded %d bytes, want the cap %d", len(got), MaxDecoded)
	}
	if !strings.Contains(note, "decompression limit") {
		t.Errorf("note = %q", note)
	}
}

// The decoders must not leave goroutines or state behind between bodies;
// decoding many bodies concurrently exercises that under -race.
func TestDecodeConcurrent(t *testing.T) {
	enc := zstdEncode(t, sample)
	br := brEncode(t, sample)
	done := make(chan error)
	for i := range 8 {
		go func() {
			in, coding := enc, "zstd"
			if i%2 == 1 {
				in, coding = br, "br"
			}
			got, _, err := Decode(in, coding)
			if err == nil && !bytes.Equal(got, sample) {
				err = io.ErrShortBuffer
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
