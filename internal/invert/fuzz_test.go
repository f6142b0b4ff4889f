package invert

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

func FuzzParsePending(f *testing.F) {
	for _, s := range []string{"", "null", "[]", `["0123abcd"]`, `["a","b","c"]`, `[1]`, `{}`, "[\"\x00\"]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := parsePending(b)
		if err != nil {
			return
		}
		for _, id := range ids {
			if !validRequestID(id) {
				t.Fatalf("invalid id %q accepted", id)
			}
		}
	})
}

func FuzzReadForwardedRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /p?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"GET http://elsewhere/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT x:443 HTTP/1.1\r\n\r\n",
		"garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readForwardedRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect {
			t.Fatal("CONNECT accepted")
		}
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		}
	})
}

func FuzzReadAgentResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n2\r\nok\r\n0\r\nX: 1\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0 204\r\n\r\n",
		"nonsense\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	req, _ := http.NewRequest("GET", "http://x/", nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := readAgentResponse(bytes.NewReader(b), req)
		if err != nil {
			return
		}
		if res.StatusCode < 200 {
			t.Fatalf("informational %d accepted", res.StatusCode)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
	})
}
