package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/grpctest"
	"github.com/devproxy/devproxy/internal/protoschema"
	"github.com/devproxy/devproxy/internal/tui"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

func TestOnOff(t *testing.T) {
	for in, want := range map[string]bool{"on": true, "OFF": false, "true": true, "false": false, "yes": true, "no": false, "1": true, "0": false} {
		v := onOff(!want)
		if err := v.Set(in); err != nil || bool(v) != want {
			t.Errorf("%q: %v, %v", in, v, err)
		}
	}
	v := onOff(true)
	if err := v.Set("of"); err == nil || err.Error() != "must be on or off; did you mean off?" {
		t.Errorf("of: %v", err)
	}
	if err := v.Set("maybe"); err == nil || err.Error() != "must be on or off" {
		t.Errorf("maybe: %v", err)
	}
}

// TestSchemaFlagsFailAtStart checks that a schema file that does not
// load stops serve before it listens, with the file and line, and that
// --grpc-reflection takes only on or off, from the config file too.
func TestSchemaFlagsFailAtStart(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.proto")
	if err := os.WriteFile(bad, []byte("syntax = \"proto3\";\nmessage M {\n  string s = ;\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("grpc-reflection: maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--proto", bad}, []string{"--proto", "bad.proto:3"}},
		{[]string{"--proto", filepath.Join(dir, "missing.proto")}, []string{"--proto", "missing.proto"}},
		{[]string{"--descriptor-set", bad}, []string{"--descriptor-set", "bad.proto"}},
		{[]string{"--grpc-reflection", "of"}, []string{"--grpc-reflection", "did you mean off?"}},
		{[]string{"--config", cfg}, []string{"grpc-reflection", "must be on or off"}},
	} {
		root := newRootCmd()
		var out strings.Builder
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"serve", "--target", "http://127.0.0.1:1", "--no-tui", "--listen", "127.0.0.1:0"}, tc.args...))
		err := root.ExecuteContext(context.Background())
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %q", tc.args, err, w)
			}
		}
		if strings.Contains(out.String(), "listening") {
			t.Errorf("%v: serve listened:\n%s", tc.args, out.String())
		}
	}
}

// TestGRPCMessagesAsJSON calls a real grpc-go server with a real client
// through serve (the schema from --proto), then checks that the HAR file
// holds each message's JSON, that the JSON copy as grpcurl writes encodes
// back (protoschema.Encode) to the message the client sent, and that the
// command names the schema files.
func TestGRPCMessagesAsJSON(t *testing.T) {
	isolate(t)
	srv := grpctest.Start(t, grpctest.Options{NoReflection: true})
	harFile := filepath.Join(t.TempDir(), "out.har")
	r := startRole(t, "serve", "--target", srv.URL, "--proto", grpctest.ProtoPath(), "--grpc-reflection", "off", "--har", harFile)
	cc := grpctest.Dial(t, strings.TrimPrefix(r.url, "http://"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := grpctest.Req{Text: "héllo", Number: -7, Tags: []string{"a", "b"}, Note: "n", Level: 3, Payload: []byte{0, 1, 2}}
	if _, _, err := grpctest.NewClient(cc).Unary(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if out, err := r.stop(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	xs, err := readHARFile(harFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 1 || len(xs[0].Messages) != 2 {
		t.Fatalf("%d exchanges; want 1 with 2 messages: %+v", len(xs), xs)
	}
	x := &xs[0]
	s, err := protoschema.New(protoschema.Options{Proto: []string{grpctest.ProtoPath()}})
	if err != nil {
		t.Fatal(err)
	}
	js, ok := tui.MessageDecoder(s, "")(x, x.Messages[0])
	if !ok || !strings.Contains(js, `"text": "héllo"`) {
		t.Fatalf("request JSON %q, %v", js, ok)
	}
	wire, err := s.Encode("", grpctest.UnaryMethod, false, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := grpctest.Files().FindDescriptorByName("devproxy.test.v1.EchoRequest")
	got := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	if err := proto.Unmarshal(wire, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, sent.Message()) {
		t.Errorf("the JSON encodes to %v; the client sent %v", got, sent.Message())
	}
	files := schemaFiles(protoschema.Options{Proto: []string{grpctest.ProtoPath()}})
	cmd, err := export.Grpcurl(*x, export.GrpcurlOptions{Messages: []string{js}, Schema: export.SchemaProto,
		ImportPaths: files.ImportPaths, Protos: []string{grpctest.FileName}})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"-plaintext", "-import-path " + filepath.Dir(grpctest.ProtoPath()), "-proto echo.proto", `"text":"héllo"`, grpctest.ServiceName + "/Unary"} {
		if !strings.Contains(cmd, w) {
			t.Errorf("no %q in\n%s", w, cmd)
		}
	}
}
