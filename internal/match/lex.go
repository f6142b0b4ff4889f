package match

// The lexer: an expression is space-separated words. A word is a term
// (maybe negated, keyed and quoted), an or ("or" or "|"), or holds
// parentheses: a "(" (maybe negated) opens a group at the start of a word
// and a ")" closes one at its end.

import (
	"strings"
	"unicode"
)

// quote returns v as written in an expression: bare when it can be, quoted
// otherwise. text is set for free text, which must also not read as a key,
// a keyword, an or, a negation or a parenthesis.
func quote(v string, text bool) string {
	bare := v != "" && !strings.HasSuffix(v, ")")
	for _, r := range v {
		if r == '"' || r == '\\' || unicode.IsSpace(r) {
			bare = false
			break
		}
	}
	if bare && text {
		if lookup(formWord, v) != nil || isOr(v) || strings.HasPrefix(v, "-") || strings.HasPrefix(v, "(") || strings.Contains(v, ":") {
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

// isOr reports whether a word, as written, is the or operator.
func isOr(w string) bool { return w == "|" || strings.EqualFold(w, "or") }

// tokKind is what a token is to the parser.
type tokKind uint8

const (
	tokTerm  tokKind = iota
	tokOpen          // "(" or "-("
	tokClose         // ")"
	tokOr            // "or" or "|"
)

// token is one term, parenthesis or or of an expression, quotes removed.
type token struct {
	kind   tokKind
	raw    string // as written
	pos    int
	neg    bool   // a term or group after "-"
	key    string // before the first unquoted ':' ("" for a bare word)
	hasKey bool
	value  string
	quoted bool // the term began with a quote: free text
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
		for {
			j := i
			if s[j] == '-' && j+1 < len(s) && s[j+1] == '(' {
				j++
			}
			if s[j] != '(' {
				break
			}
			toks = append(toks, token{kind: tokOpen, raw: s[i : j+1], pos: i, neg: j > i})
			if i = j + 1; i >= len(s) {
				return toks, nil
			}
		}
		if !isSpace(s[i]) && !closesWord(s, i) {
			tk, err := lexTerm(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tk)
			i += len(tk.raw)
		}
		for i < len(s) && s[i] == ')' {
			toks = append(toks, token{kind: tokClose, raw: ")", pos: i})
			i++
		}
	}
}

// lexTerm reads the term that starts at s[start]: up to a space, or to the
// ")"s that end its word.
func lexTerm(s string, start int) (token, error) {
	i := start
	tk := token{pos: start}
	if s[i] == '-' && i+1 < len(s) && !isSpace(s[i+1]) && !closesWord(s, i+1) {
		tk.neg = true
		i++
	}
	tk.quoted = s[i] == '"'
	var cur strings.Builder
	for i < len(s) && !isSpace(s[i]) && !closesWord(s, i) {
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
				return tk, &Error{Token: s[start:], Pos: start, Msg: "unterminated quote"}
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
	if isOr(tk.raw) {
		tk.kind = tokOr
	}
	return tk, nil
}

// closesWord reports whether s[i:] starts the run of ")" that ends a word:
// a ")" inside a word (f(x)y) is text, at its end it closes a group.
func closesWord(s string, i int) bool {
	if s[i] != ')' {
		return false
	}
	for i < len(s) && s[i] == ')' {
		i++
	}
	return i == len(s) || isSpace(s[i])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
