package grpctest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	v1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// SuiteTimeout bounds each case of RunSuite.
const SuiteTimeout = 20 * time.Second

// RunSuite calls srv through cc (directly or through a proxy) with every
// call kind and checks what a proxy must carry, each as a subtest: message
// fields; metadata in headers and trailers (binary too); grpc-status,
// grpc-message and grpc-status-details-bin in trailers and in trailers-only
// responses; deadlines reaching the server (grpc-timeout); cancellation
// mid-stream reaching the server; 4 MiB messages both ways; gzip; server
// stream messages arriving one by one, each before the server sends the next
// (so nothing buffers them); bidirectional ping-pong; health and reflection.
// Cases named in skip (e.g. "cancel-server-stream") are skipped, for a path
// known not to carry them.
func RunSuite(t *testing.T, cc grpc.ClientConnInterface, srv *Server, skip ...string) {
	c := NewClient(cc)
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if slices.Contains(skip, name) {
				t.Skip("skipped by the caller: this path does not carry it")
			}
			f(t)
		})
	}
	ctxOf := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), SuiteTimeout)
		t.Cleanup(cancel)
		return ctx
	}
	run("unary", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(ctxOf(t), "x-echo", "plain", "x-echo-bin", string([]byte{0, 1, 0xff}))
		var hdr metadata.MD
		r, tr, err := c.Unary(ctx, Req{Text: "héllo", Number: -42, Tags: []string{"a", "b"}, Note: "inner", Level: 7}, grpc.Header(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if r.Text != "héllo" || r.Number != -42 || len(r.Tags) != 2 || r.Tags[1] != "b" || r.Note != "inner" || r.Level != 7 {
			t.Errorf("response %+v", r)
		}
		if got := hdr.Get("x-echo"); len(got) != 1 || got[0] != "plain" {
			t.Errorf("header x-echo = %q", got)
		}
		if got := tr.Get("trailer-x-echo-bin"); len(got) != 1 || got[0] != string([]byte{0, 1, 0xff}) {
			t.Errorf("trailer trailer-x-echo-bin = %q", got)
		}
	})
	run("status-trailers-only", func(t *testing.T) {
		_, _, err := c.Unary(ctxOf(t), Req{Fail: &Fail{Code: codes.NotFound, Message: "nö such thing: 100%", Detail: "gone"}})
		checkStatus(t, err, codes.NotFound, "nö such thing: 100%", "gone")
	})
	run("status-after-messages", func(t *testing.T) {
		s, err := c.ServerStream(ctxOf(t), Req{Count: 2, Text: "m", Fail: &Fail{Code: codes.ResourceExhausted, Message: "quota", Detail: "slow down"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.All()
		if len(got) != 2 {
			t.Errorf("got %d messages before the status, want 2", len(got))
		}
		checkStatus(t, err, codes.ResourceExhausted, "quota", "slow down")
	})
	run("server-stream-unbuffered", func(t *testing.T) {
		// Each message after the first is sent only once the client got the
		// one before: a proxy that held messages back would stall this.
		const n = 5
		s, err := c.ServerStream(ctxOf(t), Req{Count: n, Text: "tick", CallID: t.Name(), Step: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range int32(n) {
			r, err := s.Recv()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if r.Index != i || r.Text != "tick" {
				t.Fatalf("message %d: %+v", i, r)
			}
			srv.Step(t.Name())
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last message: %v, want io.EOF (status OK)", err)
		}
	})
	run("client-stream", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(ctxOf(t), "x-echo", "cs")
		reqs := make([]Req, 10)
		for i := range reqs {
			reqs[i] = Req{Text: "first", Payload: bytes.Repeat([]byte{byte(i)}, 1000)}
		}
		r, tr, err := c.ClientStream(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if r.ReceivedMessages != 10 || r.ReceivedBytes != 10000 || r.Text != "first" {
			t.Errorf("response %+v", r)
		}
		if got := tr.Get("trailer-x-echo"); len(got) != 1 || got[0] != "cs" {
			t.Errorf("trailer = %v", tr)
		}
	})
	run("bidi", func(t *testing.T) {
		// Ping-pong: each request is sent only after the previous answer came
		// back, which needs both directions open at once (full duplex).
		s, err := c.Bidi(ctxOf(t))
		if err != nil {
			t.Fatal(err)
		}
		for i := range int32(20) {
			if err := s.Send(Req{Number: int64(i) * 3, Text: "ping"}); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			r, err := s.Recv()
			if err != nil {
				t.Fatalf("recv %d: %v", i, err)
			}
			if r.Index != i || r.Number != int64(i)*3 {
				t.Fatalf("recv %d: %+v", i, r)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseSend: %v, want io.EOF", err)
		}
	})
	run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctxOf(t), 200*time.Millisecond)
		defer cancel()
		_, _, err := c.Unary(ctx, Req{Delay: time.Hour, CallID: t.Name()})
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		e, err := srv.Ended(ctxOf(t), t.Name())
		if err != nil {
			t.Fatalf("the call did not end on the server: %v", err)
		}
		if e.Deadline.IsZero() {
			t.Error("the server saw no deadline: grpc-timeout did not arrive")
		}
		if e.CtxErr == nil {
			t.Error("the server's call context did not end")
		}
	})
	run("cancel-server-stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctxOf(t))
		defer cancel()
		s, err := c.ServerStream(ctx, Req{Count: 3, CallID: t.Name(), Step: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		e, err := srv.Ended(ctxOf(t), t.Name())
		if err != nil {
			t.Fatalf("the server never saw the cancellation: %v", err)
		}
		if !errors.Is(e.CtxErr, context.Canceled) {
			t.Errorf("server context ended with %v, want context.Canceled", e.CtxErr)
		}
	})
	run("cancel-bidi", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctxOf(t))
		defer cancel()
		s, err := c.Bidi(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(Req{CallID: t.Name()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		e, err := srv.Ended(ctxOf(t), t.Name())
		if err != nil {
			t.Fatalf("the server never saw the cancellation: %v", err)
		}
		if !errors.Is(e.CtxErr, context.Canceled) {
			t.Errorf("server context ended with %v, want context.Canceled", e.CtxErr)
		}
	})
	run("4MiB", func(t *testing.T) {
		big := make([]byte, 4<<20)
		for i := range big {
			big[i] = byte(i * 7)
		}
		r, _, err := c.Unary(ctxOf(t), Req{Payload: big})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Payload, big) {
			t.Errorf("4 MiB echo differs (got %d bytes)", len(r.Payload))
		}
		s, err := c.Bidi(ctxOf(t))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := s.Send(Req{Payload: big}); err != nil {
				t.Fatal(err)
			}
			r, err := s.Recv()
			if err != nil || !bytes.Equal(r.Payload, big) {
				t.Fatalf("bidi 4 MiB %d: %d bytes, %v", i, len(r.Payload), err)
			}
		}
		_ = s.CloseSend()
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	})
	run("gzip", func(t *testing.T) {
		text := bytes.Repeat([]byte("compress me "), 10000)
		r, _, err := c.Unary(ctxOf(t), Req{Payload: text, Text: "gz"}, grpc.UseCompressor("gzip"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Payload, text) || r.Text != "gz" {
			t.Errorf("gzip echo differs")
		}
		s, err := c.ServerStream(ctxOf(t), Req{Count: 3, ReplySize: 50000}, grpc.UseCompressor("gzip"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.All()
		if err != nil || len(got) != 3 || len(got[2].Payload) != 50000 {
			t.Errorf("gzip stream: %d messages, %v", len(got), err)
		}
	})
	run("health", func(t *testing.T) {
		r, err := healthpb.NewHealthClient(cc).Check(ctxOf(t), &healthpb.HealthCheckRequest{Service: ServiceName})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v", r, err)
		}
	})
	run("reflection", func(t *testing.T) {
		rs, err := v1.NewServerReflectionClient(cc).ServerReflectionInfo(ctxOf(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := rs.Send(&v1.ServerReflectionRequest{MessageRequest: &v1.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		r, err := rs.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(r.GetListServicesResponse().GetService()); n != 4 {
			t.Errorf("reflection listed %d services, want 4", n)
		}
		_ = rs.CloseSend()
	})
}

// checkStatus checks err's code, message and ErrorDetail reason.
func checkStatus(t *testing.T, err error, code codes.Code, msg, reason string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || st.Message() != msg {
		t.Fatalf("got %v, want %v %q", err, code, msg)
	}
	if got, ok := DetailReason(err); !ok || got != reason {
		t.Errorf("status detail %q (found %v), want %q", got, ok, reason)
	}
}
