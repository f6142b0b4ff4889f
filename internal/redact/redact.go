// Package redact hides secrets in recorded exchanges before they leave the
// process: in HAR exports today, and in curl text, logs or a session file
// tomorrow. It knows three levels (Default, Strict, None), learns the
// secret values of a set of exchanges (credentials, cookies and, when
// strict, secret-named fields) and hides them where they stand and wherever
// else they appear: echo services, login responses and redirects copy them
// into bodies, URLs and other headers. Strict redaction fails closed: a
// body it cannot parse is hidden whole, with the reason.
//
// A Redactor is used in two passes: Learn every exchange, Seal, then
// redact each piece of text with Header, URL, Text and Body. It never
// modifies the exchanges; it returns redacted copies of what it is given.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/record"
)

// Level is how much of an exchange's secrets redaction hides.
type Level string

// Levels.
const (
	// Default hides the values of Authorization, Proxy-Authorization,
	// Cookie and Set-Cookie (cookie names and Set-Cookie attributes stay) and
	// every cookies[].value. It is at least what Chrome's sanitized export
	// hides. Those values (the token after "Bearer", each cookie's value, a
	// Basic credential and its decoded user:pass and password) are also
	// hidden wherever else they appear in the export, as written,
	// URL-encoded or JSON-escaped: in other headers, URLs and bodies (text
	// or base64) of every entry. Values shorter than 4 bytes (6 for
	// cookies) are not followed, and ones shorter than 8 only where they
	// stand alone; see minSecretLen.
	Default Level = "default"
	// Strict also hides headers, query parameters, form and
	// multipart fields and JSON keys (at any depth, request and response)
	// whose names look like secrets (token, password, pwd, passphrase,
	// secret, private key, credentials, signature, api key, session,
	// cookie, auth, code…), the same name=value pairs anywhere in text (a
	// URL quoted in a body, urlencoded data inside a JSON string), and the
	// signature of every JWT found in text; the values it hides are then
	// followed through the export like the default level's. It fails
	// closed: a body it cannot parse (truncated at the capture cap, not
	// UTF-8, JSON that does not parse, a broken multipart body, a
	// Content-Encoding it cannot undo) is replaced whole by
	// "[redacted: body could not be parsed for redaction (why)]", and
	// the body's comment and "_devproxyRedacted" say why.
	Strict Level = "strict"
	// None exports everything as recorded.
	None Level = "none"
)

// ParseLevel accepts "default", "strict" or "none" (any case, "" means
// "default") and returns the level, or an error naming the bad value.
func ParseLevel(s string) (Level, error) {
	switch r := Level(strings.ToLower(strings.TrimSpace(s))); r {
	case "":
		return Default, nil
	case Default, Strict, None:
		return r, nil
	}
	return "", fmt.Errorf("redaction %q is not one of default, strict, none", s)
}

// Describe says what the level hides, for a reader of the export (HAR
// writes it in log.comment).
func (r Level) Describe() string {
	switch r {
	case Strict:
		return "strict (Authorization, Proxy-Authorization, Cookie, Set-Cookie hidden; also secret-named headers, query and form parameters, multipart fields, JSON keys, and JWT signatures; their values hidden wherever else they appear; bodies that cannot be parsed hidden whole)"
	case None:
		return "none (secrets included as recorded)"
	}
	return "default (Authorization, Proxy-Authorization, Cookie, Set-Cookie hidden, and their values wherever else they appear)"
}

// Marker replaces a hidden value.
const Marker = "[redacted]"

// QueryMarker is Marker as it appears inside a URL or form body;
// it decodes back to Marker, so queryString and params agree with url
// and text.
const QueryMarker = "%5Bredacted%5D"

// wholeBodyPrefix starts the text that replaces a body strict redaction
// could not parse; wholeBodyMarker adds the reason.
const wholeBodyPrefix = "[redacted: body could not be parsed for redaction ("

// The reason is made valid UTF-8 (a parser's error may quote the byte it
// stopped at), so that the marker reads back as it was written.
func wholeBodyMarker(reason string) string {
	return wholeBodyPrefix + strings.ToValidUTF8(reason, "\uFFFD") + ")]"
}

// wholeBodyReason reports whether data is a body hidden whole (by this
// export or by the one it was read from) and why.
func wholeBodyReason(data []byte) (string, bool) {
	s := string(data)
	if len(s) < len(wholeBodyPrefix)+2 || !strings.HasPrefix(s, wholeBodyPrefix) || !strings.HasSuffix(s, ")]") {
		return "", false
	}
	return strings.ToValidUTF8(s[len(wholeBodyPrefix):len(s)-2], "\uFFFD"), true
}

// partMarker replaces one part of a multipart body that strict redaction
// could not parse.
func partMarker(reason string) string {
	return "[redacted: part could not be parsed for redaction (" + strings.ToValidUTF8(reason, "\uFFFD") + ")]"
}

// secretSubstrings mark a secret when a lower-cased name contains one.
// secretWords must be the whole name; secretParts may also be one part of
// a name split at "-", "_", "." or space (X-Auth-User, db_pass). Whole
// words keep "error_code", "author", ":authority", "passenger" and
// "compass" from matching.
var (
	secretSubstrings = []string{
		"token", "password", "passwd", "passphrase", "pwd", "secret", "api_key", "apikey", "api-key",
		"private_key", "privatekey", "private-key", "credential", "signature",
		"session", "authorization", "cookie",
	}
	secretWords = []string{"code", "code_verifier"}
	secretParts = []string{"auth", "pass"}
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
	if slices.Contains(secretWords, n) {
		return true
	}
	for part := range strings.FieldsFuncSeq(n, func(r rune) bool { return r == '-' || r == '_' || r == '.' || r == ' ' }) {
		if slices.Contains(secretParts, part) {
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

// How long a value must be before it is followed through the export.
// Shorter values are flags and counters ("1", "yes", "en") that would hide
// half of every body. Cookies need more: they carry short preferences
// (theme=dark, lang=en-US) as often as sessions. A value shorter than
// shortSecretLen is only hidden where it stands alone (not inside a longer
// word or number), so a password "pass" does not eat "password".
const (
	minSecretLen       = 4
	minCookieSecretLen = 6
	shortSecretLen     = 8
)

// notSecretWords are values that name a kind of value rather than hold a
// secret ("token_type": "Bearer"); following them would hide the word
// everywhere.
var notSecretWords = map[string]bool{
	"bearer": true, "basic": true, "digest": true, "negotiate": true, "token": true,
	"true": true, "false": true, "null": true, "none": true, "undefined": true,
}

// Decoder undoes a body's Content-Encoding so that strict redaction can
// learn the secrets inside it; body.Decoder implements it.
type Decoder interface {
	Body(b record.Body, h record.Fields, alreadyDecoded bool) (data []byte, note string, partial bool, err error)
}

// Redactor applies one redaction level to a whole export, in two passes:
// Learn the secrets of every exchange, Seal, then redact each piece with
// Header, URL, Text and Body. A secret seen in one exchange is hidden in
// all of them. A Redactor is not safe for concurrent use while learning;
// once sealed, it only reads its state.
type Redactor struct {
	level  Level
	strict bool
	dec    Decoder
	known  map[string]bool
	// Set by Seal: every spelling of every known value (as is, URL-
	// encoded, JSON-escaped), long ones replaced anywhere, short ones only
	// where they stand alone; all of them, longest first, for the end of a
	// truncated body.
	long     []string
	short    []string
	all      []string
	replText *strings.Replacer // long → Marker
	replURL  *strings.Replacer // long → QueryMarker
}

// New returns a Redactor for level that knows no secrets yet. dec decodes
// bodies for Learn; nil reads them as captured (an encoded body then
// teaches nothing).
func New(level Level, dec Decoder) *Redactor {
	return &Redactor{level: level, strict: level == Strict, dec: dec, known: map[string]bool{}}
}

// Level is the level r applies.
func (r *Redactor) Level() Level { return r.level }

// add learns v as a secret when it is long enough. Values that hold, or are
// part of, a redaction marker are left out, so that following them never
// rewrites what redaction wrote. Of a JWT only the signature is learned:
// header and payload are not secret, and without its signature the token
// is useless (scrubJWT keeps them too).
func (r *Redactor) add(v string, minLen int) {
	v = strings.TrimSpace(v)
	if m := jwtPattern.FindStringSubmatch(v); m != nil && m[0] == v {
		v = v[len(m[2]):]
	}
	if len(v) < minLen || r.known[v] || strings.Contains(v, "redacted") || notSecretWords[strings.ToLower(v)] {
		return
	}
	for _, m := range []string{Marker, QueryMarker, wholeBodyPrefix, partMarker("")} {
		if strings.Contains(m, v) {
			return
		}
	}
	r.known[v] = true
}

// found is add for strict-level field values.
func (r *Redactor) found(v string) { r.add(v, minSecretLen) }

// addCredential learns an Authorization-style value: the credential after
// the scheme, a Basic credential decoded (user:pass and the password), and
// the secret-looking auth-params of Digest or AWS signatures.
func (r *Redactor) addCredential(v string) {
	v = strings.TrimSpace(v)
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok {
		r.add(v, minSecretLen)
		return
	}
	cred = strings.TrimSpace(cred)
	r.add(cred, minSecretLen)
	if strings.EqualFold(scheme, "basic") {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if dec, err := enc.DecodeString(cred); err == nil {
				r.add(string(dec), minSecretLen)
				if _, pw, ok := strings.Cut(string(dec), ":"); ok {
					r.add(pw, minSecretLen)
				}
				break
			}
		}
	}
	for p := range strings.SplitSeq(cred, ",") {
		if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && (isSecretName(k) || strings.EqualFold(k, "response")) {
			r.add(strings.Trim(val, `"`), minSecretLen)
		}
	}
}

// Learn learns the secrets of x: at every level the values of
// Authorization, Proxy-Authorization, Cookie and Set-Cookie; when strict,
// also every value strict redaction hides in headers, URLs and bodies it
// can parse.
func (r *Redactor) Learn(x *record.Exchange) {
	if r.level == None {
		return
	}
	fields := [][]record.Field{x.Request.Header, x.Request.Trailer}
	if x.Response != nil {
		fields = append(fields, x.Response.Header, x.Response.Trailer)
	}
	for _, fs := range fields {
		for _, f := range fs {
			r.collectField(f.Name, f.Value)
		}
	}
	if !r.strict {
		return
	}
	r.collectURL(x.Request.URL)
	r.collectURL(x.Request.UpstreamURL)
	r.collectBody(x.Request.Body, x.Request.Header, x.BodiesDecoded)
	if x.Response != nil {
		r.collectBody(x.Response.Body, x.Response.Header, x.BodiesDecoded)
	}
}

// collectBody learns the values strict redaction hides in a body. A body
// it will hide whole (truncated, undecodable) teaches nothing: which of its
// values are secret cannot be told.
func (r *Redactor) collectBody(b record.Body, h record.Fields, alreadyDecoded bool) {
	if b.Truncated || len(b.Bytes) == 0 {
		return
	}
	data, partial, err := b.Bytes, false, error(nil)
	if r.dec != nil {
		data, _, partial, err = r.dec.Body(b, h, alreadyDecoded)
	}
	if err != nil || partial {
		return
	}
	r.strictText(string(data), h.Get("Content-Type"), r.found)
}

func (r *Redactor) collectField(name, value string) {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization":
		r.addCredential(value)
		return
	case "cookie":
		for part := range strings.SplitSeq(value, ";") {
			if name, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.TrimSpace(name) != "" {
				r.add(strings.Trim(strings.TrimSpace(v), `"`), minCookieSecretLen)
			}
		}
		return
	case "set-cookie":
		c, err := http.ParseSetCookie(value)
		if err == nil {
			r.add(c.Value, minCookieSecretLen)
		}
		first, _, _ := strings.Cut(value, ";")
		if name, v, ok := strings.Cut(first, "="); ok {
			v = strings.TrimSpace(v)
			if err != nil && strings.TrimSpace(name) != "" {
				// What HAR's cookies array holds when net/http rejects
				// the line: the value as written, quotes and all.
				r.add(v, minCookieSecretLen)
			}
			r.add(strings.Trim(v, `"`), minCookieSecretLen)
		}
		return
	}
	if !r.strict {
		return
	}
	if isSecretName(name) {
		r.addCredential(value)
		return
	}
	switch strings.ToLower(name) {
	case "location", "content-location", "referer":
		r.collectURL(value)
	default:
		redactPairs(value, r.found)
	}
}

func (r *Redactor) collectURL(u string) {
	redactPairs(redactURLQuery(u, r.found), r.found)
}

// Seal prepares the learned secrets for following. Call it once, after
// the last Learn and before redacting anything.
func (r *Redactor) Seal() {
	long, short := map[string]bool{}, map[string]bool{}
	for v := range r.known {
		for _, w := range spellings(v) {
			if len(v) >= shortSecretLen {
				long[w] = true
			} else {
				short[w] = true
			}
		}
	}
	byLength := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for w := range m {
			out = append(out, w)
		}
		// Longest first: a Replacer tries its pairs in order, so the
		// longest spelling wins where two start at the same byte.
		slices.SortFunc(out, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return strings.Compare(a, b)
		})
		return out
	}
	for w := range long {
		delete(short, w)
	}
	r.long, r.short = byLength(long), byLength(short)
	r.all = append(slices.Clone(r.long), r.short...)
	slices.SortStableFunc(r.all, func(a, b string) int { return len(b) - len(a) })
	if len(r.long) > 0 {
		text, u := make([]string, 0, 2*len(r.long)), make([]string, 0, 2*len(r.long))
		for _, w := range r.long {
			text = append(text, w, Marker)
			u = append(u, w, QueryMarker)
		}
		r.replText, r.replURL = strings.NewReplacer(text...), strings.NewReplacer(u...)
	}
}

// spellings lists the ways v may be written elsewhere: as is, URL-encoded
// (query and path), and escaped inside a JSON string (with and without
// HTML escaping, and with "/" escaped as some encoders do).
func spellings(v string) []string {
	out := []string{v, url.QueryEscape(v), url.PathEscape(v)}
	for _, html := range []bool{false, true} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) == nil {
			j := strings.TrimSuffix(b.String(), "\n")
			j = j[1 : len(j)-1]
			out = append(out, j, strings.ReplaceAll(j, "/", `\/`))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// follow hides every known secret in s with repl (Marker, or
// QueryMarker inside a URL or form). A truncated text also loses a
// secret's beginning at its very end.
func (r *Redactor) follow(s, repl string, truncated bool) string {
	if len(r.all) == 0 || s == "" {
		return s
	}
	if r.replText != nil {
		if repl == QueryMarker {
			s = r.replURL.Replace(s)
		} else {
			s = r.replText.Replace(s)
		}
	}
	for _, w := range r.short {
		s = replaceStandalone(s, w, repl)
	}
	if truncated {
		s = r.cutTail(s, repl)
	}
	return s
}

// replaceStandalone replaces each w in s that does not sit inside a longer
// run of letters and digits. An escape just before w (%2F, \u0026, \n)
// counts as a separator.
func replaceStandalone(s, w, repl string) string {
	var b strings.Builder
	last := 0
	for i := 0; i <= len(s)-len(w); {
		j := strings.Index(s[i:], w)
		if j < 0 {
			break
		}
		at, end := i+j, i+j+len(w)
		if startsToken(s, at) && (end == len(s) || !isAlnum(s[end])) {
			b.WriteString(s[last:at])
			b.WriteString(repl)
			last, i = end, end
			continue
		}
		i = at + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// startsToken reports whether a token may start at s[i].
func startsToken(s string, i int) bool {
	switch {
	case i == 0 || !isAlnum(s[i-1]):
		return true
	case i >= 3 && s[i-3] == '%' && isHex(s[i-2]) && isHex(s[i-1]):
		return true
	case i >= 6 && s[i-6] == '\\' && s[i-5] == 'u' && isHex(s[i-4]) && isHex(s[i-3]) && isHex(s[i-2]) && isHex(s[i-1]):
		return true
	case i >= 2 && s[i-2] == '\\':
		return true
	}
	return false
}

// cutTail hides the beginning of a secret (at least minSecretLen bytes)
// that a truncated text ends with.
func (r *Redactor) cutTail(s, repl string) string {
	for _, w := range r.all {
		for k := min(len(w)-1, len(s)); k >= minSecretLen; k-- {
			if strings.HasSuffix(s, w[:k]) && (len(w) >= shortSecretLen || startsToken(s, len(s)-k)) {
				return s[:len(s)-k] + repl
			}
		}
	}
	return s
}

// unescapeQuery decodes one part of a query or form, or keeps it as
// written when it does not decode.
func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func isFormURLEncoded(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// text redacts free text: a message or a note.
func (r *Redactor) Text(s string) string {
	if r.strict {
		s = scrubJWT(s)
	}
	return r.follow(s, Marker, false)
}

// url redacts a URL: when strict, secret-named query parameters, name=value
// pairs elsewhere in it (a fragment, path parameters) and JWT signatures;
// at every level, known secrets.
func (r *Redactor) URL(u string) string {
	if u == "" {
		return u
	}
	if r.strict {
		u = scrubJWT(redactPairs(redactURLQuery(u, nil), nil))
	}
	return r.follow(u, QueryMarker, false)
}

// header returns the value to export for one header or trailer line.
func (r *Redactor) Header(name, value string) string {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization":
		return Marker
	case "cookie":
		return redactCookieHeader(value)
	case "set-cookie":
		return redactSetCookie(value)
	case "location", "content-location", "referer":
		// The same as redirectURL, which is read from Location.
		return r.URL(value)
	}
	if r.strict {
		if isSecretName(name) {
			return Marker
		}
		value = scrubJWT(redactPairs(value, nil))
	}
	return r.follow(value, Marker, false)
}

// redactCookieHeader hides every cookie value but keeps the names, so the
// export still shows which cookies were sent ("a=[redacted]; b=[redacted]").
func redactCookieHeader(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		switch {
		case ok:
			parts[i] = name + "=" + Marker
		case strings.TrimSpace(p) != "":
			// A bare value (no name): hide it, keep the spacing.
			parts[i] = p[:len(p)-len(strings.TrimLeft(p, " \t"))] + Marker
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
		return Marker
	}
	out := name + "=" + Marker
	if hasRest {
		out += ";" + rest
	}
	return out
}

// Body redacts one decoded body with the given Content-Type and returns
// its text as exported and, if it was hidden whole, why (whole is "" when
// it was not). truncated is set when the capture stopped at its cap,
// partial when data is only the start of the decoded body; undecodable
// names a Content-Encoding that could not be undone. Known secrets are
// followed at every level; strict then redacts the body by its
// Content-Type and hides whole, with the reason, what it cannot parse. A
// body already hidden whole stays as it is.
func (r *Redactor) Body(data []byte, contentType string, truncated, partial bool, undecodable string) (out []byte, whole string) {
	ok := false
	if r.strict {
		why := ""
		switch {
		case truncated:
			why = "truncated at capture cap"
		case partial:
			why = "truncated while decoding"
		case undecodable != "":
			why = fmt.Sprintf("Content-Encoding %q could not be undone", undecodable)
		}
		if why != "" {
			if reason, ok := wholeBodyReason(data); ok {
				why = reason
			}
			return []byte(wholeBodyMarker(why)), why
		}
	}
	if r.level == None {
		if reason, ok := wholeBodyReason(data); ok {
			return []byte(wholeBodyMarker(reason)), reason
		}
		return data, ""
	}
	text := string(data)
	if r.strict {
		text = scrubJWT(text) // as strictText will, before its signature is followed
	}
	// Known secrets go first: what strict redaction then sees is what
	// will be exported, so a second export of this one agrees with it.
	// JSON is followed token by token, so that it stays JSON.
	if t := strings.TrimLeft(text, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') && !truncated && !partial {
		text, ok = r.followJSON(text)
	}
	if !ok {
		repl := Marker
		if isFormURLEncoded(contentType) {
			repl = QueryMarker
		}
		text = r.follow(text, repl, truncated || partial)
	}
	if reason, ok := wholeBodyReason([]byte(text)); ok {
		return []byte(wholeBodyMarker(reason)), reason
	}
	if !r.strict {
		return []byte(text), ""
	}
	strict, why := r.strictText(text, contentType, nil)
	if why != "" {
		return []byte(wholeBodyMarker(why)), why
	}
	return []byte(strict), ""
}

// strictText redacts a body by its Content-Type: multipart parts,
// urlencoded forms and JSON field by field, then secret-named name=value
// pairs anywhere in the text (URLs, urlencoded data inside JSON strings)
// and JWT signatures. A body it cannot parse (not UTF-8, JSON or multipart
// that does not parse) comes back as "" with the reason.
//
// found, when not nil, makes this a Learn run: found is told every value
// strict redaction hides, and the text returned is not to be used (JSON
// is only read, with collectJSON, which is several times faster than the
// token walk that rewrites it).
func (r *Redactor) strictText(s, contentType string, found func(string)) (string, string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(contentType), ";")
		mt = strings.TrimSpace(mt)
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" {
			return "", "multipart body without a boundary"
		}
		out, ok := r.redactMultipart(s, params["boundary"], found)
		if !ok {
			return "", "malformed multipart body"
		}
		s = out
	case !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0:
		return "", "not UTF-8 text"
	case mt == "application/x-www-form-urlencoded":
		s = redactForm(s, found)
	case found != nil && strings.Contains(mt, "json"):
		collectJSON(s, found)
	case strings.Contains(mt, "json"):
		out, ok := redactJSON(s, found)
		if t := strings.TrimLeft(s, " \t\r\n"); ok && t != "" && t[0] != '{' && t[0] != '[' {
			ok = isJSONStream(s) // redactJSON parsed objects and arrays only
		}
		if !ok {
			return "", "not valid JSON"
		}
		s = out
	case found != nil:
		collectJSON(s, found)
	default:
		// Text that looks like JSON is redacted as JSON when it is.
		if out, ok := redactJSON(s, found); ok {
			s = out
		}
	}
	return scrubJWT(redactPairs(s, found)), ""
}

// redactMultipart redacts each part of a multipart body: a part with a
// secret-looking name is hidden, a binary or transfer-encoded one is
// replaced by a note, the others are redacted by their own Content-Type.
// The layout (boundaries, part headers, line ends) stays byte for byte. ok
// is false unless s is a complete multipart body with this boundary.
func (r *Redactor) redactMultipart(s, boundary string, found func(string)) (string, bool) {
	delim := "--" + boundary
	start := strings.Index(s, delim)
	if start < 0 || (start > 0 && s[start-1] != '\n') {
		return s, false
	}
	var b strings.Builder
	b.WriteString(s[:start])
	rest := s[start:]
	for {
		// rest starts with a delimiter.
		rest = rest[len(delim):]
		b.WriteString(delim)
		if strings.HasPrefix(rest, "--") {
			b.WriteString(rest) // the close delimiter and the epilogue
			return b.String(), true
		}
		nl := strings.IndexByte(rest, '\n')
		if nl < 0 {
			return s, false
		}
		b.WriteString(rest[:nl+1])
		rest = rest[nl+1:]
		end := strings.Index(rest, "\n"+delim)
		if end < 0 {
			return s, false
		}
		part, eol := rest[:end], "\n"
		if strings.HasSuffix(part, "\r") {
			part, eol = part[:len(part)-1], "\r\n"
		}
		head, content, ok := splitPart(part)
		if !ok {
			return s, false
		}
		b.WriteString(head)
		b.WriteString(r.redactPart(head, content, found))
		b.WriteString(eol)
		rest = rest[end+1:]
	}
}

// splitPart splits a multipart part into its header block (with the empty
// line that ends it) and its content.
func splitPart(part string) (head, content string, ok bool) {
	for _, sep := range []string{"\r\n", "\n"} {
		if strings.HasPrefix(part, sep) {
			return sep, part[len(sep):], true
		}
	}
	i, n := strings.Index(part, "\r\n\r\n"), 4
	if j := strings.Index(part, "\n\n"); j >= 0 && (i < 0 || j < i) {
		i, n = j, 2
	}
	if i < 0 {
		return "", "", false
	}
	return part[:i+n], part[i+n:], true
}

// redactPart redacts the content of one multipart part whose header block
// is head.
func (r *Redactor) redactPart(head, content string, found func(string)) string {
	var name, ctype, cte string
	for line := range strings.SplitSeq(head, "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-disposition":
			if _, ps, err := mime.ParseMediaType(v); err == nil {
				name = ps["name"]
			}
		case "content-type":
			ctype = v
		case "content-transfer-encoding":
			cte = strings.ToLower(v)
		}
	}
	switch {
	case isSecretName(name):
		if content == "" || content == Marker {
			return content
		}
		if found != nil {
			found(content)
		}
		return Marker
	case cte != "" && cte != "7bit" && cte != "8bit" && cte != "binary":
		return partMarker("Content-Transfer-Encoding " + cte)
	}
	out, why := r.strictText(content, ctype, found)
	if why != "" {
		return partMarker(why)
	}
	return out
}

// redactURLQuery hides secret-named query parameters in a URL, leaving the
// rest of it byte for byte. found, when not nil, is told each value hidden.
func redactURLQuery(u string, found func(string)) string {
	q := strings.IndexByte(u, '?')
	if q < 0 {
		return u
	}
	end := len(u)
	if h := strings.IndexByte(u[q:], '#'); h >= 0 {
		end = q + h
	}
	return u[:q+1] + redactForm(u[q+1:end], found) + u[end:]
}

// redactForm hides secret-named values in urlencoded text. found, when not
// nil, is told each value hidden (decoded).
func redactForm(s string, found func(string)) string {
	parts := strings.Split(s, "&")
	changed := false
	for i, p := range parts {
		name, value, ok := strings.Cut(p, "=")
		if ok && isSecretName(unescapeQuery(name)) {
			if found != nil {
				found(unescapeQuery(value))
			}
			parts[i] = name + "=" + QueryMarker
			changed = true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(parts, "&")
}

// redactPairs hides the value of every name=value pair in free text whose
// name looks secret: query strings and fragments of URLs quoted in a body,
// urlencoded data inside a JSON string (where "&" may read \u0026), path
// parameters (;jsessionid=…), auth-params. The value runs to the next
// separator, and the replacement holds none, so JSON text stays JSON.
// found, when not nil, is told each value hidden.
func redactPairs(s string, found func(string)) string {
	if !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			continue
		}
		j := i
		for j > 0 && isPairNameByte(s[j-1]) {
			j--
		}
		name := s[j:i]
		switch {
		case j > 0 && s[j-1] == '\\' && strings.HasPrefix(name, "u0026"):
			name = name[len("u0026"):] // a JSON-escaped "&"
		}
		if at := strings.LastIndex(strings.ToLower(name), "%26"); at >= 0 {
			name = name[at+3:] // after a URL-encoded "&"
		}
		if strings.HasPrefix(s[i+1:], Marker) || strings.HasPrefix(s[i+1:], QueryMarker) {
			continue // hidden already
		}
		k := i + 1
		for k < len(s) && !isPairEnd(s[k]) {
			k++
		}
		value := s[i+1 : k]
		if value == "" || !isSecretName(unescapeQuery(name)) {
			continue
		}
		if found != nil {
			found(value)
			found(unescapeQuery(value))
		}
		b.WriteString(s[last : i+1])
		b.WriteString(QueryMarker)
		last = k
		i = k - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isPairNameByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '[' || c == ']' || c == '%'
}

func isPairEnd(c byte) bool {
	return c <= ' ' || strings.IndexByte("&\"'<>;,#?\\)]}`|", c) >= 0
}

// redactJSON replaces the value of every object key that looks secret, at
// any depth, with "[redacted]", keeping the rest of the text (spacing, key
// order, number spelling) as it was. A string value that holds JSON is
// redacted inside too. ok is false when s, an object or array, is not JSON
// (or a stream of JSON values, as in NDJSON); s then comes back unchanged.
// Text that does not start with "{" or "[" comes back unchanged with ok
// set: it has no keys. found, when not nil,
// is told every string and number inside a hidden value.
func redactJSON(s string, found func(string)) (string, bool) {
	t := strings.TrimLeft(s, " \t\r\n")
	if t == "" {
		return s, true
	}
	if t[0] != '{' && t[0] != '[' {
		return s, true // a scalar has no keys; strictText checks it is JSON
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
			return s, false
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
				return s, false
			}
			if err := skipValue(v); err != nil {
				return s, false
			}
			spans = append(spans, span{start: start, end: dec.InputOffset()})
			if found != nil {
				secretJSONStrings(s[start:dec.InputOffset()], found)
			}
			continue // still expecting a key
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true // this token is the value
		}
		// A string value holding JSON (an echo service returning the
		// request body, say) is redacted inside too.
		if str, ok := tok.(string); ok && len(stack) > 0 {
			if inner, _ := redactJSON(str, found); inner != str {
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
	if len(stack) > 0 {
		return s, false // the text ended inside a value
	}
	if len(spans) == 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	last := int64(0)
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		if sp.with != "" {
			b.WriteString(sp.with)
		} else {
			b.WriteString(`"` + Marker + `"`)
		}
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// isJSONStream reports whether s is one or more JSON values and nothing
// else.
func isJSONStream(s string) bool {
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return true
		} else if err != nil {
			return false
		}
	}
}

// collectJSON tells found what redactJSON would hide in s (a JSON value
// or a stream of them; anything else is ignored): the secret strings (see
// secretStrings) under every secret-named key, at any depth, and in
// strings that hold JSON. Of a key repeated in one object only the last
// value is seen (the token walk of redactJSON still hides them all).
func collectJSON(s string, found func(string)) {
	t := strings.TrimLeft(s, " \t\r\n")
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if isSecretName(k) {
					secretStrings(x, true, found)
				} else {
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			collectJSON(v, found)
		}
	}
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		walk(v)
	}
}

// secretJSONStrings tells found the secret strings (see secretStrings) in
// raw, the text of a secret-named key's value.
func secretJSONStrings(raw string, found func(string)) {
	var v any
	if json.Unmarshal([]byte(raw), &v) == nil {
		secretStrings(v, true, found)
	}
}

// secretStrings tells found the strings in v, the value of a secret-named
// key, that are secret themselves: v itself, the items of an array, and
// inside an object only the values of secret-named keys (of
// {"tokens":[{"access_token":"…","expires_in":"3600"}]} the token alone).
func secretStrings(v any, secret bool, found func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			secretStrings(x, isSecretName(k), found)
		}
	case []any:
		for _, x := range v {
			secretStrings(x, secret, found)
		}
	case string:
		if secret {
			found(v)
		}
	}
}

// followJSON hides known secrets inside the strings of a JSON text (keys
// included, each string decoded first, so any escaping is seen through)
// and numbers that are secrets, keeping the text JSON. ok is false when s
// is not JSON; s then comes back unchanged.
func (r *Redactor) followJSON(s string) (string, bool) {
	if len(r.all) == 0 {
		return s, true
	}
	// Decoding token by token is slow. Without \u escapes, behind which a
	// secret could hide, replacing the known spellings is enough, as long
	// as the text stays JSON (it does unless a number was a secret).
	if !strings.Contains(s, `\u`) {
		if raw := r.follow(s, Marker, false); raw == s || isJSONStream(raw) {
			return raw, true
		}
	}
	if !isJSONStream(s) {
		return s, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var b strings.Builder
	last := int64(0)
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break // io.EOF: isJSONStream checked the rest
		}
		var with string
		switch v := tok.(type) {
		case string:
			f := r.follow(v, Marker, false)
			if f == v {
				continue
			}
			with = jsonString(f)
		case json.Number:
			if r.follow(string(v), Marker, false) == string(v) {
				continue
			}
			with = jsonString(Marker)
		default:
			continue
		}
		start := before
		for start < int64(len(s)) && strings.IndexByte(" \t\r\n,:", s[start]) >= 0 {
			start++
		}
		b.WriteString(s[last:start])
		b.WriteString(with)
		last = dec.InputOffset()
	}
	if last == 0 {
		return s, true
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// jsonString is s as a JSON string, without HTML escaping.
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
