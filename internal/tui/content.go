package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// tab is a detail view tab.
type tab int

const (
	tabRequest tab = iota
	tabResponse
	tabTiming
	numTabs
)

var tabNames = [numTabs]string{"Request", "Response", "Timing"}

// content is a detail tab rendered for one exchange version and width:
// styled lines to draw and the same lines without styles to search.
type content struct {
	lines []string
	plain []string
}

// contentKey identifies a rendering; the cache and the pending work are keyed
// by it.
type contentKey struct {
	id, version uint64
	tab         tab
	width       int
	gen         int
}

// Limits on what a body view shows; the rest is summarised in a note.
const (
	maxBodyLines = 50000
	maxHexBytes  = 64 << 10
)

// buildContent renders tab t of x at width. It is pure and may be slow for
// big bodies: it runs in a tea.Cmd, never in Update or View.
func buildContent(x *record.Exchange, t tab, width int, st *styles) *content {
	b := &builder{width: max(width, 10), st: st}
	switch t {
	case tabRequest:
		b.request(x)
	case tabResponse:
		b.response(x)
	case tabTiming:
		b.timing(x)
	}
	return &content{lines: b.lines, plain: b.plain}
}

// builder accumulates content lines, keeping styled and plain in step.
type builder struct {
	width        int // the whole line
	ind          int // indent of the current section's lines
	st           *styles
	lines, plain []string
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
	b.add(b.st.section.Render(truncate(title, b.width)), truncate(title, b.width))
	b.ind = 2
}

func (b *builder) note(s string) { b.text(s, b.st.note, 2) }

// wrapPlain hard-wraps unstyled s to width cells, indenting continuations.
func wrapPlain(s string, width, indent int) []string {
	if ansi.StringWidth(s) <= width {
		return []string{s}
	}
	if indent >= width/2 {
		indent = 0
	}
	var out []string
	first := true
	for s != "" {
		w := width
		prefix := ""
		if !first {
			w -= indent
			prefix = strings.Repeat(" ", indent)
		}
		if ansi.StringWidth(s) <= w {
			out = append(out, prefix+s)
			break
		}
		head := ansi.Truncate(s, w, "")
		if head == "" { // a rune wider than the line
			_, size := utf8.DecodeRuneInString(s)
			head = s[:size]
		}
		out = append(out, prefix+head)
		s = s[len(head):]
		first = false
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
	b.blank()
	b.fields("Headers", r.Header)
	if len(r.Trailer) > 0 {
		b.blank()
		b.fields("Trailers", r.Trailer)
	}
	b.blank()
	b.body(r.Body, r.Header, func() ([]byte, string, error) { return body.Request(x) }, x.State == record.InFlight, true)
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
			orDefault(resp.Header.Get("Upgrade"), "upgrade"), humanSize(x.UpgradeUp), humanSize(x.UpgradeDn)), st.accent, 2)
	}
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
	b.body(resp.Body, resp.Header, func() ([]byte, string, error) { return body.Response(x) }, x.State == record.InFlight, false)
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

// body renders a captured body: a summary line, then the bytes as pretty
// JSON, a form, text or a hex dump.
func (b *builder) body(body record.Body, h record.Fields, decode func() ([]byte, string, error), inflight, request bool) {
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
		title += fmt.Sprintf(" · %s of %s captured", humanSize(captured), humanSize(body.Size))
	case body.Size > 0:
		title += " · " + humanSize(body.Size)
	}
	b.section(title)
	if body.Truncated {
		b.text(fmt.Sprintf("⚠ truncated: only the first %s of %s were captured (raise the body capture limit to keep more).",
			humanSize(captured), humanSize(body.Size)), st.warnNote, 2)
	}
	if inflight && !body.Complete {
		b.text("… streaming: "+humanSize(body.Size)+" so far; the view grows as bytes arrive.", st.inflight, 2)
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
	data := body.Bytes
	if enc := strings.TrimSpace(h.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		dec, note, err := safeDecode(decode)
		switch {
		case err != nil && len(dec) == 0:
			b.text(fmt.Sprintf("⚠ cannot decode %s: %v; showing the bytes as captured.", enc, err), st.warnNote, 2)
		case err != nil:
			b.text(fmt.Sprintf("⚠ decoded from %s in part: %v", enc, err), st.warnNote, 2)
			data = dec
		default:
			data = dec
			if note == "" {
				note = "decoded from " + enc
			}
			b.note(note)
		}
	}
	b.blank()
	switch {
	case isBinary(data, media):
		b.hex(data)
	case isJSON(media, data):
		if !b.json(data) {
			b.plainText(data)
		}
	case media == "application/x-www-form-urlencoded":
		b.form(data)
	default:
		b.plainText(data)
	}
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

func isJSON(media string, data []byte) bool {
	if strings.Contains(media, "json") {
		return true
	}
	t := bytes.TrimSpace(data)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

// isBinary says whether data should be shown as a hex dump.
func isBinary(data []byte, media string) bool {
	switch {
	case strings.HasPrefix(media, "image/") && !strings.Contains(media, "svg"),
		strings.HasPrefix(media, "audio/"), strings.HasPrefix(media, "video/"), strings.HasPrefix(media, "font/"),
		media == "application/octet-stream", media == "application/zip", media == "application/gzip",
		media == "application/pdf", media == "application/wasm", strings.Contains(media, "protobuf"),
		strings.HasPrefix(media, "application/grpc"):
		return true
	}
	sample := data[:min(len(data), 8192)]
	if bytes.IndexByte(sample, 0) >= 0 {
		return true
	}
	if utf8.Valid(sample) {
		return false
	}
	// The sample, or a capture, may end inside a multi-byte rune.
	for i := 0; i < utf8.UTFMax-1 && len(sample) > 0; i++ {
		sample = sample[:len(sample)-1]
		if utf8.Valid(sample) {
			return false
		}
	}
	return true
}

func (b *builder) json(data []byte) bool {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		return false
	}
	st := b.st
	pal := jsonPalette{}
	pal.key[0], pal.key[1] = affixes(st.jsonKey)
	pal.str[0], pal.str[1] = affixes(st.jsonStr)
	pal.num[0], pal.num[1] = affixes(st.jsonNum)
	pal.lit[0], pal.lit[1] = affixes(st.jsonLit)
	pal.punct[0], pal.punct[1] = affixes(st.jsonPunct)
	n := 0
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if n >= maxBodyLines {
			b.note(fmt.Sprintf("… more lines not shown (the view stops at %d lines).", maxBodyLines))
			break
		}
		line = sanitizeLine(line)
		b.styledLine(colorJSONLine(line, &pal), line)
		n++
	}
	return true
}

type jsonPalette struct {
	key, str, num, lit, punct [2]string
}

// colorJSONLine colours one line of indented JSON. Strings never span lines
// in JSON, so a line can be lexed on its own.
func colorJSONLine(line string, p *jsonPalette) string {
	var b strings.Builder
	b.Grow(len(line) + 32)
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ':
			b.WriteByte(c)
			i++
		case c == '"':
			j := i + 1
			for j < len(line) {
				if line[j] == '\\' {
					j += 2
					continue
				}
				if line[j] == '"' {
					j++
					break
				}
				j++
			}
			j = min(j, len(line))
			k := j
			for k < len(line) && line[k] == ' ' {
				k++
			}
			pal := p.str
			if k < len(line) && line[k] == ':' {
				pal = p.key
			}
			b.WriteString(pal[0] + line[i:j] + pal[1])
			i = j
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(line) && strings.IndexByte("0123456789.eE+-", line[j]) >= 0 {
				j++
			}
			b.WriteString(p.num[0] + line[i:j] + p.num[1])
			i = j
		case c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(line) && line[j] >= 'a' && line[j] <= 'z' {
				j++
			}
			b.WriteString(p.lit[0] + line[i:j] + p.lit[1])
			i = j
		default:
			b.WriteString(p.punct[0] + line[i:i+1] + p.punct[1])
			i++
		}
	}
	return b.String()
}

func (b *builder) form(data []byte) {
	kpre, ksuf := affixes(b.st.hdrName)
	for pair := range strings.SplitSeq(string(data), "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		k, v = sanitizeLine(k), sanitizeLine(v)
		plain := k + " = " + v
		for i, l := range wrapPlain(plain, b.w(), 4) {
			if i == 0 && len(l) >= len(k) {
				b.add(kpre+k+ksuf+l[len(k):], l)
			} else {
				b.add(l, l)
			}
		}
	}
}

func (b *builder) plainText(data []byte) {
	n := 0
	s := string(data)
	for line := range strings.SplitSeq(s, "\n") {
		if n >= maxBodyLines {
			b.note(fmt.Sprintf("… more lines not shown (the view stops at %d lines).", maxBodyLines))
			return
		}
		line = strings.TrimSuffix(line, "\r")
		line = strings.ToValidUTF8(line, "�")
		for _, l := range wrapPlain(sanitizeLine(line), b.w(), 0) {
			b.add(l, l)
			n++
		}
	}
}

// hex renders a hex dump: 16 bytes a line when the width allows, else 8.
func (b *builder) hex(data []byte) {
	per := 16
	if b.w() < 78 {
		per = 8
	}
	shown := data
	if len(shown) > maxHexBytes {
		shown = shown[:maxHexBytes]
	}
	opre, osuf := affixes(b.st.hexOffset)
	apre, asuf := affixes(b.st.hexASCII)
	for off := 0; off < len(shown); off += per {
		row := shown[off:min(off+per, len(shown))]
		var hx, asc strings.Builder
		for i := 0; i < per; i++ {
			if i == 8 {
				hx.WriteByte(' ')
			}
			if i < len(row) {
				hx.WriteString(fmt.Sprintf("%02x ", row[i]))
				c := row[i]
				if c < 0x20 || c >= 0x7f {
					c = '.'
				}
				asc.WriteByte(c)
			} else {
				hx.WriteString("   ")
			}
		}
		offs := fmt.Sprintf("%08x", off)
		plain := offs + "  " + hx.String() + " |" + asc.String() + "|"
		b.add(opre+offs+osuf+"  "+hx.String()+" "+apre+"|"+asc.String()+"|"+asuf, plain)
	}
	if len(shown) < len(data) {
		b.note(fmt.Sprintf("… showing the first %s of %s as hex.", humanSize(int64(len(shown))), humanSize(int64(len(data)))))
	}
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
	for _, m := range x.Marks {
		kv(m.Name, m.Value)
	}
	if x.ReplayOf != 0 {
		kv("replay of", "#"+strconv.FormatUint(x.ReplayOf, 10))
	}
	if x.Upgraded {
		kv("upgraded", fmt.Sprintf("↑ %s client→server · ↓ %s server→client", humanSize(x.UpgradeUp), humanSize(x.UpgradeDn)))
	}
	if x.Err != nil {
		b.blank()
		b.errorBlock(x)
	}
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
