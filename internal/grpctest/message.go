package grpctest

import (
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Req is an EchoRequest as a plain Go value.
type Req struct {
	Text    string
	Number  int64
	Tags    []string
	Note    string // Nested.note
	Level   int32  // Nested.level
	Payload []byte
	// ReplySize asks for a payload of that many bytes in each response.
	ReplySize int64
	// Count is how many messages ServerStream sends.
	Count int32
	// Fail, when non-nil, makes the server end the call with this status
	// (after Count messages, for ServerStream).
	Fail *Fail
	// Delay is waited before replying, or until the call's context ends.
	Delay time.Duration
	// CallID names the call for Server.Ended and Server.Step.
	CallID string
	// Step makes ServerStream wait for Server.Step(CallID) before each message
	// after the first.
	Step bool
}

// Fail is the status a call is asked to fail with.
type Fail struct {
	Code    codes.Code
	Message string
	Detail  string // reason of an ErrorDetail put in grpc-status-details-bin; "" for none
}

// Resp is an EchoResponse as a plain Go value.
type Resp struct {
	Text             string
	Number           int64
	Tags             []string
	Note             string
	Level            int32
	Payload          []byte
	Index            int32
	ReceivedMessages int32
	ReceivedBytes    int64
}

func field(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	f := md.Fields().ByName(protoreflect.Name(name))
	if f == nil {
		panic("grpctest: no field " + name + " in " + string(md.FullName()))
	}
	return f
}

func setString(m *dynamicpb.Message, name, v string) {
	if v != "" {
		m.Set(field(m.Descriptor(), name), protoreflect.ValueOfString(v))
	}
}

func setInt64(m *dynamicpb.Message, name string, v int64) {
	if v != 0 {
		m.Set(field(m.Descriptor(), name), protoreflect.ValueOfInt64(v))
	}
}

func setInt32(m *dynamicpb.Message, name string, v int32) {
	if v != 0 {
		m.Set(field(m.Descriptor(), name), protoreflect.ValueOfInt32(v))
	}
}

func setBytes(m *dynamicpb.Message, name string, v []byte) {
	if len(v) > 0 {
		m.Set(field(m.Descriptor(), name), protoreflect.ValueOfBytes(v))
	}
}

func setTags(m *dynamicpb.Message, tags []string) {
	if len(tags) == 0 {
		return
	}
	l := m.Mutable(field(m.Descriptor(), "tags")).List()
	for _, t := range tags {
		l.Append(protoreflect.ValueOfString(t))
	}
}

func setNested(m *dynamicpb.Message, note string, level int32) {
	if note == "" && level == 0 {
		return
	}
	n := m.Mutable(field(m.Descriptor(), "nested")).Message().(*dynamicpb.Message)
	setString(n, "note", note)
	setInt32(n, "level", level)
}

func getString(m protoreflect.Message, name string) string {
	return m.Get(field(m.Descriptor(), name)).String()
}

func getInt64(m protoreflect.Message, name string) int64 {
	return m.Get(field(m.Descriptor(), name)).Int()
}

func getInt32(m protoreflect.Message, name string) int32 {
	return int32(m.Get(field(m.Descriptor(), name)).Int())
}

func getBytes(m protoreflect.Message, name string) []byte {
	return m.Get(field(m.Descriptor(), name)).Bytes()
}

func getTags(m protoreflect.Message) []string {
	l := m.Get(field(m.Descriptor(), "tags")).List()
	var tags []string
	for i := range l.Len() {
		tags = append(tags, l.Get(i).String())
	}
	return tags
}

func getNested(m protoreflect.Message) (string, int32) {
	n := m.Get(field(m.Descriptor(), "nested")).Message()
	return getString(n, "note"), getInt32(n, "level")
}

// Message returns r as a dynamic EchoRequest.
func (r Req) Message() *dynamicpb.Message {
	m := dynamicpb.NewMessage(reqDesc)
	setString(m, "text", r.Text)
	setInt64(m, "number", r.Number)
	setTags(m, r.Tags)
	setNested(m, r.Note, r.Level)
	setBytes(m, "payload", r.Payload)
	setInt64(m, "reply_size", r.ReplySize)
	setInt32(m, "count", r.Count)
	if r.Fail != nil {
		f := m.Mutable(field(reqDesc, "fail")).Message().(*dynamicpb.Message)
		setInt32(f, "code", int32(r.Fail.Code))
		setString(f, "message", r.Fail.Message)
		setString(f, "detail", r.Fail.Detail)
	}
	if r.Delay != 0 {
		m.Set(field(reqDesc, "delay"), protoreflect.ValueOfMessage(dynamicFrom(durationpb.New(r.Delay))))
	}
	setString(m, "call_id", r.CallID)
	if r.Step {
		m.Set(field(reqDesc, "step"), protoreflect.ValueOfBool(true))
	}
	return m
}

// dynamicFrom copies a Duration into a dynamic message of the same type, since
// a dynamic EchoRequest holds dynamic submessages.
func dynamicFrom(d *durationpb.Duration) *dynamicpb.Message {
	md := field(reqDesc, "delay").Message()
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("seconds"), protoreflect.ValueOfInt64(d.Seconds))
	m.Set(md.Fields().ByName("nanos"), protoreflect.ValueOfInt32(d.Nanos))
	return m
}

// reqOf reads an EchoRequest.
func reqOf(m protoreflect.Message) Req {
	r := Req{
		Text:      getString(m, "text"),
		Number:    getInt64(m, "number"),
		Tags:      getTags(m),
		Payload:   getBytes(m, "payload"),
		ReplySize: getInt64(m, "reply_size"),
		Count:     getInt32(m, "count"),
		CallID:    getString(m, "call_id"),
		Step:      m.Get(field(reqDesc, "step")).Bool(),
	}
	r.Note, r.Level = getNested(m)
	if m.Has(field(reqDesc, "fail")) {
		f := m.Get(field(reqDesc, "fail")).Message()
		r.Fail = &Fail{Code: codes.Code(getInt32(f, "code")), Message: getString(f, "message"), Detail: getString(f, "detail")}
	}
	if m.Has(field(reqDesc, "delay")) {
		d := m.Get(field(reqDesc, "delay")).Message()
		r.Delay = time.Duration(getInt64(d, "seconds"))*time.Second + time.Duration(getInt32(d, "nanos"))
	}
	return r
}

// Message returns r as a dynamic EchoResponse.
func (r Resp) Message() *dynamicpb.Message {
	m := dynamicpb.NewMessage(respDesc)
	setString(m, "text", r.Text)
	setInt64(m, "number", r.Number)
	setTags(m, r.Tags)
	setNested(m, r.Note, r.Level)
	setBytes(m, "payload", r.Payload)
	setInt32(m, "index", r.Index)
	setInt32(m, "received_messages", r.ReceivedMessages)
	setInt64(m, "received_bytes", r.ReceivedBytes)
	return m
}

// respOf reads an EchoResponse.
func respOf(m protoreflect.Message) Resp {
	r := Resp{
		Text:             getString(m, "text"),
		Number:           getInt64(m, "number"),
		Tags:             getTags(m),
		Payload:          getBytes(m, "payload"),
		Index:            getInt32(m, "index"),
		ReceivedMessages: getInt32(m, "received_messages"),
		ReceivedBytes:    getInt64(m, "received_bytes"),
	}
	r.Note, r.Level = getNested(m)
	return r
}
