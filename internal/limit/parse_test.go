package limit

import (
	"math"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{in: "100/s", want: 100},
		{in: "10", want: 10},
		{in: " 600 / m ", want: 10},
		{in: "5000/h", want: 5000.0 / 3600},
		{in: "1/minute", want: 1.0 / 60},
		{in: "2/day", want: 2.0 / 86400},
		{in: "0.5/S", want: 0.5},
		{in: "", err: "want a number of requests"},
		{in: "fast", err: "want a number of requests"},
		{in: "Inf/s", err: "want a number of requests"},
		{in: "0/s", err: "must be more than 0"},
		{in: "-5/s", err: "must be more than 0"},
		{in: "100/w", err: `unknown unit "w"`},
		{in: "100/", err: `unknown unit ""`},
	} {
		got, err := ParseRate(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRate(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "600/m", "5000/h", "10", "1e-300/d", "0x1p-4/s", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			t.Fatalf("ParseRate(%q) = %v without an error", s, r)
		}
		if _, err := New(Config{Rate: r}, "fuzz"); err != nil {
			t.Fatalf("ParseRate(%q) = %v, which New refuses: %v", s, r, err)
		}
	})
}
