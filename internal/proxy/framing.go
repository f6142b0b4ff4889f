package proxy

import (
	"net/http"
	"strconv"
)

// declareEmptyBody gives a response that is known to have no body a
// Content-Length of 0 when its headers do not say so: HTTP/2 upstreams end
// such a response with its HEADERS frame (a gRPC trailers-only response,
// whose grpc-status is in the headers), and Go's client reports it as
// ContentLength 0 without the header. Writers between the engine and the
// client that frame the body from the headers (the poll agent's) would
// otherwise send an open-ended body, and the client's HTTP/2 server then a
// separate end of stream, after which a gRPC client finds no trailers.
func declareEmptyBody(res *http.Response) {
	if res.ContentLength != 0 || len(res.Trailer) > 0 || res.Header.Get("Content-Length") != "" ||
		res.StatusCode < 200 || res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified ||
		res.Request == nil || res.Request.Method == http.MethodHead {
		return
	}
	res.Header.Set("Content-Length", strconv.Itoa(0))
}
