// Package suggest finds the word a user probably meant, for "did you mean"
// hints in error messages (config keys, route keys, rule actions).
package suggest

import "strings"

// Nearest returns the entry of known closest to s, and whether it is close
// enough to suggest: at most a third of s's letters apart (at least one),
// or s is the start of it.
func Nearest(s string, known []string) (string, bool) {
	if len(s) >= 3 {
		prefixed := ""
		for _, k := range known {
			if strings.HasPrefix(k, s) && (prefixed == "" || len(k) < len(prefixed)) {
				prefixed = k
			}
		}
		if prefixed != "" {
			return prefixed, true
		}
	}
	best, bestD := "", -1
	for _, k := range known {
		if d := Distance(s, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if s == "" || best == "" {
		return best, false
	}
	return best, bestD <= max(1, len(s)/3)
}

// Distance is the Levenshtein distance between a and b, with a swap of two
// neighbouring letters counting as one edit.
func Distance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
