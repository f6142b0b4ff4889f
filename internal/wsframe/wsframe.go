// Package wsframe reads WebSocket (RFC 6455) frames passively. A Parser is
// fed the bytes of one direction of an upgraded connection as they pass, in
// chunks of any size; it joins fragmented messages and reports each whole
// message with its size and up to a fixed number of its payload bytes.
//
// It is built for an observer that must never disturb the traffic: it
// cannot fail a write, it allocates by the bytes that arrive and never by
// the lengths a peer declares (so memory stays within the cap whatever the
// peer sends), and on a protocol error it stops reading that direction and
// says why once.
//
// Compressed messages (permessage-deflate, RFC 7692) are reported as sent,
// marked Compressed: with context takeover a message can only be inflated
// by inflating every message before it, which a capped capture cannot do.
//
// It imports only the standard library.
package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// maxControl is the largest payload a control frame may carry.
const maxControl = 125

// ErrProtocol is wrapped by every error a Parser reports: the bytes were
// not a valid WebSocket frame stream.
var ErrProtocol = errors.New("websocket protocol error")

// Message is one whole message: a data message with its fragments joined,
// or a control frame (close, ping, pong).
type Message struct {
	// Opcode is the first frame's opcode: OpText, OpBinary, OpClose, OpPing
	// or OpPong.
	Opcode byte
	// Size is the payload's full length; Payload holds its first bytes,
	// unmasked, at most the Parser's Max, and Truncated says bytes were left
	// out.
	Size      int64
	Payload   []byte
	Truncated bool
	// Compressed is set when the first frame had RSV1, which
	// permessage-deflate uses to mark a compressed message. Payload holds
	// the bytes as sent.
	Compressed bool
	// CloseCode and CloseReason are a close frame's status code (0 when it
	// had none) and reason, read from its whole payload whatever Max is.
	CloseCode   int
	CloseReason string
}

// Parser reads the frames of one direction of a WebSocket connection. Set
// its fields, then Write the bytes as they pass. A Parser is not safe for
// concurrent use; use one per direction.
type Parser struct {
	// Max is how many payload bytes of each message are kept; the rest are
	// counted in Size only. 0 (or less) keeps none.
	Max int
	// Message, if set, is called with each whole message, in order, from
	// within Write. The message's Payload is fresh memory that the parser
	// never touches again: the callee may keep it.
	Message func(Message)
	// Error, if set, is called once, from within Write, with the error
	// that stopped the parser (it wraps ErrProtocol).
	Error func(error)

	err error
	off int64 // bytes consumed so far, for error messages

	// The frame header being read.
	hdr  [14]byte
	hlen int // header bytes collected

	// The frame whose payload is being read.
	inFrame bool
	fin     bool
	op      byte
	masked  bool
	key     [4]byte
	left    int64 // payload bytes still to come
	pos     int   // payload bytes seen so far, modulo 4 (the mask index)
	start   int64 // offset of the frame, for error messages

	// The data message being assembled (possibly over several frames).
	data message
	// The control frame being read; at most maxControl bytes, so kept
	// whole here whatever Max is.
	ctl  [maxControl]byte
	ctlN int
}

// message is a data message in progress.
type message struct {
	active     bool
	op         byte
	compressed bool
	size       int64
	buf        []byte
}

// Err returns the error that stopped the parser, or nil.
func (p *Parser) Err() error { return p.err }

// Write feeds the next bytes of the stream. It never fails and always
// returns len(b), nil, so that it can sit beside the real copy (an
// io.MultiWriter, a tee) without changing it; after a protocol error it
// ignores what follows. b is only read during the call.
func (p *Parser) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 && p.err == nil {
		if !p.inFrame {
			b = p.readHeader(b)
			continue
		}
		k := int(min(p.left, int64(len(b))))
		p.payload(b[:k])
		b = b[k:]
		p.off += int64(k)
		if p.left == 0 {
			p.endFrame()
		}
	}
	return n, nil
}

// headerLen is the length of a header whose second byte is b1.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// readHeader collects header bytes from b and starts the frame once the
// header is whole. It returns what is left of b.
func (p *Parser) readHeader(b []byte) []byte {
	need := 2
	for {
		if p.hlen >= 2 {
			need = headerLen(p.hdr[1])
		}
		k := copy(p.hdr[p.hlen:need], b)
		p.hlen += k
		p.off += int64(k)
		b = b[k:]
		if p.hlen < need {
			return b // wait for more
		}
		if p.hlen == headerLen(p.hdr[1]) {
			p.startFrame()
			return b
		}
	}
}

// startFrame decodes and checks the whole header in p.hdr.
func (p *Parser) startFrame() {
	h := p.hdr[:p.hlen]
	p.start = p.off - int64(p.hlen)
	p.hlen = 0
	fin, rsv, op := h[0]&0x80 != 0, h[0]&0x70, h[0]&0x0f
	p.masked = h[1]&0x80 != 0
	var length uint64
	rest := h[2:]
	switch h[1] & 0x7f {
	case 126:
		length, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		length, rest = binary.BigEndian.Uint64(rest), rest[8:]
	default:
		length = uint64(h[1] & 0x7f)
	}
	if p.masked {
		copy(p.key[:], rest)
	}
	control := op&0x8 != 0
	switch {
	case length > 1<<63-1:
		p.fail("payload length %d has its most significant bit set", length)
	case rsv&0x30 != 0:
		p.fail("reserved bits RSV2/RSV3 set (%#x) with no extension that defines them", rsv)
	case op > OpBinary && op < OpClose, op > OpPong:
		p.fail("reserved opcode %#x", op)
	case control && !fin:
		p.fail("fragmented control frame (opcode %#x)", op)
	case control && length > maxControl:
		p.fail("control frame (opcode %#x) of %d bytes; at most %d are allowed", op, length, maxControl)
	case control && rsv != 0:
		p.fail("control frame (opcode %#x) with RSV1 set", op)
	case op == OpContinuation && !p.data.active:
		p.fail("continuation frame with no message to continue")
	case (op == OpText || op == OpBinary) && p.data.active:
		p.fail("new data frame (opcode %#x) before the previous message's final fragment", op)
	}
	if p.err != nil {
		return
	}
	p.inFrame, p.fin, p.op = true, fin, op
	p.left, p.pos = int64(length), 0
	switch {
	case control:
		p.ctlN = 0
	case op != OpContinuation:
		// RSV1 on a continuation frame is ignored: permessage-deflate sets
		// it on the first frame only.
		p.data = message{active: true, op: op, compressed: rsv&0x40 != 0}
	}
	if p.left == 0 {
		p.endFrame()
	}
}

// payload takes the next bytes of the current frame's payload.
func (p *Parser) payload(b []byte) {
	p.left -= int64(len(b))
	if p.op&0x8 != 0 {
		n := copy(p.ctl[p.ctlN:], b)
		p.unmask(p.ctl[p.ctlN : p.ctlN+n])
		p.ctlN += n
		return
	}
	m := &p.data
	m.size += int64(len(b))
	keep := min(len(b), max(p.Max, 0)-len(m.buf))
	if keep <= 0 {
		p.pos = (p.pos + len(b)) & 3
		return
	}
	m.buf = grow(m.buf, keep, p.Max)
	at := len(m.buf)
	m.buf = append(m.buf, b[:keep]...)
	p.unmask(m.buf[at:])
	p.pos = (p.pos + len(b) - keep) & 3
}

// grow makes room for n more bytes in buf, doubling its capacity but never
// past limit.
func grow(buf []byte, n, limit int) []byte {
	if cap(buf)-len(buf) >= n {
		return buf
	}
	c := min(max(2*cap(buf), len(buf)+n, 256), limit)
	out := make([]byte, len(buf), c)
	copy(out, buf)
	return out
}

// unmask undoes the frame's mask on b, the next payload bytes, in place.
func (p *Parser) unmask(b []byte) {
	if !p.masked {
		p.pos = (p.pos + len(b)) & 3
		return
	}
	for i := range b {
		b[i] ^= p.key[p.pos]
		p.pos = (p.pos + 1) & 3
	}
}

// endFrame finishes the current frame and reports the message it ends.
func (p *Parser) endFrame() {
	p.inFrame = false
	if p.op&0x8 != 0 {
		p.emit(p.control())
		return
	}
	if !p.fin {
		return
	}
	m := p.data
	p.data = message{}
	p.emit(Message{
		Opcode:     m.op,
		Size:       m.size,
		Payload:    m.buf,
		Truncated:  int64(len(m.buf)) < m.size,
		Compressed: m.compressed,
	})
}

// control is the control frame just read as a Message.
func (p *Parser) control() Message {
	body := p.ctl[:p.ctlN]
	m := Message{Opcode: p.op, Size: int64(len(body))}
	if keep := min(len(body), max(p.Max, 0)); keep > 0 {
		m.Payload = append([]byte(nil), body[:keep]...)
	}
	m.Truncated = len(m.Payload) < len(body)
	if p.op == OpClose {
		m.CloseCode, m.CloseReason = ParseClose(body)
	}
	return m
}

func (p *Parser) emit(m Message) {
	if p.Message != nil {
		p.Message(m)
	}
}

// fail stops the parser with a protocol error about the frame at p.start.
func (p *Parser) fail(format string, args ...any) {
	p.err = fmt.Errorf("%w: frame at byte %d: %s", ErrProtocol, p.start, fmt.Sprintf(format, args...))
	p.data = message{}
	if p.Error != nil {
		p.Error(p.err)
	}
}

// ParseClose reads a close frame's payload: a two-byte status code, then a
// UTF-8 reason. A payload shorter than two bytes has no code (0); a reason
// that is not UTF-8 is returned with invalid bytes replaced.
func ParseClose(payload []byte) (code int, reason string) {
	if len(payload) < 2 {
		return 0, ""
	}
	code = int(binary.BigEndian.Uint16(payload))
	return code, strings.ToValidUTF8(string(payload[2:]), "\uFFFD")
}
