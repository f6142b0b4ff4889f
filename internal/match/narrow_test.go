package match

import (
	"errors"
	"slices"
	"testing"
)

func TestNarrow(t *testing.T) {
	index := map[string][]uint64{"alpha": {1, 2, 3}, "beta": {2, 3, 4}, "gamma": {9}}
	var asked []string
	lookup := func(text string, bodiesOnly bool) ([]uint64, bool, error) {
		asked = append(asked, text)
		if len(text) < 3 {
			return nil, false, nil
		}
		return index[text], true, nil
	}
	for _, tc := range []struct {
		expr string
		ids  []uint64
		ok   bool
	}{
		{"alpha", []uint64{1, 2, 3}, true},
		{"ALPHA beta", []uint64{2, 3}, true},
		{"alpha or gamma", []uint64{1, 2, 3, 9}, true},
		{"body:beta method:GET", []uint64{2, 3, 4}, true},
		{"alpha (beta or gamma)", []uint64{2, 3}, true},
		{"method:GET", nil, false},
		{"-alpha", nil, false},
		{"alpha or method:GET", nil, false},
		{"ab", nil, false},
		{"ab alpha", []uint64{1, 2, 3}, true},
		{"", nil, false},
	} {
		m, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		ids, ok, err := m.Narrow(lookup)
		if err != nil || ok != tc.ok || !slices.Equal(ids, tc.ids) {
			t.Errorf("%q: Narrow = %v, %v, %v; want %v, %v", tc.expr, ids, ok, err, tc.ids, tc.ok)
		}
	}
	m, _ := Parse("alpha")
	boom := errors.New("boom")
	if _, _, err := m.Narrow(func(string, bool) ([]uint64, bool, error) { return nil, false, boom }); !errors.Is(err, boom) {
		t.Errorf("lookup error: got %v", err)
	}
	if !slices.Contains(asked, "alpha") {
		t.Errorf("lookup was asked %q; want lower-cased words", asked)
	}
}
