// Package grpctest runs a real grpc-go server and client for tests and
// benchmarks of devproxy carrying gRPC.
//
// The service is devproxy.test.v1.Echo from testdata/echo.proto (embedded,
// compiled at init with protocompile; no generated code). Its messages are
// dynamicpb messages; tests use the plain Go values Req and Resp instead:
//
//   - Unary echoes a Req as a Resp; ServerStream sends Req.Count responses
//     (Index 0, 1, …); ClientStream answers once with the first request and
//     ReceivedMessages/ReceivedBytes over all; Bidi echoes each request.
//   - Req.Fail ends the call with a status (code, message, and an ErrorDetail
//     in grpc-status-details-bin when Fail.Detail is set; read it back with
//     DetailReason). Unary failures, and streams that fail before sending a
//     message, are trailers-only responses.
//   - Req.Delay waits before replying, or until the call's context ends, so a
//     deadline can expire; Req.ReplySize sizes the response payload.
//   - Req.CallID names a call: Server.Ended waits for its handler to return
//     and reports the server-side metadata, deadline and context error (so a
//     test sees cancellation and deadlines reach the server). With Req.Step,
//     ServerStream sends each message after the first only when the test
//     calls Server.Step, so a test can prove a message arrived before the
//     next was sent.
//
// Start also registers grpc health (Echo is SERVING) and server reflection
// v1 and v1alpha (unless Options.NoReflection). Options.TLS serves HTTP/2 over
// TLS with a loopback certificate trusted by Server.CertPool; otherwise the
// server speaks h2c. Both sides accept messages up to MaxMessageSize, and gzip
// is registered, so grpc.UseCompressor("gzip") works.
//
// Files, ProtoPath and DescriptorSet give echo.proto as a registry, a source
// path (import path: its directory) and a descriptor set file, for schema
// tests; the file's name is always FileName ("echo.proto").
package grpctest
