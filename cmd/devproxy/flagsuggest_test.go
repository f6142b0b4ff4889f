package main

import (
	"io"
	"strings"
	"testing"
)

func TestUnknownFlagSuggestsClosest(t *testing.T) {
	cases := []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"serve", "--taget", "http://x"}, []string{"unknown flag: --taget", "did you mean --target?", "'devproxy serve --help' lists its flags"}, ""},
		{[]string{"serve", "--lisen=127.0.0.1:1"}, []string{"did you mean --listen?"}, ""},
		{[]string{"relay", "--admin-tokn", "x"}, []string{"did you mean --admin-token?"}, ""},
		{[]string{"serve", "--confg", "x.yaml"}, []string{"did you mean --config?"}, ""}, // a persistent flag
		{[]string{"serve", "--zzzzzzzz"}, []string{"unknown flag: --zzzzzzzz", "'devproxy serve --help' lists its flags"}, "did you mean"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			root := newRootCmd()
			root.SetArgs(tc.args)
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			err := root.Execute()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Errorf("error %q contains %q", err, tc.not)
			}
		})
	}
}
