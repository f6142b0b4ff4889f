package match

import (
	"path"
	"unicode/utf8"
)

// globMatch is path.Match in which * and ? also match "/". It runs in
// O(len(pattern)*len(name)): a star only ever backtracks to the latest star.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	star, starN := -1, 0
	for {
		if px < len(pattern) && pattern[px] == '*' {
			star, starN = px, nx
			px++
			continue
		}
		if px < len(pattern) && nx < len(name) {
			n := globElemLen(pattern[px:])
			_, size := utf8.DecodeRuneInString(name[nx:])
			if globElemMatch(pattern[px:px+n], name[nx:nx+size]) {
				px, nx = px+n, nx+size
				continue
			}
		} else if px == len(pattern) && nx == len(name) {
			return true
		}
		if star < 0 || starN >= len(name) {
			return false
		}
		_, size := utf8.DecodeRuneInString(name[starN:])
		starN += size
		px, nx = star+1, starN
	}
}

// globElemMatch matches one pattern element (a rune, an escaped rune, ? or a
// class) against one rune, with path.Match for escapes and classes.
func globElemMatch(elem, r string) bool {
	switch elem[0] {
	case '?':
		return true // path.Match's ? does not match "/"; ours does.
	case '\\', '[':
		ok, err := path.Match(elem, r)
		return err == nil && ok
	}
	// A plain rune, the common case: path.Match would compare it too, at
	// a few times the cost (a rules stage tries every path glob on every
	// request).
	return elem == r
}

// globElemLen is the length of the first element of a glob pattern that is
// not a star: one rune, an escaped rune, or a [...] class.
func globElemLen(p string) int {
	switch p[0] {
	case '\\':
		if len(p) > 1 {
			_, size := utf8.DecodeRuneInString(p[1:])
			return 1 + size
		}
		return 1
	case '[':
		i := 1
		if i < len(p) && p[i] == '^' {
			i++
		}
		if i < len(p) && p[i] == ']' {
			i++
		}
		for i < len(p) && p[i] != ']' {
			if p[i] == '\\' {
				i++
			}
			i++
		}
		if i < len(p) {
			return i + 1
		}
		return len(p)
	}
	_, size := utf8.DecodeRuneInString(p)
	return size
}
