package proxy

import (
	"sync"
	"sync/atomic"
)

// Copy buffers: ReverseProxy copies each response body through one.
const (
	// bigCopyBuffer is the size most copies use. A 1 MiB body then takes
	// about 5 reads from the upstream and 5 writes to the client instead of
	// 37 and 36 with 32 KiB (each read returns what the socket holds, so a
	// slow drip still goes out as it arrives): on loopback, serve spent
	// about a fifth less CPU per 1 MiB response.
	bigCopyBuffer = 256 << 10
	// smallCopyBuffer is the size of the rest, net/http's own.
	smallCopyBuffer = 32 << 10
	// maxBigLent bounds the memory in big buffers lent at once (64 of
	// them); copies beyond it (many long streams, say) get small ones.
	maxBigLent = 16 << 20
)

// bufferPool lends ReverseProxy its copy buffers. Without one, ReverseProxy
// allocates a fresh 32 KiB buffer for every response: most of the bytes a
// small exchange allocates, and most of the garbage collector's work.
type bufferPool struct {
	big, small sync.Pool
	bigLent    atomic.Int64 // bytes in big buffers lent now
}

// copyBuffers is shared by every Handler, so the bound on big buffers holds
// for the process: a buffer keeps nothing between responses.
var copyBuffers = &bufferPool{}

func (b *bufferPool) Get() []byte {
	if b.bigLent.Add(bigCopyBuffer) <= maxBigLent {
		if buf, ok := b.big.Get().(*[]byte); ok {
			return *buf
		}
		return make([]byte, bigCopyBuffer)
	}
	b.bigLent.Add(-bigCopyBuffer)
	if buf, ok := b.small.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, smallCopyBuffer)
}

func (b *bufferPool) Put(buf []byte) {
	switch cap(buf) {
	case bigCopyBuffer:
		b.bigLent.Add(-bigCopyBuffer)
		buf = buf[:bigCopyBuffer]
		b.big.Put(&buf)
	case smallCopyBuffer:
		buf = buf[:smallCopyBuffer]
		b.small.Put(&buf)
	}
}
