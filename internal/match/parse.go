package match

// The grammar: terms side by side are ANDed, "or" (or "|") separates
// alternatives and binds looser, "(" ")" group, and "-" negates a term or
// a group.
//
//	expr  = alts
//	alts  = all { ("or" | "|") all }
//	all   = unary { unary }
//	unary = term | ["-"] "(" alts ")"
//
// The tree is kept flat and small, so equivalent spellings print the same
// canonical text: a group of one alternative is that alternative, an AND
// inside an AND (or an OR inside an OR) is spliced into it, and a negated
// group of one term negates the term.

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// maxDepth is how deep groups may nest; it bounds the recursion of
// parsing, matching and printing.
const maxDepth = 100

// nodeKind is what a node of the expression tree is.
type nodeKind uint8

const (
	nodeAnd  nodeKind = iota // every kid matches; no kids matches all
	nodeOr                   // some kid matches
	nodeTerm                 // term matches
)

// node is one term, AND or OR of the expression tree, maybe negated.
type node struct {
	kind nodeKind
	neg  bool
	term *term // nodeTerm
	kids []node
}

// join makes one node of kind k from items, splicing in the kids of an
// item of the same kind that is not negated.
func join(k nodeKind, items []node) node {
	if len(items) == 1 {
		return items[0]
	}
	n := node{kind: k, kids: make([]node, 0, len(items))}
	for _, it := range items {
		if it.kind == k && !it.neg {
			n.kids = append(n.kids, it.kids...)
		} else {
			n.kids = append(n.kids, it)
		}
	}
	return n
}

// parser reads tokens into a tree.
type parser struct {
	s     string
	toks  []token
	i     int
	depth int
}

// parse reads the whole expression.
func (p *parser) parse() (node, error) {
	n, err := p.alts()
	if err != nil {
		return n, err
	}
	if p.i < len(p.toks) {
		// alts stops early only at a ")".
		tk := p.toks[p.i]
		return n, p.opErr(tk, `unbalanced %q at column %d: no "(" opens it (quote text that ends in ")")`)
	}
	return n, nil
}

// peek returns the next token, or nil at the end.
func (p *parser) peek() *token {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

// alts reads alternatives separated by ors; none (an AND of nothing) when
// the expression or the group is empty.
func (p *parser) alts() (node, error) {
	if tk := p.peek(); tk != nil && tk.kind == tokOr {
		return node{}, p.opErr(*tk, "%q at column %d has nothing on its left: put a term on each side")
	}
	var alts []node
	for {
		n, err := p.all()
		if err != nil {
			return n, err
		}
		alts = append(alts, n)
		or := p.peek()
		if or == nil || or.kind != tokOr {
			return join(nodeOr, alts), nil
		}
		p.i++
		switch next := p.peek(); {
		case next == nil || next.kind == tokClose:
			return node{}, p.opErr(*or, "%q at column %d has nothing on its right: put a term on each side")
		case next.kind == tokOr:
			return node{}, p.opErr(*next, "%q at column %d has nothing on its left: put a term on each side")
		}
	}
}

// all reads terms and groups side by side, up to an or, a ")" or the end.
func (p *parser) all() (node, error) {
	var items []node
	for tk := p.peek(); tk != nil && tk.kind != tokOr && tk.kind != tokClose; tk = p.peek() {
		p.i++
		if tk.kind == tokOpen {
			n, err := p.group(*tk)
			if err != nil {
				return n, err
			}
			items = append(items, n)
			continue
		}
		t, err := parseTerm(*tk)
		if err != nil {
			return node{}, err
		}
		items = append(items, node{kind: nodeTerm, neg: tk.neg, term: &t})
	}
	if len(items) == 0 {
		return node{kind: nodeAnd}, nil
	}
	return join(nodeAnd, items), nil
}

// group reads what follows the "(" open, up to its ")".
func (p *parser) group(open token) (node, error) {
	if p.depth++; p.depth > maxDepth {
		return node{}, p.opErr(open, fmt.Sprintf("%%q at column %%d: groups nest more than %d deep", maxDepth))
	}
	defer func() { p.depth-- }()
	n, err := p.alts()
	if err != nil {
		return n, err
	}
	closer := p.peek()
	if closer == nil {
		return n, p.opErr(open, `unbalanced %q at column %d: add a ")" to close the group`)
	}
	p.i++
	if n.kind == nodeAnd && len(n.kids) == 0 {
		empty := open
		empty.raw = p.s[open.pos : closer.pos+1]
		return n, p.opErr(empty, "empty group %q at column %d: put terms in it, or remove it")
	}
	n.neg = n.neg != open.neg
	return n, nil
}

// opErr is an error at a parenthesis or an or: format gets the token as
// written and its column.
func (p *parser) opErr(tk token, format string) error {
	col := utf8.RuneCountInString(p.s[:tk.pos]) + 1
	return &Error{Token: tk.raw, Pos: tk.pos, Msg: fmt.Sprintf(format, tk.raw, col), inMsg: true}
}

// match evaluates n against x. env is a pointer down the tree and a copy
// into each term's eval (see key.eval), so that it stays on Match's stack.
func (n *node) match(x *record.Exchange, env *Env) bool {
	switch n.kind {
	case nodeTerm:
		return n.term.key.eval(n.term, x, *env) != n.neg
	case nodeOr:
		for i := range n.kids {
			if n.kids[i].match(x, env) {
				return !n.neg
			}
		}
		return n.neg
	}
	for i := range n.kids {
		if !n.kids[i].match(x, env) {
			return n.neg
		}
	}
	return !n.neg
}

// any reports whether some term of n satisfies f.
func (n *node) any(f func(*term) bool) bool {
	if n.kind == nodeTerm {
		return f(n.term)
	}
	for i := range n.kids {
		if n.kids[i].any(f) {
			return true
		}
	}
	return false
}

// write appends n in canonical form. An OR inside an AND needs its
// parentheses; an AND inside an OR does not, since AND binds tighter.
func (n *node) write(b *strings.Builder, inAnd bool) {
	if n.neg {
		b.WriteByte('-')
	}
	if n.kind == nodeTerm {
		n.term.write(b)
		return
	}
	sep, paren := " ", n.neg
	if n.kind == nodeOr {
		sep, paren = " or ", n.neg || inAnd
	}
	if paren {
		b.WriteByte('(')
	}
	for i := range n.kids {
		if i > 0 {
			b.WriteString(sep)
		}
		n.kids[i].write(b, n.kind == nodeAnd)
	}
	if paren {
		b.WriteByte(')')
	}
}
