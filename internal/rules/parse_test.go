package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNormalForm(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`path:/api/* => status 503`, `path:/api/* => status 503`},
		{`* => status 503 p=0.3`, `* => status 503 p=0.3`},
		{` => status 503`, `* => status 503`},
		{`path:/x =>status 503 p=.5;`, `path:/x => status 503 p=0.5`},
		{`method:POST  =>  set-header  X-A "a b" ;remove-header  RESPONSE x-b`, `method:POST => set-header X-A "a b"; remove-header response X-B`},
		{`status:5xx => set-header response X-Debug yes`, `status:5xx => set-header response X-Debug yes`},
		{`path:/users => mock 200 header=Content-Type:application/json "body={\"a\": 1}"`, `path:/users => mock 200 header=Content-Type:application/json body="{\"a\": 1}"`},
		{`path:/x => mock 404 body=`, `path:/x => mock 404 body=`},
		{`path:/x => rewrite-path "^/x(.*)" /y$1`, `path:/x => rewrite-path ^/x(.*) /y$1`},
		{`path:/x => rewrite-path "\d+ x" "a\\b"`, `path:/x => rewrite-path "\\d+ x" a\b`},
		{`* => set-header X-A "p=1"`, `* => set-header X-A "p=1"`},
		{`* => set-header X-A "a;b"`, `* => set-header X-A "a;b"`},
		{`* => status 503 p=1`, `* => status 503`},
		{`* => map http://localhost:4000/base`, `* => map http://localhost:4000/base`},
		{`path:"/a=>b" => status 500`, `path:"/a=>b" => status 500`},
		{`path:"*" => status 500`, `path:* => status 500`},
		{`path:"/a b" header:"X-A=route:x" => set-header response X a`, `path:"/a b" header:X-A=route:x => set-header response X a`},
		{`* => set-header X-A "=>"`, `* => set-header X-A =>`},
	} {
		r, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := r.String(); got != tc.want {
			t.Errorf("Parse(%q).String()\n got %s\nwant %s", tc.in, got, tc.want)
		}
		again, err := Parse(r.String())
		if err != nil || again.String() != r.String() {
			t.Errorf("normal form %q does not read back: %v %q", r.String(), err, again.String())
		}
	}
}

func TestParseWords(t *testing.T) {
	r, err := Parse(`* => set-header X-A "say \"hi\" \\o/"`)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Actions[0].(*setHeader).value; v != `say "hi" \o/` {
		t.Errorf("value %q", v)
	}
	if p := r.Actions[0].Prob(); p != 1 {
		t.Errorf("Prob %v", p)
	}
	r, err = Parse(`* => set-header X-A a p=0.25`)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Actions[0]; a.Prob() != 0.25 || a.Name() != "set-header" || unwrap(a).(*setHeader).value != "a" {
		t.Errorf("p=: %v %v", a.Prob(), a)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`path:/x`, `column 8: no "=>"`},
		{`path:/x =>`, `column 11: no action after "=>"`},
		{`path:/x =>   `, `no action after "=>"`},
		{`path:/x => dela 1s`, `column 12: unknown action "dela" (did you mean "delay"?); actions are `},
		{`path:/x => status 503 p=2`, `column 23: status: p=2: a probability is a number above 0 and at most 1`},
		{`path:/x => status 503 p=0`, `a probability is a number above 0`},
		{`path:/x => status 503 p=x`, `a probability is a number above 0`},
		{`path:/x => status 503 p=0.1 p=0.2`, `column 29: status: p= given twice`},
		{`path:/x => status 503;; status 500`, `column 23: empty action`},
		{`path:/x => set-header X-A "a b`, `column 27: quote not closed`},
		{`  foo:bar => status 500`, `column 3: foo:bar: unknown key "foo"`},
		{`body:secret => status 500`, `rules cannot search bodies`},
		{`secret => status 500`, `rules cannot search bodies`},
		{`route:api => status 500`, `column 1: rules cannot select with route:`},
		{`path:/a (-upstream:*3001 or method:GET) => set-header response X a`, `rules cannot select with upstream:`},
		{`-limited => status 500`, `rules cannot select with limited`},
		{`error => set-header response X a`, `rules cannot select with error`},
		{`status:5xx => status 503`, `status:5xx needs the response, so it cannot trigger status (a request-phase action)`},
		{`status:5xx => remove-header X-A`, `cannot trigger remove-header`},
		{`dur:>1s => rewrite-path a b`, `cannot trigger rewrite-path`},
		{`path:/x => mock`, `mock needs a status`},
		{`path:/x => mock 99`, `mock: "99" is not a status`},
		{`path:/x => mock 200 body=a file=b`, `give one of body= and file=`},
		{`path:/x => mock 200 color=red`, `"color=red": arguments after the status are`},
		{`path:/x => mock 200 header=nocolon`, `write header=NAME:VALUE`},
		{`path:/x => mock 200 file=/nonexistent/users.json`, `file=/nonexistent/users.json: no such file or directory; give the path`},
		{`path:/x => mock 200 file=/`, `is not a regular file`},
		{`path:/x => status`, `write status CODE`},
		{`path:/x => status 503 body=a extra`, `write status CODE`},
		{`path:/x => status 503 color=red`, `the argument after the code is body=TEXT`},
		{`path:/x => map localhost:4000`, `the URL needs http:// or https://`},
		{`path:/x => map http://`, `has no host`},
		{`path:/x => map http://a/b?c=d`, `scheme, host and an optional base path only`},
		{`path:/x => map`, `write map URL`},
		{`path:/x => set-header X-A`, `write set-header [request|response] NAME VALUE`},
		{`path:/x => set-header "X A" b`, `"X A" is not a header name`},
		{`path:/x => set-header Host b`, `the Host header follows the upstream`},
		{`path:/x => remove-header`, `write remove-header`},
		{`path:/x => rewrite-path ( /y`, `rewrite-path: "(" is not a regular expression: missing closing )`},
		{`path:/x => rewrite-path a`, `write rewrite-path FROM TO`},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want %q", tc.in, tc.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): %T %v, want *Error", tc.in, err, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q)\n got %v\nwant %s", tc.in, err, tc.want)
		}
	}
}

func TestParseAllNamesTheRule(t *testing.T) {
	_, err := ParseAll([]string{"path:/a => status 503", "status:5xx => rewrite-path a b"})
	want := "rule 2: status:5xx needs the response, so it cannot trigger rewrite-path (a request-phase action); use a response-phase action (first-byte, truncate, set-header response …) or match on the request"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	_, err = ParseAll([]string{"path:/a => status 503", "path:/b => dela 1s"})
	if err == nil || !strings.HasPrefix(err.Error(), `rule 2: column 12: unknown action "dela"`) {
		t.Errorf("got %v", err)
	}
}

func TestErrorColumnCountsCharacters(t *testing.T) {
	_, err := Parse(`path:/üü => dela 1s`)
	var e *Error
	if !errors.As(err, &e) || e.Col != 13 || e.Pos != 14 {
		t.Errorf("got %#v", err)
	}
}
