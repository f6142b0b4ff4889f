package grpcwire

import (
	"bytes"
	"strings"
	"testing"
)

func TestDecodeRaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
		ok   bool
	}{
		{"empty", nil, "", true},
		{"varint", []byte{0x08, 0x96, 0x01}, "1: 150\n", true},
		{"negative int64", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "1: 18446744073709551615\n", true},
		{"string", append([]byte{0x12, 0x05}, "hello"...), "2: \"hello\"\n", true},
		{"utf8 string", append([]byte{0x12, 0x06}, "héllo"...), "2: \"héllo\"\n", true},
		{"empty string", []byte{0x12, 0x00}, "2: \"\"\n", true},
		{"escaped", []byte{0x12, 0x01, '\n'}, "2: \"\\n\"\n", true},
		{"quotes", append([]byte{0x12, 0x04}, `a"\'`...), "2: \"a\\\"\\\\\\'\"\n", true},
		{"bytes", []byte{0x12, 0x02, 0xff, 0xfe}, "2: \"\\377\\376\"\n", true},
		{"control in utf8", []byte{0x12, 0x03, 'a', 0x7f, 'b'}, "2: \"a\\177b\"\n", true},
		{"nested", []byte{0x1a, 0x03, 0x08, 0x96, 0x01}, "3 {\n  1: 150\n}\n", true},
		{"nested twice", []byte{0x1a, 0x05, 0x12, 0x03, 0x08, 0x96, 0x01, 0x20, 0x01},
			"3 {\n  2 {\n    1: 150\n  }\n}\n4: 1\n", true},
		{"fixed32", []byte{0x25, 0x01, 0x00, 0x00, 0x00}, "4: 0x00000001\n", true},
		{"fixed64", []byte{0x29, 0x01, 0x02, 0, 0, 0, 0, 0, 0x80}, "5: 0x8000000000000201\n", true},
		{"group", []byte{0x33, 0x08, 0x01, 0x34}, "6 {\n  1: 1\n}\n", true},
		{"nested group", []byte{0x33, 0x3b, 0x08, 0x01, 0x3c, 0x34}, "6 {\n  7 {\n    1: 1\n  }\n}\n", true},
		{"large field number", []byte{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01}, "536870911: 1\n", true},
		{"repeated", []byte{0x08, 0x01, 0x08, 0x02}, "1: 1\n1: 2\n", true},

		{"truncated varint", []byte{0x08}, "# malformed: at byte 1: field 1: truncated or overlong varint\n", false},
		{"after a field", []byte{0x08, 0x96, 0x01, 0x10}, "1: 150\n# malformed: at byte 4: field 2: truncated or overlong varint\n", false},
		{"field 0", []byte{0x00, 0x01}, "# malformed: at byte 0: field number 0\n", false},
		{"wire type 6", []byte{0x0e}, "# malformed: at byte 0: field 1: wire type 6 does not exist\n", false},
		{"overlong varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "# malformed: at byte 1: field 1: truncated or overlong varint\n", false},
		{"tag over 32 bits", []byte{0x80, 0x80, 0x80, 0x80, 0x10}, "# malformed: at byte 0: field tag 4294967296 is over 32 bits\n", false},
		{"length past end", []byte{0x12, 0x05, 'a'}, "# malformed: at byte 2: field 2: length 5 past the end (1 bytes left)\n", false},
		{"short fixed32", []byte{0x25, 0x01}, "# malformed: at byte 1: field 4: 1 of 4 fixed-width bytes\n", false},
		{"unterminated group", []byte{0x33, 0x08, 0x01}, "6 {\n  1: 1\n}\n# malformed: at byte 3: group 6 has no end\n", false},
		{"wrong end group", []byte{0x33, 0x3c}, "6 {\n}\n# malformed: at byte 1: end of group 7 inside group 6\n", false},
		{"stray end group", []byte{0x08, 0x01, 0x0c}, "1: 1\n# malformed: at byte 2: end of group 1 outside any group\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DecodeRaw(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("DecodeRaw(% x) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestDecodeRawPrefersMessage checks protoc's heuristic: bytes that parse
// as a message are shown as one even when they are also printable.
func TestDecodeRawPrefersMessage(t *testing.T) {
	// " !" is printable and a message: ' ' (0x20) is field 4 varint, '!'
	// (0x21) its value 33.
	got, ok := DecodeRaw([]byte{0x0a, 0x02, ' ', '!'})
	if want := "1 {\n  4: 33\n}\n"; got != want || !ok {
		t.Errorf("got %q, %v; want %q", got, ok, want)
	}
}

// lenField encodes field 1, length-delimited, holding v.
func lenField(v []byte) []byte {
	b := []byte{0x0a}
	for n := uint64(len(v)); ; n >>= 7 {
		if n < 0x80 {
			b = append(b, byte(n))
			break
		}
		b = append(b, byte(n)|0x80)
	}
	return append(b, v...)
}

func TestDecodeRawDepth(t *testing.T) {
	b := []byte{0x08, 0x01}
	for range 100 {
		b = lenField(b)
	}
	got, ok := DecodeRaw(b)
	if !ok {
		t.Fatalf("not ok: %q", got)
	}
	if n := strings.Count(got, "{"); n != MaxDepth {
		t.Errorf("%d blocks, want %d", n, MaxDepth)
	}
	lines := strings.Split(got, "\n")
	if last := lines[MaxDepth]; !strings.HasPrefix(last, strings.Repeat("  ", MaxDepth)+"1: \"") {
		t.Errorf("line past the depth limit is %q, want a string", last)
	}

	var groups []byte
	for range MaxDepth + 1 {
		groups = append(groups, 0x0b)
	}
	got, ok = DecodeRaw(groups)
	if ok || !strings.Contains(got, "nested over 64 deep") {
		t.Errorf("groups %d deep: ok %v, text ends %q", MaxDepth+1, ok, got[max(0, len(got)-100):])
	}
}

func TestDecodeRawBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"long string", lenField(bytes.Repeat([]byte{0xff}, 3*MaxText))},
		{"many fields", bytes.Repeat([]byte{0x08, 0x96, 0x01}, MaxText)},
		{"many nested", bytes.Repeat(lenField(lenField([]byte{0x08, 0x01})), MaxText/4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DecodeRaw(tc.in)
			if ok {
				t.Error("ok for a text over MaxText")
			}
			if len(got) > MaxText+4096 {
				t.Errorf("%d bytes of text, MaxText %d", len(got), MaxText)
			}
			if !strings.HasSuffix(got, "# text truncated at 1048576 bytes\n") {
				t.Errorf("text ends %q", got[max(0, len(got)-100):])
			}
		})
	}
}
