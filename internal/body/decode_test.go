package body

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

var decodeSample = []byte(strings.Repeat("devproxy decodes bodies on demand. ", 300))

func completeBody(b []byte) record.Body {
	return record.Body{Bytes: b, Size: int64(len(b)), Complete: true}
}

// encode compresses p with the writer wrap puts around a buffer.
func encode(p []byte, wrap func(io.Writer) (io.WriteCloser, error)) []byte {
	var b bytes.Buffer
	w, _ := wrap(&b)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func gzipBytes(p []byte) []byte {
	return encode(p, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestCompression) })
}

func deflateRaw(p []byte) []byte {
	return encode(p, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.DefaultCompression) })
}

func deflateZlib(p []byte) []byte {
	return encode(p, func(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriter(w), nil })
}

func TestDecodeBody(t *testing.T) {
	for _, tc := range []struct {
		name, coding string
		in           []byte
	}{
		{"gzip", "gzip", gzipBytes(decodeSample)},
		{"x-gzip", "x-gzip", gzipBytes(decodeSample)},
		{"case and spaces", " GZip ", gzipBytes(decodeSample)},
		{"deflate zlib", "deflate", deflateZlib(decodeSample)},
		{"deflate raw", "deflate", deflateRaw(decodeSample)},
		{"list undone in reverse", "deflate, gzip", gzipBytes(deflateZlib(decodeSample))},
		{"identity in a list", "identity, gzip", gzipBytes(decodeSample)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note, err := Decode(tc.in, tc.coding)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, decodeSample) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(decodeSample))
			}
			if !strings.HasPrefix(note, "decoded from ") || !strings.Contains(note, "→ 10.3 KiB") {
				t.Errorf("note = %q", note)
			}
		})
	}
}

func TestDecodeBodyPassThrough(t *testing.T) {
	in := []byte("plain")
	for _, ce := range []string{"", "identity", " , identity"} {
		got, note, err := Decode(in, ce)
		if err != nil || note != "" || &got[0] != &in[0] {
			t.Errorf("Decode(%q) = %q, %q, %v; want the input unchanged", ce, got, note, err)
		}
	}
	if got, _, err := Decode(nil, "gzip"); err != nil || len(got) != 0 {
		t.Errorf("empty gzip body: %q, %v", got, err)
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	if _, _, err := Decode([]byte("x"), "gzip, compress"); err == nil || !strings.Contains(err.Error(), `"compress"`) {
		t.Errorf("unknown coding: %v", err)
	}
	if _, _, err := Decode([]byte("not gzip at all"), "gzip"); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("corrupt gzip: %v", err)
	}
	bad := gzipBytes(decodeSample)
	bad[len(bad)-6] ^= 0xff // the CRC
	if got, _, err := Decode(bad, "gzip"); err == nil || got != nil {
		t.Errorf("bad checksum: %d bytes, %v", len(got), err)
	}
}

func TestDecodeBodyTruncated(t *testing.T) {
	for _, tc := range []struct {
		coding string
		in     []byte
	}{
		{"gzip", gzipBytes(decodeSample)},
		{"deflate", deflateZlib(decodeSample)},
	} {
		cut := tc.in[:len(tc.in)/2]
		got, note, err := Decode(cut, tc.coding)
		if err != nil {
			t.Fatalf("%s: a truncated capture should decode what it can: %v", tc.coding, err)
		}
		if !bytes.HasPrefix(decodeSample, got) {
			t.Errorf("%s: output is not a prefix of the original", tc.coding)
		}
		if !strings.Contains(note, "ended early") {
			t.Errorf("%s: note = %q", tc.coding, note)
		}
	}
	// Cut inside the gzip header: nothing to show, but not an error either.
	if got, note, err := Decode(gzipBytes(decodeSample)[:5], "gzip"); err != nil || len(got) != 0 || !strings.Contains(note, "before any output") {
		t.Errorf("cut header: %q, %q, %v", got, note, err)
	}
}

// A small body that expands past the cap stops there and says so. (The
// real MaxDecoded is exercised end to end in TestDecodeZstdBomb.)
func TestDecodeBodyBomb(t *testing.T) {
	const limit = 1 << 20
	bomb := gzipBytes(make([]byte, 3*limit))
	for _, ce := range []string{"gzip", "gzip, gzip"} {
		in := bomb
		if ce == "gzip, gzip" {
			in = gzipBytes(bomb)
		}
		got, note, partial, err := Decoder{Limit: limit}.Decode(in, ce)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != limit || !partial || !strings.Contains(note, "stopped at 1.0 MiB of gzip output (decompression limit)") {
			t.Errorf("%s: %d bytes, partial %v, note %q; want the cap and a note", ce, len(got), partial, note)
		}
	}
}

// A Decoder decodes with its own table: the standard codings plus one of
// the caller's, matched case-insensitively.
func TestDecoderCodings(t *testing.T) {
	codings := Codings()
	codings["x-rot13"] = func(r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		for i, c := range b {
			switch {
			case 'a' <= c && c <= 'z':
				b[i] = 'a' + (c-'a'+13)%26
			case 'A' <= c && c <= 'Z':
				b[i] = 'A' + (c-'A'+13)%26
			}
		}
		return bytes.NewReader(b), err
	}
	got, _, _, err := Decoder{Codings: codings}.Decode(gzipBytes([]byte("Uryyb")), "X-Rot13, gzip")
	if err != nil || string(got) != "Hello" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, _, err := Decode([]byte("Uryyb"), "x-rot13"); err == nil {
		t.Error("the standard table learned the caller's coding")
	}
}

func TestBodyDecodedMethods(t *testing.T) {
	live := record.Exchange{
		Request:  record.Request{Header: record.Fields{{Name: "Content-Encoding", Value: "gzip"}}, Body: completeBody(gzipBytes([]byte("req")))},
		Response: &record.Response{Header: record.Fields{{Name: "Content-Encoding", Value: "gzip"}}, Body: completeBody(gzipBytes([]byte("resp")))},
	}
	if b, note, err := Request(&live); err != nil || string(b) != "req" || note == "" {
		t.Errorf("request: %q %q %v", b, note, err)
	}
	if b, _, err := Response(&live); err != nil || string(b) != "resp" {
		t.Errorf("response: %q %v", b, err)
	}

	imported := live
	imported.BodiesDecoded = true
	imported.Response = &record.Response{Header: record.Fields{{Name: "Content-Encoding", Value: "gzip"}}, Body: completeBody([]byte("already plain"))}
	if b, note, err := Response(&imported); err != nil || string(b) != "already plain" || note != "decoded on import (gzip)" {
		t.Errorf("imported: %q %q %v", b, note, err)
	}
	if b, _, err := Response(&record.Exchange{}); b != nil || err != nil {
		t.Errorf("no response: %q %v", b, err)
	}
}
