package protoschema

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/grpcwire"
)

// MaxMessage is the most bytes a compressed message inflates to for
// decoding.
const MaxMessage = grpcwire.DefaultLimit

// Decoded is one message, rendered.
type Decoded struct {
	// JSON is the message with its schema: protojson with JSON field
	// names, Any expanded, indented by two spaces (what grpcurl prints).
	// Empty without a schema, or when the bytes do not fit it.
	JSON string
	// Unknown lists the fields the schema does not know, as `protoc
	// --decode_raw` shows them, under a line naming where they are in the
	// JSON ("$" for the message itself, "$.nested", "$.items[2]",
	// `$.labels["k"]`). Empty when there are none.
	Unknown string
	// Raw is the message as `protoc --decode_raw` shows it, when JSON is
	// empty; malformed bytes end it with a "# malformed" comment.
	Raw string
	// Source is where the schema behind JSON came from.
	Source Source
	// Err says why the message could not be shown as fully as asked: it
	// could not be decompressed (then nothing else is set), or it does not
	// fit its schema (then Raw is set).
	Err error
}

// Decode renders one message of a call: with its schema when one is known
// (see Method; response picks the method's output type, else its input),
// else as `protoc --decode_raw` would. A compressed payload is first
// inflated with the call's grpc-encoding. Decode never panics, whatever
// the bytes.
func (s *Schemas) Decode(upstream, path string, response bool, payload []byte, compressed bool, encoding string) Decoded {
	var d Decoded
	if compressed {
		if c := strings.ToLower(strings.TrimSpace(encoding)); c == "" || c == "identity" {
			d.Err = errors.New("the message is flagged compressed, but the call names no grpc-encoding to inflate it with")
			return d
		}
		p, err := body.InflateMessage(encoding, payload, MaxMessage)
		if err != nil {
			d.Err = err
			return d
		}
		payload = p
	}
	if md, reg, ok := s.method(upstream, path); ok {
		desc := messageOf(md, response)
		js, unknown, err := s.decodeWith(desc, reg, payload)
		if err == nil {
			d.JSON, d.Unknown, d.Source = js, unknown, reg.source
			return d
		}
		d.Err = fmt.Errorf("the message does not fit %s (schema from %s): %w; shown without the schema", desc.FullName(), reg.source, err)
	}
	d.Raw, _ = grpcwire.DecodeRaw(payload)
	return d
}

// messageOf returns a method's output or input type.
func messageOf(md protoreflect.MethodDescriptor, response bool) protoreflect.MessageDescriptor {
	if response {
		return md.Output()
	}
	return md.Input()
}

// decodeWith parses payload as a desc and renders it.
func (s *Schemas) decodeWith(desc protoreflect.MessageDescriptor, reg registry, payload []byte) (js, unknown string, err error) {
	defer recoverInto(&err)
	res := s.resolver(reg)
	m := dynamicpb.NewMessage(desc)
	if err := (proto.UnmarshalOptions{Resolver: res}).Unmarshal(payload, m); err != nil {
		return "", "", err
	}
	compact, err := protojson.MarshalOptions{Resolver: res}.Marshal(m)
	if err != nil {
		return "", "", err
	}
	// protojson varies its spacing on purpose; re-indenting makes it
	// stable, so views and tests can compare it.
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return "", "", err
	}
	var u strings.Builder
	unknownFields(&u, m, "$", 0)
	return out.String(), u.String(), nil
}

// Encode turns JSON (as Decode renders it, or with proto field names) into
// the wire bytes of the method's input (response=false) or output message;
// Frame wraps them for a call. It needs the method's schema, from the local
// files or from upstream's reflection cache; a cache miss starts a query
// and fails with an error saying so.
func (s *Schemas) Encode(upstream, path string, response bool, js []byte) (_ []byte, err error) {
	defer recoverInto(&err)
	md, reg, ok := s.method(upstream, path)
	if !ok {
		return nil, s.noSchema(upstream, path)
	}
	desc := messageOf(md, response)
	res := s.resolver(reg)
	m := dynamicpb.NewMessage(desc)
	if err := (protojson.UnmarshalOptions{Resolver: res}).Unmarshal(js, m); err != nil {
		return nil, fmt.Errorf("the JSON is not a %s: %w", desc.FullName(), err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", desc.FullName(), err)
	}
	return b, nil
}

// errPanic is wrapped by the error of a decoding or encoding that made the
// protobuf runtime panic.
var errPanic = errors.New("the protobuf runtime panicked")

// recoverInto turns a panic of the protobuf runtime into *err. The runtime
// should return errors on any input, but does not always: protobuf-go
// v1.36.12 panics on a map entry whose key is repeated with the wrong wire
// type (proto/decode.go, unmarshalMap), in the path dynamicpb takes. A
// bad message must not take the UI down.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %v", errPanic, r)
	}
}

// noSchema says why path has no schema and what to do.
func (s *Schemas) noSchema(upstream, path string) error {
	if _, _, ok := grpcwire.SplitMethod(path); !ok {
		return fmt.Errorf("%q is not a gRPC method path (/package.Service/Method)", path)
	}
	const give = "give its .proto with --proto, or a descriptor set with --descriptor-set"
	switch {
	case s == nil:
		return fmt.Errorf("no schema for %s: %s", path, give)
	case !s.opts.Reflection:
		return fmt.Errorf("no schema for %s (server reflection is off): %s", path, give)
	}
	st := s.Status(upstream)
	if st == "reflection: loading" {
		return fmt.Errorf("the schema for %s is still being fetched from the server's reflection; try again in a moment", path)
	}
	return fmt.Errorf("no schema for %s (%s): %s", path, st, give)
}

// resolver finds the types that Any fields and extensions name: in reg,
// then in the other local files, then among the well-known types compiled
// into devproxy.
func (s *Schemas) resolver(reg registry) typeResolver {
	r := typeResolver{reg.types}
	for _, l := range s.local {
		if l.types != reg.types {
			r = append(r, l.types)
		}
	}
	return r
}

// typeResolver looks a type up in each of its sets in turn.
type typeResolver []*dynamicpb.Types

// errNotFound is protoregistry.NotFound, the error protojson expects.
var errNotFound = protoregistry.NotFound

// FindMessageByName implements protoregistry.MessageTypeResolver.
func (r typeResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	for _, t := range r {
		if mt, err := t.FindMessageByName(name); err == nil {
			return mt, nil
		}
	}
	if strings.HasPrefix(string(name), "google.protobuf.") {
		return protoregistry.GlobalTypes.FindMessageByName(name)
	}
	return nil, errNotFound
}

// FindMessageByURL implements protoregistry.MessageTypeResolver.
func (r typeResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	name := url
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		name = url[i+1:]
	}
	return r.FindMessageByName(protoreflect.FullName(name))
}

// FindExtensionByName implements protoregistry.ExtensionTypeResolver.
func (r typeResolver) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	for _, t := range r {
		if xt, err := t.FindExtensionByName(field); err == nil {
			return xt, nil
		}
	}
	return nil, errNotFound
}

// FindExtensionByNumber implements protoregistry.ExtensionTypeResolver.
func (r typeResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	for _, t := range r {
		if xt, err := t.FindExtensionByNumber(message, field); err == nil {
			return xt, nil
		}
	}
	return nil, errNotFound
}

// unknownFields writes the unknown fields of m and of the messages in it,
// each set under its path in the JSON.
func unknownFields(w *strings.Builder, m protoreflect.Message, path string, depth int) {
	if depth > grpcwire.MaxDepth || w.Len() > grpcwire.MaxText {
		return
	}
	if raw := m.GetUnknown(); len(raw) > 0 {
		text, _ := grpcwire.DecodeRaw(raw)
		w.WriteString(path)
		w.WriteString(":\n")
		for line := range strings.Lines(text) {
			w.WriteString("  ")
			w.WriteString(line)
		}
	}
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number()) - int(b.Number()) })
	for _, fd := range fields {
		v := m.Get(fd)
		name := path + "." + fd.JSONName()
		if fd.IsExtension() {
			name = path + ".[" + string(fd.FullName()) + "]"
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				continue
			}
			var keys []protoreflect.MapKey
			v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			slices.SortFunc(keys, compareKeys)
			for _, k := range keys {
				key := k.String()
				if fd.MapKey().Kind() == protoreflect.StringKind {
					key = strconv.Quote(key)
				}
				unknownFields(w, v.Map().Get(k).Message(), name+"["+key+"]", depth+1)
			}
		case fd.IsList():
			if fd.Message() == nil {
				continue
			}
			for i := range v.List().Len() {
				unknownFields(w, v.List().Get(i).Message(), name+"["+strconv.Itoa(i)+"]", depth+1)
			}
		case fd.Message() != nil:
			unknownFields(w, v.Message(), name, depth+1)
		}
	}
}

// compareKeys orders map keys of one kind: numbers by value, strings and
// bools by their text.
func compareKeys(a, b protoreflect.MapKey) int {
	switch a.Interface().(type) {
	case int32, int64:
		return cmp.Compare(a.Int(), b.Int())
	case uint32, uint64:
		return cmp.Compare(a.Uint(), b.Uint())
	default:
		return strings.Compare(a.String(), b.String())
	}
}
