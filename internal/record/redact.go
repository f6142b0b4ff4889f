package record

// Redaction of HAR exports. It works on the harEntry built for export, whose
// strings and slices are fresh copies, so the recorded exchanges are never
// touched.

import (
	"encoding/json"
	"io"
	"regexp"
	"strings"
)

// redactedQueryValue is harRedacted as it appears inside a URL or form body;
// it decodes back to harRedacted, so queryString and params agree with url
// and text.
const redactedQueryValue = "%5Bredacted%5D"

// secretSubstrings mark a secret when a lower-cased name contains one.
// secretWords must be the whole name; "auth" may also be one part of a name
// split at "-", "_", "." or space (X-Auth-User). Whole words keep
// "error_code", "author" and ":authority" from matching.
var (
	secretSubstrings = []string{
		"token", "password", "passwd", "secret", "api_key", "apikey", "api-key",
		"session", "authorization",
	}
	secretWords = []string{"code", "code_verifier", "auth"}
)

// isSecretName reports whether a header, parameter or JSON key name looks
// like it holds a secret (case-insensitive).
func isSecretName(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return false
	}
	for _, s := range secretSubstrings {
		if strings.Contains(n, s) {
			return true
		}
	}
	for _, w := range secretWords {
		if n == w {
			return true
		}
	}
	for part := range strings.FieldsFuncSeq(n, func(r rune) bool { return r == '-' || r == '_' || r == '.' || r == ' ' }) {
		if part == "auth" {
			return true
		}
	}
	return false
}

// jwtPattern finds a JSON Web Token (header.payload.signature, both JSON
// parts base64url of "{…", so they start with "ey"); group 2 ends just
// before the signature.
var jwtPattern = regexp.MustCompile(`(^|[^A-Za-z0-9_-])(ey[A-Za-z0-9_-]+\.ey[A-Za-z0-9_-]+\.)[A-Za-z0-9_-]+`)

// scrubJWT replaces the signature of every JWT in s with "redacted", keeping
// header and payload readable (they are not secret, and they help debug).
func scrubJWT(s string) string {
	if !strings.Contains(s, "ey") {
		return s
	}
	return jwtPattern.ReplaceAllString(s, "${1}${2}redacted")
}

// redactEntry applies level to e in place.
func redactEntry(e *harEntry, level Redaction) {
	if level == RedactNone {
		return
	}
	strict := level == RedactStrict
	for _, hs := range [][]harNV{e.Request.Headers, e.Request.Trailers, e.Response.Headers, e.Response.Trailers} {
		for i := range hs {
			hs[i].Value = redactHeader(hs[i].Name, hs[i].Value, strict)
		}
	}
	// The cookies arrays are parsed again from the redacted headers, so
	// that the export reads back to the same arrays.
	e.Request.Cookies, e.Response.Cookies = requestCookies(e.Request.Headers), responseCookies(e.Response.Headers)
	for _, cs := range [][]harCookie{e.Request.Cookies, e.Response.Cookies} {
		for i := range cs {
			cs[i].Value = harRedacted
		}
	}
	if !strict {
		return
	}
	e.Request.URL = scrubJWT(redactURLQuery(e.Request.URL))
	e.Request.UpstreamURL = scrubJWT(redactURLQuery(e.Request.UpstreamURL))
	e.Response.RedirectURL = scrubJWT(redactURLQuery(e.Response.RedirectURL))
	e.Response.Error = scrubJWT(e.Response.Error)
	// queryString is parsed again from the redacted URL: secret values
	// read "[redacted]", and names keep agreeing with the URL.
	e.Request.QueryString = queryPairs(e.Request.URL)
	// Body texts were redacted as they were rendered (newHARBody); the
	// params parsed from a redacted form are redacted already.
}

// redactHeader returns the value to export for one header or trailer line.
func redactHeader(name, value string, strict bool) string {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization":
		return harRedacted
	case "cookie":
		return redactCookieHeader(value)
	case "set-cookie":
		return redactSetCookie(value)
	}
	if !strict {
		return value
	}
	if isSecretName(name) {
		return harRedacted
	}
	switch strings.ToLower(name) {
	case "location", "content-location", "referer":
		value = redactURLQuery(value)
	}
	return scrubJWT(value)
}

// redactCookieHeader hides every cookie value but keeps the names, so the
// export still shows which cookies were sent ("a=[redacted]; b=[redacted]").
func redactCookieHeader(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		switch {
		case ok:
			parts[i] = name + "=" + harRedacted
		case strings.TrimSpace(p) != "":
			// A bare value (no name): hide it, keep the spacing.
			parts[i] = p[:len(p)-len(strings.TrimLeft(p, " \t"))] + harRedacted
		}
	}
	return strings.Join(parts, ";")
}

// redactSetCookie hides the cookie's value and keeps its name and
// attributes (Path, Expires, HttpOnly…), which are not secret.
func redactSetCookie(v string) string {
	first, rest, hasRest := strings.Cut(v, ";")
	name, _, ok := strings.Cut(first, "=")
	if !ok {
		return harRedacted
	}
	out := name + "=" + harRedacted
	if hasRest {
		out += ";" + rest
	}
	return out
}

// redactURLQuery hides secret-named query parameters in a URL, leaving the
// rest of it byte for byte.
func redactURLQuery(u string) string {
	q := strings.IndexByte(u, '?')
	if q < 0 {
		return u
	}
	end := len(u)
	if h := strings.IndexByte(u[q:], '#'); h >= 0 {
		end = q + h
	}
	return u[:q+1] + redactForm(u[q+1:end]) + u[end:]
}

// redactForm hides secret-named values in urlencoded text.
func redactForm(s string) string {
	parts := strings.Split(s, "&")
	changed := false
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		if ok && isSecretName(unescapeQuery(name)) {
			parts[i] = name + "=" + redactedQueryValue
			changed = true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(parts, "&")
}

// redactJSON replaces the value of every object key that looks secret, at
// any depth, with "[redacted]", keeping the rest of the text (spacing, key
// order, number spelling) as it was. Text that is not JSON (or a stream of
// JSON values, as in NDJSON) is returned unchanged.
func redactJSON(s string) string {
	t := strings.TrimLeft(s, " \t\r\n")
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return s
	}
	type frame struct {
		object    bool
		expectKey bool
	}
	type span struct {
		start, end int64
		with       string // replacement text; "" means the redacted marker
	}
	var (
		stack []frame
		spans []span
	)
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	// skipValue consumes one whole value whose first token is tok.
	skipValue := func(tok json.Token) error {
		d, ok := tok.(json.Delim)
		if !ok || (d != '{' && d != '[') {
			return nil
		}
		for depth := 1; depth > 0; {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if d, ok := t.(json.Delim); ok {
				if d == '{' || d == '[' {
					depth++
				} else {
					depth--
				}
			}
		}
		return nil
	}
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				continue
			}
			key, _ := tok.(string)
			if !isSecretName(key) {
				stack[n-1].expectKey = false
				continue
			}
			start := dec.InputOffset()
			for start < int64(len(s)) && strings.IndexByte(" \t\r\n:", s[start]) >= 0 {
				start++
			}
			v, err := dec.Token()
			if err != nil {
				return s
			}
			if err := skipValue(v); err != nil {
				return s
			}
			spans = append(spans, span{start: start, end: dec.InputOffset()})
			continue // still expecting a key
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true // this token is the value
		}
		// A string value holding JSON (an echo service returning the
		// request body, say) is redacted inside too.
		if str, ok := tok.(string); ok && len(stack) > 0 {
			if inner := redactJSON(str); inner != str {
				start := before
				for start < int64(len(s)) && s[start] != '"' {
					start++
				}
				enc, _ := json.Marshal(inner)
				spans = append(spans, span{start, dec.InputOffset(), string(enc)})
			}
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{object: true, expectKey: true})
			case '[':
				stack = append(stack, frame{})
			default: // ']' (an object's '}' is handled above)
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				if n := len(stack); n > 0 && stack[n-1].object {
					stack[n-1].expectKey = true
				}
			}
		}
	}
	if len(spans) == 0 || len(stack) > 0 {
		return s // nothing to hide, or the text ended inside a value
	}
	var b strings.Builder
	b.Grow(len(s))
	last := int64(0)
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		if sp.with != "" {
			b.WriteString(sp.with)
		} else {
			b.WriteString(`"` + harRedacted + `"`)
		}
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}
