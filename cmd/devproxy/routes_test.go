package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// namedBackend answers every request with its name.
func namedBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

// replaceConfig replaces the config file at path in one rename, as editors
// that save atomically do.
func replaceConfig(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRoutesReloadUnderLoad: while clients keep sending requests, a new
// config file swaps the upstream without one failed request, and a broken
// one keeps the routes running and says why.
func TestRoutesReloadUnderLoad(t *testing.T) {
	isolate(t)
	a, b := namedBackend(t, "A"), namedBackend(t, "B")
	cfg := filepath.Join(t.TempDir(), "devproxy.yaml")
	routes := "routes:\n  - match: {path: /}\n    upstreams: [%q]\n"
	replaceConfig(t, cfg, fmt.Sprintf(routes, a.URL))
	r := startRole(t, "serve", "--config", cfg, "--no-session")

	var failed, sent atomic.Int64
	var lastB atomic.Bool
	progress := make(chan struct{}, 1) // a request was answered
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				resp, err := client.Get(r.url + "/x")
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				sent.Add(1)
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				lastB.Store(string(body) == "B")
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	stopLoad := func() { cancel(); wg.Wait() }
	defer stopLoad()

	replaceConfig(t, cfg, fmt.Sprintf(routes, b.URL))
	r.out.waitMatch(t, regexp.MustCompile(`routes: reloaded`))
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !lastB.Load() {
		select {
		case <-progress:
		case <-deadline.C:
			t.Fatalf("requests still go to A after the reload:\n%s", r.out.String())
		}
	}

	replaceConfig(t, cfg, "routes:\n  - match: {path: /}\n    upstreams: [\"ftp://nowhere\"]\n")
	r.out.waitMatch(t, regexp.MustCompile(`reload failed, the previous routes stay in use: (.*ftp.*)`))
	before := sent.Load()
	for sent.Load() < before+20 {
		select {
		case <-progress:
		case <-deadline.C:
			t.Fatal("no requests answered after the failed reload")
		}
	}
	stopLoad()
	if !lastB.Load() {
		t.Error("after a failed reload, requests no longer go to B")
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed across the reloads", n, sent.Load())
	}
	out, err := r.stop()
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
}

// TestRoutesConfigErrorsNameTheRoute: a bad route in the config stops serve
// with the route, the key and the value.
func TestRoutesConfigErrorsNameTheRoute(t *testing.T) {
	isolate(t)
	cfg := filepath.Join(t.TempDir(), "devproxy.yaml")
	replaceConfig(t, cfg, "routes:\n  - name: api\n    match: {path: /api/}\n    upstreams: [\"http://127.0.0.1:1\"]\n    lb: fastest\n")
	_, err := runCmd(t, "serve", "--config", cfg, "--no-tui", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "routes[0] (api)") || !strings.Contains(err.Error(), `"fastest"`) {
		t.Fatalf("got %v, want an error naming routes[0] (api), lb and \"fastest\"", err)
	}
}

// TestReloadMovesTheListener: a reload that changes the config file's
// listen address serves on the new one and closes the old one.
func TestReloadMovesTheListener(t *testing.T) {
	isolate(t)
	a := namedBackend(t, "A")
	cfg := filepath.Join(t.TempDir(), "devproxy.yaml")
	first, second := freeAddr(t), freeAddr(t)
	conf := "listen: %s\nroutes:\n  - match: {path: /}\n    upstreams: [%q]\n"
	replaceConfig(t, cfg, fmt.Sprintf(conf, first, a.URL))

	r := runRole(t, "serve", "--config", cfg, "--no-tui", "--no-session")
	get := func(addr string) (string, error) {
		resp, err := http.Get("http://" + addr + "/x")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(first); err != nil || body != "A" {
		t.Fatalf("before the reload, %s answered %q, %v", first, body, err)
	}

	replaceConfig(t, cfg, fmt.Sprintf(conf, second, a.URL))
	r.out.waitMatch(t, regexp.MustCompile(`listening on http://`+regexp.QuoteMeta(second)))
	if body, err := get(second); err != nil || body != "A" {
		t.Fatalf("after the reload, %s answered %q, %v", second, body, err)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := get(first); err == nil {
		t.Errorf("the old address %s still takes new connections after the reload", first)
	}
}
