package proxy

// Live recording of gRPC messages: each direction of a gRPC, gRPC-Web or
// Connect streaming call is cut into its length-prefixed messages as its
// bytes pass, and each message is recorded when its last byte has passed,
// so a stream's messages show while it is open.

import (
	"net/http"
	"time"

	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/record"
)

// grpcCall is what the engine knows of a recorded gRPC call: the
// protocol of its request body and how much of each message to keep.
// It is nil for every other exchange.
type grpcCall struct {
	rec   record.Recording
	proto grpcwire.Protocol
	max   int
}

// grpcCallOf returns the call r starts, or nil when r is not one (or the
// exchange is not recorded). It is the only cost gRPC recording puts on
// other exchanges: one look at the request's Content-Type.
func grpcCallOf(r *http.Request, rec record.Recording, tap record.Tap) *grpcCall {
	p, ok := grpcwire.ProtocolOf(r.Header.Get("Content-Type"))
	if !ok || rec.ID() == 0 {
		return nil
	}
	return &grpcCall{rec: rec, proto: p, max: messageCap(tap)}
}

// request returns the splitter of the call's request body; nil for no
// call.
func (c *grpcCall) request() *grpcSplitter {
	if c == nil {
		return nil
	}
	return c.splitter(record.ToServer, c.proto)
}

// response returns the splitter of a response body of Content-Type ct: by
// its own protocol, or the request's when ct names none (a server that
// left the type out). nil for no call.
func (c *grpcCall) response(ct string) *grpcSplitter {
	if c == nil {
		return nil
	}
	p, ok := grpcwire.ProtocolOf(ct)
	if !ok {
		p = c.proto
	}
	return c.splitter(record.ToClient, p)
}

func (c *grpcCall) splitter(dir record.Direction, p grpcwire.Protocol) *grpcSplitter {
	return &grpcSplitter{rec: c.rec, dir: dir, sp: grpcwire.Splitter{Protocol: p, Max: c.max}}
}

// grpcSplitter records the messages of one direction of a call. Only that
// direction's copy uses it.
type grpcSplitter struct {
	rec     record.Recording
	dir     record.Direction
	sp      grpcwire.Splitter
	stopped bool
}

// write reads the next bytes of the body, which have just passed, and
// records the messages they complete. Bytes that stop making sense as
// messages get one mark, and the rest of the body is left alone.
func (g *grpcSplitter) write(p []byte) {
	if g.stopped {
		return
	}
	msgs, err := g.sp.Write(p)
	if len(msgs) > 0 {
		now := time.Now()
		for _, m := range msgs {
			g.rec.Message(record.Message{
				Time: now, Dir: g.dir, Opcode: m.Flags, Compressed: m.Compressed,
				Size: m.Size, Payload: m.Payload, Truncated: m.Truncated,
			})
		}
	}
	if err != nil {
		g.stopped = true
		from := "client"
		if g.dir == record.ToClient {
			from = "upstream"
		}
		g.rec.Mark(record.Mark{Stage: "grpc", Name: "grpc", Value: "messages from the " + from + " no longer recorded: " + err.Error()})
	}
}
