// Package har reads and writes HAR 1.2 files: it turns recorded exchanges
// into a HAR document (bodies decoded, secrets redacted as asked) and reads
// HAR files from devproxy, browsers and other tools back into exchanges.
// devproxy's own data rides in "_devproxy…" fields, so an export read back
// and exported again comes out byte for byte the same.
package har

// HAR 1.2 export. The structs below follow the spec field for field (own
// structs, no HAR library: see shared/notes/ecosystem.md §1); devproxy's own
// data rides in "_devproxy…" fields (see the package doc).

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
)

// Options configure a HAR export.
type Options struct {
	// Redact is the redaction level; "" means redact.Default. Secrets are
	// only written out with an explicit redact.None.
	Redact redact.Level
	// Version is devproxy's version, written in log.creator; "" writes
	// "devel".
	Version string
	// DecodeMessage, when set, renders a gRPC message of x (see grpc.go)
	// as JSON with field names, from a schema; ok is false when it knows
	// none for the call. It is given the message as recorded, before
	// redaction, and its JSON is redacted as a JSON body. Nil writes no
	// "json" fields.
	DecodeMessage func(x *record.Exchange, m record.Message) (json string, ok bool)
}

// Write writes xs as a HAR 1.2 document (indented JSON, entries sorted by
// start time, oldest first), redacted as o.Redact says. The exchanges are
// only read: redaction edits copies, never xs, whose bodies may be shared
// with a live Recorder.
//
// Headers keep their order and repeats (Host first, from Request.Host).
// Bodies are decoded per Content-Encoding with the standard body.Decoder (a
// body that does not decode is written as captured, with a comment) unless
// x.BodiesDecoded. Text that is
// not UTF-8 is base64: content.encoding, or postData._encoding. Sizes:
// content.size is decoded, bodySize is on the wire, headersSize is -1.
// Truncated bodies say so in comment and "_devproxyTruncated". Timings are
// float milliseconds: blocked, dns, connect, ssl -1 when not applicable,
// send, wait, receive never negative, time their sum without ssl. A failed
// exchange without a response has status 0 and "_error". A WebSocket's
// messages go in "_webSocketMessages" as Chrome DevTools writes them (see
// websocket.go); a gRPC call's bodies are base64 and its messages go in
// "_devproxyGrpcMessages" (see grpc.go). devproxy's own data goes in "_devproxy…" fields that Read
// reads back. Stream writes the same document one entry at a time.
func Write(w io.Writer, xs []record.Exchange, o Options) error {
	s, err := NewStream(w, o)
	if err != nil {
		return err
	}
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		xa, xb := &xs[order[a]], &xs[order[b]]
		if !xa.Start.Equal(xb.Start) {
			return xa.Start.Before(xb.Start)
		}
		return xa.ID < xb.ID
	})
	// Secrets are learned from every exchange before any is written, so
	// that one seen in a later entry is hidden in an earlier one too.
	for _, i := range order {
		s.Learn(&xs[i])
	}
	for _, i := range order {
		if err := s.Add(&xs[i]); err != nil {
			return err
		}
	}
	return s.Close()
}

// WriteFile writes xs to path atomically (temp file + rename): the file is
// either the complete export or untouched. The temp file lives in path's
// directory and is synced before the rename; on any failure it is removed
// and the error names path. A new file gets mode 0600 (a HAR holds captured
// traffic); an existing file keeps its mode.
func WriteFile(path string, xs []record.Exchange, o Options) error {
	return writeFile(path, func(w io.Writer) error { return Write(w, xs, o) })
}

// StreamFile writes a HAR document to path atomically, as WriteFile does,
// one entry at a time: fill learns and adds the entries through the Stream
// it is given (see Stream), and the file appears, complete, only when fill
// and the Stream's end succeed. It is how an export larger than memory is
// written.
func StreamFile(path string, o Options, fill func(*Stream) error) error {
	return writeFile(path, func(w io.Writer) error {
		s, err := NewStream(w, o)
		if err != nil {
			return err
		}
		if err := fill(s); err != nil {
			return err
		}
		return s.Close()
	})
}

// writeFile writes path atomically with write (see WriteFile).
func writeFile(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write HAR %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write HAR %s: %w", path, err)
		}
	}()
	if st, serr := os.Stat(path); serr == nil && st.Mode().IsRegular() {
		if err = f.Chmod(st.Mode().Perm()); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	if err = write(bw); err != nil {
		if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "write HAR: ") {
			err = inner // the deferred wrap names the path instead
		}
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable; not every system can sync a directory.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// The HAR document as written. Field order is the output order; omitempty
// only where the spec allows the field to be left out.
type harDoc struct {
	Log harLog `json:"log"`
}

type harLog struct {
	Version string     `json:"version"`
	Creator harCreator `json:"creator"`
	Entries []harEntry `json:"entries"`
	Comment string     `json:"comment,omitempty"`
}

type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type harEntry struct {
	StartedDateTime string           `json:"startedDateTime"`
	Time            float64          `json:"time"`
	Request         harRequest       `json:"request"`
	Response        harResponse      `json:"response"`
	Cache           struct{}         `json:"cache"`
	Timings         harTimings       `json:"timings"`
	ServerIPAddress string           `json:"serverIPAddress,omitempty"`
	ResourceType    string           `json:"_resourceType,omitempty"`
	ID              uint64           `json:"_devproxyId"`
	Role            string           `json:"_devproxyRole,omitempty"`
	ReplayOf        uint64           `json:"_devproxyReplayOf,omitempty"`
	ClientAddr      string           `json:"_devproxyClientAddr,omitempty"`
	ServerAddr      string           `json:"_devproxyServerAddr,omitempty"`
	Marks           []harMark        `json:"_devproxyMarks,omitempty"`
	Rules           []string         `json:"_devproxyRules,omitempty"` // the rules that fired, by name
	Upgraded        *harUpgrade      `json:"_devproxyUpgraded,omitempty"`
	MessagesDropped int              `json:"_devproxyMessagesDropped,omitempty"`
	Messages        []harMessage     `json:"_webSocketMessages,omitempty"`    // see websocket.go
	GRPCMessages    []harGRPCMessage `json:"_devproxyGrpcMessages,omitempty"` // see grpc.go
}

// harMark is a record.Mark: what a stage of the engine did.
type harMark struct {
	Stage string `json:"stage,omitempty"`
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// harUpgrade counts the bytes that crossed an upgraded (101) connection:
// up is client to upstream, down the other way.
type harUpgrade struct {
	Up   int64 `json:"up"`
	Down int64 `json:"down"`
}

type harRequest struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harCookie  `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	QueryString []harNV      `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int64        `json:"headersSize"`
	BodySize    int64        `json:"bodySize"`
	UpstreamURL string       `json:"_devproxyUpstreamUrl,omitempty"`
	Trailers    []harNV      `json:"_devproxyRequestTrailers,omitempty"`
	Incomplete  bool         `json:"_devproxyIncomplete,omitempty"`
	Sent        *harSent     `json:"_devproxySent,omitempty"`
}

// harSent is record.SentRequest: the request line and headers that went
// upstream after rules changed them.
type harSent struct {
	Method  string  `json:"method"`
	URL     string  `json:"url"`
	Headers []harNV `json:"headers"`
}

// harUpstream is record.UpstreamResponse: the status and headers the
// upstream answered before rules changed them.
type harUpstream struct {
	Status  int     `json:"status"`
	Headers []harNV `json:"headers"`
}

type harResponse struct {
	Status      int          `json:"status"`
	StatusText  string       `json:"statusText"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harCookie  `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	Content     harContent   `json:"content"`
	RedirectURL string       `json:"redirectURL"`
	HeadersSize int64        `json:"headersSize"`
	BodySize    int64        `json:"bodySize"`
	Comment     string       `json:"comment,omitempty"`
	Error       string       `json:"_error,omitempty"`
	ErrorKind   string       `json:"_devproxyErrorKind,omitempty"`
	ErrorStatus int          `json:"_devproxyErrorStatus,omitempty"`
	Trailers    []harNV      `json:"_devproxyResponseTrailers,omitempty"`
	Incomplete  bool         `json:"_devproxyIncomplete,omitempty"`
	Upstream    *harUpstream `json:"_devproxyUpstream,omitempty"`
}

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Expires  string `json:"expires,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
}

// harPostData always carries text; a body that is not UTF-8 text (invalid
// UTF-8, or holding NUL bytes) is base64 with the custom "_encoding" (HAR
// 1.2 has no encoding on postData). Response content does the same with the
// spec's "encoding".
type harPostData struct {
	MimeType  string     `json:"mimeType"`
	Text      string     `json:"text"`
	Params    []harParam `json:"params,omitempty"`
	Encoding  string     `json:"_encoding,omitempty"`
	Comment   string     `json:"comment,omitempty"`
	Truncated bool       `json:"_devproxyTruncated,omitempty"`
	Redacted  string     `json:"_devproxyRedacted,omitempty"`
}

type harParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harContent struct {
	Size        int64  `json:"size"`
	Compression *int64 `json:"compression,omitempty"`
	MimeType    string `json:"mimeType"`
	Text        string `json:"text,omitempty"`
	Encoding    string `json:"encoding,omitempty"`
	Comment     string `json:"comment,omitempty"`
	Truncated   bool   `json:"_devproxyTruncated,omitempty"`
	Redacted    string `json:"_devproxyRedacted,omitempty"`
}

// harTimings are float milliseconds. blocked, dns, connect and ssl are -1
// when not applicable; send, wait and receive are never negative.
type harTimings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	SSL     float64 `json:"ssl"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// harTime formats t as RFC 3339 with its zone and at least millisecond
// digits (more when t has them).
func harTime(t time.Time) string {
	s := t.Format("2006-01-02T15:04:05.000000000Z07:00")
	dot := strings.IndexByte(s, '.')
	end := dot + 10
	frac := strings.TrimRight(s[dot+1:end], "0")
	for len(frac) < 3 {
		frac += "0"
	}
	return s[:dot+1] + frac + s[end:]
}

// micros converts d to whole microseconds, the precision HAR timings keep.
func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

func newHARTimings(t record.Timings) (harTimings, float64) {
	opt := func(d time.Duration) int64 {
		if d < 0 {
			return -1
		}
		return micros(d)
	}
	req := func(d time.Duration) int64 { return max(0, micros(d)) }
	us := [7]int64{opt(t.Blocked), opt(t.DNS), opt(t.Connect), opt(t.TLS), req(t.Send), req(t.Wait), req(t.Receive)}
	ms := func(u int64) float64 {
		if u < 0 {
			return -1
		}
		return float64(u) / 1000
	}
	var sum int64
	for i, u := range us {
		if i != 3 && u > 0 { // ssl lies inside connect
			sum += u
		}
	}
	return harTimings{
		Blocked: ms(us[0]), DNS: ms(us[1]), Connect: ms(us[2]), SSL: ms(us[3]),
		Send: ms(us[4]), Wait: ms(us[5]), Receive: ms(us[6]),
	}, ms(sum)
}

// newHAREntry converts x. Bodies are redacted here, as they are rendered,
// so that sizes and comments describe the text as exported; redactEntry
// does the rest. It copies every string and slice it needs, so the entry
// may be edited freely.
func newHAREntry(x *record.Exchange, r *redact.Redactor, decode func(*record.Exchange, record.Message) (string, bool)) harEntry {
	e := harEntry{
		StartedDateTime: harTime(x.Start),
		ID:              x.ID,
		Role:            string(x.Role),
		ReplayOf:        x.ReplayOf,
		ClientAddr:      x.ClientAddr,
	}
	for _, m := range x.Marks {
		e.Marks = append(e.Marks, harMark(m))
		if m.Stage == "rules" && m.Name == "rule" {
			e.Rules = append(e.Rules, m.Value)
		}
	}
	e.Timings, e.Time = newHARTimings(x.Timings)
	// serverIPAddress holds the IP alone; the address as recorded (with
	// its port, or a host name) rides along when it says more.
	e.ServerIPAddress = serverIP(x.ServerAddr)
	if e.ServerIPAddress != x.ServerAddr {
		e.ServerAddr = x.ServerAddr
	}
	if x.Upgraded {
		e.Upgraded = &harUpgrade{Up: x.UpgradeUp, Down: x.UpgradeDn}
		up := strings.ToLower(x.Request.Header.Get("Upgrade"))
		if up == "" && x.Response != nil {
			up = strings.ToLower(x.Response.Header.Get("Upgrade"))
		}
		if up == "" || strings.Contains(up, "websocket") {
			e.ResourceType = "websocket"
		}
	}
	e.Request = newHARRequest(x, r)
	e.Response = newHARResponse(x, r)
	switch {
	case e.ResourceType == "websocket":
		e.Messages = newHARMessages(x, r)
		e.MessagesDropped = x.MessagesDropped
	case isGRPC(x) && !x.Upgraded:
		e.GRPCMessages = newHARGRPCMessages(x, r, decode)
		e.MessagesDropped = x.MessagesDropped
	}
	return e
}

// serverIP is the IP in addr (host:port, [v6]:port or a bare IP) without
// port, brackets or zone, or "" when addr holds no IP (e.g. a host name).
func serverIP(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return ip.WithZone("").Unmap().String()
}

func newHARRequest(x *record.Exchange, red *redact.Redactor) harRequest {
	rq := &x.Request
	r := harRequest{
		Method:      rq.Method,
		URL:         rq.URL,
		HTTPVersion: rq.Proto,
		Cookies:     []harCookie{},
		Headers:     make([]harNV, 0, len(rq.Header)+1),
		QueryString: queryPairs(rq.URL),
		HeadersSize: -1,
		BodySize:    wireSize(rq.Body, rq.Header, x.BodiesDecoded),
		UpstreamURL: rq.UpstreamURL,
		Trailers:    nvs(rq.Trailer),
		Incomplete:  !rq.Body.Complete,
	}
	if s := rq.Sent; s != nil {
		r.Sent = &harSent{Method: s.Method, URL: s.URL, Headers: nvsOrEmpty(s.Header)}
	}
	// net/http keeps Host out of the header map; HAR lists it with the
	// other request headers, first, as it went on the wire.
	if rq.Host != "" && rq.Header.Get("Host") == "" && rq.Header.Get(":authority") == "" {
		r.Headers = append(r.Headers, harNV{"Host", rq.Host})
	}
	for _, f := range rq.Header {
		r.Headers = append(r.Headers, harNV(f))
	}
	r.Cookies = requestCookies(r.Headers)
	if rq.Body.Size > 0 || len(rq.Body.Bytes) > 0 {
		hb := newHARBody(rq.Body, rq.Header, x.BodiesDecoded, red)
		if r.BodySize >= 0 && !hb.encoded {
			r.BodySize = min(r.BodySize+hb.delta, maxExact)
		}
		pd := &harPostData{
			MimeType:  rq.Header.Get("Content-Type"),
			Text:      hb.text,
			Comment:   hb.comment,
			Truncated: hb.truncated,
			Redacted:  hb.redacted,
		}
		if hb.base64 {
			pd.Encoding = "base64"
		} else if body.IsForm(pd.MimeType) && hb.redacted == "" {
			for _, p := range formPairs(hb.text) {
				pd.Params = append(pd.Params, harParam(p))
			}
		}
		r.PostData = pd
	}
	return r
}

func newHARResponse(x *record.Exchange, red *redact.Redactor) harResponse {
	r := harResponse{
		Cookies:     []harCookie{},
		Headers:     []harNV{},
		Content:     harContent{MimeType: "x-unknown"},
		HeadersSize: -1,
		BodySize:    -1,
	}
	if x.Err != nil {
		r.Error = x.Err.Message
		if r.Error == "" {
			r.Error = string(x.Err.Kind)
		}
		r.ErrorKind = string(x.Err.Kind)
		r.ErrorStatus = x.Err.Status
	}
	rs := x.Response
	if rs == nil {
		if x.Err == nil {
			r.Comment = "no response recorded"
		}
		return r
	}
	r.Status = rs.Status
	r.StatusText = rs.Reason
	r.HTTPVersion = rs.Proto
	r.Headers = make([]harNV, 0, len(rs.Header))
	for _, f := range rs.Header {
		r.Headers = append(r.Headers, harNV(f))
	}
	r.Cookies = responseCookies(r.Headers)
	r.RedirectURL = rs.Header.Get("Location")
	r.BodySize = wireSize(rs.Body, rs.Header, x.BodiesDecoded)
	r.Trailers = nvs(rs.Trailer)
	r.Incomplete = !rs.Body.Complete
	if up := rs.Upstream; up != nil {
		r.Upstream = &harUpstream{Status: up.Status, Headers: nvsOrEmpty(up.Header)}
	}
	if ct := rs.Header.Get("Content-Type"); ct != "" {
		r.Content.MimeType = ct
	}
	if rs.Body.Size > 0 || len(rs.Body.Bytes) > 0 {
		hb := newHARBody(rs.Body, rs.Header, x.BodiesDecoded, red)
		if r.BodySize >= 0 && !hb.encoded {
			r.BodySize = min(r.BodySize+hb.delta, maxExact)
		}
		r.Content.Size = hb.size
		r.Content.Text = hb.text
		r.Content.Comment = hb.comment
		r.Content.Truncated = hb.truncated
		r.Content.Redacted = hb.redacted
		if hb.base64 {
			r.Content.Encoding = "base64"
		}
		if hb.encoded && !hb.truncated && !hb.undecodable && hb.redacted == "" && r.BodySize >= 0 && hb.size >= r.BodySize {
			saved := hb.size - r.BodySize
			r.Content.Compression = &saved
		}
	}
	return r
}

// harBody is a body as HAR text.
type harBody struct {
	text        string
	base64      bool
	size        int64  // decoded size, as far as known
	delta       int64  // how much redaction changed the text's length
	truncated   bool   // text holds only part of the body
	encoded     bool   // the message has a Content-Encoding
	undecodable bool   // the Content-Encoding could not be undone
	redacted    string // why the body was hidden whole; "" when it was not
	comment     string
}

// newHARBody decodes b per the Content-Encoding in h (unless the bytes were
// decoded on import), redacts it (Redactor.Body) and renders it as text or
// base64. Sizes count the text as exported, so a redacted body is not
// mistaken for a truncated one when read back.
func newHARBody(b record.Body, h record.Fields, alreadyDecoded bool, r *redact.Redactor) harBody {
	out := harBody{size: b.Size, truncated: b.Truncated}
	data := b.Bytes
	var comments []string
	partial, undecodable := false, ""
	if ce := body.ContentEncoding(h); ce != "" {
		out.encoded = true
		if !alreadyDecoded {
			d, _, p, err := body.Decoder{}.Decode(data, ce)
			switch {
			case err != nil:
				out.undecodable, undecodable = true, ce
				comments = append(comments, fmt.Sprintf("could not undo Content-Encoding %q (%v); text holds the bytes as captured", ce, err))
			default:
				data, partial = d, p
				out.size = int64(len(d))
				out.truncated = out.truncated || partial
			}
		}
	}
	out.size = max(out.size, int64(len(data)))
	red, whole := r.Body(data, h.Get("Content-Type"), b.Truncated, partial, undecodable)
	out.delta = int64(len(red) - len(data))
	// A JSON number holds whole numbers exactly only up to 2^53: a size
	// beyond it would not read back the same.
	out.size = min(out.size+out.delta, maxExact)
	data = red
	if whole != "" {
		out.redacted = whole
		// The text is the marker: what was said about the bytes no longer
		// applies.
		comments = []string{"body hidden whole by redaction: it could not be parsed for redaction (" + whole + ")"}
	}
	if whole != "" || !body.IsBinary(data) && !grpcBase64(h.Get("Content-Type")) {
		out.text = string(data)
	} else {
		out.text = base64.StdEncoding.EncodeToString(data)
		out.base64 = true
	}
	if out.truncated && whole == "" {
		if out.size > int64(len(data)) {
			comments = append(comments, fmt.Sprintf("body truncated: text holds the first %d of %d bytes", len(data), out.size))
		} else {
			comments = append(comments, fmt.Sprintf("body truncated: text holds the first %d bytes; the full size is unknown", len(data)))
		}
	}
	out.comment = strings.Join(comments, "; ")
	return out
}

// wireSize is a body's size on the wire. Imported exchanges hold decoded
// bodies, so for an encoded one the wire size is only known from a
// Content-Length; otherwise it is -1 (unknown), as HAR allows.
func wireSize(b record.Body, h record.Fields, decoded bool) int64 {
	if !decoded || body.ContentEncoding(h) == "" {
		return b.Size
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("Content-Length")), 10, 64); err == nil && n >= 0 {
		return n
	}
	return -1
}

func nvs(f record.Fields) []harNV {
	if len(f) == 0 {
		return nil
	}
	out := make([]harNV, len(f))
	for i, x := range f {
		out[i] = harNV(x)
	}
	return out
}

// nvsOrEmpty is nvs, with [] rather than null for no fields.
func nvsOrEmpty(f record.Fields) []harNV {
	if out := nvs(f); out != nil {
		return out
	}
	return []harNV{}
}

// queryPairs lists rawURL's query parameters in order, decoded; a part
// that does not decode is kept as written.
func queryPairs(rawURL string) []harNV {
	q := rawURL
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	i := strings.IndexByte(q, '?')
	if i < 0 {
		return []harNV{}
	}
	return formPairs(q[i+1:])
}

// formPairs splits application/x-www-form-urlencoded text (or a query) into
// decoded name/value pairs, keeping order and repeats.
func formPairs(s string) []harNV {
	out := []harNV{}
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		out = append(out, harNV{unescapeQuery(name), unescapeQuery(value)})
	}
	return out
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// requestCookies lists the cookies in every Cookie header line.
func requestCookies(hs []harNV) []harCookie {
	out := []harCookie{}
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Cookie") {
			out = append(out, parseCookieHeader(h.Value)...)
		}
	}
	return out
}

// responseCookies lists the cookie of every Set-Cookie header line.
func responseCookies(hs []harNV) []harCookie {
	out := []harCookie{}
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Set-Cookie") {
			if c, ok := parseSetCookie(h.Value); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// parseCookieHeader splits a Cookie header into name/value pairs, leniently:
// parts without "=" are skipped.
func parseCookieHeader(v string) []harCookie {
	var out []harCookie
	for part := range strings.SplitSeq(v, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || strings.TrimSpace(name) == "" {
			continue
		}
		out = append(out, harCookie{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return out
}

// parseSetCookie reads one Set-Cookie line. When net/http rejects it, the
// name and value before the first ";" are still reported.
func parseSetCookie(v string) (harCookie, bool) {
	if c, err := http.ParseSetCookie(v); err == nil {
		hc := harCookie{Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain, HTTPOnly: c.HttpOnly, Secure: c.Secure}
		if !c.Expires.IsZero() {
			hc.Expires = c.Expires.UTC().Format(time.RFC3339)
		}
		return hc, true
	}
	first, _, _ := strings.Cut(v, ";")
	name, value, ok := strings.Cut(first, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return harCookie{}, false
	}
	return harCookie{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}, true
}
