//lint:file-ignore SA1019 v1alpha reflection is deprecated, and still what many clients (grpcurl) use, so it is tested.

package grpctest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
)

func TestDirect(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[tlsOn], func(t *testing.T) {
			srv := Start(t, Options{TLS: tlsOn})
			cc := Dial(t, srv.URL, srv.CertPool)
			RunSuite(t, cc, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			checkCalls(ctx, t, NewClient(cc), srv)
		})
	}
}

func TestReflectionAndHealth(t *testing.T) {
	srv := Start(t, Options{})
	cc := Dial(t, srv.Addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: ServiceName})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hr, err)
	}
	rs, err := v1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&v1.ServerReflectionRequest{MessageRequest: &v1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: ServiceName}}); err != nil {
		t.Fatal(err)
	}
	r, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range r.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			t.Fatal(err)
		}
		names = append(names, fd.GetName())
	}
	if len(names) != 2 || names[0] != FileName {
		t.Fatalf("v1 reflection files = %v, want echo.proto and its import", names)
	}
	ra, err := v1alpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Send(&v1alpha.ServerReflectionRequest{MessageRequest: &v1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	la, err := ra.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(la.GetListServicesResponse().GetService()) != 4 {
		t.Fatalf("v1alpha list services = %v", la.GetListServicesResponse().GetService())
	}
}

func TestSchemaFiles(t *testing.T) {
	if _, err := Files().FindDescriptorByName(ServiceName); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ProtoPath()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(DescriptorSet(t))
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	fs, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.FindDescriptorByName(ServiceName + ".Bidi"); err != nil {
		t.Fatal(err)
	}
}

func TestNoReflection(t *testing.T) {
	srv := Start(t, Options{NoReflection: true})
	cc := Dial(t, srv.Addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := v1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err == nil {
		_, err = rs.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("reflection without it: %v, want Unimplemented", err)
	}
}

// checkCalls is a smoke test of the helpers against the server
// directly; the proxy tests have their own.
func checkCalls(ctx context.Context, t *testing.T, c *Client, srv *Server) {
	t.Helper()
	r, tr, err := c.Unary(ctx, Req{Text: "hi", Number: -7, Tags: []string{"a", "b"}, Note: "n", Level: 3, Delay: time.Millisecond})
	if err != nil || r.Text != "hi" || r.Number != -7 || len(r.Tags) != 2 || r.Note != "n" || r.Level != 3 {
		t.Fatalf("unary = %+v %v", r, err)
	}
	_ = tr
	_, _, err = c.Unary(ctx, Req{Fail: &Fail{Code: codes.NotFound, Message: "no such thing", Detail: "why"}})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Fatalf("unary fail = %v", err)
	}
	if reason, ok := DetailReason(err); !ok || reason != "why" {
		t.Fatalf("detail = %q %v", reason, ok)
	}
	s, err := c.ServerStream(ctx, Req{Count: 3, CallID: "ss", Step: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range int32(3) {
		m, err := s.Recv()
		if err != nil || m.Index != i {
			t.Fatalf("stream %d: %+v %v", i, m, err)
		}
		srv.Step("ss")
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v", err)
	}
	big := bytes.Repeat([]byte{1}, 4<<20)
	cr, _, err := c.ClientStream(ctx, []Req{{Payload: big, ReplySize: 4 << 20}, {Payload: []byte("x")}}, grpc.UseCompressor("gzip"))
	if err != nil || cr.ReceivedMessages != 2 || cr.ReceivedBytes != 4<<20+1 || len(cr.Payload) != 4<<20 {
		t.Fatalf("client stream: %d %d %d %v", cr.ReceivedMessages, cr.ReceivedBytes, len(cr.Payload), err)
	}
	b, err := c.Bidi(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int32(3) {
		if err := b.Send(Req{Number: int64(i)}); err != nil {
			t.Fatal(err)
		}
		m, err := b.Recv()
		if err != nil || m.Number != int64(i) || m.Index != i {
			t.Fatalf("bidi %d: %+v %v", i, m, err)
		}
	}
	_ = b.CloseSend()
	if _, err := b.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("bidi end: %v", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	_, _, err = c.Unary(dctx, Req{Delay: time.Minute, CallID: "dl"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("deadline: %v", err)
	}
	e, err := srv.Ended(ctx, "dl")
	// The client's own timer usually fires first and resets the stream, so the
	// server may see Canceled rather than DeadlineExceeded.
	if err != nil || e.Deadline.IsZero() || e.CtxErr == nil {
		t.Fatalf("deadline on server: %+v %v", e, err)
	}
}
