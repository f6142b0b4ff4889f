// Command baseline is the tuned net/http/httputil.ReverseProxy that
// bench/run measures devproxy against: what a Go developer would write by
// hand for speed, recording nothing. Tuned means pooled 32 KiB copy
// buffers, an idle pool as large as the benchmark's connection count, no
// transparent compression, larger transport buffers and no HTTP/2 attempt;
// responses of unknown length stream at once (FlushInterval 0 does that).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3998", "address to listen on")
	target := flag.String("target", "http://127.0.0.1:3999", "URL of the backend")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		log.Fatalf("-target %q: give an absolute URL, e.g. http://127.0.0.1:3999", *target)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.SetXForwarded()
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			WriteBufferSize:     32 << 10,
			ReadBufferSize:      32 << 10,
		},
		BufferPool: &bufferPool{},
	}
	srv := &http.Server{Addr: *listen, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// bufferPool lends ReverseProxy its copy buffers, so a response allocates
// none.
type bufferPool struct{ p sync.Pool }

// Get returns a 32 KiB buffer.
func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

// Put takes a buffer back.
func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
