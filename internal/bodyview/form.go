package bodyview

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
)

// formValueMax is the most of one form value or part shown; the text and
// hex modes show all of it.
const formValueMax = 64 << 10

// lineGen serves lines made up front (forms, whose values are decoded):
// state.off is the index of the line.
type lineGen struct{ lines [][]Seg }

func (g lineGen) next(st state) (piece, state, bool) {
	if st.off >= len(g.lines) {
		return piece{}, st, false
	}
	return piece{segs: g.lines[st.off], eol: true}, state{off: st.off + 1}, true
}

// urlencodedLines shows an application/x-www-form-urlencoded body as one
// "name = value" line per field, decoded.
func urlencodedLines(d []byte) [][]Seg {
	var lines [][]Seg
	off := 0
	for off <= len(d) {
		end := bytes.IndexByte(d[off:], '&')
		if end < 0 {
			end = len(d)
		} else {
			end += off
		}
		pair := d[off:end]
		if len(pair) > 0 {
			k, v, _ := bytes.Cut(pair, []byte("="))
			lines = append(lines, []Seg{
				{Text: unescape(k), Class: Key, Src: off, Span: len(k)},
				made(" = ", Punct),
				{Text: clip(unescape(v)), Class: String, Src: off + len(k) + 1, Span: len(v)},
			})
		}
		off = end + 1
	}
	return lines
}

func unescape(b []byte) string {
	if s, err := url.QueryUnescape(string(b)); err == nil {
		return s
	}
	return string(b)
}

// clip shortens a decoded value to formValueMax bytes, saying so.
func clip(s string) string {
	if len(s) <= formValueMax {
		return s
	}
	return s[:formValueMax] + fmt.Sprintf(" … (%d more bytes)", len(s)-formValueMax)
}

// multipartLines shows a multipart body part by part: a title line with
// the field name, file name, type and size, then the part's text, or a
// note for binary parts.
func multipartLines(d []byte, contentType string) ([][]Seg, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, fmt.Errorf("the Content-Type names no boundary")
	}
	r := multipart.NewReader(bytes.NewReader(d), boundary)
	var lines [][]Seg
	for n := 1; ; n++ {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			lines = append(lines, []Seg{made(fmt.Sprintf("⚠ part %d: %v", n, err), Muted)})
			return lines, nil
		}
		data, err := io.ReadAll(io.LimitReader(p, formValueMax+1))
		if err != nil {
			lines = append(lines, []Seg{made(fmt.Sprintf("⚠ part %d: %v", n, err), Muted)})
			return lines, nil
		}
		rest, _ := io.Copy(io.Discard, p)
		size := int64(len(data)) + rest
		title := fmt.Sprintf("── part %d", n)
		if name := p.FormName(); name != "" {
			title += " · " + name
		}
		if fn := p.FileName(); fn != "" {
			title += " · file " + fn
		}
		if ct := p.Header.Get("Content-Type"); ct != "" {
			title += " · " + ct
		}
		title += fmt.Sprintf(" · %d bytes", size)
		lines = append(lines, []Seg{made(title, Key)})
		if len(data) > formValueMax {
			data = data[:formValueMax]
		}
		if looksBinary(data) {
			lines = append(lines, []Seg{made("  (binary; the hex view shows every byte)", Muted)})
		} else {
			for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
				lines = append(lines, []Seg{made("  "+strings.TrimSuffix(line, "\r"), Plain)})
			}
			if int64(len(data)) < size {
				lines = append(lines, []Seg{made(fmt.Sprintf("  … %d more bytes", size-int64(len(data))), Muted)})
			}
		}
	}
}
