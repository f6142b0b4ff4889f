// Package auth checks a route's credentials before a request is forwarded:
// HTTP basic auth against a password from the environment or a bcrypt hash,
// bearer tokens from the environment, and optionally no check at all for
// clients on loopback. It is a stage of the proxy engine; the credential it
// checked never reaches the upstream.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

// Config is the `auth:` of a route. Basic, Bearer or both must be given; a
// request passes with either.
type Config struct {
	Basic  *Basic
	Bearer *Bearer
	// LoopbackBypass lets clients on loopback (127.0.0.0/8, ::1) through
	// without credentials.
	LoopbackBypass bool
}

// Basic is HTTP basic auth with one user.
type Basic struct {
	// User is the user name. Required.
	User string
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string
	// PasswordHash is a bcrypt hash of the password ("$2a$…", "$2b$…",
	// "$2y$…", e.g. from `htpasswd -nbB USER PASSWORD`). Give it or
	// PasswordEnv, not both.
	PasswordHash string
}

// Bearer is bearer-token auth (RFC 6750).
type Bearer struct {
	// TokensEnv names the environment variable holding one or more tokens,
	// separated by commas. Required.
	TokensEnv string
}

// Auth is a route's credential check, a proxy.RequestStage. It answers 401
// with WWW-Authenticate when the credentials are missing or wrong, and
// removes the Authorization header it accepted from the forwarded request.
type Auth struct {
	basic    *basic
	tokens   [][sha256.Size]byte // digests of the bearer tokens
	loopback bool
	// challenges are the WWW-Authenticate values of a 401.
	challenges []string
}

// basic holds digests, never the password itself, so every comparison is
// of fixed-length values and takes the same time whatever was sent.
type basic struct {
	user [sha256.Size]byte
	pass [sha256.Size]byte // from PasswordEnv
	hash []byte            // PasswordHash

	// verified are digests of passwords the bcrypt hash accepted, so a
	// browser sending its credentials with every request pays bcrypt's
	// cost (tens of milliseconds) once, not on every request.
	mu       sync.Mutex
	verified [][sha256.Size]byte
}

// maxVerified bounds basic.verified: one password matches a hash, but
// bcrypt ignores bytes after the 72nd, so variants would match too.
const maxVerified = 4

// New checks cfg and returns its stage. getenv reads the environment
// (os.Getenv when nil); the secrets are read once, here.
func New(cfg Config, getenv func(string) string) (*Auth, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if cfg.Basic == nil && cfg.Bearer == nil {
		return nil, errors.New("auth: give basic (user, and password_env or password_hash) or bearer (tokens_env), or both")
	}
	a := &Auth{loopback: cfg.LoopbackBypass}
	if c := cfg.Basic; c != nil {
		b, err := newBasic(*c, getenv)
		if err != nil {
			return nil, err
		}
		a.basic = b
		a.challenges = append(a.challenges, `Basic realm="devproxy", charset="UTF-8"`)
	}
	if c := cfg.Bearer; c != nil {
		if c.TokensEnv == "" {
			return nil, errors.New("auth.bearer.tokens_env: empty; give the name of an environment variable holding one or more comma-separated tokens")
		}
		for t := range strings.SplitSeq(getenv(c.TokensEnv), ",") {
			if t = strings.TrimSpace(t); t != "" {
				a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
			}
		}
		if len(a.tokens) == 0 {
			return nil, fmt.Errorf("auth.bearer.tokens_env: %s is not set or holds no token; export it with one or more comma-separated tokens", c.TokensEnv)
		}
		a.challenges = append(a.challenges, `Bearer realm="devproxy"`)
	}
	return a, nil
}

func newBasic(c Basic, getenv func(string) string) (*basic, error) {
	switch {
	case c.User == "":
		return nil, errors.New("auth.basic.user: empty; give the user name clients log in with")
	case strings.Contains(c.User, ":"):
		return nil, fmt.Errorf("auth.basic.user: %q contains a colon, which basic auth cannot carry in a user name; choose another name", c.User)
	case c.PasswordEnv != "" && c.PasswordHash != "":
		return nil, errors.New("auth.basic: give password_env or password_hash, not both")
	case c.PasswordEnv == "" && c.PasswordHash == "":
		return nil, errors.New("auth.basic: give password_env (the name of an environment variable holding the password) or password_hash (a bcrypt hash of it)")
	}
	b := &basic{user: sha256.Sum256([]byte(c.User))}
	if c.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(c.PasswordHash)); err != nil {
			return nil, fmt.Errorf("auth.basic.password_hash: not a bcrypt hash (%v); make one with `htpasswd -nbB %s PASSWORD` and give the part after the colon", err, c.User)
		}
		b.hash = []byte(c.PasswordHash)
		return b, nil
	}
	pass := getenv(c.PasswordEnv)
	if pass == "" {
		return nil, fmt.Errorf("auth.basic.password_env: %s is not set; export it, or give password_hash (bcrypt)", c.PasswordEnv)
	}
	b.pass = sha256.Sum256([]byte(pass))
	return b, nil
}

// Name is the stage's name on marks.
func (a *Auth) Name() string { return "auth" }

// verdict is what a request's credentials came to.
type verdict int

const (
	noCredentials verdict = iota
	accepted
	wrongPassword
	wrongToken
)

var marks = [...]string{
	noCredentials: "refused: no credentials",
	accepted:      "ok",
	wrongPassword: "refused: wrong password",
	wrongToken:    "refused: wrong token",
}

// Request lets the request through when its credentials are right (and
// removes them from f.Out) or its client is on loopback with the bypass
// on; otherwise it answers 401. Every attempt of an exchange is checked the
// same way, but only the first is marked.
func (a *Auth) Request(f *proxy.Flow) (*http.Response, error) {
	v := a.check(f.In)
	mark := marks[v]
	switch {
	case v == accepted:
		f.Out.Header.Del("Authorization")
	case a.loopback && isLoopback(f.In.RemoteAddr):
		// Credentials that are not ours are the upstream's: left alone.
		mark = "bypass: loopback"
	}
	if f.Attempt <= 1 {
		f.Rec.Mark(record.Mark{Stage: a.Name(), Name: "auth", Value: mark})
	}
	if v == accepted || mark == "bypass: loopback" {
		return nil, nil
	}
	return a.refuse(v), nil
}

// check compares the request's Authorization with the configured
// credentials.
func (a *Auth) check(r *http.Request) verdict {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(strings.TrimSpace(h), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case cred == "":
		return noCredentials
	case strings.EqualFold(scheme, "Basic") && a.basic != nil:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return wrongPassword
		}
		if a.basic.check(user, pass) {
			return accepted
		}
		return wrongPassword
	case strings.EqualFold(scheme, "Bearer") && a.tokens != nil:
		got := sha256.Sum256([]byte(cred))
		match := 0
		for i := range a.tokens {
			match |= subtle.ConstantTimeCompare(got[:], a.tokens[i][:])
		}
		if match == 1 {
			return accepted
		}
		return wrongToken
	}
	return noCredentials
}

// check compares user and password with both comparisons always made.
func (b *basic) check(user, pass string) bool {
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], b.user[:])
	if b.hash == nil {
		return userOK&subtle.ConstantTimeCompare(p[:], b.pass[:]) == 1
	}
	b.mu.Lock()
	known := 0
	for i := range b.verified {
		known |= subtle.ConstantTimeCompare(p[:], b.verified[i][:])
	}
	b.mu.Unlock()
	if known == 1 {
		return userOK == 1
	}
	// bcrypt runs even for a wrong user, so the time taken does not tell
	// whether the user name was right.
	if bcrypt.CompareHashAndPassword(b.hash, []byte(pass)) != nil {
		return false
	}
	b.mu.Lock()
	if len(b.verified) < maxVerified {
		b.verified = append(b.verified, p)
	}
	b.mu.Unlock()
	return userOK == 1
}

// refuse is the 401 for a request whose credentials were missing or wrong.
func (a *Auth) refuse(v verdict) *http.Response {
	var msg string
	switch v {
	case wrongPassword:
		msg = "devproxy: wrong user name or password for this route\n"
	case wrongToken:
		msg = "devproxy: the bearer token is not one of this route's tokens\n"
	default:
		var ways []string
		if a.basic != nil {
			ways = append(ways, "basic auth (curl -u USER:PASSWORD)")
		}
		if a.tokens != nil {
			ways = append(ways, "a bearer token (curl -H 'Authorization: Bearer TOKEN')")
		}
		msg = "devproxy: this route needs credentials: " + strings.Join(ways, " or ") + "\n"
	}
	// A copy: later stages may add to the header.
	challenges := make([]string, len(a.challenges))
	for i, c := range a.challenges {
		if v == wrongToken && strings.HasPrefix(c, "Bearer ") {
			c += `, error="invalid_token"`
		}
		challenges[i] = c
	}
	h := http.Header{
		"Www-Authenticate": challenges,
		"Content-Type":     {"text/plain; charset=utf-8"},
		"Cache-Control":    {"no-store"},
	}
	return &http.Response{
		StatusCode:    http.StatusUnauthorized,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(msg)),
		ContentLength: int64(len(msg)),
	}
}

// isLoopback says whether a RemoteAddr is on 127.0.0.0/8 or ::1.
func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
