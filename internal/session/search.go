package session

// The search index is an FTS5 table with the trigram tokenizer: every
// three-character sequence is indexed, so a MATCH finds any substring of
// three or more characters, ignoring case. It is contentless (content=''):
// what it indexes is decoded text, which the file does not otherwise hold
// (bodies are stored as captured, compressed or not), so there is no
// table for an external-content index to read back; contentless_delete
// lets a replaced or evicted exchange's row be deleted. It keeps full
// position lists (detail=full): trigram substring queries are phrase
// queries, which FTS5 refuses without them.

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// Field is a column of the search index.
type Field string

// Fields of the search index.
const (
	FieldURL      Field = "url"      // the URL asked for, and the upstream URL
	FieldHeaders  Field = "headers"  // request and response header and trailer lines, "Name: Value"
	FieldRequest  Field = "request"  // the request body, decoded, when it is text
	FieldResponse Field = "response" // the response body, decoded, when it is text
	FieldMessages Field = "messages" // the payloads of text messages (WebSocket)
)

// ErrShortQuery is returned for a search shorter than three characters,
// which the trigram index cannot answer: search such text in memory.
var ErrShortQuery = errors.New("session: the search index finds text of 3 or more characters")

// Search returns the IDs of the exchanges that contain query, ignoring
// case, in ID order, at most limit of them (limit <= 0: all). It looks in
// the given fields of the index, or in all of them. query is literal text
// (no operators); it must be at least three characters long
// (ErrShortQuery). Bodies are indexed decoded, up to Options.IndexMax
// each; binary bodies, and bodies not persisted, are not indexed.
func (s *Store) Search(query string, limit int, in ...Field) ([]uint64, error) {
	if utf8.RuneCountInString(query) < 3 {
		return nil, ErrShortQuery
	}
	expr := `"` + strings.ReplaceAll(query, `"`, `""`) + `"`
	if len(in) > 0 {
		cols := make([]string, len(in))
		for i, f := range in {
			switch f {
			case FieldURL, FieldHeaders, FieldRequest, FieldResponse, FieldMessages:
				cols[i] = string(f)
			default:
				return nil, fmt.Errorf("session: search: no field %q in the index", f)
			}
		}
		expr = "{" + strings.Join(cols, " ") + "} : " + expr
	}
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query("SELECT rowid FROM search WHERE search MATCH ? ORDER BY rowid LIMIT ?", expr, sqlLimit(limit))
	if err != nil {
		return nil, s.readError(err)
	}
	defer rows.Close()
	var ids []uint64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, s.readError(err)
		}
		ids = append(ids, uint64(id))
	}
	return ids, s.readError(rows.Err())
}

// indexed is the text of one exchange's row in the search index.
type indexed struct {
	url, headers, request, response, messages string
}

// size is the text's length, to estimate the index's share of the disk.
func (ix indexed) size() int64 {
	return int64(len(ix.url) + len(ix.headers) + len(ix.request) + len(ix.response) + len(ix.messages))
}

// indexText is what the index holds for x: its URLs and header lines,
// and its bodies and text messages decoded, each cut at limit bytes
// (bodies and messages not at all when limit < 0).
func indexText(x *record.Exchange, dec body.Decoder, limit int64) indexed {
	ix := indexed{url: x.Request.URL}
	if up := x.Request.UpstreamURL; up != "" && up != x.Request.URL {
		ix.url += "\n" + up
	}
	var h strings.Builder
	lists := []record.Fields{x.Request.Header, x.Request.Trailer}
	if x.Response != nil {
		lists = append(lists, x.Response.Header, x.Response.Trailer)
	}
	for _, fs := range lists {
		for _, f := range fs {
			h.WriteString(f.Name)
			h.WriteString(": ")
			h.WriteString(f.Value)
			h.WriteByte('\n')
		}
	}
	ix.headers = h.String()
	if limit < 0 {
		return ix
	}
	ix.request = bodyText(dec, x.Request.Body, x.Request.Header, x.BodiesDecoded, limit)
	if x.Response != nil {
		ix.response = bodyText(dec, x.Response.Body, x.Response.Header, x.BodiesDecoded, limit)
	}
	var m strings.Builder
	for _, msg := range x.Messages {
		if msg.Opcode != 1 || msg.Compressed || int64(m.Len()) >= limit {
			continue
		}
		if t := textOf(msg.Payload, limit-int64(m.Len())); t != nil {
			m.Write(t)
			m.WriteByte('\n')
		}
	}
	ix.messages = m.String()
	return ix
}

// bodyText is b decoded, as text of at most limit bytes, or "" when it
// does not decode or is binary.
func bodyText(dec body.Decoder, b record.Body, h record.Fields, alreadyDecoded bool, limit int64) string {
	if len(b.Bytes) == 0 {
		return ""
	}
	data, _, _, err := dec.Body(b, h, alreadyDecoded)
	if err != nil {
		return ""
	}
	return string(textOf(data, limit))
}

// textOf is b cut to at most limit bytes on a character boundary, or nil
// when it is binary. A capture or a cut that ends inside a character
// loses that character rather than making the text binary.
func textOf(b []byte, limit int64) []byte {
	if int64(len(b)) > limit {
		b = b[:limit]
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	if len(b) == 0 || body.IsBinary(b) {
		return nil
	}
	return b
}
