package proxy

import "net/http"

// fullDuplex lets a gRPC request that arrived over HTTP/1.1 (through the
// tunnel's yamux streams, or a client that speaks gRPC over HTTP/1.1) be
// read while its response is written, as bidirectional streams need: by
// default net/http's HTTP/1 server consumes or closes the request body once
// the response starts (go#57786). HTTP/2 is always full duplex. Other
// requests keep the default, which lets a server answer an upload early.
func fullDuplex(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && isGRPC(r.Header.Get("Content-Type")) {
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
}
