// Command backend is the HTTP backend that bench/run measures every proxy
// against. It uses only the standard library and answers:
//
//	GET  /bytes/N   N bytes of "x" with a Content-Length (any N, 1 GiB included)
//	GET  /stream    a chunked stream: a chunk, a flush, a wait, repeated
//	                (?chunks=2&interval=20ms&size=64)
//	POST /echo      the request body back, with its Content-Length when known
//
// Any other path ending in /big answers 1 MiB and anything else 1 KiB, as
// the first version of this backend did.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// block is what /bytes/N writes, a block at a time.
var block = bytes.Repeat([]byte("x"), 1<<20)

func main() {
	addr := flag.String("listen", "127.0.0.1:3999", "address to listen on")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", serveBytes)
	mux.HandleFunc("GET /stream", serveStream)
	mux.HandleFunc("POST /echo", serveEcho)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := int64(1 << 10)
		if strings.HasSuffix(r.URL.Path, "/big") {
			n = 1 << 20
		}
		writeBytes(w, n)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// serveBytes answers /bytes/N with N bytes.
func serveBytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, fmt.Sprintf("/bytes/%s: give a byte count, e.g. /bytes/1024", r.PathValue("n")), http.StatusBadRequest)
		return
	}
	writeBytes(w, n)
}

// writeBytes writes n bytes with their length; a short body is one write.
func writeBytes(w http.ResponseWriter, n int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	for n > 0 {
		chunk := block[:min(n, int64(len(block)))]
		if _, err := w.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}

// serveStream writes chunks of size bytes, flushing each and waiting
// interval between them, with no Content-Length (so the response is
// chunked): the first chunk's arrival is what a proxy's streaming costs.
func serveStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	chunks, err1 := intParam(q.Get("chunks"), 2)
	size, err2 := intParam(q.Get("size"), 64)
	interval := 20 * time.Millisecond
	var err3 error
	if s := q.Get("interval"); s != "" {
		interval, err3 = time.ParseDuration(s)
	}
	if err := errors.Join(err1, err2, err3); err != nil || size > len(block) {
		http.Error(w, fmt.Sprintf("/stream: %v (e.g. /stream?chunks=2&interval=20ms&size=64, size at most %d)", err, len(block)), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	rc := http.NewResponseController(w)
	for i := range chunks {
		if i > 0 {
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			}
		}
		if _, err := w.Write(block[:size]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// intParam parses a non-negative query value, or returns def when empty.
func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count", s)
	}
	return n, nil
}

// serveEcho sends the request body back as it reads it (full duplex, so a
// large body needs no buffer).
func serveEcho(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	_, _ = io.Copy(w, r.Body)
}
