package tui

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/devproxy/devproxy/internal/export"
	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/protoschema"
	"github.com/devproxy/devproxy/internal/record"
)

// This file is what the actions do with a gRPC call: copy as grpcurl (c
// offers it beside curl), replay only a unary call, and edit the JSON form
// of its request message when a schema is known.

// reqMsg is one request message of a call.
type reqMsg struct {
	payload               []byte
	compressed, truncated bool
}

// requestMessages are x's request messages: as recorded as they passed,
// else split from the captured request body (read it first: withBodies).
func requestMessages(x *record.Exchange) ([]reqMsg, error) {
	var out []reqMsg
	if len(x.Messages) > 0 {
		for _, m := range x.Messages {
			if m.Dir == record.ToServer {
				out = append(out, reqMsg{payload: m.Payload, compressed: m.Compressed, truncated: m.Truncated})
			}
		}
		return out, nil
	}
	p, ok := grpcwire.ProtocolOf(x.Request.Header.Get("Content-Type"))
	if !ok {
		return nil, errors.New("its request is not a stream of gRPC messages")
	}
	msgs, err := splitBody(x.Request.Body, p)
	for _, m := range msgs {
		out = append(out, reqMsg{payload: m.Payload, compressed: m.Compressed, truncated: m.Truncated})
	}
	if err != nil {
		return out, fmt.Errorf("its request body: %w", err)
	}
	if x.Request.Body.Truncated {
		err = errors.New("its request body was captured in part")
	}
	return out, err
}

// GRPCCallKind says whether x, a gRPC call, streams, and which kind of
// call it is ("unary", "server streaming", "client streaming",
// "bidirectional streaming"): from its method's schema when s knows it
// (target is the run's target, see grpcUpstream), else from how many
// messages went each way (only their Dir and Opcode are read). It is ""
// for an exchange that is not a gRPC call.
func GRPCCallKind(x *record.Exchange, s *protoschema.Schemas, target string) (kind string, streaming bool) {
	if !isGRPC(x) {
		return "", false
	}
	if md, _, ok := s.Method(grpcUpstream(x, target), grpcPath(x)); ok && md != nil {
		switch cs, ss := md.IsStreamingClient(), md.IsStreamingServer(); {
		case cs && ss:
			return "bidirectional streaming", true
		case cs:
			return "client streaming", true
		case ss:
			return "server streaming", true
		}
		return "unary", false
	}
	var sent, received int
	for _, m := range x.Messages {
		if m.Opcode&0x80 != 0 {
			continue // a gRPC-Web trailer frame
		}
		if m.Dir == record.ToServer {
			sent++
		} else {
			received++
		}
	}
	if len(x.Messages) == 0 {
		// Recorded without messages (an older HAR file): count those
		// of the captured bodies, keeping no payload.
		p, _ := grpcwire.ProtocolOf(x.Request.Header.Get("Content-Type"))
		count := func(b record.Body) int {
			msgs, _ := (&grpcwire.Splitter{Protocol: p}).Write(b.Bytes)
			n := 0
			for _, m := range msgs {
				if !m.Trailer && !m.EndStream {
					n++
				}
			}
			return n
		}
		sent = count(x.Request.Body)
		if x.Response != nil {
			received = count(x.Response.Body)
		}
	}
	switch {
	case sent > 1 && received > 1:
		return "bidirectional streaming", true
	case sent > 1:
		return "client streaming", true
	case received > 1:
		return "server streaming", true
	}
	return "unary", false
}

// errStreaming says a streaming call was not replayed.
func errStreaming(x *record.Exchange, kind string) error {
	return fmt.Errorf("%s is a %s gRPC call; replay is for unary calls only", x.Label(), kind)
}

// replayCheck says why x, a gRPC call, is not replayed, or nil.
func (m *Model) replayCheck(x *record.Exchange) error {
	if !isGRPC(x) {
		return nil
	}
	if kind, streaming := GRPCCallKind(x, m.cfg.Schemas, m.cfg.Target); streaming {
		return errStreaming(x, kind)
	}
	return nil
}

// noSchema says why a call's messages cannot be written as JSON: no
// schema is known for its method, and what Schemas say of the upstream.
func noSchema(x *record.Exchange, s *protoschema.Schemas, target string) string {
	why := "no schema is known for " + strings.TrimPrefix(grpcPath(x), "/")
	if s != nil {
		if st := s.Status(grpcUpstream(x, target)); st != "" {
			why += " (" + st + ")"
		}
	}
	return why + "; give --proto or --descriptor-set"
}

// grpcJSON decodes x's request messages to JSON with its schema. It
// fails when the schema is not known or a message cannot be decoded
// whole. Call it off the event loop, with the bodies read.
func grpcJSON(x *record.Exchange, s *protoschema.Schemas, target string) (msgs []string, src protoschema.Source, unknown bool, err error) {
	upstream, path := grpcUpstream(x, target), grpcPath(x)
	if _, src, ok := s.Method(upstream, path); !ok || src == "" {
		return nil, "", false, errors.New(noSchema(x, s, target))
	}
	reqs, err := requestMessages(x)
	if err != nil {
		return nil, "", false, err
	}
	for i, r := range reqs {
		if r.truncated {
			return nil, "", false, fmt.Errorf("request message %d was captured in part", i+1)
		}
		d := s.Decode(upstream, path, false, r.payload, r.compressed, grpcEncoding(x, record.ToServer))
		if d.JSON == "" || d.Source == "" {
			why := "it does not match the schema"
			if d.Err != nil {
				why = d.Err.Error()
			}
			return nil, "", false, fmt.Errorf("request message %d: %s", i+1, why)
		}
		msgs = append(msgs, d.JSON)
		src = d.Source
		unknown = unknown || d.Unknown != ""
	}
	return msgs, src, unknown, nil
}

// copyGRPC offers the two ways to copy a gRPC call: grpcurl, when its
// schema is known (else the entry says why not), and curl.
func (m *Model) copyGRPC(x *record.Exchange) {
	grpcurl := menuEntry{key: m.keys.Dialog.Grpcurl, label: "grpcurl", desc: "the call, its request message as JSON", do: func() tea.Cmd { return m.grpcurl(x) }}
	if _, _, ok := m.cfg.Schemas.Method(grpcUpstream(x, m.cfg.Target), grpcPath(x)); !ok {
		grpcurl.off = "unavailable: grpcurl takes the request as JSON, and " + noSchema(x, m.cfg.Schemas, m.cfg.Target)
	}
	m.pushDialog(&menuDialog{ctx: &m.ctx, keys: &m.keys, title: "Copy " + x.Label() + " as", entries: []menuEntry{
		grpcurl,
		{key: m.keys.Dialog.Curl, label: "curl", desc: "the HTTP request (its binary body saved to a file)", do: func() tea.Cmd { return m.copyCurl(x) }},
	}})
}

// grpcurl renders x as a grpcurl command, off the event loop.
func (m *Model) grpcurl(x *record.Exchange) tea.Cmd {
	src, s, target, files, opts := m.src, m.cfg.Schemas, m.cfg.Target, m.cfg.SchemaFiles, m.curlOptions(x)
	return func() (msg tea.Msg) {
		defer func() {
			if r := recover(); r != nil {
				msg = curlMsg{id: x.ID, grpcurl: true, err: fmt.Errorf("%v", r)}
			}
		}()
		full, err := withBodies(src, x)
		if err != nil {
			return curlMsg{id: x.ID, grpcurl: true, err: err}
		}
		msgs, source, unknown, err := grpcJSON(full, s, target)
		if err != nil {
			return curlMsg{id: x.ID, grpcurl: true, err: err}
		}
		o := export.GrpcurlOptions{Messages: msgs, Schema: string(source), Insecure: opts.Insecure, Why: opts.Why}
		switch source {
		case "proto":
			md, _, _ := s.Method(grpcUpstream(full, target), grpcPath(full))
			o.ImportPaths, o.Protos = files.ImportPaths, []string{md.ParentFile().Path()}
		case "descriptor-set":
			o.Protosets = files.DescriptorSets
		}
		if unknown {
			o.Notes = append(o.Notes, "The request held fields its schema does not know; grpcurl cannot send them, so they are left out.")
		}
		text, err := export.Grpcurl(*full, o)
		return curlMsg{id: x.ID, grpcurl: true, text: text, err: err}
	}
}

// editGRPC writes the request of x, a unary gRPC call whose schema is
// known, as text to edit: the request head, then its message as JSON.
// Called off the event loop with the bodies read.
func editGRPC(x *record.Exchange, s *protoschema.Schemas, target string) ([]byte, error) {
	if kind, streaming := GRPCCallKind(x, s, target); streaming {
		return nil, errStreaming(x, kind)
	}
	msgs, _, _, err := grpcJSON(x, s, target)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("its request holds %d messages; a unary call sends one", len(msgs))
	}
	head := x.Request
	head.Body = record.Body{}
	text := export.FormatRaw(head)
	return append(text, []byte(strings.TrimRight(msgs[0], "\n")+"\n")...), nil
}

// encodeGRPCEdit turns edited text (request head, blank line, the
// message as JSON) back into raw request text whose body is the message
// encoded with its schema and framed; the sender fixes Content-Length.
func encodeGRPCEdit(text []byte, s *protoschema.Schemas, upstream string) ([]byte, error) {
	text = bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))
	head, body, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return nil, &export.RawError{Line: bytes.Count(text, []byte("\n")) + 1, Msg: "no blank line after the headers, so no message"}
	}
	req, err := export.ParseRaw(append(head, '\n', '\n'), "http://localhost")
	if err != nil {
		return nil, err
	}
	path := req.URL
	if i := strings.Index(path, "://"); i >= 0 {
		if j := strings.IndexByte(path[i+3:], '/'); j >= 0 {
			path = path[i+3+j:]
		}
	}
	path, _, _ = strings.Cut(path, "?")
	js := bytes.TrimLeft(body, " \t\n")
	wire, err := s.Encode(upstream, path, false, bytes.TrimSpace(js))
	if err != nil {
		// The line of the file: the message starts after the head and the
		// blank line; protojson names a line of the message.
		line := bytes.Count(head, []byte("\n")) + 3 + bytes.Count(body[:len(body)-len(js)], []byte("\n"))
		if m := jsonLine.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			line += max(n-1, 0)
		}
		return nil, &export.RawError{Line: line, Msg: "the message: " + err.Error()}
	}
	out := append(head, '\n', '\n')
	out = append(out, protoschema.Frame(wire)...)
	return append(out, '\n'), nil
}

// jsonLine finds the line protojson's errors name: "(line 7:12)".
var jsonLine = regexp.MustCompile(`\(line (\d+):\d+\)`)
