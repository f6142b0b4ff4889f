package match

// Case-insensitive search without allocating: the filter runs over every
// recorded exchange on each keystroke.

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// containsFold reports whether s contains the lower-case needle, ignoring
// case.
func containsFold(s, needle string) bool {
	if needle == "" {
		return true
	}
	if len(s) < len(needle) {
		return false
	}
	if !isASCII(needle) {
		return strings.Contains(strings.ToLower(s), needle)
	}
	c0 := needle[0]
	up := c0
	if c0 >= 'a' && c0 <= 'z' {
		up = c0 - 'a' + 'A'
	}
	for i := 0; i+len(needle) <= len(s); i++ {
		c := s[i]
		if c != c0 && c != up {
			continue
		}
		if asciiEqualFold(s[i:i+len(needle)], needle) {
			return true
		}
	}
	return false
}

// bytesContainsFold is containsFold for a byte slice, without copying it.
func bytesContainsFold(b []byte, needle string) bool {
	if needle == "" {
		return true
	}
	if len(b) < len(needle) {
		return false
	}
	if !isASCII(needle) {
		return bytes.Contains(bytes.ToLower(b), []byte(needle))
	}
	c0 := needle[0]
	up := c0
	if c0 >= 'a' && c0 <= 'z' {
		up = c0 - 'a' + 'A'
	}
	last := len(b) - len(needle) // the last index a match may start at
	// Candidates are the next occurrences of the first byte in either case,
	// each found once with IndexByte.
	lo, hi := nextByte(b, 0, last, c0), -1
	if up != c0 {
		hi = nextByte(b, 0, last, up)
	}
	for lo >= 0 || hi >= 0 {
		i := lo
		if i < 0 || (hi >= 0 && hi < i) {
			i = hi
		}
		if bytesEqualFold(b[i:i+len(needle)], needle) {
			return true
		}
		if i == lo {
			lo = nextByte(b, i+1, last, c0)
		} else {
			hi = nextByte(b, i+1, last, up)
		}
	}
	return false
}

// nextByte is the index of c in b[from:last+1], or -1.
func nextByte(b []byte, from, last int, c byte) int {
	if from > last {
		return -1
	}
	if j := bytes.IndexByte(b[from:last+1], c); j >= 0 {
		return from + j
	}
	return -1
}

// bytesEqualFold compares b with the lower-case ASCII needle.
func bytesEqualFold(b []byte, needle string) bool {
	for i := 0; i < len(needle); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != needle[i] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiEqualFold compares s with the lower-case ASCII needle.
func asciiEqualFold(s, needle string) bool {
	for i := 0; i < len(needle); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != needle[i] {
			return false
		}
	}
	return true
}
