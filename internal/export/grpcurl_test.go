package export

import (
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

func grpcCall(url string, h record.Fields) record.Exchange {
	h = append(record.Fields{{Name: "Content-Type", Value: "application/grpc"}, {Name: "Te", Value: "trailers"}}, h...)
	return record.Exchange{Request: record.Request{Method: "POST", URL: url, Proto: "HTTP/2.0", Header: h,
		Body: record.Body{Bytes: []byte{0, 0, 0, 0, 0}, Size: 5, Complete: true}}}
}

// TestGrpcurl checks the whole command for a unary call with metadata and
// a deadline, its schema from .proto files.
func TestGrpcurl(t *testing.T) {
	x := grpcCall("http://127.0.0.1:8080/devproxy.test.v1.Echo/Unary", record.Fields{
		{Name: ":authority", Value: "127.0.0.1:8080"},
		{Name: "User-Agent", Value: "grpc-go/1.85.0"},
		{Name: "Grpc-Timeout", Value: "1500m"},
		{Name: "Grpc-Accept-Encoding", Value: "gzip"},
		{Name: "Authorization", Value: "Bearer it's"},
		{Name: "X-Trace-Bin", Value: "AQID"},
	})
	got, err := Grpcurl(x, GrpcurlOptions{
		Messages:    []string{"{\n  \"text\": \"hi!\",\n  \"n\": \"3\"\n}"},
		Schema:      SchemaProto,
		ImportPaths: []string{"/work/protos"},
		Protos:      []string{"echo/v1/echo.proto"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`grpcurl`,
		`  -plaintext`,
		`  -import-path /work/protos`,
		`  -proto echo/v1/echo.proto`,
		`  -max-time 1.5`,
		`  -H $'authorization: Bearer it\'s'`,
		`  -H 'x-trace-bin: AQID'`,
		`  -d $'{"text":"hi\x21","n":"3"}'`,
		`  127.0.0.1:8080`,
		`  devproxy.test.v1.Echo/Unary`,
	}, " \\\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestGrpcurlSchemas checks the flags each source of schema gives, the TLS
// choices and a client stream's messages.
func TestGrpcurlSchemas(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		o    GrpcurlOptions
		want []string // lines that must be there
		not  []string // substrings that must not
	}{
		{"descriptor set", "http://localhost:8080/a.B/C", GrpcurlOptions{Schema: SchemaDescriptorSet, Protosets: []string{"/tmp/x y.protoset"}},
			[]string{`  -protoset '/tmp/x y.protoset'`, `  localhost:8080`, `  a.B/C`}, []string{"-proto ", "-d "}},
		{"reflection", "http://localhost:8080/a.B/C", GrpcurlOptions{Schema: SchemaReflection, Messages: []string{"{}"}},
			[]string{`  -plaintext`, `  -d '{}'`}, []string{"-proto", "-import-path"}},
		{"https default port", "https://api.test/a.B/C", GrpcurlOptions{Schema: SchemaReflection},
			[]string{`  api.test:443`}, []string{"-plaintext", "-insecure"}},
		{"self-signed", "https://127.0.0.1:8443/a.B/C", GrpcurlOptions{Schema: SchemaReflection, Insecure: true, Why: "self-signed"},
			[]string{`  -insecure`, `# -insecure: grpcurl does not verify the server's certificate: self-signed.`}, []string{"-plaintext"}},
		{"client stream", "http://localhost:8080/a.B/C", GrpcurlOptions{Schema: SchemaReflection, Messages: []string{`{"a": 1}`, `{"a": 2}`}},
			[]string{`  -d $'{"a":1}\n{"a":2}'`}, nil},
		{"notes", "http://localhost:8080/a.B/C", GrpcurlOptions{Notes: []string{"unknown field 9 left out"}},
			[]string{`# unknown field 9 left out`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Grpcurl(grpcCall(tc.url, nil), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.ReplaceAll(got, " \\\n", "\n"), "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("no line %q in\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("%q in\n%s", n, got)
				}
			}
		})
	}
}

func TestGrpcurlRefuses(t *testing.T) {
	for _, url := range []string{"http://localhost:8080/", "http://localhost:8080/a.B/C/D", "/a.B/C"} {
		if got, err := Grpcurl(grpcCall(url, nil), GrpcurlOptions{}); err == nil {
			t.Errorf("%s: no error; got\n%s", url, got)
		}
	}
	if _, err := Grpcurl(grpcCall("http://h:1/a.B/C", nil), GrpcurlOptions{Messages: []string{"{"}}); err == nil {
		t.Error("a message that is not JSON: no error")
	}
}

func TestParseGRPCTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1H", time.Hour, true}, {"2M", 2 * time.Minute, true}, {"3S", 3 * time.Second, true},
		{"100m", 100 * time.Millisecond, true}, {"5u", 5 * time.Microsecond, true}, {"99999999n", 99999999, true},
		{"", 0, false}, {"S", 0, false}, {"1s", 0, false}, {"123456789S", 0, false}, {"-1S", 0, false}, {"1.5S", 0, false},
	} {
		got, ok := ParseGRPCTimeout(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
