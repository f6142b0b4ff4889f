package bodyview

import (
	"bytes"
	"context"
)

// findChunk is how much of the body Find lowers at a time.
const findChunk = 1 << 20

// Find returns the offsets in data where query occurs, ignoring ASCII case,
// in order and not overlapping, at most limit of them; more reports that
// there were more. It checks ctx between chunks.
func Find(ctx context.Context, data []byte, query string, limit int) (offs []int, more bool, err error) {
	q := bytes.ToLower([]byte(query))
	if len(q) == 0 || len(q) > len(data) {
		return nil, false, nil
	}
	buf := make([]byte, 0, min(len(data), findChunk+len(q)))
	next := 0 // the first offset a match may start at (no overlaps)
	for start := 0; start < len(data); start += findChunk {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		from := max(start, next)
		end := min(start+findChunk+len(q)-1, len(data))
		if from >= end {
			continue
		}
		buf = lowerASCII(buf[:0], data[from:end])
		for i := 0; ; {
			j := bytes.Index(buf[i:], q)
			if j < 0 {
				break
			}
			at := from + i + j
			if at >= start+findChunk {
				break // the next chunk finds it
			}
			if len(offs) == limit {
				return offs, true, nil
			}
			offs = append(offs, at)
			next = at + len(q)
			i += j + len(q)
		}
	}
	return offs, false, nil
}

func lowerASCII(dst, src []byte) []byte {
	for _, c := range src {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
