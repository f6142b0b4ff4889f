package main

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// One budget, --max-memory, bounds what a recording role holds in memory:
// the hot window of recent exchanges and their bodies, the exchanges
// waiting for the session writer, and the garbage collector's headroom.
// Everything older is in the session, read back when it is shown.

const (
	// defaultMaxMemory is --max-memory when it is not given.
	defaultMaxMemory = 128 << 20
	// minMaxMemory is the smallest budget accepted: below it the
	// runtime, the connections' buffers and a few bodies in flight leave
	// no room for a hot window.
	minMaxMemory = 32 << 20
)

// memoryBudget is how a recording role spends --max-memory.
type memoryBudget struct {
	// total is --max-memory, and Go's soft memory limit.
	total int64
	// capture bounds the captured bodies of the hot window: the
	// recorder's MaxCaptureTotal.
	capture int64
	// queue bounds the exchanges waiting for the disk: the session
	// writer's QueueBytes. Past it the writer saves exchanges without
	// their bodies, or not at all, so a slow disk never grows memory.
	queue int64
	// window is the tunnel's receive window per stream (relay and
	// agent): what one exchange may have in flight between them, held in
	// memory by the receiver until its reader takes it.
	window uint32
}

// budgetFor splits a budget. The captured bytes are live heap, and under
// load the heap runs at about twice the live bytes (the garbage
// collector's default pacing) plus what is in flight: each open exchange
// buffers up to --max-body-capture before it is counted, and the
// connections have their own buffers. So the hot window gets a quarter of
// the budget and the session writer's queue an eighth; the rest is
// headroom. bench/RESULTS.md has the measurements behind the split.
//
// The tunnel buffers up to a window per stream on the receiving side: a
// 1/256 of the budget (512 KiB at the default), between 256 KiB (yamux's
// own default) and 4 MiB. On loopback or a LAN that is ample; over a long
// round trip one stream moves at most window/RTT.
func budgetFor(total int64) memoryBudget {
	w := min(max(total/256, 256<<10), 4<<20)
	return memoryBudget{total: total, capture: total / 4, queue: total / 8, window: uint32(w)}
}

// maxCapture is the largest hot window a budget holds when
// --max-capture-total or --max-body-capture asks for more than its share:
// half, as the heap needs about twice what it keeps.
func (b memoryBudget) maxCapture() int64 { return b.total / 2 }

func addMemoryFlag(fs *pflag.FlagSet) {
	sizeFlag(fs, "max-memory", defaultMaxMemory, "memory budget of a recording role: bounds the exchanges and bodies held in memory and sets Go's soft memory limit (the session holds the rest)")
}

// memoryFrom reads --max-memory of a recording role (one with session
// flags), checks the recorder limits against it, and returns them with the
// hot window sized from the budget, and the budget. An explicit
// --max-capture-total wins if the budget can hold it. A command that does
// not record (view) gets its limits back and no budget.
func memoryFrom(cmd *cobra.Command, l record.Limits) (record.Limits, memoryBudget, error) {
	fs := cmd.Flags()
	if fs.Lookup("max-memory") == nil || fs.Lookup("session") == nil {
		return l, memoryBudget{}, nil
	}
	total := getSize(cmd, "max-memory")
	if total < minMaxMemory {
		return l, memoryBudget{}, fmt.Errorf("%s %s: too small; at least %s (default %s)",
			flagSource(cmd, "max-memory"), formatSize(total), formatSize(minMaxMemory), formatSize(defaultMaxMemory))
	}
	b := budgetFor(total)
	body := max(l.MaxBodyCapture, 0) // -1 captures headers only
	switch {
	case !isAuto(cmd, "max-capture-total"):
		if l.MaxCaptureTotal > b.maxCapture() {
			return l, memoryBudget{}, b.tooSmallFor(cmd, "max-capture-total", l.MaxCaptureTotal)
		}
		b.capture = l.MaxCaptureTotal
	case body > b.maxCapture():
		return l, memoryBudget{}, b.tooSmallFor(cmd, "max-body-capture", body)
	default:
		b.capture = max(b.capture, body)
	}
	l.MaxCaptureTotal = b.capture
	return l, b, nil
}

// tooSmallFor says that the budget cannot hold the bodies that the size
// flag name asks it to, and what to change.
func (b memoryBudget) tooSmallFor(cmd *cobra.Command, name string, size int64) error {
	return fmt.Errorf("%s %s does not fit in %s %s: captured bodies get at most half of it (%s), as the heap needs about twice what it keeps; raise --max-memory to at least %s, or lower --%s",
		flagSource(cmd, name), formatSize(size), flagSource(cmd, "max-memory"), formatSize(b.total),
		formatSize(b.maxCapture()), formatSize(twice(size)), name)
}

// twice is 2n, or the largest size for an n past half of it.
func twice(n int64) int64 { return min(n, math.MaxInt64/2) * 2 }

// setLimit makes the budget Go's soft memory limit, so that the garbage
// collector works harder as the process nears it instead of letting the
// heap double, and returns what restores the limit before. No budget
// (view) sets nothing.
func (b memoryBudget) setLimit() (restore func()) {
	if b.total == 0 {
		return func() {}
	}
	prev := debug.SetMemoryLimit(b.total)
	return func() { debug.SetMemoryLimit(prev) }
}
