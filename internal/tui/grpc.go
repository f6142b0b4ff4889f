package tui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devproxy/devproxy/internal/grpcwire"
	"github.com/devproxy/devproxy/internal/protoschema"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/units"
)

// isGRPC reports whether x is a gRPC (or gRPC-Web) call: its request's or
// its response's Content-Type is application/grpc….
func isGRPC(x *record.Exchange) bool {
	if isGRPCType(x.Request.Header.Get("Content-Type")) {
		return true
	}
	return x.Response != nil && isGRPCType(x.Response.Header.Get("Content-Type"))
}

func isGRPCType(ct string) bool {
	return len(ct) >= len("application/grpc") && strings.EqualFold(ct[:len("application/grpc")], "application/grpc")
}

// grpcPath is the path of x's request, "/pkg.Service/Method" for a gRPC
// call.
func grpcPath(x *record.Exchange) string {
	path := x.Request.URL
	if u, err := url.Parse(path); err == nil {
		path = u.Path
	}
	return path
}

// grpcMethod is the short name of x's call, "Service/Method" from the
// path "/pkg.Service/Method", or "" when the path is not of that form.
func grpcMethod(x *record.Exchange) string {
	svc, method, ok := grpcwire.SplitMethod(grpcPath(x))
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(svc, '.'); i >= 0 {
		svc = svc[i+1:]
	}
	return sanitizeLine(svc + "/" + method)
}

// grpcStatusOf is x's gRPC status: from its grpc-status trailer, or the
// headers of a trailers-only response, or a gRPC-Web trailer frame among
// its recorded messages.
func grpcStatusOf(x *record.Exchange) (code int, msg string, ok bool) {
	if x.Response == nil {
		return 0, "", false
	}
	r := x.Response
	if r.Trailer.Get("Grpc-Status") != "" || r.Header.Get("Grpc-Status") != "" {
		return grpcwire.StatusOf(r.Header.Header(), r.Trailer.Header())
	}
	if tr := webTrailers(x); tr != nil {
		return grpcwire.StatusOf(nil, tr)
	}
	return 0, "", false
}

// webTrailers are the fields of the gRPC-Web trailer frame that ended
// x's response, or nil. The frame is always the last message (gRPC-Web
// has no bidirectional calls), so only that one is read: the list asks
// for every row it draws.
func webTrailers(x *record.Exchange) http.Header {
	if len(x.Messages) == 0 {
		return nil
	}
	m := &x.Messages[len(x.Messages)-1]
	if m.Dir != record.ToClient || m.Opcode&0x80 == 0 {
		return nil
	}
	return grpcwire.Message{Trailer: true, Compressed: m.Compressed, Payload: m.Payload}.Trailers()
}

// grpcStatus is the name of x's gRPC status ("OK", "NOT_FOUND"; an
// unknown code as its number), or "" when it has none.
func grpcStatus(x *record.Exchange) string {
	code, _, ok := grpcStatusOf(x)
	if !ok {
		return ""
	}
	return grpcwire.StatusName(code)
}

// grpcUpstream is the upstream a gRPC call went to, as Schemas key their
// reflection cache: the scheme and host of the URL devproxy sent it to,
// else of the run's target (the relay, view).
func grpcUpstream(x *record.Exchange, target string) string {
	for _, raw := range []string{x.Request.UpstreamURL, target} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			return u.Scheme + "://" + u.Host
		}
	}
	return ""
}

// grpcEncoding is the coding of x's compressed messages in direction dir:
// its grpc-encoding header (Connect: connect-content-encoding).
func grpcEncoding(x *record.Exchange, dir record.Direction) string {
	h := x.Request.Header
	if dir == record.ToClient {
		if x.Response == nil {
			return ""
		}
		h = x.Response.Header
	}
	if e := h.Get("Grpc-Encoding"); e != "" {
		return e
	}
	return h.Get("Connect-Content-Encoding")
}

// grpcPayloadRows caps the decoded rows of one gRPC message.
const grpcPayloadRows = 200

// grpcEnv is what decoding a call's messages needs: the schemas (nil:
// none), the run's target, the cache of decoded messages and the schema
// generation (a reflection load bumps it).
type grpcEnv struct {
	schemas *protoschema.Schemas
	target  string
	cache   *grpcCache
	gen     int
}

// grpcCall is a gRPC call's messages decoded: the slow part of its
// Messages tab, done off the event loop (prepare) so that laying it out
// again at another width is cheap.
type grpcCall struct {
	msgs           []grpcMsg
	sent, received int
	dropped        int // messages the recorder did not keep
	// split says the messages were cut from the captured bodies (an
	// exchange recorded without them, such as one read from an old HAR
	// file); reqErr and respErr are what stopped the splitting.
	split           bool
	reqErr, respErr error
	// lay keeps the messages laid out (recorded messages only; nil when
	// none is kept).
	lay *grpcLayouts
	// details are the status's details (grpc-status-details-bin), each
	// decoded like a message; detailsErr says why they could not be read.
	details    []grpcDetail
	detailsErr string
	// schema says how the messages were decoded, for the tab's head.
	schema string
}

// grpcMsg is one message with its payload decoded.
type grpcMsg struct {
	dir        record.Direction
	n          int           // its number in its direction, from 1
	at         time.Duration // after the exchange began; < 0 unknown
	kind       string        // "send", "receive", "trailers", "end"
	size       int64
	captured   int
	truncated  bool
	compressed bool
	dec        grpcDecoded
}

// grpcDecoded is a message's payload as the tab shows it.
type grpcDecoded struct {
	json    string // with a schema
	unknown string // fields the schema does not know
	raw     string // without one (protoc --decode_raw)
	text    string // a trailer frame or end-of-stream message
	source  protoschema.Source
	err     string // why the schema did not decode it
	note    string // e.g. compressed and not decoded
}

// grpcCacheKey names one exchange's decoded messages under one schema
// generation.
type grpcCacheKey struct {
	id  uint64
	gen int
}

// grpcCache keeps the decoded messages of the last few exchanges shown,
// so that a stream's tab, drawn again at each new message, decodes only
// the new ones. Recorded messages are append-only, so a decoded prefix
// stays valid. It is safe for concurrent use (renders run side by side).
type grpcCache struct {
	mu    sync.Mutex
	m     map[grpcCacheKey][]grpcDecoded
	lay   map[grpcCacheKey]*grpcLayouts
	order []grpcCacheKey
}

// grpcLayouts keeps one exchange's messages laid out, at one width and
// indent in one set of styles, so that a long stream's tab, laid out
// again at each new message, lays out only the new ones. A message's
// lines never change once it is recorded and decoded.
type grpcLayouts struct {
	mu   sync.Mutex
	key  grpcLayoutKey
	msgs []grpcLaidOut
}

type grpcLayoutKey struct {
	width, ind int
	st         *styles
}

// grpcLaidOut is one message's lines, as builder.add appended them.
type grpcLaidOut struct {
	lines, plain []string
	label        []bool
}

// grpcCached is how many exchanges' messages the cache keeps.
const grpcCached = 4

func newGRPCCache() *grpcCache {
	return &grpcCache{m: map[grpcCacheKey][]grpcDecoded{}, lay: map[grpcCacheKey]*grpcLayouts{}}
}

// layouts returns the laid-out messages kept for k, made when k's decoded
// messages are kept; nil otherwise.
func (c *grpcCache) layouts(k grpcCacheKey) *grpcLayouts {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		return nil
	}
	l := c.lay[k]
	if l == nil {
		l = &grpcLayouts{}
		c.lay[k] = l
	}
	return l
}

func (c *grpcCache) get(k grpcCacheKey) []grpcDecoded {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.m[k]
	return d[:len(d):len(d)]
}

// put keeps ds for k unless a longer prefix is kept already.
func (c *grpcCache) put(k grpcCacheKey, ds []grpcDecoded) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		if len(ds) > len(old) {
			c.m[k] = ds
		}
		return
	}
	c.m[k] = ds
	c.order = append(c.order, k)
	for len(c.order) > grpcCached {
		delete(c.m, c.order[0])
		delete(c.lay, c.order[0])
		c.order = c.order[1:]
	}
}

// decodeCall decodes x's gRPC messages: those recorded as they passed,
// else (an exchange without them) its captured bodies split.
func decodeCall(x *record.Exchange, env grpcEnv) *grpcCall {
	path := grpcPath(x)
	upstream := grpcUpstream(x, env.target)
	reqType := x.Request.Header.Get("Content-Type")
	var respType string
	if x.Response != nil {
		respType = x.Response.Header.Get("Content-Type")
	}
	proto, ok := grpcwire.ProtocolOf(reqType)
	if !ok {
		proto, _ = grpcwire.ProtocolOf(respType)
	}
	dec := func(dir record.Direction, flags byte, compressed, truncated bool, payload []byte) grpcDecoded {
		var d grpcDecoded
		switch {
		case proto != grpcwire.Connect && flags&0x80 != 0, proto == grpcwire.Connect && flags&0x02 != 0:
			if compressed {
				d.note = "compressed; not decoded"
				break
			}
			d.text = strings.TrimRight(strings.ReplaceAll(string(payload), "\r\n", "\n"), "\n")
		case truncated && compressed:
			d.note = "compressed and captured in part (--max-body-capture); not decoded"
		case truncated:
			// A part of a message does not parse with its schema: show what
			// the part holds, and say why, rather than a schema mismatch.
			raw, _ := grpcwire.DecodeRaw(payload)
			d.raw = strings.TrimRight(raw, "\n")
			d.err = "captured in part (--max-body-capture), so it is shown as protoc --decode_raw reads that part"
		default:
			r := env.schemas.Decode(upstream, path, dir == record.ToClient, payload, compressed, grpcEncoding(x, dir))
			d.json, d.unknown, d.raw, d.source = strings.TrimRight(r.JSON, "\n"), strings.TrimRight(r.Unknown, "\n"), strings.TrimRight(r.Raw, "\n"), r.Source
			if r.Err != nil {
				d.err = r.Err.Error()
			}
		}
		return d
	}

	c := &grpcCall{}
	if len(x.Messages) > 0 {
		key := grpcCacheKey{id: x.ID, gen: env.gen}
		done := env.cache.get(key)
		decoded := make([]grpcDecoded, len(x.Messages))
		copy(decoded, done)
		for i := len(done); i < len(x.Messages); i++ {
			m := &x.Messages[i]
			decoded[i] = dec(m.Dir, m.Opcode, m.Compressed, m.Truncated, m.Payload)
		}
		// A message still being captured may grow no more; all are final.
		env.cache.put(key, decoded)
		c.lay = env.cache.layouts(key)
		for i := range x.Messages {
			m := &x.Messages[i]
			at := time.Duration(-1)
			if !x.Start.IsZero() && !m.Time.IsZero() {
				at = m.Time.Sub(x.Start)
			}
			c.add(grpcMsg{dir: m.Dir, at: at, kind: msgKind(proto, m.Dir, m.Opcode), size: m.Size,
				captured: len(m.Payload), truncated: m.Truncated, compressed: m.Compressed, dec: decoded[i]})
		}
		c.dropped = x.MessagesDropped
	} else {
		c.split = true
		var reqMsgs, respMsgs []grpcwire.Message
		reqMsgs, c.reqErr = splitBody(x.Request.Body, proto)
		if x.Response != nil {
			respMsgs, c.respErr = splitBody(x.Response.Body, proto)
		}
		for dir, msgs := range [][]grpcwire.Message{reqMsgs, respMsgs} {
			d := record.Direction(dir)
			for _, m := range msgs {
				c.add(grpcMsg{dir: d, at: -1, kind: msgKind(proto, d, m.Flags), size: m.Size, captured: len(m.Payload),
					truncated: m.Truncated, compressed: m.Compressed, dec: dec(d, m.Flags, m.Compressed, m.Truncated, m.Payload)})
			}
		}
	}
	c.schema = schemaLine(c, env.schemas, upstream, path)
	if v := statusDetailsOf(x); v != "" {
		d, err := env.schemas.DecodeDetails(upstream, path, v)
		if err != nil {
			c.detailsErr = err.Error()
		}
		for _, dt := range d.Details {
			r := dt.Decoded
			gd := grpcDecoded{json: strings.TrimRight(r.JSON, "\n"), unknown: strings.TrimRight(r.Unknown, "\n"), raw: strings.TrimRight(r.Raw, "\n"), source: r.Source}
			if r.Err != nil {
				gd.err = r.Err.Error()
			}
			c.details = append(c.details, grpcDetail{typ: dt.Type, dec: gd})
		}
	}
	return c
}

// grpcDetail is one detail of a call's status.
type grpcDetail struct {
	typ string // its type URL
	dec grpcDecoded
}

// statusDetailsOf is x's grpc-status-details-bin: from its trailers, or
// the headers of a trailers-only response.
func statusDetailsOf(x *record.Exchange) string {
	if x.Response == nil {
		return ""
	}
	if v := x.Response.Trailer.Get("Grpc-Status-Details-Bin"); v != "" {
		return v
	}
	return x.Response.Header.Get("Grpc-Status-Details-Bin")
}

// add appends m, numbering it in its direction.
func (c *grpcCall) add(m grpcMsg) {
	if m.dir == record.ToClient {
		c.received++
		m.n = c.received
	} else {
		c.sent++
		m.n = c.sent
	}
	c.msgs = append(c.msgs, m)
}

// msgKind names a message by its envelope flags: a gRPC-Web trailer
// frame, a Connect end-of-stream message, or a message sent or received.
func msgKind(p grpcwire.Protocol, dir record.Direction, flags byte) string {
	switch {
	case p != grpcwire.Connect && flags&0x80 != 0:
		return "trailers"
	case p == grpcwire.Connect && flags&0x02 != 0:
		return "end"
	}
	return dir.String()
}

// schemaLine says how a call's messages were decoded: with the schema
// from where, or without one and why.
func schemaLine(c *grpcCall, s *protoschema.Schemas, upstream, path string) string {
	method := strings.TrimPrefix(path, "/")
	for _, m := range c.msgs {
		if m.dec.source != "" {
			return fmt.Sprintf("Schema of %s from %s.", method, schemaSource(m.dec.source))
		}
	}
	if _, src, ok := s.Method(upstream, path); ok {
		// Known, though no message decoded with it (each was captured in
		// part, say).
		return fmt.Sprintf("Schema of %s from %s.", method, schemaSource(src))
	}
	why := "No schema for " + method
	if s != nil {
		if st := s.Status(upstream); st != "" {
			why += " (" + st + ")"
		}
	}
	return why + ": shown as protoc --decode_raw would; give --proto or --descriptor-set."
}

// schemaSource says where a schema came from, in words.
func schemaSource(s protoschema.Source) string {
	switch s {
	case "proto":
		return "--proto"
	case "descriptor-set":
		return "--descriptor-set"
	case "reflection":
		return "the server's reflection"
	}
	return string(s)
}

// splitBody cuts a captured body into messages by protocol p.
func splitBody(body record.Body, p grpcwire.Protocol) ([]grpcwire.Message, error) {
	sp := &grpcwire.Splitter{Protocol: p, Max: len(body.Bytes)}
	msgs, err := sp.Write(body.Bytes)
	if err == nil {
		err = sp.End()
	}
	if errors.Is(err, grpcwire.ErrIncomplete) && (body.Truncated || !body.Complete) {
		err = nil // the capture stopped (said above the messages) or the call goes on
	}
	return msgs, err
}

// grpcMessages lists a gRPC call's messages: a line with the direction,
// number, time, size and flags of each, then its payload decoded.
func (b *builder) grpcMessages(x *record.Exchange, c *grpcCall) {
	st := b.st
	title := fmt.Sprintf("Messages (%d sent, %d received)", c.sent, c.received)
	if c.dropped > 0 {
		title += fmt.Sprintf(" · %d more not kept", c.dropped)
	}
	b.section(title)
	b.labels = true
	pre, suf := affixes(st.muted)
	for _, l := range wrapWords(sanitizeLine(c.schema), b.w(), 2) {
		b.add(pre+l+suf, l)
	}
	b.labels = false
	b.blank()
	if c.split {
		if x.Request.Body.Truncated {
			b.truncatedNote("request", &x.Request.Body)
		}
		if x.Response != nil && x.Response.Body.Truncated {
			b.truncatedNote("response", &x.Response.Body)
		}
	}
	if len(c.msgs) == 0 && x.Response == nil {
		b.label2("No messages yet.", st.muted)
	}
	for i := range c.msgs {
		if i > 0 && c.msgs[i].dir != c.msgs[i-1].dir {
			b.blank()
		}
		b.grpcMsgKept(c, i)
	}
	if c.sent == 0 && x.Response != nil {
		b.label2("→ No messages sent.", st.muted)
	}
	if c.received == 0 && x.Response != nil {
		b.label2("← No messages received.", st.muted)
	}
	if c.reqErr != nil {
		b.text("⚠ The request body: "+c.reqErr.Error(), st.warnNote, 2)
	}
	if c.respErr != nil {
		b.text("⚠ The response body: "+c.respErr.Error(), st.warnNote, 2)
	}
	if len(c.msgs) > 0 {
		b.blank()
	}
	switch code, msg, ok := grpcStatusOf(x); {
	case x.Response == nil:
		b.label2("No response yet.", st.muted)
	case ok:
		line := "gRPC status " + grpcwire.StatusName(code)
		if msg != "" {
			line += ": " + sanitizeLine(msg)
		}
		style := st.ok
		if code != 0 {
			style = st.warnNote
		}
		b.text(line, style, 2)
		if c.detailsErr != "" {
			b.text("⚠ "+c.detailsErr, st.warnNote, 2)
		}
		for i := range c.details {
			d := &c.details[i]
			b.label2("  detail "+sanitizeLine(d.typ), st.muted)
			b.decoded(&d.dec, 0, 4)
		}
	}
	if x.State == record.InFlight {
		b.label2("… the call is open; its messages show as they pass.", st.inflight)
	}
}

// offset is a message's time after the exchange began: milliseconds
// with one decimal under a second, else seconds with three.
func offset(d time.Duration) string {
	if d < time.Second {
		return ms(d)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s"
}

// truncatedNote says a body was captured in part, so later messages are
// missing.
func (b *builder) truncatedNote(side string, body *record.Body) {
	b.text(fmt.Sprintf("⚠ The %s body was captured in part (%s of %s): later messages are missing.",
		side, units.Size(int64(len(body.Bytes))), units.Size(body.Size)), b.st.warnNote, 2)
}

// grpcMsg shows one message: its head line, then its payload decoded.
// grpcMsgKept lays out message i of c as grpcMsg does, from c's kept
// layouts when they hold it at this width, indent and styles.
func (b *builder) grpcMsgKept(c *grpcCall, i int) {
	l := c.lay
	if l == nil {
		b.grpcMsg(&c.msgs[i])
		return
	}
	k := grpcLayoutKey{width: b.width, ind: b.ind, st: b.st}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.key != k {
		l.key, l.msgs = k, nil
	}
	if i < len(l.msgs) {
		m := &l.msgs[i]
		b.lines = append(b.lines, m.lines...)
		b.plain = append(b.plain, m.plain...)
		b.label = append(b.label, m.label...)
		return
	}
	start := len(b.lines)
	b.grpcMsg(&c.msgs[i])
	if i == len(l.msgs) {
		l.msgs = append(l.msgs, grpcLaidOut{
			lines: slices.Clone(b.lines[start:]),
			plain: slices.Clone(b.plain[start:]),
			label: slices.Clone(b.label[start:]),
		})
	}
}

func (b *builder) grpcMsg(m *grpcMsg) {
	st := b.st
	arrow, style := "→", st.methodStyle("POST")
	if m.dir == record.ToClient {
		arrow, style = "←", st.accent
	}
	head := fmt.Sprintf("%s %-8s #%d", arrow, m.kind, m.n)
	if m.at >= 0 {
		head += "  +" + offset(m.at)
	}
	head += "  " + units.Size(m.size)
	if m.compressed {
		head += " · compressed"
	}
	if m.truncated {
		head += fmt.Sprintf(" · %s captured", units.Size(int64(m.captured)))
	}
	b.labels = true
	pre, suf := affixes(style.Bold(true))
	for j, l := range wrapPlain(sanitizeLine(head), b.w(), 2) {
		if j == 0 {
			b.add(pre+arrow+suf+l[len(arrow):], l)
		} else {
			b.add(l, l)
		}
	}
	b.labels = false
	b.decoded(&m.dec, m.size, 2)
}

// decoded shows one decoded message (of size bytes) indented by indent.
func (b *builder) decoded(d *grpcDecoded, size int64, indent int) {
	st := b.st
	pad := strings.Repeat(" ", indent)
	switch {
	case d.note != "":
		b.label2(pad+d.note, st.muted)
	case d.text != "":
		b.payload(d.text, indent)
	case d.json != "":
		b.payload(d.json, indent)
		if d.unknown != "" {
			b.label2(pad+"fields the schema does not know:", st.muted)
			b.payload(d.unknown, indent+2)
		}
	case d.raw != "":
		if d.err != "" {
			b.text("⚠ "+d.err, st.warnNote, indent)
		}
		b.payload(d.raw, indent)
	case size == 0:
		b.label2(pad+"(empty message)", st.muted)
	default:
		if d.err != "" {
			b.text("⚠ "+d.err, st.warnNote, indent)
		}
	}
}

// payload shows decoded text indented, at most grpcPayloadRows rows of
// it.
func (b *builder) payload(text string, indent int) {
	pad := strings.Repeat(" ", indent)
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		lines = append(lines, wrapPlain(sanitizeLine(l), b.w()-indent, 0)...)
		if len(lines) > grpcPayloadRows {
			break
		}
	}
	for i, l := range lines {
		if i == grpcPayloadRows {
			b.label2(pad+"… (more not shown)", b.st.muted)
			break
		}
		b.add(pad+l, pad+l)
	}
}

// MessageDecoder renders a recorded gRPC message of an exchange as JSON
// with s, for HAR export (har.Options.DecodeMessage): ok is false when no
// schema is known for the call, or for a gRPC-Web trailer frame or a
// Connect end-of-stream message. target is the run's target, the
// upstream of exchanges that do not name theirs (see grpcUpstream). A nil
// s gives a nil decoder.
func MessageDecoder(s *protoschema.Schemas, target string) func(*record.Exchange, record.Message) (string, bool) {
	if s == nil {
		return nil
	}
	return func(x *record.Exchange, m record.Message) (string, bool) {
		p, _ := grpcwire.ProtocolOf(x.Request.Header.Get("Content-Type"))
		if k := msgKind(p, m.Dir, m.Opcode); k == "trailers" || k == "end" {
			return "", false
		}
		d := s.Decode(grpcUpstream(x, target), grpcPath(x), m.Dir == record.ToClient, m.Payload, m.Compressed, grpcEncoding(x, m.Dir))
		return d.JSON, d.JSON != "" && d.Source != ""
	}
}
