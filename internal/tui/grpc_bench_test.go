package tui

import (
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// BenchmarkGRPCStreamLayout lays out the open Messages tab of a stream of
// 10,000 messages at 80 columns, as each new message does: Fresh without
// the kept layouts (every message laid out again, the baseline), Kept with
// them (only a new message is). Compare the two in one run:
//
//	go test ./internal/tui -run '^$' -bench GRPCStreamLayout -count 5
func BenchmarkGRPCStreamLayout(b *testing.B) {
	x := serverStream(b, true)
	p := echoResponse(b, "hello", 1)
	for i := range 10000 {
		x.Messages = append(x.Messages, record.Message{Time: x.Start.Add(time.Duration(i) * time.Millisecond), Dir: record.ToClient, Size: int64(len(p)), Payload: p})
	}
	st := newStyles(darkTheme(), true, 1)
	schemas := echoSchemas(b)
	key := contentKey{tab: tabMessages, width: 80}
	b.Run("Fresh", func(b *testing.B) {
		pr := prepare(nil, &x, tabMessages, grpcEnv{schemas: schemas})
		for b.Loop() {
			buildContent(pr, key, st)
		}
	})
	b.Run("Kept", func(b *testing.B) {
		pr := prepare(nil, &x, tabMessages, grpcEnv{schemas: schemas, cache: newGRPCCache()})
		buildContent(pr, key, st) // the layouts of the messages so far
		for b.Loop() {
			buildContent(pr, key, st)
		}
	})
}
