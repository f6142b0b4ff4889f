// Package record holds what devproxy saw: exchanges (a request, its response,
// bodies as captured, timings, errors and marks), the bounded Recorder that
// keeps the recent ones, the Tap through which the engine reports each
// exchange's life, and the events and sinks that tell readers what changed.
// Formats, search, redaction and body decoding live in their own packages
// (har, export, match, redact, body), which build on this one.
//
// It imports only the standard library so that every other package may use it.
package record

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Role says which devproxy role recorded an exchange.
type Role string

// Roles.
const (
	RoleServe Role = "serve"
	RoleAgent Role = "agent"
	RoleRelay Role = "relay"
	RoleView  Role = "view" // imported from a HAR file
)

// State is an exchange's progress.
type State uint8

// States.
const (
	InFlight State = iota // request seen, response not finished
	Done                  // finished: response complete, failed or canceled
)

func (s State) String() string {
	if s == Done {
		return "done"
	}
	return "in flight"
}

// ErrorKind classifies why an exchange failed.
type ErrorKind string

// Error kinds.
const (
	ErrUnreachable ErrorKind = "unreachable" // connection refused, no route, reset before a response
	ErrDNS         ErrorKind = "dns"         // the target's name did not resolve
	ErrTLS         ErrorKind = "tls"         // TLS handshake or certificate failure with the target
	ErrTimeout     ErrorKind = "timeout"     // the target did not answer in time
	ErrCanceled    ErrorKind = "canceled"    // the client went away
	ErrTunnelLost  ErrorKind = "tunnel lost" // the agent's tunnel dropped mid-exchange
	ErrNoAgent     ErrorKind = "no agent"    // relay: no agent connected for the backend
	ErrProtocol    ErrorKind = "protocol"    // the target sent something that is not HTTP
	ErrLoop        ErrorKind = "loop"        // the request came back to this devproxy
	ErrAborted     ErrorKind = "aborted"     // the response broke off after its headers were sent
	ErrRejected    ErrorKind = "rejected"    // refused by devproxy itself (CONNECT, bad request)
	ErrInternal    ErrorKind = "internal"
)

// Error says why an exchange failed and what the client was told.
type Error struct {
	Kind    ErrorKind
	Message string
	// Status is the status devproxy wrote to the client (502, 504, 508...),
	// or 499 when the client was gone and nothing was written.
	Status int
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

// Field is one header or trailer line.
type Field struct {
	Name, Value string
}

// Fields is an ordered list of header lines; a name may repeat.
type Fields []Field

// FieldsFromHeader turns an http.Header into Fields. net/http does not keep
// the order in which different names arrived, so names are sorted; the values
// of one name keep their received order.
func FieldsFromHeader(h http.Header) Fields {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	n := 0
	for k, vs := range h {
		names = append(names, k)
		n += len(vs)
	}
	sort.Strings(names)
	out := make(Fields, 0, n)
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, Field{k, v})
		}
	}
	return out
}

// Get returns the first value of the named field (case-insensitive), or "".
func (f Fields) Get(name string) string {
	for _, x := range f {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// Values returns every value of the named field, in order.
func (f Fields) Values(name string) []string {
	var out []string
	for _, x := range f {
		if strings.EqualFold(x.Name, name) {
			out = append(out, x.Value)
		}
	}
	return out
}

// Header converts back to an http.Header.
func (f Fields) Header() http.Header {
	h := make(http.Header, len(f))
	for _, x := range f {
		h[http.CanonicalHeaderKey(x.Name)] = append(h[http.CanonicalHeaderKey(x.Name)], x.Value)
	}
	return h
}

// Body is a captured message body: the bytes as they crossed the wire after
// transfer decoding (chunking removed) but with any Content-Encoding intact.
type Body struct {
	// Bytes holds the captured prefix, at most the recorder's per-body cap.
	// Readers must not modify it.
	Bytes []byte
	// Size is how many bytes passed in total, captured or not.
	Size int64
	// Truncated is set when Size exceeds len(Bytes).
	Truncated bool
	// Complete is set when the body reached its end (EOF). A body that broke
	// off, or was never read, is not complete.
	Complete bool
}

// Request is the client's request as devproxy received it.
type Request struct {
	Method string
	// URL is the absolute URL the client asked for (scheme and host from the
	// connection and Host header).
	URL string
	// UpstreamURL is where devproxy sent it; empty until known.
	UpstreamURL string
	Proto       string
	Host        string
	Header      Fields
	Trailer     Fields
	Body        Body
	// Sent is the request line and headers as they went upstream, when the
	// engine's stages (rules, a breakpoint edit) changed them; nil when
	// what went upstream is the client's request. A changed body is not
	// kept twice: the marks say which rule changed it.
	Sent *SentRequest
}

// SentRequest is what went upstream of a request that stages changed.
// Headers that belong to one hop (HopHeader) are left out of it.
type SentRequest struct {
	Method string
	// URL is the request target as the stages left it: the path and
	// query, before the upstream's base path is joined (the full URL it
	// went to is Request.UpstreamURL).
	URL    string
	Header Fields
}

// Response is the target's response as devproxy passed it to the client.
type Response struct {
	Status  int
	Reason  string // reason phrase, e.g. "Not Found"
	Proto   string
	Header  Fields
	Trailer Fields
	Body    Body
	// Upstream is the status and headers as the upstream (or a stage's
	// own answer) gave them, when response stages (rules, a breakpoint
	// edit) changed them before the client got them; nil otherwise. A
	// changed body is not kept twice: the marks say which rule changed it.
	Upstream *UpstreamResponse
}

// UpstreamResponse is a response's status and headers before the
// engine's response stages changed them.
type UpstreamResponse struct {
	Status int
	Header Fields
}

// HopHeader reports whether a request header belongs to one hop rather
// than to the request, so that a comparison of what the client sent with
// what went upstream leaves it out: the hop-by-hop headers (RFC 9110
// §7.6.1), Via, and the forwarding headers (Forwarded, X-Forwarded-*) a
// proxy sets for itself.
func HopHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Via", "Forwarded":
		return true
	}
	return len(name) > len("x-forwarded-") && strings.EqualFold(name[:len("x-forwarded-")], "x-forwarded-")
}

// Timings are the phases of an exchange. A negative value means the phase did
// not happen (e.g. no DNS lookup on a reused connection). TLS lies inside
// Connect, as in HAR.
type Timings struct {
	Blocked time.Duration // waiting for a connection, besides DNS and connect
	DNS     time.Duration
	Connect time.Duration // TCP connect, including TLS
	TLS     time.Duration
	Send    time.Duration // writing the request headers and body
	Wait    time.Duration // from the request written to the first response byte
	Receive time.Duration // from the first response byte to the end of the body
}

// NoTimings has every phase marked as not applicable.
var NoTimings = Timings{-1, -1, -1, -1, -1, -1, -1}

// Total is the sum of the phases that happened, TLS excluded (it is inside
// Connect).
func (t Timings) Total() time.Duration {
	var sum time.Duration
	for _, d := range []time.Duration{t.Blocked, t.DNS, t.Connect, t.Send, t.Wait, t.Receive} {
		if d > 0 {
			sum += d
		}
	}
	return sum
}

// Mark is one thing a stage of the engine did to an exchange, as a short
// name and value: the backend or route chosen ("backend"="web"), the
// upstream, an attempt, a held or mocked answer, a cache status. Stages add
// marks through Recording.Mark; the UI, logs and exports show them in order.
type Mark struct {
	// Stage names who made the mark ("relay", "route", "retry", "cache"…).
	Stage string
	// Name and Value say what was decided.
	Name, Value string
}

// String is "name=value", or "stage: name=value" when the stage differs
// from the name.
func (m Mark) String() string {
	s := m.Name
	if m.Value != "" {
		s += "=" + m.Value
	}
	if m.Stage != "" && m.Stage != m.Name {
		s = m.Stage + ": " + s
	}
	return s
}

// Mark returns the value of the last mark with the given name, if any.
func (e *Exchange) Mark(name string) (string, bool) {
	for i := len(e.Marks) - 1; i >= 0; i-- {
		if e.Marks[i].Name == name {
			return e.Marks[i].Value, true
		}
	}
	return "", false
}

// Exchange is one request and what became of it.
type Exchange struct {
	ID uint64
	// Version increases on every change, so readers can cache by (ID, Version).
	Version uint64
	Role    Role
	Start   time.Time
	End     time.Time // zero while in flight
	State   State
	// ClientAddr is the client's address (host:port) as the listener saw it.
	ClientAddr string
	// ServerAddr is the upstream address devproxy connected to, if known.
	ServerAddr string
	// ReplayOf is the ID of the exchange this one replays, or 0.
	ReplayOf uint64
	Request  Request
	// Response is nil until response headers arrive.
	Response *Response
	Timings  Timings
	// Err is set when the exchange failed.
	Err *Error
	// Upgraded is set after a 101 Switching Protocols (WebSocket); the bytes
	// that crossed the upgraded connection are counted each way.
	Upgraded             bool
	UpgradeUp, UpgradeDn int64
	// Marks say what the engine's stages did to the exchange, in order.
	Marks []Mark
	// BodiesDecoded is set on exchanges read from a HAR file: HAR holds
	// bodies with their Content-Encoding already undone, so Request.Body and
	// Response.Body hold decoded bytes while the headers still name the
	// original coding. Read bodies with package body (body.Request,
	// body.Response), which knows this, rather than decoding Body.Bytes
	// yourself. False for live traffic.
	BodiesDecoded bool
	// Messages are the messages that crossed an upgraded connection
	// (WebSocket frames, reassembled), or the length-prefixed messages of
	// a gRPC call's request and response bodies, oldest first, recorded
	// as they passed (both directions interleaved in time; the bodies
	// hold the same bytes). A live recording keeps
	// the first MaxMessages, as it keeps a body's first bytes, and each
	// payload within the body capture limit; MessagesDropped counts the
	// messages after those.
	Messages        []Message
	MessagesDropped int
}

// Direction is which way a message went.
type Direction uint8

// Directions.
const (
	ToServer Direction = iota // client → server (sent)
	ToClient                  // server → client (received)
)

func (d Direction) String() string {
	if d == ToClient {
		return "receive"
	}
	return "send"
}

// Message is one message of a message-oriented protocol on an exchange: a
// WebSocket message (its fragments joined), or a length-prefixed message
// of a gRPC, gRPC-Web or Connect streaming call (an exchange whose
// request Content-Type is one of theirs; see grpcwire.ProtocolOf).
type Message struct {
	// Time is when the message's last byte passed devproxy.
	Time time.Time
	Dir  Direction
	// Opcode is, for WebSocket, the opcode: 1 text, 2 binary, 8 close,
	// 9 ping, 10 pong.
	//
	// For a gRPC call it is the envelope's flag byte as sent: 0 a message,
	// 1 a compressed one (grpc-encoding; Compressed is set); for gRPC-Web
	// also 0x80 the trailer frame (0x81 compressed), whose payload is
	// the call's trailers as "name: value" lines; for Connect streaming
	// also 0x02 the end-of-stream message (0x03 compressed), whose payload
	// is JSON with the error and trailing metadata.
	Opcode byte
	// Size is the payload's full length; Payload holds up to the capture
	// limit of it (unmasked), and Truncated says bytes were left out.
	Size      int64
	Payload   []byte
	Truncated bool
	// Compressed is set for a message sent compressed (WebSocket
	// permessage-deflate RSV1, gRPC's compressed flag); Payload holds it as
	// sent.
	Compressed bool
	// CloseCode and CloseReason are a close frame's status code (0 when it
	// had none) and reason.
	CloseCode   int
	CloseReason string
}

// Duration is how long the exchange took, or has taken so far at now.
func (e *Exchange) Duration(now time.Time) time.Duration {
	if !e.End.IsZero() {
		return e.End.Sub(e.Start)
	}
	return now.Sub(e.Start)
}

// Status is the status the client saw: the response's, or the one devproxy
// wrote for a failure (499 when nothing was written). 0 while in flight.
func (e *Exchange) Status() int {
	if e.Err != nil && e.Err.Status != 0 {
		return e.Err.Status
	}
	if e.Response != nil {
		return e.Response.Status
	}
	return 0
}

// ContentType is the response's media type without parameters, or "".
// ResponseSize is the size a list shows and sorts by: the response body's,
// or the bytes both ways of an upgraded exchange (a WebSocket); -1 without
// a response.
func (e *Exchange) ResponseSize() int64 {
	switch {
	case e.Response == nil:
		return -1
	case e.Upgraded:
		return e.UpgradeUp + e.UpgradeDn
	}
	return e.Response.Body.Size
}

func (e *Exchange) ContentType() string {
	if e.Response == nil {
		return ""
	}
	ct := e.Response.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(strings.ToLower(ct))
}

// Label is the short "#N" form used in the UI and logs.
func (e *Exchange) Label() string { return "#" + strconv.FormatUint(e.ID, 10) }

// clone returns a copy that shares only immutable data with e: field slices
// are replaced, never edited, and body bytes and messages are append-only,
// so a slice of what was captured stays valid.
func (e *Exchange) clone() Exchange {
	c := *e
	c.Request.Body.Bytes = e.Request.Body.Bytes[:len(e.Request.Body.Bytes):len(e.Request.Body.Bytes)]
	// Messages are append-only too: capping the copy keeps an append to it
	// from writing where the recorder appends next.
	c.Messages = e.Messages[:len(e.Messages):len(e.Messages)]
	if e.Response != nil {
		r := *e.Response
		r.Body.Bytes = r.Body.Bytes[:len(r.Body.Bytes):len(r.Body.Bytes)]
		c.Response = &r
	}
	return c
}
