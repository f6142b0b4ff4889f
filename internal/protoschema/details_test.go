package protoschema

import (
	"encoding/base64"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/devproxy/devproxy/internal/grpctest"
)

// statusDetails builds a grpc-status-details-bin value: a google.rpc.Status
// with one Any holding an ErrorDetail{reason}.
func statusDetails(code int, msg, typeURL, reason string) string {
	var detail, any, st []byte
	detail = protowire.AppendTag(detail, 1, protowire.BytesType)
	detail = protowire.AppendString(detail, reason)
	any = protowire.AppendTag(any, 1, protowire.BytesType)
	any = protowire.AppendString(any, typeURL)
	any = protowire.AppendTag(any, 2, protowire.BytesType)
	any = protowire.AppendBytes(any, detail)
	st = protowire.AppendTag(st, 1, protowire.VarintType)
	st = protowire.AppendVarint(st, uint64(code))
	st = protowire.AppendTag(st, 2, protowire.BytesType)
	st = protowire.AppendString(st, msg)
	st = protowire.AppendTag(st, 3, protowire.BytesType)
	st = protowire.AppendBytes(st, any)
	return base64.RawStdEncoding.EncodeToString(st)
}

func TestDecodeDetails(t *testing.T) {
	const path = "/" + grpctest.ServiceName + "/Unary"
	value := statusDetails(5, "no such thing", "type.googleapis.com/devproxy.test.v1.ErrorDetail", "because")

	s := newSchemas(t, Options{Proto: []string{grpctest.ProtoPath()}})
	d, err := s.DecodeDetails("http://127.0.0.1:1", path, value+"==")
	if err != nil {
		t.Fatal(err)
	}
	if d.Code != 5 || d.Message != "no such thing" || len(d.Details) != 1 {
		t.Fatalf("details = %+v", d)
	}
	got := d.Details[0]
	if got.Type != "type.googleapis.com/devproxy.test.v1.ErrorDetail" || !strings.Contains(got.Decoded.JSON, `"reason": "because"`) || got.Decoded.Source != SourceProto {
		t.Errorf("with the schema: %+v", got)
	}

	// Without a schema (a nil *Schemas), the value shows as decode_raw.
	var none *Schemas
	d, err = none.DecodeDetails("", path, value)
	if err != nil || len(d.Details) != 1 || d.Details[0].Decoded.JSON != "" || !strings.Contains(d.Details[0].Decoded.Raw, `1: "because"`) {
		t.Errorf("without a schema: %+v, %v", d, err)
	}

	for _, bad := range []string{"!!!", base64.RawStdEncoding.EncodeToString([]byte{0x0a, 0x05, 'x'})} {
		if _, err := s.DecodeDetails("", path, bad); err == nil {
			t.Errorf("DecodeDetails(%q) gave no error", bad)
		}
	}
}
