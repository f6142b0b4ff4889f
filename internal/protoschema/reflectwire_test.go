package protoschema

import (
	"bytes"
	"slices"
	"testing"

	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
)

// The hand-written reflection messages match the generated ones.
func TestReflectRequestMatchesGenerated(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want *rpb.ServerReflectionRequest
	}{
		{reflectRequest(reqListServices, ""), &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}},
		{reflectRequest(reqFileContainingSymbol, "pkg.Svc"), &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "pkg.Svc"}}},
		{reflectRequest(reqFileByFilename, "a/b.proto"), &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: "a/b.proto"}}},
	} {
		want, err := proto.Marshal(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tc.got, want) {
			t.Errorf("%v: got %x, want %x", tc.want, tc.got, want)
		}
	}
}

func TestReflectResponseMatchesGenerated(t *testing.T) {
	files := &rpb.ServerReflectionResponse{
		ValidHost:       "h",
		OriginalRequest: &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: "x"}},
		MessageResponse: &rpb.ServerReflectionResponse_FileDescriptorResponse{FileDescriptorResponse: &rpb.FileDescriptorResponse{FileDescriptorProto: [][]byte{[]byte("one"), {}, []byte("three")}}},
	}
	r := parse(t, files)
	if !r.hasFiles || r.hasServices || r.code != 0 || len(r.files) != 3 || string(r.files[0]) != "one" || len(r.files[1]) != 0 || string(r.files[2]) != "three" {
		t.Errorf("files: %+v", r)
	}
	list := &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_ListServicesResponse{ListServicesResponse: &rpb.ListServiceResponse{
		Service: []*rpb.ServiceResponse{{Name: "a.A"}, {Name: "b.B"}},
	}}}
	if r := parse(t, list); !r.hasServices || !slices.Equal(r.services, []string{"a.A", "b.B"}) {
		t.Errorf("list: %+v", r)
	}
	empty := &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_ListServicesResponse{ListServicesResponse: &rpb.ListServiceResponse{}}}
	if r := parse(t, empty); !r.hasServices || len(r.services) != 0 {
		t.Errorf("empty list: %+v", r)
	}
	failed := &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_ErrorResponse{ErrorResponse: &rpb.ErrorResponse{ErrorCode: 5, ErrorMessage: "not found"}}}
	if r := parse(t, failed); r.code != 5 || r.message != "not found" {
		t.Errorf("error: %+v", r)
	}
	codeless := &rpb.ServerReflectionResponse{MessageResponse: &rpb.ServerReflectionResponse_ErrorResponse{ErrorResponse: &rpb.ErrorResponse{}}}
	if r := parse(t, codeless); r.code == 0 {
		t.Errorf("an error without a code reads as no error: %+v", r)
	}
}

func parse(t *testing.T, m proto.Message) reflectResponse {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseReflectResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// FuzzReflectResponse checks the hand-written parser against the generated
// one on any bytes a server could send.
func FuzzReflectResponse(f *testing.F) {
	for _, m := range []*rpb.ServerReflectionResponse{
		{MessageResponse: &rpb.ServerReflectionResponse_FileDescriptorResponse{FileDescriptorResponse: &rpb.FileDescriptorResponse{FileDescriptorProto: [][]byte{[]byte("x")}}}},
		{MessageResponse: &rpb.ServerReflectionResponse_ListServicesResponse{ListServicesResponse: &rpb.ListServiceResponse{Service: []*rpb.ServiceResponse{{Name: "a.A"}}}}},
		{MessageResponse: &rpb.ServerReflectionResponse_ErrorResponse{ErrorResponse: &rpb.ErrorResponse{ErrorCode: 5, ErrorMessage: "m"}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x22, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		ours, err := parseReflectResponse(b)
		var gen rpb.ServerReflectionResponse
		if proto.Unmarshal(b, &gen) != nil {
			return
		}
		if err != nil {
			t.Fatalf("the generated parser reads %x, ours fails: %v", b, err)
		}
		// Oneof fields seen several times are merged or replaced by the
		// generated code; compare the simple case of one kind of answer.
		if kinds := btoi(ours.hasFiles) + btoi(ours.hasServices) + btoi(ours.code != 0); kinds != 1 {
			return
		}
		switch {
		case ours.hasFiles:
			want := gen.GetFileDescriptorResponse().GetFileDescriptorProto()
			if len(want) != len(ours.files) {
				t.Fatalf("files %q, generated %q", ours.files, want)
			}
			for i := range want {
				if !bytes.Equal(want[i], ours.files[i]) {
					t.Fatalf("files %q, generated %q", ours.files, want)
				}
			}
		case ours.hasServices:
			var want []string
			for _, s := range gen.GetListServicesResponse().GetService() {
				want = append(want, s.GetName())
			}
			if !slices.Equal(want, ours.services) {
				t.Fatalf("services %q, generated %q", ours.services, want)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
