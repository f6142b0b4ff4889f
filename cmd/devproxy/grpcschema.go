package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/devproxy/devproxy/internal/protoschema"
	"github.com/devproxy/devproxy/internal/suggest"
	"github.com/devproxy/devproxy/internal/tui"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// addSchemaFlags adds the flags that give gRPC messages their schema:
// --proto and --descriptor-set, and --grpc-reflection where the role can
// reach its upstreams (not the relay, not a file).
func addSchemaFlags(fs *pflag.FlagSet, reflection bool) {
	fs.StringArray("proto", nil, "decode gRPC messages with the .proto `FILE|DIR` (a directory: every .proto below it), compiled at start (repeatable)")
	fs.StringArray("descriptor-set", nil, "decode gRPC messages with this FileDescriptorSet `FILE`, as protoc --descriptor_set_out --include_imports writes (repeatable)")
	if reflection {
		v := onOff(true)
		fs.Var(&v, "grpc-reflection", "ask each gRPC upstream's server reflection (v1, else v1alpha) for the schemas --proto and --descriptor-set lack, once per upstream: on or off")
	}
}

// onOff is a flag that is on or off (true/false, yes/no and 1/0 too,
// as a config file may write them).
type onOff bool

func (o *onOff) String() string {
	if *o {
		return "on"
	}
	return "off"
}

func (o *onOff) Type() string { return "on|off" }

func (o *onOff) Set(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "1":
		*o = true
	case "off", "false", "no", "0":
		*o = false
	default:
		msg := "must be on or off"
		w := strings.ToLower(strings.TrimSpace(v))
		best, ok := suggest.Nearest(w, []string{"on", "off"})
		if w != "" && strings.HasPrefix("off", w) {
			best, ok = "off", true // "of": both are one letter away
		}
		if ok {
			msg += fmt.Sprintf("; did you mean %s?", best)
		}
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// grpcSchemas is a role's gRPC schemas, and what its UI needs of them.
type grpcSchemas struct {
	schemas *protoschema.Schemas // nil: none (decoded without a schema)
	files   tui.SchemaFiles
	changed chan struct{} // a reflection query ended
}

// schemasFrom loads the --proto and --descriptor-set files of cmd and,
// with --grpc-reflection on, asks upstreams' reflection through
// transport, which must speak HTTP/2 to them (devproxy's upstream
// transport does: see protoschema.Options.Transport). A file that does
// not load fails the start, with the file and line.
func schemasFrom(cmd *cobra.Command, transport http.RoundTripper) (grpcSchemas, error) {
	fs := cmd.Flags()
	var g grpcSchemas
	var o protoschema.Options
	o.Proto, _ = fs.GetStringArray("proto")
	o.DescriptorSets, _ = fs.GetStringArray("descriptor-set")
	if f := fs.Lookup("grpc-reflection"); f != nil {
		o.Reflection = bool(*f.Value.(*onOff))
	}
	if len(o.Proto) == 0 && len(o.DescriptorSets) == 0 && !o.Reflection {
		return g, nil
	}
	if o.Reflection {
		o.Transport = transport
		g.changed = make(chan struct{}, 1)
		o.OnChange = func() {
			select {
			case g.changed <- struct{}{}:
			default: // one redraw is pending already
			}
		}
	}
	s, err := protoschema.New(o)
	if err != nil {
		return g, err
	}
	g.schemas = s
	g.files = schemaFiles(o)
	return g, nil
}

// schemaFiles are the files o loads, absolute, as copy as grpcurl passes
// them: the import paths in the order protoschema searches them (each
// --proto directory, then each --proto file's directory), and the
// descriptor sets.
func schemaFiles(o protoschema.Options) tui.SchemaFiles {
	var f tui.SchemaFiles
	var fileDirs []string
	seen := map[string]bool{}
	add := func(list *[]string, p string) {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if !seen[p] {
			seen[p] = true
			*list = append(*list, p)
		}
	}
	for _, p := range o.Proto {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			add(&f.ImportPaths, p)
		} else {
			fileDirs = append(fileDirs, filepath.Dir(p))
		}
	}
	for _, p := range append(o.ImportPaths, fileDirs...) {
		add(&f.ImportPaths, p)
	}
	for _, p := range o.DescriptorSets {
		add(&f.DescriptorSets, p)
	}
	return f
}

// useSchemas gives the run its gRPC schemas (load them with schemasFrom
// before the run opens its session, so that a file that does not load
// stops the start first), which its UI and HAR files decode messages
// with, and closes them when the run ends.
func (s *roleRun) useSchemas(g grpcSchemas) {
	s.grpc = g
	if g.schemas != nil {
		s.closers = append(s.closers, g.schemas.Close)
	}
}
