package grpctest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Method names, as they appear in :path.
const (
	UnaryMethod        = "/" + ServiceName + "/Unary"
	ServerStreamMethod = "/" + ServiceName + "/ServerStream"
	ClientStreamMethod = "/" + ServiceName + "/ClientStream"
	BidiMethod         = "/" + ServiceName + "/Bidi"
)

// Dial connects to target ("127.0.0.1:port", or a URL such as
// http://127.0.0.1:port whose scheme is dropped) with plaintext HTTP/2 (h2c)
// when tlsPool is nil, else with TLS trusting tlsPool. Messages up to
// MaxMessageSize pass both ways. The connection closes at t's cleanup.
func Dial(t testing.TB, target string, tlsPool *x509.CertPool, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(hostPort(target), dialOptions(tlsPool, opts)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// DialOptions are the options Dial uses, for callers (benchmarks) that manage
// the connection themselves.
func DialOptions(tlsPool *x509.CertPool) []grpc.DialOption { return dialOptions(tlsPool, nil) }

func dialOptions(tlsPool *x509.CertPool, extra []grpc.DialOption) []grpc.DialOption {
	creds := insecure.NewCredentials()
	if tlsPool != nil {
		creds = credentials.NewTLS(&tls.Config{RootCAs: tlsPool})
	}
	return append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}, extra...)
}

// hostPort turns a URL into the host:port grpc.NewClient wants, and makes an
// IP address bypass name resolution.
func hostPort(target string) string {
	for _, p := range []string{"http://", "https://"} {
		target = strings.TrimPrefix(target, p)
	}
	target = strings.TrimSuffix(target, "/")
	if !strings.Contains(target, "://") && !strings.HasPrefix(target, "passthrough:") {
		target = "passthrough:///" + target
	}
	return target
}

// Client calls the Echo service with plain Go values.
type Client struct {
	cc grpc.ClientConnInterface
}

// NewClient returns a Client calling over cc.
func NewClient(cc grpc.ClientConnInterface) *Client { return &Client{cc: cc} }

// Unary calls Unary and returns the response and the trailer metadata.
func (c *Client) Unary(ctx context.Context, r Req, opts ...grpc.CallOption) (Resp, metadata.MD, error) {
	var trailer metadata.MD
	out := dynamicpb.NewMessage(respDesc)
	err := c.cc.Invoke(ctx, UnaryMethod, r.Message(), out, append(opts, grpc.Trailer(&trailer))...)
	if err != nil {
		return Resp{}, trailer, err
	}
	return respOf(out), trailer, nil
}

// Stream is a call's stream of responses, and for Bidi its requests.
type Stream struct {
	cs grpc.ClientStream
}

var (
	serverStreamDesc = &grpc.StreamDesc{StreamName: "ServerStream", ServerStreams: true}
	clientStreamDesc = &grpc.StreamDesc{StreamName: "ClientStream", ClientStreams: true}
	bidiDesc         = &grpc.StreamDesc{StreamName: "Bidi", ServerStreams: true, ClientStreams: true}
)

// ServerStream starts ServerStream with r (r.Count messages come back).
func (c *Client) ServerStream(ctx context.Context, r Req, opts ...grpc.CallOption) (*Stream, error) {
	cs, err := c.cc.NewStream(ctx, serverStreamDesc, ServerStreamMethod, opts...)
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(r.Message()); err != nil {
		return nil, err
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	return &Stream{cs: cs}, nil
}

// ClientStream sends reqs on ClientStream and returns the response and the
// trailer metadata.
func (c *Client) ClientStream(ctx context.Context, reqs []Req, opts ...grpc.CallOption) (Resp, metadata.MD, error) {
	cs, err := c.cc.NewStream(ctx, clientStreamDesc, ClientStreamMethod, opts...)
	if err != nil {
		return Resp{}, nil, err
	}
	for _, r := range reqs {
		if err := cs.SendMsg(r.Message()); err != nil {
			break // the status comes from RecvMsg
		}
	}
	if err := cs.CloseSend(); err != nil {
		return Resp{}, nil, err
	}
	out := dynamicpb.NewMessage(respDesc)
	err = cs.RecvMsg(out)
	if err != nil {
		return Resp{}, cs.Trailer(), err
	}
	return respOf(out), cs.Trailer(), nil
}

// Bidi starts a Bidi call; each request sent is echoed as a response.
func (c *Client) Bidi(ctx context.Context, opts ...grpc.CallOption) (*Stream, error) {
	cs, err := c.cc.NewStream(ctx, bidiDesc, BidiMethod, opts...)
	if err != nil {
		return nil, err
	}
	return &Stream{cs: cs}, nil
}

// Send sends a request (Bidi).
func (s *Stream) Send(r Req) error { return s.cs.SendMsg(r.Message()) }

// CloseSend ends the requests (Bidi).
func (s *Stream) CloseSend() error { return s.cs.CloseSend() }

// Recv returns the next response; io.EOF when the call ended with OK, else
// the call's status error.
func (s *Stream) Recv() (Resp, error) {
	out := dynamicpb.NewMessage(respDesc)
	if err := s.cs.RecvMsg(out); err != nil {
		return Resp{}, err
	}
	return respOf(out), nil
}

// Header waits for and returns the response header metadata.
func (s *Stream) Header() (metadata.MD, error) { return s.cs.Header() }

// Trailer returns the trailer metadata, once Recv has returned an error.
func (s *Stream) Trailer() metadata.MD { return s.cs.Trailer() }

// All receives until the end and returns the responses and the final error
// (nil for OK).
func (s *Stream) All() ([]Resp, error) {
	var out []Resp
	for {
		r, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, r)
	}
}
