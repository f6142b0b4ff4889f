package har

// HAR import: devproxy's own exports, and those of Chrome, Firefox and
// mitmproxy. The reader is lenient about what the spec calls optional (and
// about what other tools leave out anyway) and strict about what makes a
// document a HAR at all.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// Read parses a HAR document (devproxy's, Chrome's, Firefox's,
// mitmproxy's) into finished exchanges, with Role RoleView unless the file
// is a devproxy export that names the recording role (see below). Errors
// name the position and the problem.
//
// A UTF-8 byte order mark is skipped. HAR 2.x and JSON that is not a HAR
// are refused with an error saying what is missing; malformed JSON is
// reported with its line and column. Every exchange comes back Done, with
// BodiesDecoded set: HAR holds bodies with their Content-Encoding undone,
// and so do the returned Body.Bytes (the headers still say how the body
// was encoded on the wire). Bodies are Complete unless the file marks them
// incomplete; Truncated when the file holds less than the body's size.
//
// Fields devproxy writes itself ("_devproxyId", "_devproxyRole", …) are read
// back, so a devproxy export read and exported again is unchanged: in
// particular Role is the recording role from "_devproxyRole" when present
// and RoleView otherwise, and ID is "_devproxyId" or the entry's position
// (1-based); Recorder.Add numbers exchanges afresh, so a caller that adds
// them and wants ReplayOf links to hold must map old IDs to new ones. A
// response with status 0 is a failure (Response nil, Err set from "_error"
// and "_devproxyErrorKind", Kind ErrUnreachable by default), except in a
// devproxy export where it has no "_error": that exchange had no response
// yet. WebSocket messages are read from "_webSocketMessages", Chrome's and
// devproxy's (see websocket.go). What HAR cannot carry back: the wire size
// of an encoded body (a re-export writes the Content-Length, or -1) and
// header sizes.
func Read(r io.Reader) ([]record.Exchange, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read HAR: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("read HAR: empty input")
	}
	var doc harInDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, jsonError(data, err)
	}
	if doc.Log == nil {
		return nil, errors.New(`read HAR: not a HAR file: no "log" object`)
	}
	lg := doc.Log
	if lg.Version != "" && !strings.HasPrefix(lg.Version, "1.") && lg.Version != "1" {
		return nil, fmt.Errorf("read HAR: HAR version %q is not supported (this reader handles 1.x)", lg.Version)
	}
	if lg.Entries == nil {
		return nil, errors.New(`read HAR: not a HAR file: "log" has no "entries" array`)
	}
	mitm := strings.HasPrefix(strings.ToLower(lg.Creator.Name), "mitmproxy")
	out := make([]record.Exchange, 0, len(*lg.Entries))
	for i, e := range *lg.Entries {
		x, err := e.exchange(i, mitm)
		if err != nil {
			return nil, fmt.Errorf("read HAR: entries[%d]: %w", i, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// The HAR document as read: only what Read uses is declared, so other
// tools' extra fields (of any type) are ignored. Pointers tell "missing or
// null" apart from zero.
type harInDoc struct {
	Log *harInLog `json:"log"`
}

type harInLog struct {
	Version string `json:"version"`
	Creator struct {
		Name string `json:"name"`
	} `json:"creator"`
	Entries *[]harInEntry `json:"entries"`
}

type harInEntry struct {
	StartedDateTime *string            `json:"startedDateTime"`
	Time            *float64           `json:"time"`
	Request         *harInRequest      `json:"request"`
	Response        *harInResponse     `json:"response"`
	Timings         *harInTimings      `json:"timings"`
	ServerIPAddress string             `json:"serverIPAddress"`
	ResourceType    string             `json:"_resourceType"`
	ID              *float64           `json:"_devproxyId"`
	Role            string             `json:"_devproxyRole"`
	ReplayOf        *float64           `json:"_devproxyReplayOf"`
	ClientAddr      string             `json:"_devproxyClientAddr"`
	ServerAddr      string             `json:"_devproxyServerAddr"`
	Note            string             `json:"_devproxyNote"` // before marks
	Marks           []harMark          `json:"_devproxyMarks"`
	Upgraded        *harInUpgrade      `json:"_devproxyUpgraded"`
	Error           *string            `json:"_error"`
	MessagesDropped *float64           `json:"_devproxyMessagesDropped"`
	Messages        []harInMessage     `json:"_webSocketMessages"`    // see websocket.go
	GRPCMessages    []harInGRPCMessage `json:"_devproxyGrpcMessages"` // see grpc.go
}

type harInUpgrade struct {
	Up   float64 `json:"up"`
	Down float64 `json:"down"`
}

type harInRequest struct {
	Method      string         `json:"method"`
	URL         string         `json:"url"`
	HTTPVersion string         `json:"httpVersion"`
	Headers     []harNV        `json:"headers"`
	PostData    *harInPostData `json:"postData"`
	BodySize    *float64       `json:"bodySize"`
	UpstreamURL string         `json:"_devproxyUpstreamUrl"`
	Trailers    []harNV        `json:"_devproxyRequestTrailers"`
	Incomplete  bool           `json:"_devproxyIncomplete"`
	Sent        *harSent       `json:"_devproxySent"`
}

// harInUpstream is harUpstream as read: a status that is not a whole
// number from 100 to 999 leaves it out.
type harInUpstream struct {
	Status  *float64 `json:"status"`
	Headers []harNV  `json:"headers"`
}

type harInPostData struct {
	MimeType  string     `json:"mimeType"`
	Text      *string    `json:"text"`
	Params    []harParam `json:"params"`
	Encoding  string     `json:"encoding"`  // martian and the 1.3 draft
	Encoding2 string     `json:"_encoding"` // devproxy
	Truncated bool       `json:"_devproxyTruncated"`
}

type harInResponse struct {
	Status      *float64       `json:"status"`
	StatusText  string         `json:"statusText"`
	HTTPVersion string         `json:"httpVersion"`
	Headers     []harNV        `json:"headers"`
	Content     *harInContent  `json:"content"`
	BodySize    *float64       `json:"bodySize"`
	Error       *string        `json:"_error"`
	ErrorKind   string         `json:"_devproxyErrorKind"`
	ErrorStatus *float64       `json:"_devproxyErrorStatus"`
	Trailers    []harNV        `json:"_devproxyResponseTrailers"`
	Incomplete  bool           `json:"_devproxyIncomplete"`
	Upstream    *harInUpstream `json:"_devproxyUpstream"`
}

type harInContent struct {
	Size      *float64 `json:"size"`
	Text      *string  `json:"text"`
	Encoding  string   `json:"encoding"`
	Truncated bool     `json:"_devproxyTruncated"`
}

type harInTimings struct {
	Blocked *float64 `json:"blocked"`
	DNS     *float64 `json:"dns"`
	Connect *float64 `json:"connect"`
	SSL     *float64 `json:"ssl"`
	Send    *float64 `json:"send"`
	Wait    *float64 `json:"wait"`
	Receive *float64 `json:"receive"`
}

// exchange converts entry i. mitm adjusts for mitmproxy's quirks: ssl lies
// outside connect, and content.size is the wire size.
func (e *harInEntry) exchange(i int, mitm bool) (record.Exchange, error) {
	x := record.Exchange{
		ID:            uint64(i + 1),
		Role:          record.RoleView,
		State:         record.Done,
		ClientAddr:    e.ClientAddr,
		ServerAddr:    e.ServerAddr,
		BodiesDecoded: true,
	}
	for _, m := range e.Marks {
		x.Marks = append(x.Marks, record.Mark(m))
	}
	if e.Note != "" {
		x.Marks = append(x.Marks, record.Mark{Name: "note", Value: e.Note})
	}
	if id, ok := count(e.ID); ok && id > 0 {
		x.ID = uint64(id)
	}
	if ro, ok := count(e.ReplayOf); ok {
		x.ReplayOf = uint64(ro)
	}
	switch r := record.Role(e.Role); r {
	case record.RoleServe, record.RoleAgent, record.RoleRelay, record.RoleView:
		x.Role = r
	}
	if x.ServerAddr == "" {
		x.ServerAddr = e.ServerIPAddress
	}
	if e.StartedDateTime == nil {
		return x, errors.New(`no "startedDateTime"`)
	}
	start, err := parseHARTime(*e.StartedDateTime)
	if err != nil {
		return x, err
	}
	x.Start = start
	x.Timings = e.Timings.timings(mitm)
	total := x.Timings.Total()
	if e.Time != nil && *e.Time >= 0 {
		total = msDuration(*e.Time)
	}
	x.End = x.Start.Add(total)
	if e.Upgraded != nil {
		x.Upgraded = true
		x.UpgradeUp, x.UpgradeDn = clampInt(e.Upgraded.Up), clampInt(e.Upgraded.Down)
	} else if strings.EqualFold(e.ResourceType, "websocket") {
		x.Upgraded = true
	}

	if e.Request == nil {
		return x, errors.New(`no "request" object`)
	}
	if err := e.Request.fill(&x.Request); err != nil {
		return x, fmt.Errorf("request: %w", err)
	}

	rs := e.Response
	if rs == nil {
		// Not valid HAR, but say what happened rather than refuse it all.
		rs = &harInResponse{}
	}
	msg := rs.Error
	if msg == nil || *msg == "" {
		msg = e.Error
	}
	status, _ := count(rs.Status)
	if status > 0 {
		resp, err := rs.response(int(min(status, 999)), mitm)
		if err != nil {
			return x, fmt.Errorf("response: %w", err)
		}
		x.Response = resp
	}
	// Messages: a WebSocket's, or those of a gRPC call that did not
	// switch protocols, as Write writes them.
	x.Messages = readMessages(e.Messages)
	if n, ok := count(e.MessagesDropped); ok {
		x.MessagesDropped = int(min(n, math.MaxInt32))
	}
	switch {
	case len(x.Messages) == 0 && !x.Upgraded && isGRPC(&x):
		x.Messages = readGRPCMessages(e.GRPCMessages)
	case len(x.Messages) > 0 || x.MessagesDropped > 0:
		x.Upgraded = true
	}
	ours := e.ID != nil
	if (msg != nil && *msg != "") || (x.Response == nil && !ours) {
		xe := &record.Error{Kind: record.ErrorKind(rs.ErrorKind), Message: "no response"}
		if msg != nil && *msg != "" {
			xe.Message = *msg
		}
		if xe.Kind == "" {
			xe.Kind = record.ErrUnreachable
			if x.Response != nil {
				xe.Kind = record.ErrAborted
			}
		}
		if st, ok := count(rs.ErrorStatus); ok {
			xe.Status = int(min(st, 999))
		}
		x.Err = xe
	}
	return x, nil
}

func (r *harInRequest) fill(req *record.Request) error {
	if r.Method == "" {
		return errors.New(`no "method"`)
	}
	if r.URL == "" {
		return errors.New(`no "url"`)
	}
	req.Method = r.Method
	req.URL = r.URL
	req.Proto = r.HTTPVersion
	req.UpstreamURL = r.UpstreamURL
	if s := r.Sent; s != nil {
		req.Sent = &record.SentRequest{Method: s.Method, URL: s.URL, Header: fieldsOf(s.Headers)}
	}
	req.Trailer = fieldsOf(r.Trailers)
	// The Host line goes to Request.Host, where net/http keeps it too.
	for i, h := range r.Headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			hs := append([]harNV{}, r.Headers[:i]...)
			req.Header = fieldsOf(append(hs, r.Headers[i+1:]...))
			break
		}
	}
	if req.Host == "" {
		req.Header = fieldsOf(r.Headers)
		req.Host = req.Header.Get(":authority")
	}
	var data []byte
	truncated := false
	if pd := r.PostData; pd != nil {
		truncated = pd.Truncated
		switch {
		case pd.Text != nil:
			var err error
			if data, err = harText(*pd.Text, pd.Encoding2+pd.Encoding); err != nil {
				return fmt.Errorf("postData: %w", err)
			}
		case len(pd.Params) > 0 && body.IsForm(pd.MimeType):
			// params without text: rebuild the form body they came from.
			parts := make([]string, len(pd.Params))
			for i, p := range pd.Params {
				parts[i] = url.QueryEscape(p.Name) + "=" + url.QueryEscape(p.Value)
			}
			data = []byte(strings.Join(parts, "&"))
		}
	}
	size := int64(len(data))
	if n, ok := count(r.BodySize); ok && body.ContentEncoding(req.Header) == "" && n > size {
		size = n
	}
	req.Body = record.Body{Bytes: data, Size: size, Truncated: truncated || size > int64(len(data)), Complete: !r.Incomplete}
	return nil
}

// response converts a response that has a status. mitm: mitmproxy writes the
// wire size in content.size (the spec's is the decoded size) and always
// includes the whole decoded text, so its size is not a sign of truncation.
func (r *harInResponse) response(status int, mitm bool) (*record.Response, error) {
	resp := &record.Response{
		Status:  status,
		Reason:  r.StatusText,
		Proto:   r.HTTPVersion,
		Header:  fieldsOf(r.Headers),
		Trailer: fieldsOf(r.Trailers),
	}
	if up := r.Upstream; up != nil {
		if st, ok := count(up.Status); ok && st >= 100 && st <= 999 {
			resp.Upstream = &record.UpstreamResponse{Status: int(st), Header: fieldsOf(up.Headers)}
		}
	}
	var data []byte
	var size int64
	truncated := false
	if c := r.Content; c != nil {
		truncated = c.Truncated
		if c.Text != nil {
			var err error
			if data, err = harText(*c.Text, c.Encoding); err != nil {
				return nil, fmt.Errorf("content: %w", err)
			}
		}
		if !mitm || c.Text == nil {
			size, _ = count(c.Size)
		}
	}
	size = max(size, int64(len(data)))
	resp.Body = record.Body{Bytes: data, Size: size, Truncated: truncated || size > int64(len(data)), Complete: !r.Incomplete}
	return resp, nil
}

// harText returns the bytes of a HAR text field, undoing base64 when the
// encoding says so (padded or not, standard or URL alphabet, wrapped).
func harText(text, encoding string) ([]byte, error) {
	if encoding == "" {
		return []byte(text), nil
	}
	if !strings.EqualFold(encoding, "base64") {
		return nil, fmt.Errorf("unknown text encoding %q", encoding)
	}
	t := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(t); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("text is not valid base64")
}

func fieldsOf(nv []harNV) record.Fields {
	if len(nv) == 0 {
		return nil
	}
	out := make(record.Fields, len(nv))
	for i, h := range nv {
		out[i] = record.Field(h)
	}
	return out
}

// timings converts HAR milliseconds; missing, null and negative values are
// "not applicable". mitmproxy reports ssl apart from connect, so it is
// folded back in.
func (t *harInTimings) timings(mitm bool) record.Timings {
	if t == nil {
		return record.NoTimings
	}
	d := func(p *float64) time.Duration {
		if p == nil || *p < 0 {
			return -1
		}
		return msDuration(*p)
	}
	out := record.Timings{
		Blocked: d(t.Blocked), DNS: d(t.DNS), Connect: d(t.Connect), TLS: d(t.SSL),
		Send: d(t.Send), Wait: d(t.Wait), Receive: d(t.Receive),
	}
	if mitm && out.TLS >= 0 && out.Connect >= 0 {
		out.Connect += out.TLS
	}
	return out
}

// maxExact is the largest whole number a float64 (a JSON number as read)
// holds exactly; counts and microseconds beyond it saturate there, so a
// value read back and written again does not drift.
const maxExact = 1 << 53

// msDuration converts milliseconds to a duration in whole microseconds (the
// precision devproxy exports), saturating instead of overflowing.
func msDuration(ms float64) time.Duration {
	us := math.Round(ms * 1000)
	if us >= maxExact {
		return maxExact * time.Microsecond
	}
	if us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// count reads a non-negative whole number; ok is false when it is missing,
// null, negative or not whole.
func count(p *float64) (int64, bool) {
	if p == nil || *p < 0 || *p != math.Trunc(*p) {
		return 0, false
	}
	return clampInt(*p), true
}

func clampInt(f float64) int64 {
	switch {
	case f != f || f <= 0:
		return 0
	case f >= maxExact:
		return maxExact
	}
	return int64(f)
}

// parseHARTime reads an ISO 8601 date as HAR writers spell it.
func parseHARTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("startedDateTime %q is not an ISO 8601 date and time", s)
}

// jsonError turns a decoding error into one that names the line and column
// and, for a type mismatch, the field.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Errorf("read HAR: line %d, column %d: %w", line, col, err)
	case errors.As(err, &te):
		line, col := valuePosition(data, te.Offset)
		if te.Field == "" {
			return fmt.Errorf("read HAR: not a HAR file: the top level is a JSON %s, not an object", te.Value)
		}
		if te.Field == "log" {
			return fmt.Errorf(`read HAR: not a HAR file: "log" is a JSON %s, not an object (line %d, column %d)`, te.Value, line, col)
		}
		return fmt.Errorf("read HAR: line %d, column %d: %s: expected %s, found a JSON %s", line, col, te.Field, kindName(te.Type), te.Value)
	}
	return fmt.Errorf("read HAR: %w", err)
}

func kindName(t reflect.Type) string {
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8) {
		if t.Kind() == reflect.Slice {
			return "an array"
		}
		t = t.Elem()
	}
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64, reflect.Uint64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// position converts a byte offset (as json errors report it: the bytes
// read up to and including the problem) to a 1-based line and column (in
// characters) of the byte at fault.
func position(data []byte, off int64) (line, col int) {
	if len(data) == 0 {
		return 1, 1
	}
	off = min(max(off, 1), int64(len(data)))
	return lineCol(data, int(off-1))
}

// valuePosition is position for a json.UnmarshalTypeError, whose offset
// lies just past a string, number or literal but just past the opening
// '{' or '[' of an object or array: it reports where the value starts.
func valuePosition(data []byte, off int64) (line, col int) {
	if len(data) == 0 {
		return 1, 1
	}
	return lineCol(data, valueIndex(data, off))
}

// valueIndex is the index in data (not empty) of the start of the value
// that a json.UnmarshalTypeError's offset off points just past (see
// valuePosition).
func valueIndex(data []byte, off int64) int {
	i := int(min(max(off, 1), int64(len(data)))) - 1
	switch data[i] {
	case '{', '[':
	case '"':
		for j := i - 1; j >= 0; j-- {
			if data[j] != '"' {
				continue
			}
			k := j
			for k > 0 && data[k-1] == '\\' {
				k--
			}
			if (j-k)%2 == 0 {
				i = j
				break
			}
		}
	default:
		for i > 0 && strings.IndexByte("0123456789+-.eEtruefalsn", data[i-1]) >= 0 {
			i--
		}
	}
	return i
}

func lineCol(data []byte, i int) (line, col int) {
	before := data[:i]
	line = bytes.Count(before, []byte("\n")) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	col = utf8.RuneCount(before[lineStart:]) + 1
	return line, col
}
