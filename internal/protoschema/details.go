package protoschema

import (
	"encoding/base64"

	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/devproxy/devproxy/internal/grpcwire"
)

// Details is a call's grpc-status-details-bin trailer read back: the
// google.rpc.Status it carries, and each of its details.
type Details struct {
	Code    int
	Message string
	Details []Detail
}

// Detail is one google.protobuf.Any of a google.rpc.Status: its type URL
// and its value, decoded with the type's schema when one is known (from
// the call's schema, the other local files, or the well-known types), else
// as `protoc --decode_raw` shows it.
type Detail struct {
	Type    string
	Decoded Decoded
}

// DecodeDetails reads value, a grpc-status-details-bin header (base64,
// padded or not; several values joined by commas are read as the first),
// of the call to path on upstream. It never panics, whatever the bytes.
func (s *Schemas) DecodeDetails(upstream, path, value string) (Details, error) {
	value, _, _ = strings.Cut(strings.TrimSpace(value), ",")
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return Details{}, fmt.Errorf("grpc-status-details-bin is not base64: %v", err)
	}
	var out Details
	err = walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			n, _ := protowire.ConsumeVarint(v)
			out.Code = int(int32(n))
		case num == 2 && typ == protowire.BytesType:
			out.Message = string(v)
		case num == 3 && typ == protowire.BytesType:
			out.Details = append(out.Details, s.detail(upstream, path, v))
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("grpc-status-details-bin is not a google.rpc.Status: %v", err)
	}
	return out, nil
}

// detail reads one google.protobuf.Any.
func (s *Schemas) detail(upstream, path string, any []byte) Detail {
	var d Detail
	var value []byte
	err := walk(any, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			d.Type = string(v)
		case num == 2 && typ == protowire.BytesType:
			value = v
		}
		return nil
	})
	if err != nil {
		d.Decoded.Raw, _ = grpcwire.DecodeRaw(any)
		d.Decoded.Err = fmt.Errorf("the detail is not a google.protobuf.Any: %v", err)
		return d
	}
	name := d.Type
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if s != nil {
		_, reg, _ := s.method(upstream, path)
		if mt, err := s.resolver(reg).FindMessageByName(protoreflect.FullName(name)); err == nil {
			js, unknown, err := s.decodeWith(mt.Descriptor(), reg, value)
			if err == nil {
				d.Decoded = Decoded{JSON: js, Unknown: unknown, Source: reg.source}
				return d
			}
			d.Decoded.Err = fmt.Errorf("the detail does not fit %s: %v", name, err)
		}
	}
	d.Decoded.Raw, _ = grpcwire.DecodeRaw(value)
	return d
}
