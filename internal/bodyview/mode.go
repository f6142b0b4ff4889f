package bodyview

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // image decoders for the image mode
	_ "image/jpeg"
	_ "image/png"
	"mime"
	"strings"
	"unicode/utf8"
)

// Mode is how a body is shown.
type Mode uint8

// Modes, in the order m cycles through them.
const (
	Auto   Mode = iota // the best of the others for the body
	Text               // lines of text as they are
	Hex                // a hex dump
	JSON               // indented JSON
	Markup             // indented XML or HTML
	Form               // form fields: urlencoded or multipart
	Image              // an image's format and size, then its bytes in hex
	Wire               // the bytes as they crossed the wire, still compressed, in hex
)

var modeNames = [...]string{"auto", "text", "hex", "JSON", "XML/HTML", "form", "image", "wire bytes"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode " + fmt.Sprint(uint8(m))
}

// Body is what a view shows: the bytes (decoded from any Content-Encoding)
// and, when there was one, the bytes as captured.
type Body struct {
	Data []byte
	// Wire is the body as it crossed the wire, when a Content-Encoding was
	// undone to get Data; nil otherwise.
	Wire []byte
	// ContentType is the Content-Type header, parameters and all.
	ContentType string
}

func (b Body) media() string {
	mt, _, err := mime.ParseMediaType(b.ContentType)
	if err != nil {
		mt, _, _ = strings.Cut(b.ContentType, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// Modes lists the modes that fit b, Auto first: m cycles through these.
func Modes(b Body) []Mode {
	out := []Mode{Auto, Text, Hex}
	media := b.media()
	lead := firstByte(b.Data)
	if strings.Contains(media, "json") || lead == '{' || lead == '[' {
		out = append(out, JSON)
	}
	if strings.Contains(media, "xml") || strings.Contains(media, "html") || lead == '<' {
		out = append(out, Markup)
	}
	if media == "application/x-www-form-urlencoded" || strings.HasPrefix(media, "multipart/") {
		out = append(out, Form)
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(b.Data)); err == nil {
		out = append(out, Image)
	}
	if b.Wire != nil {
		out = append(out, Wire)
	}
	return out
}

// Resolve returns the mode Auto stands for with b.
func Resolve(b Body) Mode {
	media := b.media()
	lead := firstByte(b.Data)
	switch {
	case len(b.Data) == 0:
		return Text
	case strings.HasPrefix(media, "image/") && !strings.Contains(media, "svg"):
		if _, _, err := image.DecodeConfig(bytes.NewReader(b.Data)); err == nil {
			return Image
		}
		return Hex
	case media == "application/x-www-form-urlencoded" || strings.HasPrefix(media, "multipart/form-data"):
		return Form
	case binaryMedia(media) || looksBinary(b.Data[:min(len(b.Data), 8192)]):
		return Hex
	case strings.Contains(media, "json") || ((media == "" || strings.HasPrefix(media, "text/plain")) && (lead == '{' || lead == '[')):
		return JSON
	case strings.Contains(media, "xml") || strings.Contains(media, "html") || (media == "" && lead == '<'):
		return Markup
	}
	return Text
}

func firstByte(d []byte) byte {
	i := skipJSONSpace(d[:min(len(d), 4096)], 0)
	if i < min(len(d), 4096) {
		return d[i]
	}
	return 0
}

func binaryMedia(media string) bool {
	switch {
	case strings.HasPrefix(media, "audio/"), strings.HasPrefix(media, "video/"), strings.HasPrefix(media, "font/"),
		media == "application/octet-stream", media == "application/zip", media == "application/gzip",
		media == "application/pdf", media == "application/wasm", strings.Contains(media, "protobuf"),
		strings.HasPrefix(media, "application/grpc"):
		return true
	}
	return false
}

// looksBinary says whether a sample of bytes is not text: it holds a NUL or
// is not UTF-8 (a rune cut at the sample's end is allowed).
func looksBinary(sample []byte) bool {
	if bytes.IndexByte(sample, 0) >= 0 {
		return true
	}
	for i := 0; i < utf8.UTFMax && len(sample) > 0; i++ {
		if utf8.Valid(sample) {
			return false
		}
		sample = sample[:len(sample)-1]
	}
	return !utf8.Valid(sample)
}

// View is a body in one mode: notes to show above it (what the mode found,
// or why it could not apply), the bytes it shows and searches, and how to
// lay them out.
type View struct {
	Mode  Mode // never Auto
	Notes []string
	// Data is the bytes shown: the decoded body, or the wire bytes for
	// Wire. Search runs over these.
	Data []byte
	gen  func(width int) generator
}

// Build returns b in mode m (Auto resolved). It does work in proportion to
// the body only for forms and images (decoded up front, and bounded).
func Build(b Body, m Mode) View {
	if m == Auto {
		m = Resolve(b)
	}
	v := View{Mode: m, Data: b.Data}
	d := b.Data
	switch m {
	case Hex:
		v.gen = func(w int) generator { return hexGen{data: d, per: hexPer(w)} }
	case Wire:
		v.Data = b.Wire
		w := b.Wire
		v.Notes = append(v.Notes, fmt.Sprintf("the %d bytes as they crossed the wire, before decoding", len(w)))
		v.gen = func(width int) generator { return hexGen{data: w, per: hexPer(width)} }
	case JSON:
		v.gen = func(int) generator { return jsonGen{data: d} }
	case Markup:
		html := strings.Contains(b.media(), "html") || bytes.Contains(bytes.ToLower(d[:min(len(d), 512)]), []byte("<!doctype html"))
		v.gen = func(int) generator { return markupGen{data: d, html: html} }
	case Form:
		var lines [][]Seg
		if strings.HasPrefix(b.media(), "multipart/") {
			var err error
			if lines, err = multipartLines(d, b.ContentType); err != nil {
				v.Notes = append(v.Notes, "⚠ not a multipart body: "+err.Error()+"; showing text.")
				v.Mode = Text
				v.gen = func(int) generator { return textGen{data: d} }
				return v
			}
		} else {
			lines = urlencodedLines(d)
		}
		v.gen = func(int) generator { return lineGen{lines: lines} }
	case Image:
		if cfg, format, err := image.DecodeConfig(bytes.NewReader(d)); err == nil {
			v.Notes = append(v.Notes, fmt.Sprintf("%s image · %d×%d pixels", strings.ToUpper(format), cfg.Width, cfg.Height))
		} else {
			v.Notes = append(v.Notes, "⚠ not an image the standard decoders read: "+err.Error())
		}
		v.gen = func(w int) generator { return hexGen{data: d, per: hexPer(w)} }
	default:
		v.Mode = Text
		v.gen = func(int) generator { return textGen{data: d} }
	}
	return v
}

// Layout returns v's rows at width cells.
func (v View) Layout(width int) *Layout {
	width = max(width, 1)
	return newLayout(v.gen(width), width)
}
