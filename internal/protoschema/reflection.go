package protoschema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/grpcwire"
)

// Bounds of one reflection query.
const (
	// maxReflectMessage is the largest reflection answer read; a file
	// descriptor answer holds a file and the imports not sent yet.
	maxReflectMessage = 16 << 20
	// maxReflectBytes bounds all the answers of one query together.
	maxReflectBytes = 64 << 20
	// maxServices and maxFiles bound how much of a server's schema is
	// fetched.
	maxServices = 1024
	maxFiles    = 4096
)

// UserAgent is the user-agent of devproxy's reflection calls, so they can
// be told apart from the traffic devproxy carries.
const UserAgent = "devproxy-reflection"

// grpcUnimplemented is gRPC's status code UNIMPLEMENTED.
const grpcUnimplemented = 12

// statusError is a gRPC call that ended with a non-OK status.
type statusError struct {
	code    int
	message string
}

func (e *statusError) Error() string {
	if e.message == "" {
		return "grpc-status " + grpcwire.StatusName(e.code)
	}
	return fmt.Sprintf("grpc-status %s: %s", grpcwire.StatusName(e.code), e.message)
}

// errUnimplemented is wrapped by the error of a reflection query when the
// server offers neither version of the service.
var errUnimplemented = errors.New("not offered (UNIMPLEMENTED)")

// unimplemented reports whether err means the server does not serve the
// method: grpc-status UNIMPLEMENTED, or HTTP 404 before any gRPC.
func unimplemented(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.code == grpcUnimplemented
}

// reflected is what one query of an upstream's server reflection found.
type reflected struct {
	linked
	// version is "v1" or "v1alpha".
	version string
	// services are the names the server listed.
	services []string
	// notes are problems that left part of the schema out.
	notes []string
}

// queryReflection asks the server reflection of upstream (a base URL) for
// the files of all its services and their imports: v1 first, then v1alpha
// if the server does not offer v1.
func queryReflection(ctx context.Context, rt http.RoundTripper, upstream string) (*reflected, error) {
	r, err := queryVersion(ctx, rt, upstream, "v1")
	if unimplemented(err) {
		r, err = queryVersion(ctx, rt, upstream, "v1alpha")
		if unimplemented(err) {
			return nil, errUnimplemented
		}
	}
	return r, err
}

// queryVersion runs one reflection stream: list the services, ask for the
// file of each, then for any import still missing.
func queryVersion(ctx context.Context, rt http.RoundTripper, upstream, version string) (*reflected, error) {
	st, err := openStream(ctx, rt, upstream, version, reflectRequest(reqListServices, ""))
	if err != nil {
		return nil, err
	}
	defer st.close()
	list, err := st.recv()
	if err != nil {
		return nil, err
	}
	if list.code != 0 {
		return nil, fmt.Errorf("list_services: %w", &statusError{int(list.code), list.message})
	}
	if !list.hasServices {
		return nil, fmt.Errorf("list_services: %w", errNoAnswer)
	}
	r := &reflected{version: version}
	for _, svc := range list.services {
		if svc != "" {
			r.services = append(r.services, svc)
		}
	}
	if len(r.services) > maxServices {
		r.notes = append(r.notes, fmt.Sprintf("only the first %d of %d services read", maxServices, len(r.services)))
		r.services = r.services[:maxServices]
	}

	fds := map[string]*descriptorpb.FileDescriptorProto{}
	var order []*descriptorpb.FileDescriptorProto
	add := func(resp reflectResponse, asked string) error {
		if resp.code != 0 {
			r.notes = append(r.notes, fmt.Sprintf("%s: %v", asked, &statusError{int(resp.code), resp.message}))
			return nil
		}
		if !resp.hasFiles {
			return fmt.Errorf("%s: %w", asked, errNoAnswer)
		}
		for _, b := range resp.files {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(b, fd); err != nil {
				return fmt.Errorf("%s: a file descriptor does not parse: %w", asked, err)
			}
			if _, dup := fds[fd.GetName()]; !dup && len(fds) < maxFiles {
				fds[fd.GetName()] = fd
				order = append(order, fd)
			}
		}
		return nil
	}
	// The questions go out together; a server answers them in order.
	for _, svc := range r.services {
		st.send(reflectRequest(reqFileContainingSymbol, svc))
	}
	for _, svc := range r.services {
		resp, err := st.recv()
		if err != nil {
			return nil, err
		}
		if err := add(resp, "file_containing_symbol "+svc); err != nil {
			return nil, err
		}
	}
	asked := map[string]bool{}
	for len(fds) < maxFiles {
		var want []string
		for _, fd := range order {
			for _, dep := range fd.GetDependency() {
				if _, ok := fds[dep]; !ok && !asked[dep] && !strings.HasPrefix(dep, wellKnownPrefix) {
					asked[dep] = true
					want = append(want, dep)
				}
			}
		}
		if len(want) == 0 {
			break
		}
		for _, name := range want {
			st.send(reflectRequest(reqFileByFilename, name))
		}
		for _, name := range want {
			resp, err := st.recv()
			if err != nil {
				return nil, err
			}
			if err := add(resp, "file_by_filename "+name); err != nil {
				return nil, err
			}
		}
	}
	st.finish()
	r.linked = link(order)
	for _, err := range r.errs {
		r.notes = append(r.notes, err.Error())
	}
	if len(r.missing) > 0 {
		r.notes = append(r.notes, "the server did not send "+quoteList(r.missing))
	}
	if len(r.unlinked) > 0 {
		r.notes = append(r.notes, "left out "+quoteList(r.unlinked))
	}
	return r, nil
}

// stream is one call of ServerReflectionInfo, a bidirectional stream,
// made by hand over an http.RoundTripper: the request body is a queue of
// framed requests, and the response body is split into messages.
type stream struct {
	out   *sendQueue
	resp  *http.Response
	split grpcwire.Splitter
	ready []grpcwire.Message
	read  int64
	buf   []byte
}

// openStream starts the call with its first request already queued: a
// grpc-go server sends its response headers only with its first answer, and
// the round trip waits for them.
func openStream(ctx context.Context, rt http.RoundTripper, upstream, version string, first []byte) (*stream, error) {
	url := strings.TrimSuffix(upstream, "/") + "/grpc.reflection." + version + ".ServerReflection/ServerReflectionInfo"
	out := newSendQueue(ctx)
	out.send(Frame(first))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, out)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", UserAgent)
	if dl, ok := ctx.Deadline(); ok {
		// In milliseconds, at most 8 digits.
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(min(max(time.Until(dl).Milliseconds(), 1), 99999999), 10)+"m")
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		out.Close()
		return nil, err
	}
	st := &stream{out: out, resp: resp, split: grpcwire.Splitter{Max: maxReflectMessage, Limit: maxReflectMessage}}
	ct := resp.Header.Get("Content-Type")
	switch {
	case resp.StatusCode == http.StatusNotFound:
		st.close()
		return nil, &statusError{grpcUnimplemented, "HTTP 404"}
	case resp.StatusCode != http.StatusOK:
		st.close()
		return nil, fmt.Errorf("the upstream answered HTTP %d (%s), not gRPC", resp.StatusCode, orNone(ct))
	case resp.Header.Get("Grpc-Status") != "":
		// A trailers-only answer: the call failed at once.
		err := statusOf(resp.Header, nil)
		st.close()
		if err == nil {
			err = fmt.Errorf("the call ended before any answer")
		}
		return nil, err
	case !strings.HasPrefix(strings.ToLower(ct), "application/grpc"):
		st.close()
		return nil, fmt.Errorf("the upstream answered with %s, not gRPC", orNone(ct))
	}
	return st, nil
}

func orNone(contentType string) string {
	if contentType == "" {
		return "no content type"
	}
	return contentType
}

// statusOf returns the call's error from its grpc-status (in trailer, or
// in header for a trailers-only response), or nil for OK or none.
func statusOf(header, trailer http.Header) error {
	code, msg, ok := grpcwire.StatusOf(header, trailer)
	if !ok || code == 0 {
		return nil
	}
	return &statusError{code, msg}
}

// send queues one request.
func (st *stream) send(msg []byte) { st.out.send(Frame(msg)) }

// recv returns the next answer.
func (st *stream) recv() (reflectResponse, error) {
	for len(st.ready) == 0 {
		if st.buf == nil {
			st.buf = make([]byte, 32<<10)
		}
		n, err := st.resp.Body.Read(st.buf)
		st.read += int64(n)
		if st.read > maxReflectBytes {
			return reflectResponse{}, fmt.Errorf("the reflection answers pass %d bytes; devproxy reads no more", maxReflectBytes)
		}
		msgs, splitErr := st.split.Write(st.buf[:n])
		st.ready = append(st.ready, msgs...)
		switch {
		case len(st.ready) > 0:
		case splitErr != nil:
			return reflectResponse{}, splitErr
		case errors.Is(err, io.EOF):
			if err := statusOf(nil, st.resp.Trailer); err != nil {
				return reflectResponse{}, err
			}
			if err := st.split.End(); err != nil {
				return reflectResponse{}, err
			}
			return reflectResponse{}, errors.New("the server ended the reflection stream before answering")
		case err != nil:
			return reflectResponse{}, err
		}
	}
	m := st.ready[0]
	st.ready = st.ready[1:]
	payload := m.Payload
	if m.Compressed {
		var err error
		payload, err = body.InflateMessage(st.resp.Header.Get("Grpc-Encoding"), payload, maxReflectMessage)
		if err != nil {
			return reflectResponse{}, err
		}
	}
	return parseReflectResponse(payload)
}

// finish ends the request stream and reads what is left of the answer (a
// few bytes at most), so the server ends the call with OK.
func (st *stream) finish() {
	st.out.closeSend()
	io.Copy(io.Discard, io.LimitReader(st.resp.Body, maxReflectMessage))
}

// close releases the call.
func (st *stream) close() {
	st.out.Close()
	st.resp.Body.Close()
}

// sendQueue is a request body fed by send: reads wait for bytes, and
// never block the sender, so requests can be queued before the round
// trip starts and while the transport is busy.
type sendQueue struct {
	mu     sync.Mutex
	buf    []byte
	closed bool // no more sends: EOF once buf is read
	gone   bool // the transport closed the body
	wake   chan struct{}
	// ctx is the call's: its end ends a waiting Read, since the HTTP/2
	// transport watches it only between reads of the body.
	ctx context.Context
}

func newSendQueue(ctx context.Context) *sendQueue {
	return &sendQueue{wake: make(chan struct{}, 1), ctx: ctx}
}

func (q *sendQueue) send(b []byte) {
	q.mu.Lock()
	q.buf = append(q.buf, b...)
	q.mu.Unlock()
	q.signal()
}

// closeSend ends the body once what was sent is read.
func (q *sendQueue) closeSend() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Read returns queued bytes, waiting for some.
func (q *sendQueue) Read(p []byte) (int, error) {
	for {
		q.mu.Lock()
		switch {
		case q.gone:
			q.mu.Unlock()
			return 0, io.ErrClosedPipe
		case len(q.buf) > 0:
			n := copy(p, q.buf)
			q.buf = q.buf[n:]
			q.mu.Unlock()
			return n, nil
		case q.closed:
			q.mu.Unlock()
			return 0, io.EOF
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-q.ctx.Done():
			return 0, q.ctx.Err()
		}
	}
}

// Close stops the body: a waiting Read returns.
func (q *sendQueue) Close() error {
	q.mu.Lock()
	q.gone = true
	q.mu.Unlock()
	q.signal()
	return nil
}
