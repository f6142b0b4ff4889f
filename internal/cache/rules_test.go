package cache

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  directives
	}{
		{[]string{"max-age=60"}, directives{maxAge: delta{set: true, secs: 60}}},
		{[]string{"Max-Age=60, NO-STORE"}, directives{noStore: true, maxAge: delta{set: true, secs: 60}}},
		{[]string{"public", "max-age=5, max-age=9"}, directives{public: true, maxAge: delta{set: true, secs: 5}}},
		{[]string{`max-age="30"`}, directives{maxAge: delta{set: true, secs: 30}}},
		{[]string{"max-age=-1"}, directives{maxAge: delta{set: true, bad: true}}},
		{[]string{"max-age="}, directives{maxAge: delta{set: true, bad: true}}},
		{[]string{"max-age=99999999999999999999"}, directives{maxAge: delta{set: true, secs: deltaMax}}},
		{[]string{`no-cache="Set-Cookie, X-A", private`}, directives{noCache: true, private: true}},
		{[]string{`ext="a,\"b", must-revalidate`}, directives{mustRevalidate: true}},
		{[]string{" , ,only-if-cached ,min-fresh=10,s-maxage=3 "}, directives{onlyIfCached: true, minFresh: delta{set: true, secs: 10}, sMaxAge: delta{set: true, secs: 3}}},
		{[]string{`foo="unterminated, no-store`}, directives{}},
	} {
		h := http.Header{"Cache-Control": tc.lines}
		if got := parseDirectives(h); got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.lines, got, tc.want)
		}
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{"max-age=60, no-store", `no-cache="a,b", x`, `"`, `a="\`, ",,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseDirectives(http.Header{"Cache-Control": {s}})
		for _, v := range []delta{d.maxAge, d.sMaxAge, d.minFresh} {
			if v.secs < 0 || v.secs > deltaMax || (!v.set && (v.bad || v.secs != 0)) {
				t.Fatalf("%q: bad delta %+v", s, v)
			}
		}
	})
}

func TestLifetime(t *testing.T) {
	date := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return date.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		name   string
		status int
		hdr    []string
		want   time.Duration
	}{
		{"max-age", 200, []string{"Cache-Control", "max-age=60"}, time.Minute},
		{"max-age beats Expires", 200, []string{"Cache-Control", "max-age=60", "Expires", at(time.Hour)}, time.Minute},
		{"invalid max-age is stale", 200, []string{"Cache-Control", "max-age=soon", "Expires", at(time.Hour)}, 0},
		{"Expires − Date", 200, []string{"Expires", at(time.Hour)}, time.Hour},
		{"Expires in the past", 200, []string{"Expires", at(-time.Hour)}, 0},
		{"invalid Expires", 200, []string{"Expires", "0", "Last-Modified", at(-10 * time.Hour)}, 0},
		{"heuristic 10 %", 200, []string{"Last-Modified", at(-10 * time.Hour)}, time.Hour},
		{"heuristic for 404", 404, []string{"Last-Modified", at(-10 * time.Hour)}, time.Hour},
		{"no heuristic for 302", 302, []string{"Last-Modified", at(-10 * time.Hour)}, 0},
		{"public allows a heuristic", 302, []string{"Cache-Control", "public", "Last-Modified", at(-10 * time.Hour)}, time.Hour},
		{"Last-Modified in the future", 200, []string{"Last-Modified", at(time.Hour)}, 0},
		{"s-maxage ignored", 200, []string{"Cache-Control", "s-maxage=600"}, 0},
	} {
		h := http.Header{}
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			h.Add(tc.hdr[i], tc.hdr[i+1])
		}
		if got := lifetime(tc.status, h, parseDirectives(h), date); got != tc.want {
			t.Errorf("%s: lifetime %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAge follows RFC 9111 §4.2.3.
func TestAge(t *testing.T) {
	sent := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	received := sent.Add(2 * time.Second) // response_delay 2 s
	for _, tc := range []struct {
		name string
		date time.Time
		age  string
		want time.Duration // current_age 10 s after receipt
	}{
		{"no Age, Date at receipt", received, "", 12 * time.Second},                      // delay 2 + resident 10
		{"Age from upstream", received, "100", 112 * time.Second},                        // 100 + 2 + 10
		{"Date long ago", received.Add(-time.Hour), "", time.Hour + 10*time.Second},      // apparent age wins
		{"Date and Age", received.Add(-time.Minute), "30", time.Minute + 10*time.Second}, // apparent 60 > 32
		{"Date in the future", received.Add(time.Hour), "", 12 * time.Second},            // apparent age 0
		{"invalid Age ignored", received, "-5", 12 * time.Second},                        //
		{"huge Age", received, "99999999999", (deltaMax+2)*time.Second + 10*time.Second}, //
	} {
		h := http.Header{"Date": {tc.date.Format(http.TimeFormat)}}
		if tc.age != "" {
			h.Set("Age", tc.age)
		}
		a := newAgeClock(h, dateOf(h, received), sent, received)
		if got := a.at(received.Add(10 * time.Second)); got != tc.want {
			t.Errorf("%s: current age %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVaryValues(t *testing.T) {
	h := http.Header{"Accept-Encoding": {"GZIP ;q=1", " br"}, "X-Case": {"Value"}, "Empty": {""}}
	got := varyValues(h, []string{"accept-encoding", "x-case", "empty", "missing"})
	want := []string{"gzip;q=1,br", "Value", "", absent}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if names := varyNames(http.Header{"Vary": {"Accept-Encoding, accept-encoding", "Origin"}}); strings.Join(names, ",") != "accept-encoding,origin" {
		t.Errorf("varyNames %q", names)
	}
}

// TestIncompleteBodyNotStored: a body that breaks off, whether the
// upstream stops short or the client goes away, is never stored.
func TestIncompleteBodyNotStored(t *testing.T) {
	t.Run("upstream stops short", func(t *testing.T) {
		r := newRig(t, Config{}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Length", "2000")
			io.WriteString(w, strings.Repeat("a", 1000))
		})
		res, err := r.c.Get(r.proxy.URL + "/a")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		if x := r.waitDone(1); x.Err == nil {
			t.Errorf("recorded no error for a short body")
		}
		if s := r.cache.Stats(); s.Entries != 0 {
			t.Errorf("stored %+v", s)
		}
	})
	t.Run("client goes away", func(t *testing.T) {
		release := make(chan struct{})
		r := newRig(t, Config{}, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Length", "2000")
			io.WriteString(w, strings.Repeat("a", 1000))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-req.Context().Done():
			}
		})
		defer close(release)
		res, err := r.c.Get(r.proxy.URL + "/a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(res.Body, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		res.Body.Close() // before the end: the connection is dropped
		r.waitDone(1)
		if s := r.cache.Stats(); s.Entries != 0 {
			t.Errorf("stored %+v", s)
		}
	})
}
