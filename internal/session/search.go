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
	"database/sql"
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
// the given fields, or in all of them. query is literal text (no
// operators); it must be at least three characters long (ErrShortQuery).
// Bodies are searched decoded, up to Options.IndexMax each; binary bodies,
// and bodies not persisted, are not searched.
//
// Most exchanges are found through the index. Those the writer has not
// indexed yet (it indexes when idle: see index.go; with Options.LazyIndex
// only after the first search) are read and searched one by one, so that
// a search right after a burst of traffic misses nothing; it only takes
// longer.
func (s *Store) Search(query string, limit int, in ...Field) ([]uint64, error) {
	if utf8.RuneCountInString(query) < 3 {
		return nil, ErrShortQuery
	}
	fields, err := searchFields(in)
	if err != nil {
		return nil, err
	}
	if s.w != nil && s.w.lazy.CompareAndSwap(true, false) {
		s.w.signal() // someone searches: index from now on
	}
	tx, err := s.snapshot() // one snapshot: the index and its backlog agree
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Format 1 indexed every exchange as it wrote it: no backlog.
	deferred := s.version >= 2
	found, err := matchIndex(tx, query, in, limit, deferred)
	if err != nil {
		return nil, s.readError(err)
	}
	if !deferred {
		return found, nil
	}
	scanned, err := s.scanBacklog(tx, query, fields, found, limit)
	if err != nil {
		return nil, s.readError(err)
	}
	return mergeIDs(found, scanned, limit), nil
}

// searchFields checks the fields asked for; none means all of them.
func searchFields(in []Field) ([]Field, error) {
	if len(in) == 0 {
		return []Field{FieldURL, FieldHeaders, FieldRequest, FieldResponse, FieldMessages}, nil
	}
	for _, f := range in {
		switch f {
		case FieldURL, FieldHeaders, FieldRequest, FieldResponse, FieldMessages:
		default:
			return nil, fmt.Errorf("session: search: no field %q in the index", f)
		}
	}
	return in, nil
}

// matchIndex returns the IDs, in order, of the indexed exchanges whose
// index row holds query in the fields in (all when none). With deferred
// indexing (format 2 and later), rows of exchanges written again since
// they were indexed are stale: left out.
func matchIndex(tx *sql.Tx, query string, in []Field, limit int, deferred bool) ([]uint64, error) {
	expr := `"` + strings.ReplaceAll(query, `"`, `""`) + `"`
	if len(in) > 0 {
		cols := make([]string, len(in))
		for i, f := range in {
			cols[i] = string(f)
		}
		expr = "{" + strings.Join(cols, " ") + "} : " + expr
	}
	q := "SELECT rowid FROM search WHERE search MATCH ? ORDER BY rowid LIMIT ?"
	if deferred {
		q = "SELECT rowid FROM search WHERE search MATCH ? AND rowid NOT IN (SELECT id FROM unindexed) ORDER BY rowid LIMIT ?"
	}
	return scanIDs(tx.Query(q, expr, sqlLimit(limit)))
}

// scanBacklog returns the IDs, in order, of the exchanges not indexed yet
// that hold query in fields, reading each. It stops where they can no
// longer be among the first limit IDs with those found in the index.
func (s *Store) scanBacklog(tx *sql.Tx, query string, fields []Field, found []uint64, limit int) ([]uint64, error) {
	waiting, err := scanIDs(tx.Query(`SELECT id FROM unindexed UNION
		SELECT id FROM exchanges WHERE id > coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_through'), 0)
		ORDER BY id`))
	if err != nil {
		return nil, err
	}
	if len(waiting) == 0 {
		return nil, nil
	}
	l, err := newLoader(tx, s.lay)
	if err != nil {
		return nil, err
	}
	defer l.close()
	folded := strings.ToLower(query)
	dec := body.Decoder{Limit: max(s.opts.IndexMax, 1)}
	var hits []uint64
	for _, id := range waiting {
		if limit > 0 && (len(hits) >= limit || len(found) >= limit && id > found[limit-1]) {
			break
		}
		x, err := l.load(id)
		if errors.Is(err, ErrNotFound) {
			continue // only in a damaged file
		}
		if err != nil {
			return nil, err
		}
		if indexText(&x, dec, s.opts.IndexMax).contains(folded, fields) {
			hits = append(hits, id)
		}
	}
	return hits, nil
}

// scanIDs reads rows of one ID each.
func scanIDs(rows *sql.Rows, err error) ([]uint64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uint64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, uint64(id))
	}
	return ids, rows.Err()
}

// mergeIDs merges two ascending lists of IDs into one without repeats, cut
// at limit (limit <= 0: all).
func mergeIDs(a, b []uint64, limit int) []uint64 {
	var out []uint64
	for len(a) > 0 || len(b) > 0 {
		var id uint64
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			id, a = a[0], a[1:]
		case len(a) == 0 || b[0] < a[0]:
			id, b = b[0], b[1:]
		default:
			id, a, b = a[0], a[1:], b[1:]
		}
		out = append(out, id)
		if len(out) == limit {
			break
		}
	}
	return out
}

// indexed is the text of one exchange's row in the search index.
type indexed struct {
	url, headers, request, response, messages string
}

// size is the text's length, to estimate the index's share of the disk.
func (ix indexed) size() int64 {
	return int64(len(ix.url) + len(ix.headers) + len(ix.request) + len(ix.response) + len(ix.messages))
}

// contains reports whether the text of one of fields holds folded (lower
// case), ignoring case: what the index's MATCH of a phrase finds, for an
// exchange not indexed yet.
func (ix indexed) contains(folded string, fields []Field) bool {
	for _, f := range fields {
		if strings.Contains(strings.ToLower(ix.field(f)), folded) {
			return true
		}
	}
	return false
}

// field is the text of one field.
func (ix indexed) field(f Field) string {
	switch f {
	case FieldURL:
		return ix.url
	case FieldHeaders:
		return ix.headers
	case FieldRequest:
		return ix.request
	case FieldResponse:
		return ix.response
	default:
		return ix.messages
	}
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
