// Package grpcwire reads gRPC messages off the wire without a schema. A
// Splitter cuts the body of one direction of a gRPC (or gRPC-Web, or
// Connect streaming) call into its length-prefixed messages as the bytes
// pass, in chunks of any size; DecodeRaw renders one protobuf message the
// way `protoc --decode_raw` does.
//
// Both are built for an observer that must never disturb the traffic: the
// Splitter allocates by the bytes that arrive and never by the lengths a
// peer declares, keeps at most a fixed number of bytes of each message,
// and on a malformed prefix stops and says why once. DecodeRaw bounds its
// recursion and its output, whatever the input.
//
// It imports only the standard library.
package grpcwire

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Protocol says which envelope flags a Splitter accepts.
type Protocol int

const (
	// GRPC is gRPC over HTTP/2 (application/grpc…): flag 0 or 1
	// (compressed).
	GRPC Protocol = iota
	// GRPCWeb is binary gRPC-Web (application/grpc-web, +proto, +json):
	// flags 0 and 1, plus 0x80 and 0x81 for the trailer frame.
	GRPCWeb
	// Connect is Connect streaming (application/connect+…): flags 0 and 1,
	// plus 0x02 and 0x03 for the end-of-stream message (JSON).
	Connect
	// GRPCWebText is gRPC-Web text mode (application/grpc-web-text): the
	// GRPCWeb stream in base64, padded wherever the sender flushed. The
	// Splitter decodes it as it arrives; offsets in its errors count
	// decoded bytes.
	GRPCWebText
)

// String returns the protocol's name.
func (p Protocol) String() string {
	switch p {
	case GRPC:
		return "gRPC"
	case GRPCWeb:
		return "gRPC-Web"
	case Connect:
		return "Connect"
	case GRPCWebText:
		return "gRPC-Web text"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// ProtocolOf returns the envelope protocol of a body with the given
// Content-Type, and false when the body is not a stream of length-prefixed
// messages: another type, or Connect unary (application/proto, no
// envelope). It reads the media type before any parameters, without
// regard to case, and allocates nothing: the engine and the filter ask it
// of every exchange.
func ProtocolOf(contentType string) (Protocol, bool) {
	const app = "application/"
	ct := strings.TrimLeft(contentType, " \t")
	if len(ct) < len(app)+len("grpc") || !strings.EqualFold(ct[:len(app)], app) {
		return 0, false
	}
	mt, _, _ := strings.Cut(ct, ";")
	base, _, plus := strings.Cut(strings.TrimSpace(mt), "+")
	switch {
	case strings.EqualFold(base, "application/grpc"):
		return GRPC, true
	case strings.EqualFold(base, "application/grpc-web"):
		return GRPCWeb, true
	case strings.EqualFold(base, "application/grpc-web-text"):
		return GRPCWebText, true
	case strings.EqualFold(base, "application/connect") && plus: // application/connect alone is no Connect type
		return Connect, true
	}
	return 0, false
}

// Limits a Splitter applies when its fields leave them zero.
const (
	// DefaultLimit is the largest message length a Splitter believes by
	// default. gRPC allows up to 4 GiB; a larger declared length in a
	// proxied development call almost always means the bytes are not gRPC.
	DefaultLimit = 256 << 20
	// TrailerMax is how many bytes of a gRPC-Web trailer frame or Connect
	// end-of-stream message are kept even when Splitter.Max is smaller, so
	// that the call's status is seen whatever the capture cap.
	TrailerMax = 16 << 10
)

// Envelope flag bits.
const (
	flagCompressed = 0x01
	flagEndStream  = 0x02 // Connect
	flagTrailer    = 0x80 // gRPC-Web
)

// prefixLen is the length of a message prefix: flag byte, 4-byte length.
const prefixLen = 5

// ErrMalformed is wrapped by the error a Splitter stops on: the bytes are
// not a stream of length-prefixed messages of its Protocol.
var ErrMalformed = errors.New("not a stream of gRPC length-prefixed messages")

// ErrIncomplete is wrapped by the error End returns when the stream ended
// inside a message.
var ErrIncomplete = errors.New("stream ended inside a gRPC message")

// Message is one length-prefixed message.
type Message struct {
	// Flags is the envelope's flag byte as sent.
	Flags byte
	// Compressed is set when the flag's low bit is: the payload is
	// compressed with the call's grpc-encoding (Connect:
	// connect-content-encoding) and is kept here as sent.
	Compressed bool
	// Trailer marks a gRPC-Web trailer frame: the payload is an HTTP/1
	// style header block (see Trailers), always the last frame.
	Trailer bool
	// EndStream marks a Connect end-of-stream message: the payload is JSON
	// with the error, if any, and the trailing metadata.
	EndStream bool
	// Size is the declared length of the payload; Payload holds its first
	// bytes (at most the Splitter's Max, or TrailerMax for a trailer frame
	// or end-of-stream message), and Truncated says bytes were left out.
	Size      int64
	Payload   []byte
	Truncated bool
}

// Trailers parses a gRPC-Web trailer frame's payload (`key: value` lines
// separated by CRLF) into a header with canonical keys. It returns nil when
// m is not a trailer frame or is compressed; lines without a colon are
// skipped, so a truncated payload yields the trailers it holds.
func (m Message) Trailers() http.Header {
	if !m.Trailer || m.Compressed {
		return nil
	}
	h := http.Header{}
	for line := range strings.SplitSeq(string(m.Payload), "\n") {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(k), strings.TrimSpace(v))
	}
	return h
}

// Splitter cuts one direction of a call's body into messages. Set its
// fields, then Write the body's bytes as they pass. The zero value splits
// gRPC and keeps no payload bytes. A Splitter is not safe for concurrent
// use; use one per direction.
type Splitter struct {
	// Protocol says which envelope flags are valid, and for GRPCWebText
	// that the stream is in base64; default GRPC.
	Protocol Protocol
	// Max is how many payload bytes of each message are kept; the rest are
	// counted in Size only. 0 (or less) keeps none (but see TrailerMax).
	Max int
	// Limit is the largest declared message length believed; a longer one
	// stops the Splitter with an error. 0 means DefaultLimit.
	Limit int64

	err error
	off int64 // bytes consumed so far, for error messages

	// GRPCWebText: the base64 quantum being collected, and the bytes
	// decoded from the chunk being written.
	quad      [4]byte
	qlen      int
	decoded   []byte
	badBase64 string // the quantum decoding stopped at

	// slab is where small payloads are carved from, so that a stream of
	// many small messages costs a few allocations instead of one each;
	// slabSize is the size of the last slab, which doubles up to slabMax.
	slab     []byte
	slabSize int

	pre  [prefixLen]byte
	plen int // prefix bytes collected

	inMsg bool
	msg   Message // the message whose payload is being read
	left  int64   // payload bytes still to come
	keep  int     // payload bytes to keep in total
}

// Err returns the error that stopped the Splitter, or nil.
func (s *Splitter) Err() error { return s.err }

// Write feeds the next bytes of the stream and returns the messages they
// completed, in order. Each message's Payload is fresh memory that the
// Splitter never touches again. p is only read during the call.
//
// When the bytes are malformed (a flag the Protocol does not use, a length
// over the Limit, for GRPCWebText characters that are not base64), Write
// returns the messages completed before them and an error wrapping
// ErrMalformed, which names the offset and the problem; from then on it
// ignores its input and returns that error again.
func (s *Splitter) Write(p []byte) ([]Message, error) {
	if s.Protocol == GRPCWebText && s.err == nil {
		p = s.unbase64(p)
	}
	var out []Message
	for len(p) > 0 && s.err == nil {
		if !s.inMsg {
			k := copy(s.pre[s.plen:], p)
			s.plen += k
			s.off += int64(k)
			p = p[k:]
			if s.plen < prefixLen {
				break
			}
			s.plen = 0
			s.start()
			if s.err == nil && s.left == 0 {
				out = append(out, s.finish())
			}
			continue
		}
		k := int(min(s.left, int64(len(p))))
		if room := s.keep - len(s.msg.Payload); room > 0 {
			s.msg.Payload = append(s.msg.Payload, p[:min(k, room)]...)
		}
		s.left -= int64(k)
		s.off += int64(k)
		p = p[k:]
		if s.left == 0 {
			out = append(out, s.finish())
		}
	}
	if s.err == nil && s.badBase64 != "" {
		s.err = fmt.Errorf("grpcwire: %w: the gRPC-Web text body has %s, which is not base64, after decoded byte %d",
			ErrMalformed, s.badBase64, s.off)
	}
	return out, s.err
}

// End reports how the stream ended, once its last byte was written: nil
// when it ended between messages, the error that stopped the Splitter, or
// an error wrapping ErrIncomplete when it ended inside a message.
func (s *Splitter) End() error {
	switch {
	case s.err != nil:
		return s.err
	case s.inMsg:
		return fmt.Errorf("grpcwire: %w: message at byte %d has %d of its %d bytes; the call was cut short",
			ErrIncomplete, s.off-(s.msg.Size-s.left)-prefixLen, s.msg.Size-s.left, s.msg.Size)
	case s.qlen > 0:
		return fmt.Errorf("grpcwire: %w: %d base64 characters left over after byte %d; the call was cut short",
			ErrIncomplete, s.qlen, s.off)
	case s.plen > 0:
		return fmt.Errorf("grpcwire: %w: %d of the 5 prefix bytes at byte %d; the call was cut short",
			ErrIncomplete, s.plen, s.off-int64(s.plen))
	}
	return nil
}

// start checks the whole prefix in s.pre and begins its message.
func (s *Splitter) start() {
	at := s.off - prefixLen
	flags := s.pre[0]
	size := int64(binary.BigEndian.Uint32(s.pre[1:]))
	limit := s.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if why := s.badFlags(flags); why != "" {
		s.err = fmt.Errorf("grpcwire: %w: message at byte %d: flag byte 0x%02x %s", ErrMalformed, at, flags, why)
		return
	}
	if size > limit {
		s.err = fmt.Errorf("grpcwire: %w: message at byte %d declares %d bytes, over the limit of %d; the body is probably not %v (if it is, raise the limit)",
			ErrMalformed, at, size, limit, s.Protocol)
		return
	}
	s.msg = Message{
		Flags:      flags,
		Compressed: flags&flagCompressed != 0,
		Trailer:    (s.Protocol == GRPCWeb || s.Protocol == GRPCWebText) && flags&flagTrailer != 0,
		EndStream:  s.Protocol == Connect && flags&flagEndStream != 0,
		Size:       size,
	}
	s.keep = max(s.Max, 0)
	if s.msg.Trailer || s.msg.EndStream {
		s.keep = max(s.keep, TrailerMax)
	}
	if n := int(min(int64(s.keep), size)); n > 0 {
		s.msg.Payload = s.alloc(n)
	}
	s.left = size
	s.inMsg = true
}

// Slab sizes: payloads up to slabPiece bytes are carved from slabs that
// start at the first payload's size and double up to slabMax, so a unary
// call's one message takes exactly its size and a long stream's take
// about one allocation per slabMax bytes.
const (
	slabPiece = 4 << 10
	slabMax   = 64 << 10
)

// alloc returns an empty slice with room for n payload bytes, fresh memory
// no other message shares (its capacity is exactly n).
func (s *Splitter) alloc(n int) []byte {
	if n > slabPiece {
		return make([]byte, 0, n)
	}
	if len(s.slab) < n {
		s.slabSize = min(max(2*s.slabSize, n), slabMax)
		s.slab = make([]byte, s.slabSize)
	}
	p := s.slab[:0:n]
	s.slab = s.slab[n:]
	return p
}

// badFlags says what is wrong with a flag byte under s.Protocol, or "".
func (s *Splitter) badFlags(flags byte) string {
	switch s.Protocol {
	case GRPCWeb, GRPCWebText:
		if flags&^(flagTrailer|flagCompressed) == 0 {
			return ""
		}
		return "is not 0x00, 0x01 (compressed), 0x80 or 0x81 (trailers); the body is not gRPC-Web"
	case Connect:
		if flags&^(flagEndStream|flagCompressed) == 0 {
			return ""
		}
		return "is not 0x00, 0x01 (compressed), 0x02 or 0x03 (end of stream); the body is not Connect streaming"
	default:
		if flags&^flagCompressed == 0 {
			return ""
		}
		if flags&^(flagTrailer|flagCompressed) == 0 {
			return "marks a gRPC-Web trailer frame; read the body as gRPC-Web (content type application/grpc-web)"
		}
		return "is not 0 (uncompressed) or 1 (compressed); the body is not gRPC"
	}
}

// finish ends the message in progress and returns it.
func (s *Splitter) finish() Message {
	m := s.msg
	m.Truncated = int64(len(m.Payload)) < m.Size
	s.msg = Message{}
	s.inMsg = false
	return m
}

// unbase64 decodes the next base64 characters of a GRPCWebText stream and
// returns the bytes they complete, in memory that the next call reuses.
// Padding may end any 4-character quantum, since the sender pads at each
// flush. Decoding stops at a quantum that is not base64; Write reports it
// once it has split the bytes before it.
func (s *Splitter) unbase64(p []byte) []byte {
	s.decoded = s.decoded[:0]
	for len(p) > 0 {
		if s.qlen > 0 || len(p) < 4 {
			k := copy(s.quad[s.qlen:], p)
			s.qlen += k
			p = p[k:]
			if s.qlen < 4 {
				break
			}
			s.qlen = 0
			if !s.decode(s.quad[:]) {
				break
			}
			continue
		}
		// Whole quanta straight from p, up to and including the first one
		// that holds padding.
		n := len(p) &^ 3
		if i := bytes.IndexByte(p[:n], '='); i >= 0 {
			n = i&^3 + 4
		}
		if !s.decode(p[:n]) {
			break
		}
		p = p[n:]
	}
	return s.decoded
}

// decode appends the bytes of whole base64 quanta q to s.decoded and
// returns true, or stops decoding at the first quantum that is not base64
// (carriage returns and newlines included, which the decoder would skip)
// and returns false.
func (s *Splitter) decode(q []byte) bool {
	enc := base64.StdEncoding
	if !bytes.ContainsAny(q, "\r\n") {
		n := len(s.decoded)
		s.decoded = slices.Grow(s.decoded, enc.DecodedLen(len(q)))
		k, err := enc.Decode(s.decoded[n:n+enc.DecodedLen(len(q))], q)
		if err == nil {
			s.decoded = s.decoded[:n+k]
			return true
		}
		s.decoded = s.decoded[:n]
	}
	for ; len(q) >= 4; q = q[4:] {
		var out [3]byte
		k, err := enc.Decode(out[:], q[:4])
		if err != nil || bytes.ContainsAny(q[:4], "\r\n") {
			s.badBase64 = fmt.Sprintf("%q", q[:4])
			return false
		}
		s.decoded = append(s.decoded, out[:k]...)
	}
	return true
}
