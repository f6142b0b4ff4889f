package protoschema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/devproxy/devproxy/internal/grpctest"
)

const (
	unaryPath = "/devproxy.test.v1.Echo/Unary"
	placePath = "/shop.v1.Shop/Place"
)

func newSchemas(t *testing.T, o Options) *Schemas {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestProtoFile(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{grpctest.ProtoPath()}})
	md, src, ok := s.Method("", unaryPath)
	if !ok || src != SourceProto {
		t.Fatalf("Method = %v, %q, %v; want the method from proto", md, src, ok)
	}
	if got := md.Input().FullName(); got != "devproxy.test.v1.EchoRequest" {
		t.Errorf("input = %s", got)
	}
	if got := md.Output().FullName(); got != "devproxy.test.v1.EchoResponse" {
		t.Errorf("output = %s", got)
	}
	for _, path := range []string{"/devproxy.test.v1.Echo/Nope", "/devproxy.test.v1.Nope/Unary", "/devproxy.test.v1.EchoRequest/Unary", "nonsense", "", "/a/b/c"} {
		if _, _, ok := s.Method("", path); ok {
			t.Errorf("Method(%q) found a method", path)
		}
	}
}

func TestProtoDir(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/protos"}})
	md, src, ok := s.Method("http://127.0.0.1:1", placePath)
	if !ok || src != SourceProto {
		t.Fatalf("Method = %v, %q, %v", md, src, ok)
	}
	if got := md.Output().FullName(); got != "shop.v1.Receipt" {
		t.Errorf("output = %s", got)
	}
}

// A file under a --proto directory, given again on its own, is the same
// file, not a second definition of its symbols.
func TestProtoFileInsideDir(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/protos", "testdata/protos/shop/v1/shop.proto"}})
	if _, _, ok := s.Method("", placePath); !ok {
		t.Fatal("no method")
	}
	s = newSchemas(t, Options{Proto: []string{"testdata/protos/shop/v1/shop.proto"}, ImportPaths: []string{"testdata/protos"}})
	if _, _, ok := s.Method("", placePath); !ok {
		t.Fatal("no method with an import path")
	}
}

func TestProtoErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	syntax := write("bad/syntax.proto", "syntax = \"proto3\";\npackage x;\nmessage M { string a = 1 }\n")
	undefined := write("undef/undefined.proto", "syntax = \"proto3\";\npackage x;\nmessage M {\n  Missing a = 1;\n}\n")
	noImport := write("imp/noimport.proto", "syntax = \"proto3\";\npackage x;\nimport \"other/thing.proto\";\n")
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	for _, tc := range []struct {
		name  string
		proto []string
		want  []string
	}{
		{"missing", []string{filepath.Join(dir, "nope.proto")}, []string{"--proto " + filepath.Join(dir, "nope.proto"), "no such file or directory", "give a .proto file"}},
		{"empty dir", []string{empty}, []string{"holds no .proto files"}},
		{"syntax", []string{syntax}, []string{syntax + ":3:26:", "syntax error"}},
		{"undefined type", []string{undefined}, []string{undefined + ":4:3:", "unknown type Missing"}},
		{"import not found", []string{noImport}, []string{noImport + ":3:8:", "other/thing.proto", "give the directory it is under"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Proto: tc.proto})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestDescriptorSet(t *testing.T) {
	s := newSchemas(t, Options{DescriptorSets: []string{grpctest.DescriptorSet(t)}})
	md, src, ok := s.Method("", unaryPath)
	if !ok || src != SourceDescriptorSet || md.Input().FullName() != "devproxy.test.v1.EchoRequest" {
		t.Fatalf("Method = %v, %q, %v", md, src, ok)
	}
}

// A set without the well-known files it imports still loads: devproxy has
// them built in.
func TestDescriptorSetWithoutWellKnownImports(t *testing.T) {
	fd := protodesc.ToFileDescriptorProto(echoFile(t))
	s := newSchemas(t, Options{DescriptorSets: []string{writeSet(t, fd)}})
	if _, _, ok := s.Method("", unaryPath); !ok {
		t.Fatal("no method")
	}
}

func TestDescriptorSetErrors(t *testing.T) {
	shop := compileShop(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "set.txt")
	os.WriteFile(text, []byte("file { name: \"x.proto\" }\n"), 0o644)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing import", writeSet(t, protodesc.ToFileDescriptorProto(shop)), []string{`imports "shop/v1/types.proto", which the set does not hold`, "--include_imports"}},
		{"text", text, []string{"--descriptor-set " + text, "protoc --descriptor_set_out=FILE --include_imports"}},
		{"no file", filepath.Join(dir, "nope"), []string{"no such file or directory"}},
		{"empty", writeSet(t), []string{"holds no files"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{DescriptorSets: []string{tc.path}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// The local files come first: --proto, then each --descriptor-set.
func TestSourcesInOrder(t *testing.T) {
	s := newSchemas(t, Options{Proto: []string{"testdata/stale/echo.proto"}, DescriptorSets: []string{grpctest.DescriptorSet(t)}})
	if _, src, _ := s.Method("", unaryPath); src != SourceProto {
		t.Errorf("Unary from %q, want proto", src)
	}
	if _, src, _ := s.Method("", "/devproxy.test.v1.Echo/Bidi"); src != SourceDescriptorSet {
		t.Errorf("Bidi from %q, want descriptor-set (the stale proto lacks it)", src)
	}
}

func echoFile(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	f, err := grpctest.Files().FindFileByPath(grpctest.FileName)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// compileShop returns testdata/protos/shop/v1/shop.proto compiled.
func compileShop(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	files, err := loadProtos([]string{"testdata/protos"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := files.FindFileByPath("shop/v1/shop.proto")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// writeSet writes a FileDescriptorSet of fds and returns its path.
func writeSet(t *testing.T, fds ...*descriptorpb.FileDescriptorProto) string {
	t.Helper()
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: fds})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "*.protoset")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
