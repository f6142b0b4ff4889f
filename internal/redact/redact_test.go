package redact

import (
	"strings"
	"testing"
)

// testJWT is a made-up HS256 token (header {"alg":"HS256","typ":"JWT"},
// payload {"sub":"1234567890","name":"Ada"}), signature included.
const testJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1ub3QtcmVhbA"

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]Level{"": Default, "default": Default, "STRICT": Strict, " none ": None} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("raw"); err == nil || !strings.Contains(err.Error(), `"raw"`) {
		t.Errorf("bad level: %v", err)
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "X-Api-Key": true, "X-Auth-Token": true, "apiKey": true, "access_token": true,
		"client_secret": true, "code": true, "code_verifier": true, "auth": true, "X-Auth-User": true,
		"JSESSIONID": true, "Proxy-Authorization": true, "passwd": true,
		"author": false, ":authority": false, "error_code": false, "Content-Type": false, "state": false,
		"Sec-WebSocket-Key": false, "": false,
	} {
		if got := isSecretName(name); got != want {
			t.Errorf("isSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1,"password":"x"}`, `{"a":1,"password":"[redacted]"}`},
		{"{\n  \"token\" : {\"deep\": [1, {\"x\": 2}]},\n  \"keep\": \"token\"\n}", "{\n  \"token\" : \"[redacted]\",\n  \"keep\": \"token\"\n}"},
		{`[{"secret":null},{"n":[{"apiKey":1e3}]}]`, `[{"secret":"[redacted]"},{"n":[{"apiKey":"[redacted]"}]}]`},
		{`{"pass\u0077ord":"x","e":{}}`, `{"pass\u0077ord":"[redacted]","e":{}}`},
		{`{"a":[],"b":{},"session":[]}`, `{"a":[],"b":{},"session":"[redacted]"}`},
		{"{\"token\":1}\n{\"token\":2}\n", "{\"token\":\"[redacted]\"}\n{\"token\":\"[redacted]\"}\n"},
		{`{"token": 1`, `{"token": 1`}, // not JSON: unchanged
		{`token=1`, `token=1`},         // not JSON
		{`"token"`, `"token"`},         // a bare string has no keys
		{`{"a":"b"} trailing`, `{"a":"b"} trailing`},
		// An echo service's body carries the request's JSON as a string.
		{`{"data": "{\"password\":\"hunter2\",\"a\":1}", "x": "[1, 2]"}`, `{"data": "{\"password\":\"[redacted]\",\"a\":1}", "x": "[1, 2]"}`},
		{`["{\"token\":\"t\"}"]`, `["{\"token\":\"[redacted]\"}"]`},
	} {
		got, _ := redactJSON(tc.in, nil)
		if again, _ := redactJSON(got, nil); again != got {
			t.Errorf("redactJSON is not idempotent on %q: %q", got, again)
		}
		if got != tc.want {
			t.Errorf("redactJSON(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestScrubJWT(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer " + testJWT:     "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.redacted",
		"a=" + testJWT + "&b=1": "a=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.redacted&b=1",
		"keyed.eyes.only":       "keyed.eyes.only",
		"no token here":         "no token here",
	} {
		if got := scrubJWT(in); got != want {
			t.Errorf("scrubJWT(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIsSecretNameStrictWords covers the names item 16 of the hardening
// issue found missing, beside the ones TestIsSecretName keeps.
func TestIsSecretNameStrictWords(t *testing.T) {
	for name, want := range map[string]bool{
		"private_key": true, "privateKey": true, "passphrase": true, "pwd": true, "db_pwd": true,
		"credentials": true, "X-Amz-Credential": true, "X-Amz-Signature": true, "db_pass": true,
		"pass": true, "cookies": true,
		"passenger": false, "compass": false, "keyboard": false, "password_hint_shown": true,
	} {
		if got := isSecretName(name); got != want {
			t.Errorf("isSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactPairs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://a.test/cb?code=c1&state=s1#access_token=at1&x=1", "https://a.test/cb?code=%5Bredacted%5D&state=s1#access_token=%5Bredacted%5D&x=1"},
		{`{"raw":"a=1\u0026client_secret=cs1\u0026code=c2"}`, `{"raw":"a=1\u0026client_secret=%5Bredacted%5D\u0026code=%5Bredacted%5D"}`},
		{"next=%2Fx%26token%3Dt1&a%26code=c3", "next=%2Fx%26token%3Dt1&a%26code=%5Bredacted%5D"}, // encoded "=" is not a pair
		{"/app;jsessionid=abc?x=1", "/app;jsessionid=%5Bredacted%5D?x=1"},
		{"Credential=AKIA/20250101/s3, SignedHeaders=host, Signature=f00d", "Credential=%5Bredacted%5D, SignedHeaders=host, Signature=%5Bredacted%5D"},
		{"token=[redacted]&password=%5Bredacted%5D", "token=[redacted]&password=%5Bredacted%5D"},
		{"error_code=5 zipcode=12345 author=ada", "error_code=5 zipcode=12345 author=ada"},
		{"token=", "token="},
		{"user[password]=x", "user[password]=%5Bredacted%5D"},
	} {
		var found []string
		got := redactPairs(tc.in, func(v string) { found = append(found, v) })
		if got != tc.want {
			t.Errorf("redactPairs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if again := redactPairs(got, nil); again != got {
			t.Errorf("redactPairs is not idempotent on %q: %q", got, again)
		}
		for _, v := range found {
			if v != "" && strings.Contains(got, v) {
				t.Errorf("redactPairs(%q) reported %q but left it in", tc.in, v)
			}
		}
	}
}
