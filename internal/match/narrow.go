package match

import "slices"

// Lookup finds the exchanges that contain text (already lower-cased), from
// an index: in their URL, headers and text bodies, or in their bodies only
// when bodiesOnly. It returns their IDs in ascending order and ok, or ok
// false when the index cannot answer for text (too short, say).
type Lookup func(text string, bodiesOnly bool) (ids []uint64, ok bool, err error)

// Narrow uses lookup to find the exchanges that may match: a superset of
// those Match selects among the indexed ones, so that a search over a
// large store reads only those. Free words and body: terms are looked up;
// and keeps what every side may match, or what any side may match. A term
// the index cannot answer, a negation and every other key may match
// anything, so the result is ok only when the whole expression narrows;
// otherwise every exchange must be read and matched. The IDs come in
// ascending order.
func (m *Matcher) Narrow(lookup Lookup) (ids []uint64, ok bool, err error) {
	if m.Empty() {
		return nil, false, nil
	}
	return m.root.narrow(lookup)
}

func (n *node) narrow(lookup Lookup) ([]uint64, bool, error) {
	if n.neg {
		return nil, false, nil
	}
	switch n.kind {
	case nodeTerm:
		t := n.term
		if t.key != textKey && t.key.name != "body" {
			return nil, false, nil
		}
		return lookup(t.text, t.key != textKey)
	case nodeOr:
		var all []uint64
		for i := range n.kids {
			ids, ok, err := n.kids[i].narrow(lookup)
			if err != nil || !ok {
				return nil, false, err
			}
			all = union(all, ids)
		}
		return all, true, nil
	}
	var acc []uint64
	known := false
	for i := range n.kids {
		ids, ok, err := n.kids[i].narrow(lookup)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if !known {
			acc, known = ids, true
			continue
		}
		acc = intersect(acc, ids)
	}
	return acc, known, nil
}

// union merges two ascending lists.
func union(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// intersect keeps what two ascending lists share.
func intersect(a, b []uint64) []uint64 {
	var out []uint64
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); ok {
			out = append(out, x)
		}
	}
	return out
}
