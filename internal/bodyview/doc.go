// Package bodyview lays a body out for a terminal pane in time
// proportional to what is shown. A view mode (text, hex, JSON, markup,
// form, image) turns the bytes into lines of classed segments that keep
// their offsets in the body; a Layout cuts them into rows of one width.
//
// Work is bounded by the rows asked for: a mode produces a line in pieces
// of at most pieceMax body bytes, and a Layout reaches any row from the
// nearest of its marks (a resumable position every markEvery rows). The
// marks of the whole body, which give the row count, the end, and the row
// of any body offset (for search), are built in one linear pass that the
// caller runs off its event loop (Layout.Index) and can cancel.
//
// The package knows nothing of styles: segments carry a Class, and Render
// turns a row into text with the escape codes the caller gives per class.
package bodyview

// Class is what a segment is, for colouring.
type Class uint8

// Classes.
const (
	Plain   Class = iota
	Key           // a JSON object key, a form field name, a header name
	String        // a JSON string, an attribute value
	Number        // a JSON number
	Literal       // true, false, null
	Punct         // JSON and markup punctuation
	Tag           // a markup tag name
	Attr          // a markup attribute name
	Comment       // a markup comment, doctype or processing instruction
	Offset        // a hex dump's offset column
	ASCII         // a hex dump's character column
	Muted         // labels and notes the mode adds
	numClasses
)

// NumClasses is the number of classes, for palettes indexed by Class.
const NumClasses = int(numClasses)

// Seg is a run of text of one class that stands for the body bytes
// [Src, Src+Span): Text is those very bytes when Span == len(Text)
// (verbatim), or a rendering of them (a hex byte, a decoded form value).
// Src is -1 for text the mode made up (indentation, labels).
type Seg struct {
	Text  string
	Class Class
	Src   int
	Span  int
}

// verbatim reports whether s's text is the body's bytes at s.Src.
func (s Seg) verbatim() bool { return s.Src >= 0 && s.Span == len(s.Text) }

// Row is one screen row: segments whose display width fits the layout's
// width (control characters and tabs are drawn by Render, which the width
// accounts for).
type Row struct {
	Segs []Seg
}

// SrcRange returns the body bytes the row stands for: the offset of its
// first and the offset after its last, or -1, -1 for a row of made-up text.
func (r Row) SrcRange() (int, int) {
	lo, hi := -1, -1
	for _, s := range r.Segs {
		if s.Src < 0 {
			continue
		}
		if lo < 0 {
			lo = s.Src
		}
		hi = max(hi, s.Src+s.Span)
	}
	return lo, hi
}

// seg returns a verbatim segment of data[from:to].
func seg(data []byte, from, to int, c Class) Seg {
	return Seg{Text: string(data[from:to]), Class: c, Src: from, Span: to - from}
}

// made returns a segment of made-up text.
func made(text string, c Class) Seg { return Seg{Text: text, Class: c, Src: -1} }
