package match

// The lexer: an expression is space-separated tokens, each maybe negated,
// keyed and quoted.

import (
	"strings"
	"unicode"
)

// quote returns v as written in an expression: bare when it can be, quoted
// otherwise. always forces quotes on values a bare word would misread.
func quote(v string, text bool) string {
	bare := v != ""
	for _, r := range v {
		if r == '"' || r == '\\' || unicode.IsSpace(r) {
			bare = false
			break
		}
	}
	if bare && text {
		// A bare word must not read as a key, a keyword or a negation.
		if v == "error" || v == "replay" || strings.HasPrefix(v, "-") || strings.Contains(v, ":") {
			bare = false
		}
	}
	if bare {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// token is one space-separated word of an expression, quotes removed.
type token struct {
	raw    string // as written
	pos    int
	neg    bool
	key    string // before the first unquoted ':' ("" for a bare word)
	hasKey bool
	value  string
	quoted bool // the token began with a quote: free text
}

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return toks, nil
		}
		start := i
		tk := token{pos: start}
		if s[i] == '-' && i+1 < len(s) && !isSpace(s[i+1]) {
			tk.neg = true
			i++
		}
		tk.quoted = s[i] == '"'
		var cur strings.Builder
		for i < len(s) && !isSpace(s[i]) {
			c := s[i]
			switch {
			case c == '"':
				j := i + 1
				closed := false
				for j < len(s) {
					if s[j] == '\\' && j+1 < len(s) {
						cur.WriteByte(s[j+1])
						j += 2
						continue
					}
					if s[j] == '"' {
						closed = true
						break
					}
					cur.WriteByte(s[j])
					j++
				}
				if !closed {
					return nil, &Error{Token: s[start:], Pos: start, Msg: "unterminated quote"}
				}
				i = j + 1
			case c == ':' && !tk.hasKey && !tk.quoted:
				tk.key = cur.String()
				tk.hasKey = true
				cur.Reset()
				i++
			default:
				cur.WriteByte(c)
				i++
			}
		}
		tk.raw = s[start:i]
		tk.value = cur.String()
		if tk.raw == "-" {
			tk.neg = false
		}
		toks = append(toks, tk)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
