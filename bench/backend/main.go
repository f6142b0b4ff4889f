// Command backend is the fixed-size HTTP backend for bench/wrk.sh: /small
// answers 1 KiB, /big 1 MiB, anything else 1 KiB.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:3999", "address to listen on")
	flag.Parse()
	small := bytes.Repeat([]byte("x"), 1024)
	big := bytes.Repeat([]byte("y"), 1<<20)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := small
		if strings.HasSuffix(r.URL.Path, "/big") {
			body = big
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
