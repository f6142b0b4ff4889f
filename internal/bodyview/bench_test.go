package bodyview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkIndex counts the rows of a 10 MiB body at 200 columns: the
// background work after which G, the row count and search jumps are
// ready (the first screen does not wait for it).
func BenchmarkIndex(b *testing.B) {
	line := bytes.Repeat([]byte("function f(a,b){return a+b};"), 10<<20/28)
	type item struct {
		ID   int      `json:"id"`
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	var items []item
	for i := 0; i < 10<<20/70; i++ {
		items = append(items, item{ID: i, Name: fmt.Sprint("user ", i), Tags: []string{"a", "b"}})
	}
	pretty, _ := json.MarshalIndent(items, "", "  ")
	for _, c := range []struct {
		name string
		data []byte
		mode Mode
	}{{"single-line-text", line, Text}, {"pretty-json", pretty, JSON}, {"minified-json-as-json", line, JSON}} {
		v := Build(Body{Data: c.data}, c.mode)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for i := 0; i < b.N; i++ {
				if _, err := v.Layout(198).Index(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
