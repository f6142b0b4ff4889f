package proxy

import (
	"slices"
	"strings"
	"testing"
)

// scanAll feeds b to a new scanner in pieces cut at the given points and
// returns every verdict and the final state.
func scanAll(b []byte, cuts ...int) ([]string, scanState) {
	s := newRequestScanner(1024)
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(b) {
			s.feed(b[prev:c])
			prev = c
		}
	}
	s.feed(b[prev:])
	var out []string
	for len(s.verdicts) > 0 {
		out = append(out, s.next())
	}
	return out, s.state
}

func TestRequestScannerFraming(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		verdicts int
		refused  []int // indexes of refused blocks
		state    scanState
	}{
		{"two GETs", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", 2, nil, scanHeader},
		{"body with a fake request inside", "POST / HTTP/1.1\r\nContent-Length: 41\r\n\r\nGET /x HTTP/1.1\r\nTransfer-Encoding: x\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 2, nil, scanHeader},
		{"chunked with trailer then GET", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\nA: b\r\n\r\nGET / HTTP/1.1\r\n\r\n", 2, nil, scanHeader},
		{"bare LF headers", "GET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\n\n", 2, nil, scanHeader},
		{"CL and TE", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 1, []int{0}, scanOff},
		{"folded TE", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n", 1, []int{0}, scanOff},
		{"folded CL", "POST / HTTP/1.1\r\nContent-Length:\r\n 3\r\n\r\nabc", 1, []int{0}, scanOff},
		{"bare LF in chunk line", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\nwiki\r\n", 1, nil, scanOff},
		{"gzip transfer coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 1, nil, scanOff},
		{"second request smuggles", "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 2, []int{1}, scanOff},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, st := scanAll([]byte(c.in))
			if len(v) != c.verdicts {
				t.Fatalf("%d verdicts %q, want %d", len(v), v, c.verdicts)
			}
			for i, x := range v {
				if (x != "") != slices.Contains(c.refused, i) {
					t.Errorf("block %d verdict %q, refused want %v", i, x, slices.Contains(c.refused, i))
				}
			}
			if st != c.state {
				t.Errorf("state %d, want %d", st, c.state)
			}
		})
	}
}

// FuzzRequestScanner: the scanner never panics, and how the bytes are split
// across reads never changes what it concludes.
func FuzzRequestScanner(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), uint16(7), uint16(50))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), uint16(1), uint16(2))
	f.Add([]byte("GET / HTTP/1.1\nA:\n b\n\nGET /2 HTTP/1.1\n\n"), uint16(3), uint16(30))
	f.Fuzz(func(t *testing.T, b []byte, c1, c2 uint16) {
		whole, st1 := scanAll(b)
		split, st2 := scanAll(b, int(c1)%(len(b)+1), int(c2)%(len(b)+1))
		bytewise := newRequestScanner(1024)
		for i := range b {
			bytewise.feed(b[i : i+1])
		}
		if !slices.Equal(whole, split) || st1 != st2 || st1 != bytewise.state || len(bytewise.verdicts) != len(whole) {
			t.Fatalf("split changed the result: whole %q/%d, split %q/%d, bytewise %d/%d", whole, st1, split, st2, len(bytewise.verdicts), bytewise.state)
		}
	})
}

// FuzzFramingFields: the scanner's quick read of the framing fields agrees
// with splitHeaderBlock, which records a refused request's headers.
func FuzzFramingFields(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\ncontent-LENGTH:  4 \r\n\tx\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nA:\n b\nTransfer-Encoding: chunked\n \n\nContent-Length: 1\n"))
	f.Add([]byte(" x\r\n y\r\nno colon\r\n z\r\nTransfer-Encoding:\r\n w\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cl, te, folded := framingFields(b)
		_, fields, fold := splitHeaderBlock(b)
		var wantCL, wantTE []string
		for _, fl := range fields {
			// ASCII case only: a name with other letters is no token, and
			// net/http refuses the request before any verdict matters.
			lower := strings.Map(func(r rune) rune {
				if 'A' <= r && r <= 'Z' {
					return r + 'a' - 'A'
				}
				return r
			}, fl.name)
			switch lower {
			case "content-length":
				wantCL = append(wantCL, fl.value)
			case "transfer-encoding":
				wantTE = append(wantTE, fl.value)
			}
		}
		wantFolded := fold["content-length"] || fold["transfer-encoding"]
		if folded != wantFolded || len(cl) != len(wantCL) || len(te) != len(wantTE) {
			t.Fatalf("framingFields = %q %q %v, splitHeaderBlock %q %q %v", cl, te, folded, wantCL, wantTE, wantFolded)
		}
		if !folded && (!slices.Equal(cl, wantCL) || !slices.Equal(te, wantTE)) {
			t.Fatalf("framingFields = %q %q, splitHeaderBlock %q %q", cl, te, wantCL, wantTE)
		}
	})
}
