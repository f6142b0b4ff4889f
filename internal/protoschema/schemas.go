// Package protoschema finds the protobuf schema of gRPC calls and decodes
// their messages with it. Schemas come from .proto files compiled at run
// time (--proto), from descriptor sets (--descriptor-set), and from each
// upstream's gRPC server reflection (v1, or v1alpha when the server offers
// only that), queried once per upstream in the background and cached.
//
// Decode renders a message as JSON in the form grpcurl prints: protojson
// with lowerCamelCase JSON names, google.protobuf.Any expanded, default
// values left out, indented by two spaces. Fields the schema does not know
// (the schema is older than the server, say) are listed beside it the way
// `protoc --decode_raw` shows them, since JSON has no place for them.
// Without a schema, a message is shown as `protoc --decode_raw` would.
// Encode turns such JSON back into a message, for edit and replay.
//
// A nil *Schemas is valid and knows no schema.
package protoschema

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/devproxy/devproxy/internal/grpcwire"
)

// Defaults of Options.
const (
	// DefaultRetryAfter is how long a failed reflection query is
	// remembered before the next message of that upstream asks again.
	DefaultRetryAfter = time.Minute
	// DefaultTimeout bounds one reflection query.
	DefaultTimeout = 10 * time.Second
)

// Options say where schemas come from.
type Options struct {
	// Proto are .proto files and directories (--proto, repeatable),
	// compiled by New. A directory stands for every .proto file below it,
	// named relative to it, and is searched for imports. The
	// google/protobuf/*.proto imports are built in.
	Proto []string
	// ImportPaths are more directories to search for imports, after the
	// Proto directories and before the directory of each Proto file.
	ImportPaths []string
	// DescriptorSets are binary FileDescriptorSet files (--descriptor-set,
	// repeatable), as protoc --descriptor_set_out --include_imports writes.
	DescriptorSets []string
	// Reflection asks each upstream's server reflection for the schema of
	// the methods the files above do not know (--grpc-reflection, on by
	// default in the CLI).
	Reflection bool
	// Transport carries the reflection calls; it must speak HTTP/2 to the
	// upstream. An *http.Transport is used, for http:// upstreams, through
	// a copy that speaks h2c only (as the proxy does for gRPC), keeping its
	// dialer; any other RoundTripper is used as it is. Nil means a
	// transport of its own with h2c for http:// and h2 for https://.
	Transport http.RoundTripper
	// OnChange is called, from the querying goroutine, each time a
	// reflection query ends, whatever its outcome, so that views can
	// decode again. It must not block.
	OnChange func()
	// RetryAfter is how long a failed query is cached before another
	// message from that upstream starts a new one, and how old a cached
	// schema must be before a method it lacks makes devproxy ask again
	// (the server may have been restarted with new methods). 0 means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Timeout bounds each reflection query; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Source says where a method's schema came from.
type Source string

// Sources of a schema.
const (
	SourceNone          Source = ""
	SourceProto         Source = "proto"
	SourceDescriptorSet Source = "descriptor-set"
	SourceReflection    Source = "reflection"
)

// Schemas finds the schema of gRPC methods. Its methods are safe for
// concurrent use, and never block on the network.
type Schemas struct {
	opts  Options
	local []registry // --proto first, then each --descriptor-set

	ctx    context.Context // ends background queries at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	upstreams map[string]*upstream
	h2c       *http.Transport // Options.Transport for http:// upstreams
	closed    bool
}

// registry is a set of files and the types built from them.
type registry struct {
	files  *protoregistry.Files
	types  *dynamicpb.Types
	source Source
}

func newRegistry(files *protoregistry.Files, source Source) registry {
	return registry{files: files, types: dynamicpb.NewTypes(files), source: source}
}

// upstream is the reflection cache of one upstream.
type upstream struct {
	loading bool
	// schema is the last query's result, nil until one succeeds.
	schema *reflected
	reg    registry
	// err is the last query's failure, cleared by a success.
	err error
	// at is when the last query ended.
	at time.Time
}

// New loads the Proto files and DescriptorSets now; an error names the
// file, the line and column when there is one, and what to do.
func New(o Options) (*Schemas, error) {
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	s := &Schemas{opts: o, upstreams: map[string]*upstream{}}
	if len(o.Proto) > 0 {
		files, err := loadProtos(o.Proto, o.ImportPaths)
		if err != nil {
			return nil, err
		}
		s.local = append(s.local, newRegistry(files, SourceProto))
	}
	for _, p := range o.DescriptorSets {
		files, err := loadDescriptorSet(p)
		if err != nil {
			return nil, err
		}
		s.local = append(s.local, newRegistry(files, SourceDescriptorSet))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops reflection queries in flight, waits for them to end, and
// closes the idle connections they left. Later cache misses start none.
func (s *Schemas) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	if s.h2c != nil {
		s.h2c.CloseIdleConnections()
	}
	s.mu.Unlock()
}

// Method finds the descriptor of the method a call's :path names
// ("/pkg.Service/Method"): in the local files first, then in the
// reflection cache of upstream, the base URL the call went to (such as
// "http://127.0.0.1:50051"). On a cache miss with Reflection on, it starts
// one background query for that upstream (none if one is running, or if
// the last failed less than RetryAfter ago) and returns ok=false at once.
func (s *Schemas) Method(upstream, path string) (protoreflect.MethodDescriptor, Source, bool) {
	md, reg, ok := s.method(upstream, path)
	return md, reg.source, ok
}

// method is Method, returning also the registry the method is in.
func (s *Schemas) method(upstreamURL, path string) (protoreflect.MethodDescriptor, registry, bool) {
	if s == nil {
		return nil, registry{}, false
	}
	service, name, ok := grpcwire.SplitMethod(path)
	if !ok {
		return nil, registry{}, false
	}
	for _, reg := range s.local {
		if md := find(reg.files, service, name); md != nil {
			return md, reg, true
		}
	}
	if !s.opts.Reflection {
		return nil, registry{}, false
	}
	key, ok := upstreamKey(upstreamURL)
	if !ok {
		return nil, registry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.upstreams[key]
	if u == nil {
		u = &upstream{}
		s.upstreams[key] = u
	}
	if u.schema != nil {
		if md := find(u.reg.files, service, name); md != nil {
			return md, u.reg, true
		}
	}
	if !u.loading && (u.at.IsZero() || time.Since(u.at) >= s.opts.RetryAfter) {
		s.startQuery(key, u)
	}
	return nil, registry{}, false
}

// find looks a method up in files.
func find(files *protoregistry.Files, service, method string) protoreflect.MethodDescriptor {
	d, err := files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil
	}
	return sd.Methods().ByName(protoreflect.Name(method))
}

// startQuery queries upstream key's reflection in the background. s.mu is
// held.
func (s *Schemas) startQuery(key string, u *upstream) {
	if s.closed {
		return
	}
	u.loading = true
	rt := s.transportFor(key)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
		r, err := queryReflection(ctx, rt, key)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("reflection: no answer within %v: %w", s.opts.Timeout, err)
		case err != nil:
			err = fmt.Errorf("reflection: %w", err)
		}
		s.mu.Lock()
		u.loading = false
		u.at = time.Now()
		u.err = err
		if err == nil {
			u.schema = r
			u.reg = newRegistry(r.files, SourceReflection)
		}
		s.mu.Unlock()
		if s.opts.OnChange != nil {
			s.opts.OnChange()
		}
	}()
}

// transportFor returns the RoundTripper for reflection calls to key. s.mu
// is held.
func (s *Schemas) transportFor(key string) http.RoundTripper {
	rt := s.opts.Transport
	if rt == nil {
		if s.h2c == nil {
			p := new(http.Protocols)
			p.SetHTTP2(true)
			p.SetUnencryptedHTTP2(true)
			s.h2c = &http.Transport{Protocols: p, TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 30 * time.Second}
		}
		return s.h2c
	}
	t, ok := rt.(*http.Transport)
	if !ok || !strings.HasPrefix(key, "http://") {
		return rt
	}
	if s.h2c == nil {
		s.h2c = t.Clone()
		s.h2c.Protocols = new(http.Protocols)
		s.h2c.Protocols.SetUnencryptedHTTP2(true)
	}
	return s.h2c
}

// Status says what is known of upstream's schema, for a status line:
// "reflection: 3 services", "reflection: loading", "reflection: not
// offered (UNIMPLEMENTED)", "reflection: off", and so on. It is "" for a
// nil *Schemas.
func (s *Schemas) Status(upstreamURL string) string {
	if s == nil {
		return ""
	}
	if !s.opts.Reflection {
		return "reflection: off"
	}
	key, ok := upstreamKey(upstreamURL)
	if !ok {
		return "reflection: no upstream"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.upstreams[key]
	switch {
	case u == nil:
		return "reflection: not asked yet"
	case u.loading && u.schema == nil:
		return "reflection: loading"
	case u.err != nil && u.schema == nil:
		if errors.Is(u.err, errUnimplemented) {
			return "reflection: " + errUnimplemented.Error()
		}
		return u.err.Error()
	}
	r := u.schema
	var b strings.Builder
	b.WriteString("reflection")
	if r.version != "v1" {
		b.WriteString(" " + r.version)
	}
	fmt.Fprintf(&b, ": %d service", len(r.services))
	if len(r.services) != 1 {
		b.WriteString("s")
	}
	if len(r.notes) > 0 {
		b.WriteString("; " + strings.Join(r.notes, "; "))
	}
	if u.loading {
		b.WriteString("; asking again")
	} else if u.err != nil {
		b.WriteString("; asking again failed: " + strings.TrimPrefix(u.err.Error(), "reflection: "))
	}
	return b.String()
}

// upstreamKey is the cache key of an upstream base URL: its scheme and
// host, lower case.
func upstreamKey(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// Frame wraps a message in a gRPC envelope: flag 0 (not compressed), then
// its length in 4 bytes, big-endian.
func Frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}
