package bodyview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// allRows walks a layout's every row from the top, through Rows.
func allRows(t testing.TB, l *Layout) []string {
	t.Helper()
	var out []string
	for from := 0; ; from += 100 {
		rows := l.Rows(from, 100)
		for _, r := range rows {
			out = append(out, r.Text())
		}
		if len(rows) < 100 {
			return out
		}
		if from > 1<<22 {
			t.Fatal("no end of rows")
		}
	}
}

func TestTextWraps(t *testing.T) {
	v := Build(Body{Data: []byte("abcdefghij\n\nxy\r\nz")}, Text)
	got := allRows(t, v.Layout(4))
	want := []string{"abcd", "efgh", "ij", "", "xy", "z"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
}

func TestTextControlCharactersAreGlyphs(t *testing.T) {
	v := Build(Body{Data: []byte("a\x1b[2Jb\tc\xffd")}, Text)
	got := allRows(t, v.Layout(80))
	if len(got) != 1 || got[0] != "a␛[2Jb    c\uFFFDd" {
		t.Fatalf("rows %q", got)
	}
}

// TestLongLineRowsAnywhere checks that a row deep inside one long line is
// the same whether reached from the top, from a mark or through the index,
// and that the row count is exact.
func TestLongLineRowsAnywhere(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 3*pieceMax+123; i++ {
		fmt.Fprintf(&b, "%d·é ", i) // multi-byte runes across piece cuts
	}
	data := []byte(b.String())
	v := Build(Body{Data: data}, Text)
	want := allRows(t, v.Layout(37))
	if strings.Join(want, "") != string(data) {
		t.Fatal("the rows do not add up to the body")
	}
	l := v.Layout(37)
	ix, err := l.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ix.Rows() != len(want) {
		t.Fatalf("index counts %d rows, walk %d", ix.Rows(), len(want))
	}
	l.SetIndex(ix)
	for _, from := range []int{0, 1, markEvery - 1, markEvery, len(want) / 2, len(want) - 1} {
		got := l.Rows(from, 3)
		for i, r := range got {
			if r.Text() != want[from+i] {
				t.Fatalf("row %d: %q, want %q", from+i, r.Text(), want[from+i])
			}
		}
	}
	// The row of each offset holds it.
	offs := []int{0, 5, pieceMax, 2 * pieceMax, len(data) - 1}
	rows, err := l.RowsOf(context.Background(), ix, offs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range offs {
		r := l.Rows(rows[i], 1)[0]
		lo, hi := r.SrcRange()
		if o < lo || o >= hi {
			t.Fatalf("offset %d mapped to row %d [%d,%d)", o, rows[i], lo, hi)
		}
	}
}

func TestJSONIndentsAsEncodingJSON(t *testing.T) {
	in := `{"a":1,"b":[true,false,null,{"c":"x\"y","d":[]}],"e":{} ,"f":[1, 2] }`
	var want bytes.Buffer
	if err := json.Indent(&want, []byte(in), "", "  "); err != nil {
		t.Fatal(err)
	}
	got := allRows(t, Build(Body{Data: []byte(in), ContentType: "application/json"}, Auto).Layout(200))
	if strings.Join(got, "\n") != want.String() {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want.String())
	}
}

func TestJSONClassesKeys(t *testing.T) {
	l := Build(Body{Data: []byte(`{"k": "v"}`)}, JSON).Layout(80)
	row := l.Rows(1, 1)[0]
	var classes []Class
	for _, s := range row.Segs {
		if s.Src >= 0 {
			classes = append(classes, s.Class)
		}
	}
	if fmt.Sprint(classes) != fmt.Sprint([]Class{Key, Punct, String}) {
		t.Fatalf("classes %v of %q", classes, row.Text())
	}
}

func TestMarkupIndents(t *testing.T) {
	in := `<?xml version="1.0"?><a x="1"><b>text</b><c/><!-- note --><d>
  long
</d></a>`
	got := allRows(t, Build(Body{Data: []byte(in), ContentType: "application/xml"}, Auto).Layout(200))
	want := []string{`<?xml version="1.0"?>`, `<a x="1">`, `  <b>text</b>`, `  <c/>`, `  <!-- note -->`, `  <d>`, `    long`, `  </d>`, `</a>`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestHTMLVoidAndScript(t *testing.T) {
	in := `<html><body><br><script>if (a<b) {
x()
}</script><p>hi</p></body></html>`
	got := allRows(t, Build(Body{Data: []byte(in), ContentType: "text/html"}, Auto).Layout(200))
	want := []string{"<html>", "  <body>", "    <br>", "    <script>", "      if (a<b) {", "      x()", "      }", "    </script>", "    <p>hi</p>", "  </body>", "</html>"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestHexRows(t *testing.T) {
	data := []byte("0123456789abcdefXYZ\x00")
	l := Build(Body{Data: data}, Hex).Layout(80)
	got := allRows(t, l)
	want := []string{
		"00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66 |0123456789abcdef|",
		"00000010  58 59 5a 00                                      |XYZ.            |",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n, exact := l.Count(); n != 2 || !exact {
		t.Fatalf("count %d %v", n, exact)
	}
}

func TestFormFields(t *testing.T) {
	got := allRows(t, Build(Body{Data: []byte("a=1&b=hello+world&c=%2F"), ContentType: "application/x-www-form-urlencoded"}, Auto).Layout(80))
	want := []string{"a = 1", "b = hello world", "c = /"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q", got)
	}
	mp := "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\nline2\r\n--XX--\r\n"
	got = allRows(t, Build(Body{Data: []byte(mp), ContentType: "multipart/form-data; boundary=XX"}, Auto).Layout(120))
	want = []string{"── part 1 · f · file a.txt · text/plain · 11 bytes", "  line1", "  line2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q", got)
	}
}

func TestFindIgnoresCaseAcrossChunks(t *testing.T) {
	data := bytes.Repeat([]byte("x"), findChunk-2)
	data = append(data, []byte("NeEdLe and needle")...)
	offs, more, err := Find(context.Background(), data, "needle", 10)
	if err != nil || more {
		t.Fatal(err, more)
	}
	if fmt.Sprint(offs) != fmt.Sprint([]int{findChunk - 2, findChunk - 2 + 11}) {
		t.Fatalf("offsets %v", offs)
	}
	offs, more, _ = Find(context.Background(), data, "needle", 1)
	if len(offs) != 1 || !more {
		t.Fatalf("limit: %v %v", offs, more)
	}
}

func TestRenderHighlightsMatches(t *testing.T) {
	l := Build(Body{Data: []byte("say hello there")}, Text).Layout(80)
	p := &Palette{Match: [2]string{"[", "]"}, Current: [2]string{"{", "}"}}
	got := Render(l.Rows(0, 1)[0], p, []Span{{From: 4, To: 9, Current: true}})
	if got != "say {hello} there" {
		t.Fatalf("got %q", got)
	}
	h := Build(Body{Data: []byte("hello")}, Hex).Layout(80)
	got = Render(h.Rows(0, 1)[0], p, []Span{{From: 1, To: 3}})
	if !strings.Contains(got, "68 [65] [6c] 6c") || !strings.Contains(got, "|h[e][l]lo") {
		t.Fatalf("hex highlight %q", got)
	}
}

// checkLayout walks every row of data in mode m at width w and checks what
// must hold whatever the bytes: rows fit, and every way to a row agrees.
func checkLayout(t testing.TB, data []byte, m Mode, w int) {
	v := Build(Body{Data: data, ContentType: "multipart/form-data; boundary=b"}, m)
	l := v.Layout(w)
	rows := allRows(t, l)
	for i, r := range rows {
		// A glyph wider than the whole row (a tab, a wide rune) sits on a
		// row alone.
		alone := r == "    " || len([]rune(r)) == 1
		if n := ansi.StringWidth(r); n > w && !alone {
			t.Fatalf("mode %v width %d: row %d is %d wide: %q", m, w, i, n, r)
		}
	}
	ix, err := v.Layout(w).Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ix.Rows() != len(rows) {
		t.Fatalf("mode %v: index %d rows, walk %d", m, ix.Rows(), len(rows))
	}
	l2 := v.Layout(w)
	l2.SetIndex(ix)
	for _, from := range []int{len(rows) / 3, len(rows) - 1} {
		if from < 0 || from >= len(rows) {
			continue
		}
		if got := l2.Rows(from, 1); len(got) != 1 || got[0].Text() != rows[from] {
			t.Fatalf("mode %v: row %d through the index differs", m, from)
		}
	}
}

func FuzzLayout(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":"c"}]}`), uint8(3), uint8(20))
	f.Add([]byte(`<a href="x"><b>t</b><br/></a>`), uint8(4), uint8(9))
	f.Add([]byte("a=1&b=%zz&c"), uint8(5), uint8(3))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--b--"), uint8(5), uint8(30))
	f.Add([]byte("\x00\x01\xff\tline\n\n"), uint8(2), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mode, width uint8) {
		m := Mode(mode % uint8(len(modeNames)))
		if m == Wire {
			m = Hex
		}
		checkLayout(t, data, m, int(width%120)+1)
	})
}
