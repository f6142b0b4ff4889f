package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/devproxy/devproxy/internal/record"
)

// grpcFrame is one gRPC length-prefixed message: flag, big-endian
// length, payload.
func grpcFrame(flag byte, payload ...byte) []byte {
	n := len(payload)
	return append([]byte{flag, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
}

// grpcExchange is a gRPC call of /helloworld.Greeter/SayHello over h2c
// with the given bodies; trailers nil makes the response trailers-only
// (respHdr carries grpc-status).
func grpcExchange(req, resp []byte, respHdr, trailers record.Fields) record.Exchange {
	return record.Exchange{
		Role: record.RoleServe, Start: t0.Add(-time.Second), End: t0.Add(-time.Second + 3*time.Millisecond),
		Request: record.Request{Method: "POST", URL: "http://localhost:3000/helloworld.Greeter/SayHello", Proto: "HTTP/2.0", Host: "localhost:3000",
			Header: hdr("Content-Type", "application/grpc", "Te", "trailers"),
			Body:   record.Body{Bytes: req, Size: int64(len(req)), Complete: true}},
		Response: &record.Response{Status: 200, Reason: "OK", Proto: "HTTP/2.0",
			Header: append(hdr("Content-Type", "application/grpc"), respHdr...), Trailer: trailers,
			Body: record.Body{Bytes: resp, Size: int64(len(resp)), Complete: true}},
		Timings: record.NoTimings,
	}
}

// hello is field 1 "hello"; world is field 1 "world", field 2 42.
var (
	hello = []byte{0x0a, 0x05, 'h', 'e', 'l', 'l', 'o'}
	world = []byte{0x0a, 0x05, 'w', 'o', 'r', 'l', 'd', 0x10, 0x2a}
)

func grpcOK() record.Exchange {
	return grpcExchange(grpcFrame(0, hello...), grpcFrame(0, world...), nil, hdr("Grpc-Status", "0"))
}

func grpcNotFound() record.Exchange {
	return grpcExchange(grpcFrame(0, hello...), nil, hdr("Grpc-Status", "5", "Grpc-Message", "no such greeting"), nil)
}

// grpcOdd has a compressed request message, then a truncated capture,
// and a response that is not a stream of gRPC messages.
func grpcOdd() record.Exchange {
	req := append(grpcFrame(1, 0x1f, 0x8b, 0x08, 0x00), grpcFrame(0, hello...)...)
	x := grpcExchange(req[:len(req)-3], []byte{7, 0, 0, 0, 1, 0}, nil, hdr("Grpc-Status", "13"))
	x.Request.Header = append(x.Request.Header, record.Field{Name: "Grpc-Encoding", Value: "gzip"})
	x.Request.Body.Size, x.Request.Body.Truncated = int64(len(req)), true
	return x
}

// TestGRPCList checks that gRPC calls are listed by Service/Method with
// their gRPC status next to the HTTP status, trailers-only included,
// and that other exchanges keep their HTTP status alone.
func TestGRPCList(t *testing.T) {
	for _, w := range []int{80, 120} {
		t.Run(fmt.Sprint(w), func(t *testing.T) { testGRPCList(t, w) })
	}
}

func testGRPCList(t *testing.T, width int) {
	plainX := bodyExchange([]byte("hi"), "Content-Type", "text/plain")
	m := newModel(t, newRecorder(t, grpcOK(), grpcNotFound(), plainX), width, 20)
	checkFrame(t, m, width, 20)
	s := screen(m)
	rows := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		for _, id := range []string{"#1 ", "#2 ", "#3 "} {
			if strings.Contains(l, id) {
				rows[id] = l
			}
		}
	}
	for id, want := range map[string][]string{
		"#1 ": {"200 OK ", "Greeter/SayHello"},
		"#2 ": {"200 NOT_FOUND", "Greeter/SayHello"},
		"#3 ": {"200 ", "/thing"},
	} {
		for _, w := range want {
			if !strings.Contains(rows[id], w) {
				t.Errorf("row %s = %q, want it to contain %q\n%s", id, rows[id], w, s)
			}
		}
	}
	if strings.Contains(rows["#1 "], "helloworld.Greeter") {
		t.Errorf("row #1 = %q, want the short Service/Method", rows["#1 "])
	}
	if strings.Contains(rows["#3 "], "200 OK") {
		t.Errorf("row #3 = %q, want the HTTP status alone", rows["#3 "])
	}
}

// TestGRPCMessagesGolden compares the Messages tab of gRPC calls with
// testdata/TestGRPCMessagesGolden/*.golden. Regenerate with -update.
func TestGRPCMessagesGolden(t *testing.T) {
	views := []struct {
		name string
		x    func() record.Exchange
	}{
		{"unary", grpcOK},
		{"trailers_only", grpcNotFound},
		{"odd", grpcOdd},
	}
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := newModel(t, newRecorder(t, v.x()), sz[0], sz[1])
				press(t, m, "enter", "4")
				checkFrame(t, m, sz[0], sz[1])
				golden.RequireEqual(t, plain(t, m))
			})
		}
	}
}

// TestGRPCNames checks the short call names and status names, odd
// inputs included.
func TestGRPCNames(t *testing.T) {
	for path, want := range map[string]string{
		"http://h/helloworld.Greeter/SayHello": "Greeter/SayHello",
		"http://h/Greeter/SayHello":            "Greeter/SayHello",
		"http://h/a.b.c.Svc/M?x=1":             "Svc/M",
		"http://h/":                            "",
		"http://h/only":                        "",
		"http://h/a/b/c":                       "",
	} {
		x := record.Exchange{Request: record.Request{URL: path}}
		if got := grpcMethod(&x); got != want {
			t.Errorf("grpcMethod(%q) = %q, want %q", path, got, want)
		}
	}
	for v, want := range map[string]string{"0": "OK", "5": "NOT_FOUND", "16": "UNAUTHENTICATED", "17": "17", " 4 ": "DEADLINE_EXCEEDED", "": ""} {
		x := record.Exchange{Response: &record.Response{Trailer: hdr("grpc-status", v)}}
		if got := grpcStatus(&x); got != want {
			t.Errorf("grpcStatus(%q) = %q, want %q", v, got, want)
		}
	}
}
