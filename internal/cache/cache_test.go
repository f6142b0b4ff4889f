package cache

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/proxy"
	"github.com/devproxy/devproxy/internal/record"
)

func TestFreshHitCarriesAge(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "hello", "Cache-Control", "max-age=60"))
	expect(t, "first", r.get("/a"), 200, "hello", "miss", "devproxy; fwd=uri-miss; stored")

	r.clk.advance(10 * time.Second)
	hit := r.get("/a")
	expect(t, "second", hit, 200, "hello", "hit", "devproxy; hit; ttl=50")
	if age := hit.header.Get("Age"); age != "10" {
		t.Errorf("Age %q, want 10", age)
	}
	if n := r.backendCalls(); n != 1 {
		t.Errorf("backend called %d times, want 1", n)
	}
	if v, _ := hit.x.Mark("answered"); v != "by cache" {
		t.Errorf("marks %v: the hit should be answered by the cache", hit.x.Marks)
	}
	if resp := hit.x.Response; resp == nil || string(resp.Body.Bytes) != "hello" || !resp.Body.Complete {
		t.Errorf("recorded response %+v", resp)
	}
	// Another URI, or the same path with another query, is another entry.
	expect(t, "other query", r.get("/a?x=1"), 200, "hello", "miss", "devproxy; fwd=uri-miss; stored")
}

func TestExpiredIsFetchedAgain(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "v1", "Cache-Control", "max-age=60"))
	r.get("/a")
	r.clk.advance(59 * time.Second)
	expect(t, "just fresh", r.get("/a"), 200, "v1", "hit", "devproxy; hit; ttl=1")
	r.clk.advance(1 * time.Second)
	r.setHandler(respond(200, "v2", "Cache-Control", "max-age=60"))
	expect(t, "expired", r.get("/a"), 200, "v2", "stale", "devproxy; fwd=stale; fwd-status=200; stored")
	if got := r.lastRequest().Header.Get("If-None-Match") + r.lastRequest().Header.Get("If-Modified-Since"); got != "" {
		t.Errorf("sent validators %q for a response that had none", got)
	}
	expect(t, "stored anew", r.get("/a"), 200, "v2", "hit", "devproxy; hit; ttl=60")
}

func TestStaleRevalidatesWith304(t *testing.T) {
	for _, tc := range []struct {
		name      string
		validator []string // on the stored response
		cond      string   // the request field the cache must send
	}{
		{"etag", []string{"ETag", `"v1"`}, "If-None-Match"},
		{"last-modified", []string{"Last-Modified", "Sat, 01 Mar 2025 12:00:00 GMT"}, "If-Modified-Since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := append([]string{"Cache-Control", "max-age=60", "X-Version", "1", "Content-Type", "text/plain"}, tc.validator...)
			r := newRig(t, Config{}, respond(200, "body", hdr...))
			r.get("/a")
			r.clk.advance(2 * time.Minute)
			r.setHandler(func(w http.ResponseWriter, req *http.Request) {
				if req.Header.Get(tc.cond) != tc.validator[1] {
					t.Errorf("revalidation sent %s %q, want %q", tc.cond, req.Header.Get(tc.cond), tc.validator[1])
				}
				w.Header().Set("Cache-Control", "max-age=30")
				w.Header().Set("X-Version", "2")
				w.WriteHeader(http.StatusNotModified)
			})
			got := r.get("/a")
			expect(t, "revalidated", got, 200, "body", "revalidated", "devproxy; fwd=stale; fwd-status=304")
			if got.header.Get("X-Version") != "2" || got.header.Get("Content-Type") != "text/plain" || got.header.Get("Age") != "0" {
				t.Errorf("headers after 304: X-Version %q Content-Type %q Age %q; want 2, text/plain, 0",
					got.header.Get("X-Version"), got.header.Get("Content-Type"), got.header.Get("Age"))
			}
			if got.header.Get("Content-Length") != "4" {
				t.Errorf("Content-Length %q, want 4", got.header.Get("Content-Length"))
			}
			// The replaced response is recorded as the client saw it.
			if resp := got.x.Response; resp == nil || resp.Status != 200 || string(resp.Body.Bytes) != "body" || !resp.Body.Complete {
				t.Errorf("recorded %+v", got.x.Response)
			}
			// The refreshed headers are stored: max-age=30 from now.
			r.clk.advance(5 * time.Second)
			hit := r.get("/a")
			expect(t, "after revalidation", hit, 200, "body", "hit", "devproxy; hit; ttl=25")
			if hit.header.Get("X-Version") != "2" || hit.header.Get("Age") != "5" {
				t.Errorf("hit after 304: X-Version %q Age %q", hit.header.Get("X-Version"), hit.header.Get("Age"))
			}
			if n := r.backendCalls(); n != 2 {
				t.Errorf("backend called %d times, want 2", n)
			}
		})
	}
}

func TestRevalidationWithNewContentReplacesEntry(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "old", "Cache-Control", "max-age=1", "ETag", `"1"`))
	r.get("/a")
	r.clk.advance(time.Minute)
	r.setHandler(respond(200, "new", "Cache-Control", "max-age=60", "ETag", `"2"`))
	expect(t, "changed", r.get("/a"), 200, "new", "stale", "devproxy; fwd=stale; fwd-status=200; stored")
	expect(t, "then", r.get("/a"), 200, "new", "hit", "devproxy; hit; ttl=60")
}

func TestRequestDirectives(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "x", "Cache-Control", "max-age=600", "ETag", `"e"`))
	r.get("/a")
	r.clk.advance(100 * time.Second)
	r.setHandler(respond(http.StatusNotModified, ""))

	expect(t, "max-age=200", r.get("/a", "Cache-Control", "max-age=200"), 200, "x", "hit", "devproxy; hit; ttl=500")
	expect(t, "max-age=50", r.get("/a", "Cache-Control", "max-age=50"), 200, "x", "revalidated", "devproxy; fwd=stale; fwd-status=304")
	expect(t, "no-cache", r.get("/a", "Cache-Control", "no-cache"), 200, "x", "revalidated", "devproxy; fwd=stale; fwd-status=304")
	expect(t, "min-fresh=1000", r.get("/a", "Cache-Control", "min-fresh=1000"), 200, "x", "revalidated", "devproxy; fwd=stale; fwd-status=304")
	if n := r.backendCalls(); n != 4 {
		t.Errorf("backend called %d times, want 4", n)
	}

	calls := r.backendCalls()
	expect(t, "only-if-cached, fresh", r.get("/a", "Cache-Control", "only-if-cached"), 200, "x", "hit", "devproxy; hit; ttl=600")
	got := r.get("/nothing", "Cache-Control", "only-if-cached")
	if got.status != http.StatusGatewayTimeout || got.mark() != "miss" || got.header.Get("Cache-Status") != "devproxy; detail=only-if-cached" {
		t.Errorf("only-if-cached miss: %d %q mark %q", got.status, got.header.Get("Cache-Status"), got.mark())
	}
	if r.backendCalls() != calls {
		t.Errorf("only-if-cached reached the backend")
	}

	r.setHandler(respond(200, "y", "Cache-Control", "max-age=600"))
	expect(t, "request no-store", r.get("/b", "Cache-Control", "no-store"), 200, "y", "miss", "devproxy; fwd=uri-miss; detail=request-no-store")
	expect(t, "after request no-store", r.get("/b"), 200, "y", "miss", "devproxy; fwd=uri-miss; stored")
}

func TestClientConditionalOnHit(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "x", "Cache-Control", "max-age=60", "ETag", `W/"e1"`, "Last-Modified", "Sat, 01 Mar 2025 12:00:00 GMT"))
	r.get("/a")
	cases := []struct {
		hdr    []string
		status int
	}{
		{[]string{"If-None-Match", `"e1"`}, 304},
		{[]string{"If-None-Match", `"zz", W/"e1"`}, 304},
		{[]string{"If-None-Match", `"zz"`}, 200},
		{[]string{"If-Modified-Since", "Sat, 01 Mar 2025 12:00:00 GMT"}, 304},
		{[]string{"If-Modified-Since", "Fri, 28 Feb 2025 12:00:00 GMT"}, 200},
	}
	for _, tc := range cases {
		got := r.get("/a", tc.hdr...)
		if got.status != tc.status || got.mark() != "hit" {
			t.Errorf("%v: got %d (mark %q), want %d from the cache", tc.hdr, got.status, got.mark(), tc.status)
		}
	}
	if n := r.backendCalls(); n != 1 {
		t.Errorf("backend called %d times, want 1", n)
	}
}

func TestVary(t *testing.T) {
	r := newRig(t, Config{}, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		io.WriteString(w, "for "+req.Header.Get("Accept-Encoding"))
	})
	expect(t, "gzip", r.get("/a", "Accept-Encoding", "gzip, br"), 200, "for gzip, br", "miss", "devproxy; fwd=uri-miss; stored")
	expect(t, "identity", r.get("/a", "Accept-Encoding", "identity"), 200, "for identity", "miss", "devproxy; fwd=vary-miss; stored")
	expect(t, "none", r.get("/a"), 200, "for ", "miss", "devproxy; fwd=vary-miss; stored")
	// The same fields, spelled differently, select the same entry.
	expect(t, "gzip again", r.get("/a", "Accept-Encoding", "GZIP,br"), 200, "for gzip, br", "hit", "devproxy; hit; ttl=60")
	expect(t, "two lines", r.get("/a", "Accept-Encoding", "gzip", "Accept-Encoding", " br"), 200, "for gzip, br", "hit", "devproxy; hit; ttl=60")
	expect(t, "identity again", r.get("/a", "Accept-Encoding", "identity"), 200, "for identity", "hit", "devproxy; hit; ttl=60")
	expect(t, "none again", r.get("/a"), 200, "for ", "hit", "devproxy; hit; ttl=60")
	if n := r.backendCalls(); n != 3 {
		t.Errorf("backend called %d times, want 3", n)
	}
	if s := r.cache.Stats(); s.Entries != 3 {
		t.Errorf("%d entries, want 3", s.Entries)
	}
}

// TestNotStored covers the responses RFC 9111 §3 (and the package's
// choices) forbid storing: each is fetched twice from the backend.
func TestNotStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		hdr    []string
		req    []string
		detail string
	}{
		{"no-store", 200, []string{"Cache-Control", "max-age=60, no-store"}, nil, "no-store"},
		{"vary star", 200, []string{"Cache-Control", "max-age=60", "Vary", "Accept, *"}, nil, "vary-star"},
		{"set-cookie", 200, []string{"Cache-Control", "max-age=60", "Set-Cookie", "id=1"}, nil, "set-cookie"},
		{"authorization", 200, []string{"Cache-Control", "max-age=60"}, []string{"Authorization", "Bearer x"}, "authorization"},
		{"429", 429, []string{"Cache-Control", "max-age=60", "Retry-After", "1"}, nil, "status"},
		{"206", 206, []string{"Cache-Control", "max-age=60", "Content-Range", "bytes 0-1/10"}, nil, "status"},
		{"302 without freshness", 302, []string{"Location", "/b"}, nil, "no-freshness"},
		{"200 without validators or freshness", 200, nil, nil, "no-freshness"},
		{"invalid Expires", 200, []string{"Expires", "0"}, nil, "no-freshness"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{}, respond(tc.status, "x", tc.hdr...))
			for i := range 2 {
				got := r.get("/a", tc.req...)
				expect(t, fmt.Sprint("request ", i+1), got, tc.status, "x", "miss", "devproxy; fwd=uri-miss; detail="+tc.detail)
			}
			if n := r.backendCalls(); n != 2 {
				t.Errorf("backend called %d times, want 2", n)
			}
			if s := r.cache.Stats(); s.Entries != 0 {
				t.Errorf("%d entries stored", s.Entries)
			}
		})
	}
}

func TestStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		hdr    []string
		req    []string
		ttl    int
	}{
		{"private", 200, []string{"Cache-Control", "private, max-age=60"}, nil, 60},
		{"authorization with public", 200, []string{"Cache-Control", "public, max-age=60"}, []string{"Authorization", "Bearer x"}, 60},
		{"authorization with must-revalidate", 200, []string{"Cache-Control", "must-revalidate, max-age=60"}, []string{"Authorization", "Bearer x"}, 60},
		{"expires", 200, []string{"Expires", "Sun, 01 Mar 2026 12:02:00 GMT"}, nil, 120},
		{"heuristic 404", 404, []string{"Last-Modified", "Sun, 01 Mar 2026 11:00:00 GMT"}, nil, 360},
		{"301 with max-age", 301, []string{"Location", "/b", "Cache-Control", "max-age=60"}, nil, 60},
		{"s-maxage is for shared caches", 200, []string{"Cache-Control", "max-age=60, s-maxage=5"}, nil, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{}, respond(tc.status, "x", tc.hdr...))
			r.get("/a", tc.req...)
			got := r.get("/a", tc.req...)
			expect(t, "second", got, tc.status, "x", "hit", "devproxy; hit; ttl="+strconv.Itoa(tc.ttl))
			if n := r.backendCalls(); n != 1 {
				t.Errorf("backend called %d times, want 1", n)
			}
		})
	}
}

func TestNoCacheResponseRevalidatesEveryTime(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "x", "Cache-Control", "no-cache, max-age=600", "ETag", `"e"`))
	expect(t, "first", r.get("/a"), 200, "x", "miss", "devproxy; fwd=uri-miss; stored")
	r.setHandler(respond(http.StatusNotModified, "", "Cache-Control", "no-cache"))
	for i := range 2 {
		expect(t, fmt.Sprint("use ", i+1), r.get("/a"), 200, "x", "revalidated", "devproxy; fwd=stale; fwd-status=304")
	}
	if n := r.backendCalls(); n != 3 {
		t.Errorf("backend called %d times, want 3", n)
	}
}

func TestHeadServedFromStoredGet(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "hello", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	expect(t, "head before", r.do(http.MethodHead, "/a"), 200, "", "miss", "devproxy; fwd=uri-miss; detail=method")
	r.get("/a")
	got := r.do(http.MethodHead, "/a")
	expect(t, "head", got, 200, "", "hit", "devproxy; hit; ttl=60")
	if got.header.Get("Content-Length") != "5" || got.header.Get("Content-Type") != "text/plain" {
		t.Errorf("HEAD headers %v", got.header)
	}
	if n := r.backendCalls(); n != 2 {
		t.Errorf("backend called %d times, want 2", n)
	}
}

func TestUnsafeMethodInvalidates(t *testing.T) {
	r := newRig(t, Config{}, nil)
	r.setHandler(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.Method == http.MethodPost && req.URL.Path == "/fail":
			w.WriteHeader(500)
		case req.Method != http.MethodGet:
			w.Header().Set("Location", "/items/7")
			w.Header().Set("Content-Location", "http://elsewhere.example/items/8")
			w.WriteHeader(201)
		default:
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, req.URL.Path)
		}
	})
	for _, p := range []string{"/items", "/items/7", "/fail"} {
		r.get(p)
	}
	expect(t, "post", r.do(http.MethodPost, "/items"), 201, "", "bypass", "devproxy; fwd=method")
	expect(t, "target", r.get("/items"), 200, "/items", "miss", "devproxy; fwd=uri-miss; stored")
	expect(t, "location", r.get("/items/7"), 200, "/items/7", "miss", "devproxy; fwd=uri-miss; stored")

	expect(t, "failed post", r.do(http.MethodPost, "/fail"), 500, "", "bypass", "devproxy; fwd=method")
	expect(t, "after a failed post", r.get("/fail"), 200, "/fail", "hit", "devproxy; hit; ttl=60")

	r.get("/items")
	expect(t, "delete", r.do(http.MethodDelete, "/items"), 201, "", "bypass", "devproxy; fwd=method")
	expect(t, "after delete", r.get("/items"), 200, "/items", "miss", "devproxy; fwd=uri-miss; stored")
}

func TestBypass(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "x", "Cache-Control", "max-age=60"))
	r.get("/a")
	got := r.get("/a", "Range", "bytes=0-0")
	if got.mark() != "bypass" || got.header.Get("Cache-Status") != "devproxy; fwd=bypass" {
		t.Errorf("range: mark %q Cache-Status %q", got.mark(), got.header.Get("Cache-Status"))
	}
	if n := r.backendCalls(); n != 2 {
		t.Errorf("backend called %d times, want 2", n)
	}
}

func TestMaxEntryStreamsThrough(t *testing.T) {
	big := strings.Repeat("b", 3000)
	for _, tc := range []struct {
		name    string
		chunked bool
		detail  string
	}{
		{"known length", false, "detail=too-large"},
		// The length shows only at the end: "stored" means stored if the
		// body ends complete within MaxEntry.
		{"chunked", true, "stored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{MaxSize: 10000, MaxEntry: 2000}, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				}
				for i := 0; i < len(big); i += 1000 {
					io.WriteString(w, big[i:i+1000])
					w.(http.Flusher).Flush()
				}
			})
			for i := range 2 {
				expect(t, fmt.Sprint("request ", i+1), r.get("/big"), 200, big, "miss", "devproxy; fwd=uri-miss; "+tc.detail)
			}
			if s := r.cache.Stats(); s.Entries != 0 || s.Bytes != 0 {
				t.Errorf("stored %+v", s)
			}
		})
	}
}

func TestLRUEviction(t *testing.T) {
	body := strings.Repeat("z", 1000)
	// An entry costs a little over 1400 bytes (body, headers, overhead).
	r := newRig(t, Config{MaxSize: 5000, MaxEntry: 2000}, respond(200, body, "Cache-Control", "max-age=600"))
	r.get("/a")
	r.get("/b")
	r.get("/c") // three entries of a little over 1000 bytes fit
	if s := r.cache.Stats(); s.Entries != 3 || s.Bytes > 5000 {
		t.Fatalf("after three: %+v", s)
	}
	expect(t, "touch a", r.get("/a"), 200, body, "hit", "devproxy; hit; ttl=600")
	r.get("/d") // evicts b, the least recently used
	if s := r.cache.Stats(); s.Entries != 3 || s.Bytes > 5000 {
		t.Errorf("after four: %+v", s)
	}
	calls := r.backendCalls()
	for _, p := range []string{"/a", "/c", "/d"} {
		expect(t, p, r.get(p), 200, body, "hit", "devproxy; hit; ttl=600")
	}
	expect(t, "/b", r.get("/b"), 200, body, "miss", "devproxy; fwd=uri-miss; stored")
	if got := r.backendCalls() - calls; got != 1 {
		t.Errorf("backend called %d times, want 1", got)
	}
}

func TestConfig(t *testing.T) {
	c, err := New(Config{})
	if err != nil || c.store.maxSize != DefaultMaxSize || c.store.maxEntry != DefaultMaxSize/8 {
		t.Errorf("defaults: %v %+v", err, c.store)
	}
	for _, cfg := range []Config{{MaxSize: -1}, {MaxEntry: -1}, {MaxSize: 1 << 20, MaxEntry: 2 << 20}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	_, err = New(Config{MaxSize: 1 << 20, MaxEntry: 2 << 20})
	if want := "cache: max_entry (2.0 MiB) is larger than max_size (1.0 MiB); lower max_entry or raise max_size"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// answerStage answers every request itself, as a rules stage after the
// cache might.
type answerStage struct{}

func (answerStage) Name() string { return "mock" }

func (answerStage) Request(*proxy.Flow) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader("mock")), ContentLength: 4}, nil
}

func TestOtherStagesAnswers(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewRecorder(record.Limits{})
	h, err := proxy.New(proxy.Options{Target: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Tap: rec, Stages: []proxy.Stage{c, answerStage{}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://app.localhost/x", nil))
		if w.Code != 200 || w.Body.String() != "mock" || w.Header().Get("Cache-Status") != "devproxy; fwd=uri-miss; detail=not-from-upstream" {
			t.Errorf("got %d %q Cache-Status %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
		}
	}
	if s := c.Stats(); s.Entries != 0 {
		t.Errorf("stored a later stage's answer: %+v", s)
	}
	// A stage before the cache that answers: the cache never saw the request.
	h, err = proxy.New(proxy.Options{Target: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Tap: rec, Stages: []proxy.Stage{answerStage{}, c}})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://app.localhost/x", nil))
	if w.Header().Get("Cache-Status") != "" {
		t.Errorf("Cache-Status %q on a response the cache never saw", w.Header().Get("Cache-Status"))
	}
}

func TestCacheStatusAppendsToUpstreams(t *testing.T) {
	r := newRig(t, Config{}, respond(200, "x", "Cache-Control", "max-age=60", "Cache-Status", "origin-cdn; hit"))
	expect(t, "miss", r.get("/a"), 200, "x", "miss", "origin-cdn; hit, devproxy; fwd=uri-miss; stored")
	expect(t, "hit", r.get("/a"), 200, "x", "hit", "origin-cdn; hit, devproxy; hit; ttl=60")
}

// TestConcurrentClients runs many clients at a few URIs at once, for the
// race detector: every response is whole and right.
func TestConcurrentClients(t *testing.T) {
	r := newRig(t, Config{MaxSize: 8 << 10, MaxEntry: 4 << 10}, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", `"`+req.URL.Path+`"`)
		io.WriteString(w, strings.Repeat(req.URL.Path, 500))
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if i%5 == 0 && g == 0 {
					r.clk.advance(time.Second) // entries go stale and revalidate
				}
				p := fmt.Sprintf("/%d", (g+i)%4)
				res, err := r.c.Get(r.proxy.URL + p)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || string(b) != strings.Repeat(p, 500) {
					t.Errorf("%s: %d bytes, err %v", p, len(b), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if s := r.cache.Stats(); s.Bytes > 8<<10 {
		t.Errorf("over MaxSize: %+v", s)
	}
}
