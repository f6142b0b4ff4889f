package export

// "Copy as grpcurl" (fullstorydev/grpcurl; shared/notes/grpc.md §5). grpcurl
// takes the request message as JSON and encodes it with a schema, so the
// caller decodes the captured messages first: a call whose schema is not
// known cannot become a grpcurl command.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// GrpcurlOptions are what Grpcurl needs besides the exchange: the request
// messages in JSON and the flags that give grpcurl the schema.
type GrpcurlOptions struct {
	// Messages are the request's messages as JSON (protojson with field
	// names), in the order they were sent. One makes -d '{…}'; several (a
	// client stream) are written one after another in the same -d, as
	// grpcurl reads a stream; none leaves -d out.
	Messages []string
	// Schema is where the method's schema came from: SchemaProto,
	// SchemaDescriptorSet or SchemaReflection (grpcurl then asks the
	// server too, through devproxy).
	Schema string
	// ImportPaths and Protos become -import-path and -proto when Schema is
	// SchemaProto; Protosets become -protoset when it is
	// SchemaDescriptorSet. Give absolute paths: the command may be run
	// from anywhere.
	ImportPaths, Protos, Protosets []string
	// Insecure adds -insecure (do not verify the server's certificate) to a
	// TLS address, and a comment line saying why: Why, if set.
	Insecure bool
	Why      string
	// Notes are comment lines written after the command, each starting
	// with "# " (Grpcurl adds it).
	Notes []string
}

// Where a schema came from, as GrpcurlOptions.Schema names it.
const (
	SchemaProto         = "proto"
	SchemaDescriptorSet = "descriptor-set"
	SchemaReflection    = "reflection"
)

// Grpcurl renders x's request, a gRPC call, as a grpcurl command line.
//
// The address is the host and port of Request.URL (what the client asked
// for, so the call goes through devproxy again), -plaintext for http://.
// The method is the path's "pkg.Service/Method". Custom metadata becomes
// -H; pseudo-headers, Host, TE, Content-Type, Content-Length, User-Agent,
// connection headers and the reserved grpc-* headers are grpcurl's own,
// except grpc-timeout, which becomes -max-time in seconds (to the
// millisecond). Arguments that
// need it are quoted as curl's are; lines are joined with " \" and a
// newline and comment lines follow the command.
func Grpcurl(x record.Exchange, o GrpcurlOptions) (string, error) {
	rq := &x.Request
	u, err := url.Parse(rq.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("grpcurl: the request URL %q has no host", rq.URL)
	}
	method, ok := grpcMethodName(u.Path)
	if !ok {
		return "", fmt.Errorf("grpcurl: the path %q is not a gRPC method (/package.Service/Method)", u.Path)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}

	lines := []string{"grpcurl"}
	var comments []string
	switch {
	case u.Scheme == "http":
		lines = append(lines, "  -plaintext")
	case o.Insecure:
		lines = append(lines, "  -insecure")
		c := "# -insecure: grpcurl does not verify the server's certificate"
		if o.Why != "" {
			c += ": " + o.Why
		}
		comments = append(comments, c+".")
	}
	switch o.Schema {
	case SchemaProto:
		for _, p := range o.ImportPaths {
			lines = append(lines, "  -import-path "+shellWord(p))
		}
		for _, p := range o.Protos {
			lines = append(lines, "  -proto "+shellWord(p))
		}
	case SchemaDescriptorSet:
		for _, p := range o.Protosets {
			lines = append(lines, "  -protoset "+shellWord(p))
		}
	}
	for _, h := range rq.Header {
		name := strings.ToLower(h.Name)
		switch {
		case name == "grpc-timeout":
			if d, ok := ParseGRPCTimeout(h.Value); ok {
				lines = append(lines, "  -max-time "+strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64))
			}
			continue
		case strings.HasPrefix(name, ":"), strings.HasPrefix(name, "grpc-"), grpcurlOwn[name]:
			continue
		}
		lines = append(lines, "  -H "+shellQuote(name+": "+h.Value))
	}
	if len(o.Messages) > 0 {
		var d []string
		for _, m := range o.Messages {
			var b bytes.Buffer
			if err := json.Compact(&b, []byte(m)); err != nil {
				return "", fmt.Errorf("grpcurl: request message %d is not JSON: %v", len(d)+1, err)
			}
			d = append(d, b.String())
		}
		lines = append(lines, "  -d "+shellQuote(strings.Join(d, "\n")))
	}
	lines = append(lines, "  "+shellWord(host), "  "+shellWord(method))
	if !rq.Body.Complete {
		comments = append(comments, "# Warning: the request did not complete: the command sends only the messages that were sent.")
	}
	for _, n := range o.Notes {
		comments = append(comments, "# "+n)
	}
	out := strings.Join(lines, " \\\n")
	if len(comments) > 0 {
		out += "\n" + strings.Join(comments, "\n")
	}
	return out, nil
}

// grpcurlOwn are the request headers grpcurl (or HTTP/2) sets itself.
var grpcurlOwn = map[string]bool{
	"host": true, "te": true, "content-type": true, "content-length": true, "user-agent": true,
	"connection": true, "keep-alive": true, "transfer-encoding": true, "upgrade": true,
	"proxy-connection": true, "trailer": true,
}

// grpcMethodName is "pkg.Service/Method" from the path "/pkg.Service/Method".
func grpcMethodName(path string) (string, bool) {
	svc, m, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || svc == "" || m == "" || strings.Contains(m, "/") {
		return "", false
	}
	return svc + "/" + m, true
}

// ParseGRPCTimeout reads a grpc-timeout header value: at most 8 digits
// and a unit, H, M, S, m (milliseconds), u (microseconds) or n
// (nanoseconds).
func ParseGRPCTimeout(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second,
		'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// shellWord leaves s bare when a shell reads it as one word unchanged
// (flags, host:port, file paths of ordinary characters), else quotes it.
func shellWord(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("_-./:@%+=,", r):
		default:
			return shellQuote(s)
		}
	}
	return s
}
