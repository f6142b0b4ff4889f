package record

import "time"

// Tap receives the lifecycle of each exchange from the proxy engine.
//
// Every method must return quickly and never wait for I/O or for readers:
// the proxy calls them on the request path. Recorder implements Tap.
//
// A Tap that also has a Limits() Limits method (Recorder does) tells the
// engine how much of each message to capture: it keeps at most
// MaxBodyCapture bytes of each WebSocket or gRPC message,
// DefaultMaxBodyCapture without it.
type Tap interface {
	// Begin is called when a request's headers have arrived. The returned
	// Recording receives the rest of that exchange's life.
	Begin(b Begin) Recording
}

// Begin describes a request when its headers arrive.
type Begin struct {
	Role       Role
	Start      time.Time
	ClientAddr string
	ReplayOf   uint64
	// Request carries method, URL, proto, host and headers; its Body is
	// filled through Recording.RequestBody. ContentLength sizes the capture
	// buffer (-1 when unknown).
	Request       Request
	ContentLength int64
	// Marks are the exchange's first marks (e.g. the relay's backend).
	Marks []Mark
}

// Recording is the tap's handle on one exchange. Its methods may be called
// from the request-body and response-body goroutines, but calls for the same
// direction never overlap. After Finish, calls are ignored.
type Recording interface {
	// ID is the exchange's id, or 0 when nothing is recorded (capture paused).
	ID() uint64
	// Upstream records where the request is sent.
	Upstream(url string)
	// Sent records the request line and headers that went upstream, when
	// the engine's stages changed them (see Request.Sent). The response's
	// counterpart rides on Response (Response.Upstream).
	Sent(s SentRequest)
	// RequestBody records bytes of the request body as they are read; p is
	// only borrowed for the call.
	RequestBody(p []byte)
	// RequestEnd marks the request body complete and records its trailers.
	RequestEnd(trailer Fields)
	// Response records the response headers (without body) and the address
	// of the upstream connection.
	Response(r Response, serverAddr string)
	// ResponseBody records bytes of the response body as they are written to
	// the client; p is only borrowed for the call.
	ResponseBody(p []byte)
	// Upgraded marks a switched protocol and counts the bytes that crossed
	// it so far, client to upstream (up) and back (down).
	Upgraded(up, down int64)
	// Message records a message that crossed the upgraded connection (a
	// WebSocket message, its fragments joined) or a gRPC call's body (a
	// length-prefixed message; see Message.Opcode), stamped with its time
	// and direction. m.Payload is handed over: the caller must not change it
	// after the call. The recording may keep only part of it, or only
	// count the message (see Exchange.Messages).
	Message(m Message)
	// Mark records what a stage did (see Mark); marks keep their order.
	Mark(m Mark)
	// Finish ends the exchange.
	Finish(f Finish)
}

// Finish is how an exchange ended.
type Finish struct {
	End     time.Time
	Timings Timings
	// Trailer holds the response trailers, if any.
	Trailer Fields
	// ResponseComplete says the response body reached its end.
	ResponseComplete bool
	// Err is nil for success.
	Err *Error
}

// Discard is a Tap that records nothing.
var Discard Tap = discard{}

type discard struct{}

func (discard) Begin(Begin) Recording { return nopRecording{} }

type nopRecording struct{}

func (nopRecording) ID() uint64                { return 0 }
func (nopRecording) Upstream(string)           {}
func (nopRecording) Sent(SentRequest)          {}
func (nopRecording) RequestBody([]byte)        {}
func (nopRecording) RequestEnd(Fields)         {}
func (nopRecording) Response(Response, string) {}
func (nopRecording) ResponseBody([]byte)       {}
func (nopRecording) Upgraded(int64, int64)     {}
func (nopRecording) Message(Message)           {}
func (nopRecording) Mark(Mark)                 {}
func (nopRecording) Finish(Finish)             {}
