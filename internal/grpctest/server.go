package grpctest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // gzip for calls made with grpc.UseCompressor("gzip")
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	v1reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// MaxMessageSize is the largest message the server and Dial's connections
// send or accept: above gRPC's 4 MiB default so 4 MiB payloads fit.
const MaxMessageSize = 64 << 20

// Options configure Start.
type Options struct {
	// TLS serves HTTP/2 over TLS with a certificate for 127.0.0.1 and
	// localhost; Server.CertPool trusts it. Default: plaintext HTTP/2 (h2c).
	TLS bool
	// NoReflection leaves out the server reflection services (v1 and v1alpha).
	NoReflection bool
	// ServerOptions are added to the grpc.Server's options.
	ServerOptions []grpc.ServerOption
}

// Server is a running grpc-go server with the Echo service, grpc health and
// server reflection v1 and v1alpha.
type Server struct {
	// Addr is the listening address, 127.0.0.1:port.
	Addr string
	// URL is http://Addr, or https://Addr with Options.TLS.
	URL string
	// CertPool trusts the server's certificate; nil without TLS.
	CertPool *x509.CertPool
	// CertFile is that certificate as a PEM file (for a --ca flag); "" without TLS.
	CertFile string
	// GRPC is the underlying server.
	GRPC *grpc.Server
	// Health is the health service; Echo and "" are SERVING.
	Health *health.Server

	mu    sync.Mutex
	calls map[string]*callState
}

// Ended describes how a named call (Req.CallID) ended on the server.
type Ended struct {
	// Method is the full method, "/devproxy.test.v1.Echo/Unary".
	Method string
	// Metadata is the request metadata the server received.
	Metadata metadata.MD
	// Deadline is the call's deadline as the server saw it (from
	// grpc-timeout); zero if none.
	Deadline time.Time
	// CtxErr is the call context's error when the handler returned:
	// context.Canceled when the client went away, context.DeadlineExceeded
	// when the deadline passed, nil when the call ended normally. When a
	// client's deadline expires, its own timer usually resets the stream
	// first, so the server sees Canceled with a non-zero Deadline.
	CtxErr error
	// Received counts the request messages the handler read.
	Received int
}

type callState struct {
	steps chan struct{}
	ended chan struct{}
	info  Ended
}

// Start runs a server on 127.0.0.1:0 until t's cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), calls: map[string]*callState{}}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize)}
	if o.TLS {
		certFile, keyFile, pool := LoopbackCertFiles(t)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		s.CertPool, s.CertFile = pool, certFile
		s.URL = "https://" + s.Addr
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	}
	opts = append(opts, o.ServerOptions...)
	s.GRPC = grpc.NewServer(opts...)
	s.GRPC.RegisterService(s.serviceDesc(), s)
	s.Health = health.NewServer()
	s.Health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	if !o.NoReflection {
		ro := reflection.ServerOptions{Services: s.GRPC, DescriptorResolver: resolver{}}
		v1reflectiongrpc.RegisterServerReflectionServer(s.GRPC, reflection.NewServerV1(ro))
		v1alphareflectiongrpc.RegisterServerReflectionServer(s.GRPC, reflection.NewServer(ro))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.GRPC.Serve(ln)
	}()
	t.Cleanup(func() {
		s.GRPC.Stop()
		<-done
	})
	return s
}

// resolver finds echo.proto's descriptors, then the ones compiled into the
// binary (health, reflection).
type resolver struct{}

func (resolver) FindFileByPath(p string) (protoreflect.FileDescriptor, error) {
	if f, err := files.FindFileByPath(p); err == nil {
		return f, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(p)
}

func (resolver) FindDescriptorByName(n protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := files.FindDescriptorByName(n); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(n)
}

// Step lets a ServerStream call made with Req.Step and this CallID send its
// next message. It does not block.
func (s *Server) Step(callID string) {
	c := s.call(callID)
	select {
	case c.steps <- struct{}{}:
	default:
		go func() { c.steps <- struct{}{} }()
	}
}

// Ended waits until the handler of the call named callID has returned, or ctx
// ends, and tells how the call ended.
func (s *Server) Ended(ctx context.Context, callID string) (Ended, error) {
	c := s.call(callID)
	select {
	case <-c.ended:
		return c.info, nil
	case <-ctx.Done():
		return Ended{}, ctx.Err()
	}
}

func (s *Server) call(id string) *callState {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calls[id]
	if !ok {
		c = &callState{steps: make(chan struct{}, 64), ended: make(chan struct{})}
		s.calls[id] = c
	}
	return c
}

// track records the call's metadata and deadline, and returns a function to
// call when the handler returns.
func (s *Server) track(ctx context.Context, method, id string) func(received int) {
	if id == "" {
		return func(int) {}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	dl, _ := ctx.Deadline()
	return func(received int) {
		c := s.call(id)
		select {
		case <-c.ended: // a call ID used twice: the first one counts
		default:
			c.info = Ended{Method: method, Metadata: md, Deadline: dl, CtxErr: ctx.Err(), Received: received}
			close(c.ended)
		}
	}
}

func (s *Server) serviceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: s.unary}},
		Streams: []grpc.StreamDesc{
			{StreamName: "ServerStream", Handler: s.serverStream, ServerStreams: true},
			{StreamName: "ClientStream", Handler: s.clientStream, ClientStreams: true},
			{StreamName: "Bidi", Handler: s.bidi, ServerStreams: true, ClientStreams: true},
		},
		Metadata: FileName,
	}
}

func (s *Server) unary(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	m := dynamicpb.NewMessage(reqDesc)
	if err := dec(m); err != nil {
		return nil, err
	}
	r := reqOf(m)
	done := s.track(ctx, "/"+ServiceName+"/Unary", r.CallID)
	echoMetadata(ctx, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) }, func(md metadata.MD) error { return grpc.SetTrailer(ctx, md) })
	resp, err := reply(ctx, r, 0)
	done(1)
	if err != nil {
		return nil, err
	}
	return resp.Message(), nil
}

func (s *Server) serverStream(_ any, ss grpc.ServerStream) error {
	m := dynamicpb.NewMessage(reqDesc)
	if err := ss.RecvMsg(m); err != nil {
		return err
	}
	r := reqOf(m)
	ctx := ss.Context()
	done := s.track(ctx, "/"+ServiceName+"/ServerStream", r.CallID)
	echoMetadata(ctx, ss.SetHeader, func(md metadata.MD) error { ss.SetTrailer(md); return nil })
	defer done(1)
	var steps chan struct{}
	if r.Step {
		steps = s.call(r.CallID).steps
	}
	for i := range r.Count {
		if i > 0 && steps != nil {
			select {
			case <-steps:
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		resp, err := reply(ctx, Req{Text: r.Text, Number: r.Number, Tags: r.Tags, Note: r.Note, Level: r.Level, Payload: r.Payload, ReplySize: r.ReplySize, Delay: r.Delay}, i)
		if err != nil {
			return err
		}
		if err := ss.SendMsg(resp.Message()); err != nil {
			return err
		}
	}
	return failure(r.Fail)
}

func (s *Server) clientStream(_ any, ss grpc.ServerStream) error {
	ctx := ss.Context()
	echoMetadata(ctx, ss.SetHeader, func(md metadata.MD) error { ss.SetTrailer(md); return nil })
	var (
		first Req
		n     int32
		size  int64
		done  func(int)
	)
	defer func() {
		if done != nil {
			done(int(n))
		}
	}()
	for {
		m := dynamicpb.NewMessage(reqDesc)
		err := ss.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		r := reqOf(m)
		if n == 0 {
			first = r
			done = s.track(ctx, "/"+ServiceName+"/ClientStream", r.CallID)
		}
		n++
		size += int64(len(r.Payload))
		if r.Fail != nil {
			return failure(r.Fail)
		}
	}
	resp, err := reply(ctx, first, 0)
	if err != nil {
		return err
	}
	resp.ReceivedMessages, resp.ReceivedBytes = n, size
	return ss.SendMsg(resp.Message())
}

func (s *Server) bidi(_ any, ss grpc.ServerStream) error {
	ctx := ss.Context()
	echoMetadata(ctx, ss.SetHeader, func(md metadata.MD) error { ss.SetTrailer(md); return nil })
	var (
		n    int32
		done func(int)
	)
	defer func() {
		if done != nil {
			done(int(n))
		}
	}()
	for {
		m := dynamicpb.NewMessage(reqDesc)
		err := ss.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r := reqOf(m)
		if n == 0 {
			done = s.track(ctx, "/"+ServiceName+"/Bidi", r.CallID)
		}
		resp, err := reply(ctx, r, n)
		n++
		if err != nil {
			return err
		}
		if err := ss.SendMsg(resp.Message()); err != nil {
			return err
		}
	}
}

// echoMetadata sends the request's x-echo* metadata back, as is in the
// response header and prefixed with "trailer-" in the trailer.
func echoMetadata(ctx context.Context, setHeader, setTrailer func(metadata.MD) error) {
	in, _ := metadata.FromIncomingContext(ctx)
	hdr, tr := metadata.MD{}, metadata.MD{}
	for k, v := range in {
		if strings.HasPrefix(k, "x-echo") {
			hdr[k] = v
			tr["trailer-"+k] = v
		}
	}
	if len(hdr) > 0 {
		_ = setHeader(hdr)
		_ = setTrailer(tr)
	}
}

// reply waits r.Delay, fails as r.Fail asks, or echoes r.
func reply(ctx context.Context, r Req, index int32) (Resp, error) {
	if r.Delay > 0 {
		t := time.NewTimer(r.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Resp{}, status.FromContextError(ctx.Err()).Err()
		}
	}
	if err := failure(r.Fail); err != nil {
		return Resp{}, err
	}
	resp := Resp{Text: r.Text, Number: r.Number, Tags: r.Tags, Note: r.Note, Level: r.Level, Index: index}
	switch {
	case r.ReplySize > 0:
		resp.Payload = bytes.Repeat([]byte{'x'}, int(r.ReplySize))
	default:
		resp.Payload = r.Payload
	}
	return resp, nil
}

// failure is the status f asks for, with an ErrorDetail when f.Detail is set.
func failure(f *Fail) error {
	if f == nil || f.Code == codes.OK {
		return nil
	}
	st := &spb.Status{Code: int32(f.Code), Message: f.Message}
	if f.Detail != "" {
		d := dynamicpb.NewMessage(detailDesc)
		setString(d, "reason", f.Detail)
		a, err := anypb.New(d)
		if err != nil {
			return status.Errorf(codes.Internal, "grpctest: packing detail: %v", err)
		}
		st.Details = append(st.Details, a)
	}
	return status.FromProto(st).Err()
}

// DetailReason returns the reason of the ErrorDetail carried by err's status,
// as a client received it in grpc-status-details-bin.
func DetailReason(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	for _, a := range st.Proto().GetDetails() {
		if a.MessageName() != detailDesc.FullName() {
			continue
		}
		d := dynamicpb.NewMessage(detailDesc)
		if proto.Unmarshal(a.GetValue(), d) == nil {
			return getString(d, "reason"), true
		}
	}
	return "", false
}
