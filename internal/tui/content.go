package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/clipperhouse/displaywidth"
	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/bodyview"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/units"
)

// tab is a detail view tab.
type tab int

const (
	tabRequest tab = iota
	tabResponse
	tabTiming
	tabMessages
	numTabs
)

var tabNames = [numTabs]string{"Request", "Response", "Timing", "Messages"}

// content is a detail tab laid out for one exchange version, view mode and
// width: the head (the lines above the body: request line, headers,
// section titles, notes), styled to draw and plain to search, then the
// body, whose rows are made as they are shown.
type content struct {
	lines []string
	plain []string
	label []bool // head lines the UI wrote (titles, notes): search skips them
	body  *bodyContent
	prep  *prepared // what it was built from, to lay out again at another width
}

// bodyContent is the body part of a tab: the body in its view mode and its
// rows at the tab's width. The layout is used on the event loop only; its
// index is built off it (indexCmd) and handed in.
type bodyContent struct {
	view     bodyview.View
	modes    []bodyview.Mode
	layout   *bodyview.Layout
	ix       *bodyview.Index
	indexing bool
	indent   int // cells before each row
}

// rows returns the body's rows known so far and whether that is all.
func (c *content) rows() (int, bool) {
	n := len(c.lines)
	if c.body == nil {
		return n, true
	}
	k, exact := c.body.layout.Count()
	return n + k, exact
}

// contentKey identifies a rendering; the cache and the pending work are keyed
// by it.
type contentKey struct {
	id, version uint64
	tab         tab
	mode        bodyview.Mode
	width       int
	gen         int
	// schema is the schema generation, for a gRPC call's Messages tab:
	// a reflection load draws it again.
	schema int
}

// syncIndexMax is the body size up to which a layout is indexed at once,
// on the event loop (a few milliseconds at most); bigger bodies are
// indexed by indexCmd.
const syncIndexMax = 256 << 10

// prepared is an exchange read for one tab: its bodies read through the
// Source and the tab's body decoded. It is made off the event loop
// (prepare); laying it out at a width is cheap.
type prepared struct {
	x    *record.Exchange
	body decodedBody
	grpc *grpcCall // a gRPC call's messages, for the Messages tab
}

// decodedBody is a body with its Content-Encoding undone.
type decodedBody struct {
	data []byte // what is shown: decoded, or as captured
	wire []byte // as captured, when a coding was undone
	warn string // a decoding problem
	note string // how it was decoded
}

// prepare reads x's bodies through src and decodes the body tab t shows
// (or, for a gRPC call's Messages tab, its messages with env). It may be
// slow (a big compressed body): call it off the event loop.
func prepare(src Source, x *record.Exchange, t tab, env grpcEnv) *prepared {
	p := &prepared{x: x}
	grpcTab := t == tabMessages && isGRPC(x)
	if grpcTab && len(x.Messages) > 0 {
		p.grpc = decodeCall(x, env)
		return p
	}
	if t != tabRequest && t != tabResponse && !grpcTab {
		return p
	}
	// A body that cannot be read shows as not captured.
	x, _ = withBodies(src, x)
	p.x = x
	if grpcTab {
		p.grpc = decodeCall(x, env)
		return p
	}
	if t == tabRequest {
		p.body = decodeBody(x.Request.Body, x.Request.Header, func() ([]byte, string, error) { return body.Request(x) })
	} else if x.Response != nil {
		p.body = decodeBody(x.Response.Body, x.Response.Header, func() ([]byte, string, error) { return body.Response(x) })
	}
	return p
}

// decodeBody undoes b's Content-Encoding, if it has one.
func decodeBody(b record.Body, h record.Fields, decode func() ([]byte, string, error)) decodedBody {
	out := decodedBody{data: b.Bytes}
	enc := strings.TrimSpace(h.Get("Content-Encoding"))
	if len(b.Bytes) == 0 || enc == "" || strings.EqualFold(enc, "identity") {
		return out
	}
	dec, note, err := safeDecode(decode)
	switch {
	case err != nil && len(dec) == 0:
		out.warn = fmt.Sprintf("⚠ cannot decode %s: %v; showing the bytes as captured.", enc, err)
	case err != nil:
		out.warn = fmt.Sprintf("⚠ decoded from %s in part: %v", enc, err)
		out.data, out.wire = dec, b.Bytes
	default:
		out.data, out.wire = dec, b.Bytes
		if note == "" {
			note = "decoded from " + enc
		}
		out.note = note
	}
	return out
}

// buildContent lays out tab k.tab of p at k.width in mode k.mode. Its
// cost is the head's (headers, messages), not the body's.
func buildContent(p *prepared, k contentKey, st *styles) *content {
	b := &builder{width: max(k.width, 10), st: st, mode: k.mode, dec: p.body}
	x := p.x
	switch k.tab {
	case tabRequest:
		b.request(x)
	case tabResponse:
		b.response(x)
	case tabTiming:
		b.timing(x)
	case tabMessages:
		if p.grpc != nil {
			b.grpcMessages(x, p.grpc)
		} else {
			b.messages(x)
		}
	}
	c := &content{lines: b.lines, plain: b.plain, label: b.label, body: b.bodyPart, prep: p}
	if c.body != nil && len(c.body.view.Data) <= syncIndexMax {
		if ix, err := c.body.layout.Index(context.Background()); err == nil {
			c.body.layout.SetIndex(ix)
			c.body.ix = ix
		}
	}
	return c
}

// builder accumulates content lines, keeping styled and plain in step.
type builder struct {
	width        int // the whole line
	ind          int // indent of the current section's lines
	st           *styles
	lines, plain []string
	label        []bool
	labels       bool // lines added now are labels
	// mode and dec are the body's view mode and bytes; bodyPart is the
	// body laid out.
	mode     bodyview.Mode
	dec      decodedBody
	bodyPart *bodyContent
}

// w is the width left for text after the indent.
func (b *builder) w() int { return max(b.width-b.ind, 10) }

// add appends one line that already fits the width, indented.
func (b *builder) add(styled, plain string) {
	if b.ind > 0 && plain != "" {
		pad := strings.Repeat(" ", b.ind)
		styled, plain = pad+styled, pad+plain
	}
	b.lines = append(b.lines, styled)
	b.plain = append(b.plain, plain)
	b.label = append(b.label, b.labels)
}

func (b *builder) blank() { b.add("", "") }

// text appends prose in one style, word-wrapped to the width, continuation
// lines indented by indent cells.
func (b *builder) text(s string, style lipgloss.Style, indent int) {
	pre, suf := affixes(style)
	for _, l := range wrapProse(sanitizeLine(s), b.w(), indent) {
		b.add(pre+l+suf, l)
	}
}

// wrapProse word-wraps s (breaking words only when they are longer than a
// line), indenting continuation lines.
func wrapProse(s string, width, indent int) []string {
	if ansi.StringWidth(s) <= width {
		return []string{s}
	}
	if indent >= width/2 {
		indent = 0
	}
	lines := strings.Split(ansi.Wrap(s, width-indent, ""), "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = strings.Repeat(" ", indent) + strings.TrimLeft(lines[i], " ")
	}
	return lines
}

// styledLine appends a line built from styled pieces; if it is too wide it
// is wrapped, styled and plain alike.
func (b *builder) styledLine(styled, plain string) {
	if ansi.StringWidth(plain) <= b.w() {
		b.add(styled, plain)
		return
	}
	ss := strings.Split(ansi.Hardwrap(styled, b.w(), true), "\n")
	ps := strings.Split(ansi.Hardwrap(plain, b.w(), true), "\n")
	for i := range ps {
		s := ps[i]
		if i < len(ss) && ansi.Strip(ss[i]) == ps[i] {
			s = ss[i]
		}
		b.add(s, ps[i])
	}
}

// section starts a titled section; its lines are indented.
func (b *builder) section(title string) {
	b.ind = 0
	b.labels = true
	for _, l := range wrapPlain(title, b.width, 2) {
		b.add(b.st.section.Render(l), l)
	}
	b.labels = false
	b.ind = 2
}

// note adds the UI's own words: search skips them.
func (b *builder) note(s string) { b.label2(s, b.st.note) }

// label2 adds prose in style as a label.
func (b *builder) label2(s string, style lipgloss.Style) {
	b.labels = true
	b.text(s, style, 2)
	b.labels = false
}

// wrapPlain hard-wraps unstyled s to width cells, indenting continuations.
func wrapPlain(s string, width, indent int) []string {
	if ansi.StringWidth(s) <= width {
		return []string{s}
	}
	if indent >= width/2 {
		indent = 0
	}
	// One pass over the runes: the cost is the string's length, however
	// many lines it makes.
	var out []string
	prefix := strings.Repeat(" ", indent)
	start, col, w := 0, 0, width
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		rw := 1
		if r >= 0x80 {
			rw = max(displaywidth.Rune(r), 0)
		}
		if col+rw > w && i > start {
			if len(out) > 0 {
				out = append(out, prefix+s[start:i])
			} else {
				out = append(out, s[start:i])
			}
			start, col, w = i, 0, width-indent
		}
		col += rw
		i += size
	}
	if len(out) > 0 {
		out = append(out, prefix+s[start:])
	} else {
		out = append(out, s[start:])
	}
	return out
}

// affixes returns the escape codes a style puts before and after its text,
// so that many small tokens can be styled without a Render call each.
func affixes(s lipgloss.Style) (string, string) {
	r := s.Render("\x00")
	pre, suf, ok := strings.Cut(r, "\x00")
	if !ok {
		return "", ""
	}
	return pre, suf
}

func (b *builder) request(x *record.Exchange) {
	st := b.st
	r := &x.Request
	proto := r.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	line := r.Method + " " + sanitizeLine(r.URL) + " " + proto
	mpre, msuf := affixes(st.methodStyle(r.Method).Bold(true))
	for i, l := range wrapPlain(line, b.w(), 2) {
		if i == 0 && strings.HasPrefix(l, r.Method) {
			b.add(mpre+r.Method+msuf+l[len(r.Method):], l)
		} else {
			b.add(l, l)
		}
	}
	if r.UpstreamURL != "" && r.UpstreamURL != r.URL {
		b.text("→ sent to "+r.UpstreamURL, st.muted, 2)
	}
	if x.ReplayOf != 0 {
		b.text("↻ replay of #"+strconv.FormatUint(x.ReplayOf, 10), st.replay, 2)
	}
	b.changedRequest(x)
	b.blank()
	b.fields("Headers", r.Header)
	if len(r.Trailer) > 0 {
		b.blank()
		b.fields("Trailers", r.Trailer)
	}
	b.blank()
	b.body(r.Body, r.Header, x.State == record.InFlight, true)
}

func (b *builder) response(x *record.Exchange) {
	st := b.st
	resp := x.Response
	if x.Err != nil {
		b.errorBlock(x)
		b.blank()
	}
	if resp == nil {
		if x.State == record.InFlight {
			b.text("Waiting for the response…", st.inflight, 2)
		} else if x.Err == nil {
			b.text("No response was recorded.", st.muted, 2)
		}
		return
	}
	proto := resp.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	status := strconv.Itoa(resp.Status)
	reason := resp.Reason
	plain := proto + " " + status
	if reason != "" {
		plain += " " + reason
	}
	spre, ssuf := affixes(st.statusStyle(resp.Status).Bold(true))
	styled := proto + " " + spre + status
	if reason != "" {
		styled += " " + reason
	}
	styled += ssuf
	b.styledLine(styled, plain)
	if x.Upgraded {
		b.text(fmt.Sprintf("⇅ switched protocols (%s): ↑ %s client→server · ↓ %s server→client",
			orDefault(resp.Header.Get("Upgrade"), "upgrade"), units.Size(x.UpgradeUp), units.Size(x.UpgradeDn)), st.accent, 2)
	}
	b.changedResponse(x)
	b.blank()
	b.fields("Headers", resp.Header)
	if len(resp.Trailer) > 0 {
		b.blank()
		b.fields("Trailers", resp.Trailer)
	}
	if x.Upgraded {
		return
	}
	b.blank()
	b.body(resp.Body, resp.Header, x.State == record.InFlight, false)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (b *builder) errorBlock(x *record.Exchange) {
	e := x.Err
	b.text("✗ "+string(e.Kind)+": "+e.Message, b.st.err, 2)
	switch {
	case e.Status == 499 || e.Kind == record.ErrCanceled:
		b.note("The client went away; nothing more was written to it.")
	case e.Status != 0:
		b.note(fmt.Sprintf("devproxy answered %d to the client.", e.Status))
	}
}

func (b *builder) fields(title string, fs record.Fields) {
	b.section(fmt.Sprintf("%s (%d)", title, len(fs)))
	if len(fs) == 0 {
		b.text("(none)", b.st.muted, 2)
		return
	}
	npre, nsuf := affixes(b.st.hdrName)
	for _, f := range fs {
		name := sanitizeLine(f.Name)
		plain := name + ": " + sanitizeLine(f.Value)
		for i, l := range wrapPlain(plain, b.w(), 4) {
			if i == 0 && len(l) >= len(name)+1 {
				b.add(npre+name+":"+nsuf+l[len(name)+1:], l)
			} else {
				b.add(l, l)
			}
		}
	}
}

// body shows a captured body: a title with its type, size and view mode,
// notes on truncation and decoding, then the body itself, laid out in
// rows as they are shown (bodyview).
func (b *builder) body(body record.Body, h record.Fields, inflight, request bool) {
	st := b.st
	ct := h.Get("Content-Type")
	media := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	title := "Body"
	if media != "" {
		title += " · " + media
	}
	captured := int64(len(body.Bytes))
	switch {
	case body.Truncated:
		title += fmt.Sprintf(" · %s of %s captured", units.Size(captured), units.Size(body.Size))
	case body.Size > 0:
		title += " · " + units.Size(body.Size)
	}
	var view bodyview.View
	var modes []bodyview.Mode
	if len(body.Bytes) > 0 {
		vb := bodyview.Body{Data: b.dec.data, Wire: b.dec.wire, ContentType: ct}
		modes = bodyview.Modes(vb)
		view = bodyview.Build(vb, b.mode)
		title += " · " + view.Mode.String() + " view"
	}
	b.section(title)
	b.labels = true
	defer func() { b.labels = false }()
	if body.Truncated {
		b.text(fmt.Sprintf("⚠ truncated: only the first %s of %s were captured (raise the body capture limit to keep more).",
			units.Size(captured), units.Size(body.Size)), st.warnNote, 2)
	}
	if inflight && !body.Complete {
		b.text("… streaming: "+units.Size(body.Size)+" so far; the view grows as bytes arrive.", st.inflight, 2)
	} else if !inflight && !body.Complete && body.Size > 0 {
		b.note("The body did not reach its end.")
	}
	if len(body.Bytes) == 0 {
		switch {
		case body.Size > 0:
			b.text("(not captured)", st.muted, 2)
		case inflight && !body.Complete:
			b.text("(nothing yet)", st.muted, 2)
		case request:
			b.text("(no body)", st.muted, 2)
		default:
			b.text("(empty)", st.muted, 2)
		}
		return
	}
	if b.dec.warn != "" {
		b.text(b.dec.warn, st.warnNote, 2)
	}
	if b.dec.note != "" && view.Mode != bodyview.Wire {
		b.note(b.dec.note)
	}
	for _, n := range view.Notes {
		b.note(n)
	}
	b.blank()
	b.bodyPart = &bodyContent{view: view, modes: modes, layout: view.Layout(b.w()), indent: b.ind}
}

// safeDecode runs a body decoder. A decoder bug on hostile bytes must not
// take the UI down, so a panic becomes an error.
func safeDecode(decode func() ([]byte, string, error)) (out []byte, note string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, note, err = nil, "", fmt.Errorf("decoder failed: %v", r)
		}
	}()
	return decode()
}

// messages lists the messages of an upgraded connection (WebSocket): a
// line with the direction, time, kind and size of each, then its payload.
func (b *builder) messages(x *record.Exchange) {
	st := b.st
	title := fmt.Sprintf("Messages (%d)", len(x.Messages))
	if x.MessagesDropped > 0 {
		title += fmt.Sprintf(" · %d more not kept", x.MessagesDropped)
	}
	b.section(title)
	if len(x.Messages) == 0 {
		switch {
		case x.Upgraded:
			b.label2("No messages yet.", st.muted)
		default:
			b.label2("No messages: this exchange did not switch to WebSocket.", st.muted)
		}
		return
	}
	b.blank()
	for i := range x.Messages {
		b.message(x, &x.Messages[i])
	}
	if x.State == record.InFlight {
		b.label2("… the connection is open; messages appear as they cross it.", st.inflight)
	}
}

// messagePreviewRows caps the rows of one message's payload in the list.
const messagePreviewRows = 8

func (b *builder) message(x *record.Exchange, msg *record.Message) {
	st := b.st
	arrow, style := "→", st.methodStyle("POST")
	if msg.Dir == record.ToClient {
		arrow, style = "←", st.accent
	}
	when := msg.Time.Format("15:04:05.000")
	if !x.Start.IsZero() && !msg.Time.IsZero() {
		when += " +" + ms(msg.Time.Sub(x.Start))
	}
	kind := opcodeName(msg.Opcode)
	head := fmt.Sprintf("%s %s  %-6s %s", arrow, when, kind, units.Size(msg.Size))
	if msg.Compressed {
		head += " · compressed"
	}
	if msg.Truncated {
		head += fmt.Sprintf(" · %s captured", units.Size(int64(len(msg.Payload))))
	}
	if msg.Opcode == 8 {
		if msg.CloseCode != 0 {
			head += fmt.Sprintf(" · code %d", msg.CloseCode)
		}
		if msg.CloseReason != "" {
			head += " · " + strconv.Quote(msg.CloseReason)
		}
	}
	b.labels = true
	pre, suf := affixes(style.Bold(true))
	for i, l := range wrapPlain(sanitizeLine(head), b.w(), 2) {
		if i == 0 {
			b.add(pre+arrow+suf+l[len(arrow):], l)
		} else {
			b.add(l, l)
		}
	}
	b.labels = false
	if len(msg.Payload) == 0 || msg.Opcode == 8 {
		return
	}
	var lines []string
	if msg.Opcode == 2 || !utf8.Valid(msg.Payload) {
		v := bodyview.Build(bodyview.Body{Data: msg.Payload}, bodyview.Hex)
		for _, r := range v.Layout(b.w()-2).Rows(0, messagePreviewRows) {
			lines = append(lines, r.Text())
		}
	} else {
		for _, l := range strings.Split(string(msg.Payload), "\n") {
			lines = append(lines, wrapPlain(sanitizeLine(strings.TrimSuffix(l, "\r")), b.w()-2, 0)...)
			if len(lines) > messagePreviewRows {
				break
			}
		}
	}
	for i, l := range lines {
		if i == messagePreviewRows {
			b.label2(fmt.Sprintf("  … (%s in all)", units.Size(msg.Size)), st.muted)
			break
		}
		b.add("  "+l, "  "+l)
	}
}

// opcodeName names a WebSocket opcode.
func opcodeName(op byte) string {
	switch op {
	case 1:
		return "text"
	case 2:
		return "binary"
	case 8:
		return "close"
	case 9:
		return "ping"
	case 10:
		return "pong"
	}
	return "op " + strconv.Itoa(int(op))
}

// phaseNames are the Timing tab's rows, in HAR order.
var phaseNames = [7]string{"blocked", "DNS", "connect", "TLS", "send", "wait", "receive"}

func (b *builder) timing(x *record.Exchange) {
	st := b.st
	t := x.Timings
	phases := [7]time.Duration{t.Blocked, t.DNS, t.Connect, t.TLS, t.Send, t.Wait, t.Receive}
	// Start offsets: the phases follow one another, except TLS, which is
	// the tail of connect.
	var starts [7]time.Duration
	var at time.Duration
	for i, d := range phases {
		if i == 3 { // TLS
			starts[i] = max(0, at-max(d, 0))
			continue
		}
		starts[i] = at
		if d > 0 {
			at += d
		}
	}
	total := at
	switch {
	case x.State == record.InFlight:
		b.section("Timing")
		b.text("In flight: the phases are known when the exchange finishes.", st.inflight, 2)
	case total <= 0 && allNegative(phases):
		b.section("Timing")
		b.text("No phase timings were recorded for this exchange.", st.muted, 2)
	default:
		b.section("Timing · total " + ms(total))
		b.blank()
		const labelW, valueW = 9, 11
		barW := b.w() - labelW - 1 - valueW - 1
		for i, name := range phaseNames {
			d := phases[i]
			value := "-"
			if d >= 0 {
				value = ms(d)
			}
			var bar, barPlain string
			if barW >= 4 {
				bar, barPlain = b.bar(starts[i], d, total, barW, st.phases[i])
			}
			plain := fit(name, labelW) + " " + barPlain + " " + fitRight(value, valueW)
			styled := st.phases[i].Render(fit(name, labelW)) + " " + bar + " " + fitRight(value, valueW)
			b.add(styled, plain)
		}
	}
	b.attempts(x)
	b.blank()
	b.section("Exchange")
	kv := func(k, v string) {
		if v == "" {
			return
		}
		b.text(fit(k, 10)+v, st.text, 10)
	}
	if !x.Start.IsZero() {
		kv("started", x.Start.Format("2006-01-02 15:04:05.000"))
	}
	if !x.End.IsZero() {
		kv("finished", x.End.Format("2006-01-02 15:04:05.000")+"  ("+ms(x.End.Sub(x.Start))+")")
	}
	kv("client", x.ClientAddr)
	kv("server", x.ServerAddr)
	if x.Role != "" {
		kv("role", string(x.Role))
	}
	// What the engine's stages decided (route, upstream, cache, rate
	// limit, auth…), in order; the attempts have their own section.
	for _, m := range x.Marks {
		switch {
		case isAttempt(m):
		case m.Stage == "retry" && m.Name == "retried":
			kv(m.Name, retriedText(m.Value))
		default:
			kv(m.Name, m.Value)
		}
	}
	if x.ReplayOf != 0 {
		kv("replay of", "#"+strconv.FormatUint(x.ReplayOf, 10))
	}
	if x.Upgraded {
		kv("upgraded", fmt.Sprintf("↑ %s client→server · ↓ %s server→client", units.Size(x.UpgradeUp), units.Size(x.UpgradeDn)))
	}
	if x.Err != nil {
		b.blank()
		b.errorBlock(x)
	}
}

// isAttempt reports whether m is one attempt of an exchange the engine
// sent more than once.
func isAttempt(m record.Mark) bool { return m.Stage == "retry" && m.Name == "attempt" }

// attempts lists the attempts of an exchange sent more than once, as
// their marks say ("1 http://127.0.0.1:3001 → dial tcp …: connection
// refused (0.4 ms)"); failed ones in the error style.
func (b *builder) attempts(x *record.Exchange) {
	n := 0
	for _, m := range x.Marks {
		if !isAttempt(m) {
			continue
		}
		if n == 0 {
			b.blank()
			b.section("Attempts")
		}
		n++
		style := b.st.text
		if !answered(m.Value) {
			style = b.st.err
		}
		b.text(m.Value, style, 4)
	}
	if n > 0 && x.State != record.InFlight {
		b.note("The phases above are the last attempt's; its blocked time includes the attempts before it.")
	}
}

// answered reports whether an attempt mark's outcome ("… → 200 (3.1 ms)")
// is a status code rather than an error.
func answered(v string) bool {
	_, out, ok := strings.Cut(v, "→ ")
	if !ok || len(out) < 3 {
		return false
	}
	_, err := strconv.Atoi(out[:3])
	return err == nil
}

// retriedText is the retried mark's count of retries in words.
func retriedText(v string) string {
	switch v {
	case "1":
		return "once"
	case "":
		return ""
	}
	return v + " times"
}

func allNegative(ds [7]time.Duration) bool {
	for _, d := range ds {
		if d >= 0 {
			return false
		}
	}
	return true
}

// bar draws one waterfall bar of width w on a faint track.
func (b *builder) bar(start, d, total time.Duration, w int, style lipgloss.Style) (string, string) {
	if d < 0 || total <= 0 {
		s := strings.Repeat(" ", w)
		return s, s
	}
	from := int(int64(w) * int64(start) / int64(total))
	n := int((int64(w)*int64(d) + int64(total) - 1) / int64(total)) // round up: a phase that happened shows
	if n < 1 {
		n = 1
	}
	if from >= w {
		from = w - 1
	}
	if from+n > w {
		n = w - from
	}
	tpre, tsuf := affixes(b.st.track)
	left := strings.Repeat("·", from)
	mid := strings.Repeat("█", n)
	if d == 0 {
		mid = "▏"
	}
	right := strings.Repeat("·", w-from-n)
	plain := left + mid + right
	return tpre + left + tsuf + style.Render(mid) + tpre + right + tsuf, plain
}
