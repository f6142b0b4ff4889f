package protoschema

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// maxCompileErrors is how many errors of a .proto compilation are shown.
const maxCompileErrors = 10

// wellKnownPrefix is where the well-known types live. Their files are
// compiled into devproxy, so a descriptor set or a reflection answer that
// leaves them out is completed from protoregistry.GlobalFiles.
const wellKnownPrefix = "google/protobuf/"

// protoSource is one .proto file to compile: its import name and where it
// is on disk.
type protoSource struct{ name, path string }

// loadProtos compiles every --proto FILE and every .proto under each
// --proto DIR, and returns them with their imports as one registry.
// Imports are searched in each DIR, then in importPaths, then in the
// directory of each FILE; a FILE under one of those is named relative to
// it, as protoc names files relative to -I.
func loadProtos(protos, importPaths []string) (*protoregistry.Files, error) {
	var dirs, fileDirs, loose []string
	var sources []protoSource
	for _, p := range protos {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("--proto %s: %w", p, err)
		}
		info, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("--proto %s: %w; give a .proto file or a directory of them", p, unwrapPath(err))
		}
		if !info.IsDir() {
			loose = append(loose, abs)
			continue
		}
		found, err := protosUnder(abs)
		if err != nil {
			return nil, fmt.Errorf("--proto %s: %w", p, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("--proto %s: the directory holds no .proto files", p)
		}
		dirs = append(dirs, abs)
		sources = append(sources, found...)
	}
	var imports []string
	for _, p := range importPaths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("import path %s: %w", p, err)
		}
		imports = append(imports, abs)
	}
	for _, f := range loose {
		src, ok := under(f, dirs, imports)
		if !ok {
			dir := filepath.Dir(f)
			if !slices.Contains(fileDirs, dir) {
				fileDirs = append(fileDirs, dir)
			}
			src = protoSource{name: filepath.Base(f), path: f}
		}
		sources = append(sources, src)
	}
	roots := slices.Concat(dirs, imports, fileDirs)

	var names []string
	seen := map[string]bool{}
	for _, src := range sources {
		if !seen[src.name] {
			seen[src.name] = true
			names = append(names, src.name)
		}
	}
	var errs []error
	rep := reporter.NewReporter(func(err reporter.ErrorWithPos) error {
		if len(errs) < maxCompileErrors {
			errs = append(errs, compileError(err, roots))
		}
		return nil // go on, to report more than the first problem
	}, nil)
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: roots}),
		Reporter: rep,
	}
	compiled, err := c.Compile(context.Background(), names...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("--proto: %w", errors.Join(errs...))
	}
	if ewp := reporter.ErrorWithPos(nil); errors.As(err, &ewp) {
		return nil, fmt.Errorf("--proto: %w", compileError(ewp, roots))
	}
	if err != nil {
		return nil, fmt.Errorf("--proto: %w", err)
	}
	files := new(protoregistry.Files)
	for _, f := range compiled {
		if err := register(files, f); err != nil {
			return nil, fmt.Errorf("--proto: %w", err)
		}
	}
	return files, nil
}

// protosUnder lists the .proto files below dir, named relative to it.
func protosUnder(dir string) ([]protoSource, error) {
	var out []protoSource
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".proto") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		out = append(out, protoSource{name: filepath.ToSlash(rel), path: path})
		return nil
	})
	return out, err
}

// under names file relative to the first of the root lists that holds it.
func under(file string, rootLists ...[]string) (protoSource, bool) {
	for _, roots := range rootLists {
		for _, root := range roots {
			rel, err := filepath.Rel(root, file)
			if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return protoSource{name: filepath.ToSlash(rel), path: file}, true
			}
		}
	}
	return protoSource{}, false
}

// compileError says where a compilation problem is, as path:line:col on
// disk, what it is, and for an import that was not found, what to do.
func compileError(err reporter.ErrorWithPos, roots []string) error {
	pos := err.GetPosition()
	where := pos.Filename
	for _, root := range roots {
		p := filepath.Join(root, filepath.FromSlash(pos.Filename))
		if _, statErr := os.Stat(p); statErr == nil {
			where = p
			break
		}
	}
	if pos.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", where, pos.Line, pos.Col)
	}
	msg := err.Unwrap().Error()
	if errors.Is(err, fs.ErrNotExist) {
		// The error names the last place searched; say where else.
		msg = "import not found"
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			msg = "import not found, last tried " + pe.Path
		}
		msg += fmt.Sprintf("; imports are searched in %s: give the directory it is under (as --proto DIR or an import path)", strings.Join(roots, ", "))
	}
	return fmt.Errorf("%s: %s", where, msg)
}

// unwrapPath drops the operation and path from an *fs.PathError, which
// the caller's message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// register adds f and, first, its imports to files, skipping files already
// there.
func register(files *protoregistry.Files, f protoreflect.FileDescriptor) error {
	if _, err := files.FindFileByPath(f.Path()); err == nil {
		return nil
	}
	imports := f.Imports()
	for i := range imports.Len() {
		if err := register(files, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	if err := files.RegisterFile(f); err != nil {
		return fmt.Errorf("%s: %w", f.Path(), err)
	}
	return nil
}

// loadDescriptorSet reads a binary FileDescriptorSet (protoc
// --descriptor_set_out) into a registry.
func loadDescriptorSet(path string) (*protoregistry.Files, error) {
	const hint = "build one with protoc --descriptor_set_out=FILE --include_imports"
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--descriptor-set %s: %w", path, unwrapPath(err))
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("--descriptor-set %s: not a binary FileDescriptorSet (%v); %s", path, err, hint)
	}
	if len(set.GetFile()) == 0 {
		return nil, fmt.Errorf("--descriptor-set %s: holds no files; %s", path, hint)
	}
	for _, fd := range set.GetFile() {
		if fd.GetName() == "" {
			return nil, fmt.Errorf("--descriptor-set %s: a file without a name: it is probably not a FileDescriptorSet; %s", path, hint)
		}
	}
	b2 := link(set.GetFile())
	if len(b2.errs) > 0 {
		return nil, fmt.Errorf("--descriptor-set %s: %w", path, errors.Join(b2.errs...))
	}
	if len(b2.missing) > 0 {
		return nil, fmt.Errorf("--descriptor-set %s: imports %s, which the set does not hold; %s",
			path, quoteList(b2.missing), hint)
	}
	if len(b2.unlinked) > 0 {
		return nil, fmt.Errorf("--descriptor-set %s: %s import each other in a cycle", path, quoteList(b2.unlinked))
	}
	return b2.files, nil
}

// linked is a registry built from file descriptor protos, and what could
// not be built.
type linked struct {
	files *protoregistry.Files
	// unlinked are the files left out: an import of theirs is missing,
	// is itself left out, or they import each other in a cycle.
	unlinked []string
	// missing are the imports found nowhere.
	missing []string
	// errs are files that did not build, each naming the file.
	errs []error
}

// link builds what it can of fds, in dependency order, whatever order they
// come in. Well-known imports missing from fds come from the ones compiled
// into devproxy.
func link(fds []*descriptorpb.FileDescriptorProto) linked {
	out := linked{files: new(protoregistry.Files)}
	pending := map[string]*descriptorpb.FileDescriptorProto{}
	for _, fd := range fds {
		if _, dup := pending[fd.GetName()]; !dup {
			pending[fd.GetName()] = fd
		}
	}
	missing := map[string]bool{}
	have := func(dep string) bool {
		if _, err := out.files.FindFileByPath(dep); err == nil {
			return true
		}
		if _, ok := pending[dep]; ok {
			return false
		}
		if strings.HasPrefix(dep, wellKnownPrefix) {
			if f, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
				if register(out.files, f) == nil {
					return true
				}
			}
		}
		missing[dep] = true
		return false
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		for _, name := range sortedKeys(pending) {
			fd := pending[name]
			ready := true
			for _, dep := range fd.GetDependency() {
				ready = have(dep) && ready
			}
			if !ready {
				continue
			}
			delete(pending, name)
			progress = true
			f, err := protodesc.NewFile(fd, out.files)
			if err == nil {
				err = out.files.RegisterFile(f)
			}
			if err != nil {
				out.errs = append(out.errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	out.unlinked = sortedKeys(pending)
	out.missing = sortedKeys(missing)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quoteList writes names as "a", "b" and "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
