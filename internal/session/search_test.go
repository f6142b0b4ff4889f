package session

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// searchExchanges are the exchanges searchCases search: a large gzip'd
// JSON body, plain, binary, URL, header, WebSocket, cut and accented
// text.
func searchExchanges(t *testing.T) []record.Exchange {
	t.Helper()
	// About 900 KB of JSON with the needle near its end, gzip'd on the wire.
	var js bytes.Buffer
	js.WriteString(`{"items":[`)
	for i := 0; js.Len() < 900_000; i++ {
		if i > 0 {
			js.WriteByte(',')
		}
		name := fmt.Sprintf("item %d", i)
		if i == 11_000 {
			name = "Needle-Zanzibar-42"
		}
		fmt.Fprintf(&js, `{"id":%d,"name":%q,"tags":["alpha","beta","gamma"],"price":%d.99}`, i, name, i%1000)
	}
	js.WriteString(`]}`)
	if i := bytes.Index(js.Bytes(), []byte("Needle-Zanzibar")); i < 800_000 {
		t.Fatalf("the needle is at %d, want it deep", i)
	}
	wire := gzipped(t, js.Bytes())
	big := exchange(1, wire)
	big.Response.Header = record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Encoding", Value: "gzip"}}

	plain := exchange(2, []byte("nothing to see here"))
	binary := exchange(3, append([]byte("zanzibar\x00\x01"), pattern(100)...))
	binary.Response.Header = record.Fields{{Name: "Content-Type", Value: "application/octet-stream"}}
	inURL := exchange(4, nil)
	inURL.Request.URL = "http://example.test/zanzibar?q=1"
	inHeader := exchange(5, nil)
	inHeader.Request.Header = append(inHeader.Request.Header, record.Field{Name: "X-Trip", Value: "to Zanzibar"})
	ws := exchange(6, nil)
	ws.Messages = []record.Message{{Opcode: 1, Payload: []byte(`{"to":"zanzibar"}`)}, {Opcode: 2, Payload: []byte("zanzibar binary frame")}}
	cut := exchange(7, []byte("a capture cut inside a character: zanzibar caf\xc3"))
	cut.Response.Body.Truncated = true
	accents := exchange(8, []byte("Ünïcode Straße"))
	return []record.Exchange{big, plain, binary, inURL, inHeader, ws, cut, accents}
}

func TestSearch(t *testing.T) {
	xs := searchExchanges(t)
	// The first three are indexed, the others wait (a burst went by);
	// then all are indexed. Search finds the same either way.
	s, g := openGated(t, newPath(t), Options{})
	write := func(xs ...record.Exchange) {
		for _, x := range xs {
			s.Offer(x)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(xs[:3]...)
	waitIndexed(t, s, g)
	g.shut()
	write(xs[3:]...)
	if n := backlog(t, s); n != 5 {
		t.Fatalf("backlog %d, want 5", n)
	}
	searchCases(t, s)
	g.release()
	waitIndexed(t, s, g)
	if hits := indexHits(t, s, "zanzibar"); len(hits) != 5 {
		t.Fatalf("the index finds %v", hits)
	}
	searchCases(t, s)
}

// searchCases are TestSearch's, for the store it wrote.
func searchCases(t *testing.T, s *Store) {
	t.Helper()
	for _, c := range []struct {
		query string
		in    []Field
		want  []uint64
	}{
		{"Needle-Zanzibar-42", nil, []uint64{1}},
		{"needle-zanzibar", nil, []uint64{1}},        // case does not matter
		{"zanzibar", nil, []uint64{1, 4, 5, 6, 7}},   // not the binary body, nor the binary message
		{"zanzibar", []Field{FieldURL}, []uint64{4}}, // one field
		{"zanzibar", []Field{FieldHeaders, FieldMessages}, []uint64{5, 6}},
		{"zanzibar", []Field{FieldResponse}, []uint64{1, 7}}, // body: search
		{`"to":"zanzibar"`, nil, []uint64{6}},                // quotes are text
		{"nothing to see", nil, []uint64{2}},
		{"üNÏCODE STRASSE", nil, nil}, // folding is by character: ß is not ss
		{"üNÏCODE STRAßE", nil, []uint64{8}},
		{"absent text", nil, nil},
	} {
		got, err := s.Search(c.query, 0, c.in...)
		if err != nil {
			t.Fatalf("Search(%q, %v): %v", c.query, c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Search(%q, %v) = %v, want %v", c.query, c.in, got, c.want)
		}
	}
	if got, _ := s.Search("zanzibar", 2); !reflect.DeepEqual(got, []uint64{1, 4}) {
		t.Errorf("limit 2: %v", got)
	}
	for _, q := range []string{"", "ab", "é!"} {
		if _, err := s.Search(q, 0); !errors.Is(err, ErrShortQuery) {
			t.Errorf("Search(%q) = %v, want ErrShortQuery", q, err)
		}
	}
	if _, err := s.Search("zanzibar", 0, "status"); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestTextOf(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int64
		want  string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"café", 4, "caf"},      // the cut falls inside é
		{"café", 5, "café"},     // it does not
		{"caf\xc3", 10, "caf"},  // a capture that ended inside é
		{"a\x00b", 10, ""},      // binary
		{"\xff\xfeabc", 10, ""}, // not UTF-8
		{"日本語", 7, "日本"},
	} {
		if got := string(textOf([]byte(c.in), c.limit)); got != c.want {
			t.Errorf("textOf(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}
