package grpcwire

import (
	"net/http"
	"testing"
)

func TestStatusName(t *testing.T) {
	for code, want := range map[int]string{0: "OK", 1: "CANCELLED", 5: "NOT_FOUND", 16: "UNAUTHENTICATED", 17: "17", -1: "-1", 99: "99"} {
		if got := StatusName(code); got != want {
			t.Errorf("StatusName(%d) = %q, want %q", code, got, want)
		}
	}
	names := StatusNames()
	if len(names) != 17 || names[14] != "UNAVAILABLE" {
		t.Errorf("StatusNames() = %q", names)
	}
	names[0] = "changed"
	if StatusName(0) != "OK" {
		t.Error("StatusNames returned the table itself")
	}
}

func TestParseStatus(t *testing.T) {
	for _, c := range []struct {
		in   string
		code int
		ok   bool
	}{
		{"NOT_FOUND", 5, true},
		{"not_found", 5, true},
		{"NotFound", 5, true},
		{"not-found", 5, true},
		{" ok ", 0, true},
		{"Canceled", 1, true},
		{"CANCELLED", 1, true},
		{"5", 5, true},
		{"0", 0, true},
		{"42", 42, true},
		{"", 0, false},
		{"NOPE", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"5x", 0, false},
		{"99999999999", 0, false},
	} {
		code, ok := ParseStatus(c.in)
		if code != c.code || ok != c.ok {
			t.Errorf("ParseStatus(%q) = %d, %v; want %d, %v", c.in, code, ok, c.code, c.ok)
		}
	}
	for code := range 17 {
		if got, ok := ParseStatus(StatusName(code)); !ok || got != code {
			t.Errorf("ParseStatus(StatusName(%d)) = %d, %v", code, got, ok)
		}
	}
}

func TestSplitMethod(t *testing.T) {
	for _, c := range []struct {
		in, svc, method string
		ok              bool
	}{
		{"/pkg.Svc/M", "pkg.Svc", "M", true},
		{"/devproxy.test.v1.Echo/Unary", "devproxy.test.v1.Echo", "Unary", true},
		{"/Svc/M?connect=v1&encoding=json", "Svc", "M", true},
		{"/Svc/M/", "", "", false},
		{"/a/b/c", "", "", false},
		{"pkg.Svc/M", "", "", false},
		{"//M", "", "", false},
		{"/Svc/", "", "", false},
		{"/", "", "", false},
		{"", "", "", false},
	} {
		svc, method, ok := SplitMethod(c.in)
		if svc != c.svc || method != c.method || ok != c.ok {
			t.Errorf("SplitMethod(%q) = %q, %q, %v; want %q, %q, %v", c.in, svc, method, ok, c.svc, c.method, c.ok)
		}
	}
}

func TestStatusOf(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, c := range []struct {
		name            string
		header, trailer http.Header
		code            int
		msg             string
		ok              bool
	}{
		{"trailers", h("Content-Type", "application/grpc"), h("Grpc-Status", "0"), 0, "", true},
		{"trailers first", h("Grpc-Status", "13"), h("Grpc-Status", "5", "Grpc-Message", "no%20such%20user"), 5, "no such user", true},
		{"trailers-only", h("Grpc-Status", "7", "Grpc-Message", "denied"), nil, 7, "denied", true},
		{"bad escape kept", nil, h("Grpc-Status", "2", "Grpc-Message", "100%%%zz%4"), 2, "100%%%zz%4", true},
		{"utf-8 escapes", nil, h("Grpc-Status", "3", "Grpc-Message", "caf%C3%A9"), 3, "café", true},
		{"none", h("Content-Type", "application/grpc"), h("X-Other", "1"), 0, "", false},
		{"garbage", nil, h("Grpc-Status", "soon"), 0, "", false},
		{"gRPC-Web trailer frame", nil, Message{Trailer: true, Payload: []byte("grpc-status: 5\r\ngrpc-message: gone\r\n")}.Trailers(), 5, "gone", true},
	} {
		code, msg, ok := StatusOf(c.header, c.trailer)
		if code != c.code || msg != c.msg || ok != c.ok {
			t.Errorf("%s: StatusOf = %d, %q, %v; want %d, %q, %v", c.name, code, msg, ok, c.code, c.msg, c.ok)
		}
	}
}
