package protoschema

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The server reflection messages (grpc/reflection/v1/reflection.proto;
// v1alpha has the same field numbers), encoded by hand. The generated
// types in google.golang.org/grpc/reflection/grpc_reflection_v1 would link
// all of grpc-go into devproxy (about 10 MB) for five fields; the tests
// check these bytes against the generated messages.

// Fields of ServerReflectionRequest.
const (
	reqFileByFilename       = 3
	reqFileContainingSymbol = 4
	reqListServices         = 7
)

// Fields of ServerReflectionResponse and the messages in it.
const (
	respFileDescriptor = 4 // FileDescriptorResponse
	respListServices   = 6 // ListServiceResponse
	respError          = 7 // ErrorResponse

	fileDescriptorProto = 1 // FileDescriptorResponse.file_descriptor_proto, repeated bytes
	listService         = 1 // ListServiceResponse.service, repeated ServiceResponse
	serviceName         = 1 // ServiceResponse.name
	errorCode           = 1 // ErrorResponse.error_code
	errorMessage        = 2 // ErrorResponse.error_message
)

// reflectRequest encodes a ServerReflectionRequest that sets one string
// field of its oneof.
func reflectRequest(field protowire.Number, value string) []byte {
	b := protowire.AppendTag(nil, field, protowire.BytesType)
	return protowire.AppendString(b, value)
}

// reflectResponse is the part of a ServerReflectionResponse that devproxy
// reads.
type reflectResponse struct {
	// files are serialized FileDescriptorProtos (file_descriptor_response).
	files [][]byte
	// services are the names in list_services_response.
	services []string
	// hasFiles and hasServices say which answer it was, since either list
	// may be empty.
	hasFiles, hasServices bool
	// code and message are error_response's; code 0 is no error.
	code    int32
	message string
}

// parseReflectResponse decodes a ServerReflectionResponse.
func parseReflectResponse(b []byte) (reflectResponse, error) {
	var r reflectResponse
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case respFileDescriptor:
			r.hasFiles = true
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fileDescriptorProto && typ == protowire.BytesType {
					r.files = append(r.files, v)
				}
				return nil
			})
		case respListServices:
			r.hasServices = true
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num != listService || typ != protowire.BytesType {
					return nil
				}
				name := ""
				err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
					if num == serviceName && typ == protowire.BytesType {
						name = string(v)
					}
					return nil
				})
				r.services = append(r.services, name)
				return err
			})
		case respError:
			r.code = -1 // an error_response without a code is still an error
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch {
				case num == errorCode && typ == protowire.VarintType:
					n, _ := protowire.ConsumeVarint(v)
					r.code = int32(n)
				case num == errorMessage && typ == protowire.BytesType:
					r.message = string(v)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return reflectResponse{}, fmt.Errorf("reflection answer does not parse: %w", err)
	}
	return r, nil
}

// walk calls f with each field of the message b: its number, wire type and
// value (for a varint, its encoding; for bytes, the bytes).
func walk(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n >= 0 {
				v = b[:n]
			}
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// errNoAnswer is a reflection answer of another kind than asked for.
var errNoAnswer = errors.New("the server answered another question")
