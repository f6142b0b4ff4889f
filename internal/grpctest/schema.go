package grpctest

import (
	"context"
	_ "embed"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// FileName is the name echo.proto is registered under, in Files, in the
// descriptor set and in server reflection: the name protocompile gives it when
// testdata/ is the import path.
const FileName = "echo.proto"

// ServiceName is the full name of the Echo service.
const ServiceName = "devproxy.test.v1.Echo"

//go:embed testdata/echo.proto
var echoProto string

var (
	files      *protoregistry.Files
	echoFile   protoreflect.FileDescriptor
	reqDesc    protoreflect.MessageDescriptor
	respDesc   protoreflect.MessageDescriptor
	detailDesc protoreflect.MessageDescriptor
)

func init() {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{FileName: echoProto}),
	})}
	linked, err := c.Compile(context.Background(), FileName)
	if err != nil {
		panic("grpctest: compiling echo.proto: " + err.Error())
	}
	echoFile = linked[0]
	files = new(protoregistry.Files)
	if err := registerWithImports(files, echoFile); err != nil {
		panic("grpctest: " + err.Error())
	}
	msgs := echoFile.Messages()
	reqDesc = msgs.ByName("EchoRequest")
	respDesc = msgs.ByName("EchoResponse")
	detailDesc = msgs.ByName("ErrorDetail")
}

// registerWithImports adds f and, first, everything it imports.
func registerWithImports(r *protoregistry.Files, f protoreflect.FileDescriptor) error {
	if _, err := r.FindFileByPath(f.Path()); err == nil {
		return nil
	}
	imps := f.Imports()
	for i := range imps.Len() {
		if err := registerWithImports(r, imps.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return r.RegisterFile(f)
}

// Files returns the compiled echo.proto together with the files it imports.
func Files() *protoregistry.Files { return files }

// ProtoPath returns the absolute path of testdata/echo.proto in the source
// tree, for tests of --proto. Its import path is its directory.
func ProtoPath() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "testdata", FileName)
}

// DescriptorSet writes a FileDescriptorSet of echo.proto with its imports (as
// protoc --include_imports would) to a file in t.TempDir and returns its path.
func DescriptorSet(t testing.TB) string {
	t.Helper()
	var set descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) { // imports first, as protoc writes them
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imps := f.Imports()
		for i := range imps.Len() {
			add(imps.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	add(echoFile)
	b, err := proto.Marshal(&set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "echo.protoset")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
