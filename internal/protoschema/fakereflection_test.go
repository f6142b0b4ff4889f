package protoschema

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/devproxy/devproxy/internal/grpcwire"
)

// fakeReflection serves v1 reflection by hand: services lists what it
// offers, and files answers file_containing_symbol and file_by_filename
// with one file each (no imports), or NOT_FOUND for names it lacks, so the
// client has to ask for imports itself.
func fakeReflection(t *testing.T, services []string, files map[string]protoreflect.FileDescriptor) string {
	t.Helper()
	answer := func(req *rpb.ServerReflectionRequest) *rpb.ServerReflectionResponse {
		var f protoreflect.FileDescriptor
		switch r := req.MessageRequest.(type) {
		case *rpb.ServerReflectionRequest_ListServices:
			list := &rpb.ListServiceResponse{}
			for _, s := range services {
				list.Service = append(list.Service, &rpb.ServiceResponse{Name: s})
			}
			return &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_ListServicesResponse{ListServicesResponse: list}}
		case *rpb.ServerReflectionRequest_FileContainingSymbol:
			f = files[r.FileContainingSymbol]
		case *rpb.ServerReflectionRequest_FileByFilename:
			f = files[r.FileByFilename]
		}
		if f == nil {
			return &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_ErrorResponse{ErrorResponse: &rpb.ErrorResponse{ErrorCode: 5, ErrorMessage: "no such thing"}}}
		}
		b, _ := proto.Marshal(protodesc.ToFileDescriptorProto(f))
		return &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_FileDescriptorResponse{FileDescriptorResponse: &rpb.FileDescriptorResponse{FileDescriptorProto: [][]byte{b}}}}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "12")
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(http.StatusOK)
		sp := grpcwire.Splitter{Max: 1 << 20}
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			msgs, _ := sp.Write(buf[:n])
			for _, m := range msgs {
				var req rpb.ServerReflectionRequest
				if proto.Unmarshal(m.Payload, &req) != nil {
					w.Header().Set("Grpc-Status", "3")
					return
				}
				b, _ := proto.Marshal(answer(&req))
				w.Write(Frame(b))
			}
			w.(http.Flusher).Flush()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		w.Header().Set("Grpc-Status", "0")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: h, Protocols: p}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// The client asks for the imports a file names and the server did not
// send, and the well-known ones come from devproxy itself.
func TestReflectionAsksForImports(t *testing.T) {
	shop := compileShop(t)
	types := shop.Imports().Get(2).FileDescriptor
	upstream := fakeReflection(t, []string{"shop.v1.Shop", "gone.v1.Gone"}, map[string]protoreflect.FileDescriptor{
		"shop.v1.Shop": shop, types.Path(): types,
	})
	sp := newSpy()
	s, changed := reflecting(t, Options{Transport: sp})
	queried(t, s, changed, upstream, placePath)
	md, src, ok := s.Method(upstream, placePath)
	if !ok || src != SourceReflection || md.Output().FullName() != "shop.v1.Receipt" {
		t.Fatalf("Method = %v, %q, %v; status %q", md, src, ok, s.Status(upstream))
	}
	want := "reflection: 2 services; file_containing_symbol gone.v1.Gone: grpc-status NOT_FOUND: no such thing"
	if got := s.Status(upstream); got != want {
		t.Errorf("Status = %q, want %q", got, want)
	}
	if n := len(sp.seen()); n != 1 {
		t.Errorf("%d calls, want 1 stream", n)
	}
	b, err := s.Encode(upstream, placePath, false, []byte(orderJSON))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Decode(upstream, placePath, false, b, false, ""); d.JSON != orderJSON {
		t.Errorf("Decode = %+v", d)
	}
}

// A file whose import the server cannot send is left out, and Status says
// which.
func TestReflectionMissingImport(t *testing.T) {
	shop := compileShop(t)
	upstream := fakeReflection(t, []string{"shop.v1.Shop"}, map[string]protoreflect.FileDescriptor{"shop.v1.Shop": shop})
	s, changed := reflecting(t, Options{})
	queried(t, s, changed, upstream, placePath)
	if _, _, ok := s.Method(upstream, placePath); ok {
		t.Error("found a method in a file that could not be linked")
	}
	got := s.Status(upstream)
	for _, w := range []string{"reflection: 1 service;", `file_by_filename shop/v1/types.proto: grpc-status NOT_FOUND`, `the server did not send "shop/v1/types.proto"`, `left out "shop/v1/shop.proto"`} {
		if !strings.Contains(got, w) {
			t.Errorf("Status %q does not say %q", got, w)
		}
	}
}
