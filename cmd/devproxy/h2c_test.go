package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestServeH2CBothSides: a client speaking h2c with prior knowledge gets an
// answer from serve on a plain listener, and --upstream-h2c carries the
// request to an h2c-only backend as HTTP/2.
func TestServeH2CBothSides(t *testing.T) {
	isolate(t)
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "backend saw "+r.Proto)
	}))
	b.Config.Protocols = new(http.Protocols)
	b.Config.Protocols.SetUnencryptedHTTP2(true)
	b.Start()
	t.Cleanup(b.Close)

	addr := freeAddr(t)
	runRole(t, "serve", "--target", b.URL, "--listen", addr, "--upstream-h2c", "--no-tui", "--no-session")

	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Proxy: nil, Protocols: &p}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 20 * time.Second, Transport: tr}
	res, err := client.Get("http://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.ProtoMajor != 2 || string(body) != "backend saw HTTP/2.0" {
		t.Fatalf("client got %s %d %q; want HTTP/2.0 from devproxy and from the backend", res.Proto, res.StatusCode, body)
	}
}
