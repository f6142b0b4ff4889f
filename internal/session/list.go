package session

// What a list of a large session reads: a summary of every exchange, from
// a narrow SELECT that decodes no header or body, and then the few
// exchanges it shows, whole but for their body bytes.

import (
	"cmp"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// Summary is what a list needs to place and sort one exchange without
// loading it.
type Summary struct {
	ID, Version uint64
	// Status is as record.Exchange.Status: the error's status when it is
	// not zero, else the response's status, else 0.
	Status int
	// Dur is end minus start; -1 when the exchange has no end.
	Dur time.Duration
	// Size is the response body's size, the bytes both ways for an
	// upgraded exchange (a WebSocket), and -1 without a response.
	Size int64
	// Host is the request's host. Equal hosts share one string within a
	// call of Summaries.
	Host string
}

// A summary chunk is what Summaries reads in one query (layout.summarySQL:
// count(*), max(id) and a text): the summaries of up to ?2 exchanges after
// ID ?1 as one text, so that a row costs no call into the driver: 13 calls
// a row (each taking the connection's mutex) were two thirds of the time
// of a SELECT of six columns. Each exchange is its numbers in decimal,
// then the host's length in bytes, each followed by a space, then the
// host's bytes (see parseSummaries). group_concat follows the subquery's
// order in practice; parseSummaries sorts if it did not.

// summaryChunk is how many summaries one query of Summaries reads: a
// text of about 400 KiB (a variable: tests make it small).
var summaryChunk = 8192

// Summaries returns up to limit summaries of the exchanges with IDs
// greater than after, in ID order (limit <= 0: all of them), from one
// snapshot of the file. It is what a list of a large session reads
// first: 100,000 summaries take a few megabytes and about a tenth of a
// second.
func (s *Store) Summaries(after uint64, limit int) ([]Summary, error) {
	tx, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var (
		out   []Summary
		hosts = map[string]string{}
	)
	for limit <= 0 || len(out) < limit {
		k := summaryChunk
		if limit > 0 {
			k = min(k, limit-len(out))
		}
		var (
			n, last int64
			text    sql.RawBytes
		)
		rows, err := tx.Query(s.lay.summarySQL, int64(after), k)
		if err != nil {
			return nil, s.readError(err)
		}
		if rows.Next() {
			err = rows.Scan(&n, &last, &text)
		}
		if err == nil && n > 0 {
			out, err = parseSummaries(out, text, int(n), hosts)
		}
		err = errors.Join(err, rows.Close())
		if err != nil {
			return nil, s.readError(err)
		}
		if n < int64(k) {
			break
		}
		after = uint64(last)
	}
	return out, nil
}

// errSummaries says a summary chunk's text did not parse: only in a
// damaged file.
var errSummaries = errors.New("the file is damaged: unreadable exchange summaries")

// parseSummaries appends the n summaries of a chunk's text to
// out, interning their hosts in hosts.
func parseSummaries(out []Summary, text []byte, n int, hosts map[string]string) ([]Summary, error) {
	first := len(out)
	out = slices.Grow(out, n)
	// num reads a decimal integer and the space after it.
	num := func() (int64, bool) {
		neg := len(text) > 0 && text[0] == '-'
		if neg {
			text = text[1:]
		}
		var v uint64
		i := 0
		for ; i < len(text) && text[i] >= '0' && text[i] <= '9'; i++ {
			if i == 19 {
				return 0, false // past int64 in a damaged file
			}
			v = v*10 + uint64(text[i]-'0')
		}
		if i == 0 || i == len(text) || text[i] != ' ' {
			return 0, false
		}
		text = text[i+1:]
		if neg {
			return -int64(v), true
		}
		return int64(v), true
	}
	for range n {
		var v [6]int64
		for i := range v {
			var ok bool
			if v[i], ok = num(); !ok {
				return out, errSummaries
			}
		}
		if v[5] < 0 || v[5] > int64(len(text)) {
			return out, errSummaries
		}
		host := text[:v[5]]
		text = text[v[5]:]
		h, ok := hosts[string(host)]
		if !ok {
			h = string(host)
			hosts[h] = h
		}
		out = append(out, Summary{ID: uint64(v[0]), Version: uint64(v[1]), Status: int(v[2]),
			Dur: time.Duration(v[3]), Size: v[4], Host: h})
	}
	if len(text) > 0 {
		return out, errSummaries
	}
	chunk := out[first:]
	byID := func(a, b Summary) int { return cmp.Compare(a.ID, b.ID) }
	if !slices.IsSortedFunc(chunk, byID) {
		slices.SortFunc(chunk, byID)
	}
	return out, nil
}

// GetMany returns the exchanges with the given IDs (in any order, repeats
// allowed) in ID order, as Get returns them (no body bytes) but with their
// messages, payloads included, when they have any. IDs the file does not
// hold (evicted, deleted, never written) are left out. It reads them in
// two queries from one snapshot of the file: it is how a list loads the
// rows it shows.
func (s *Store) GetMany(ids []uint64) ([]record.Exchange, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	tx, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	xs, withMessages, err := getMany(tx, s.lay, idList(ids))
	if err != nil {
		return nil, s.readError(err)
	}
	if len(withMessages) > 0 {
		err = attachMessages(tx, xs, withMessages)
	}
	return xs, s.readError(err)
}

// getMany reads the rows of the exchanges in list (idList), in ID order,
// and says which of them (by index in xs) have messages.
func getMany(tx *sql.Tx, lay *layout, list string) (xs []record.Exchange, withMessages []int, err error) {
	rows, err := tx.Query(lay.selectSQL+" WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", list)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		x, n, err := lay.scan(rows)
		if err != nil {
			return nil, nil, err
		}
		if n.messages > 0 {
			withMessages = append(withMessages, len(xs))
		}
		xs = append(xs, x)
	}
	return xs, withMessages, rows.Err()
}

// attachMessages reads the messages of xs[i] for each i in which, in one
// query.
func attachMessages(tx *sql.Tx, xs []record.Exchange, which []int) error {
	ids := make([]uint64, len(which))
	at := make(map[uint64]*record.Exchange, len(which))
	for k, i := range which {
		ids[k] = xs[i].ID
		at[xs[i].ID] = &xs[i]
	}
	rows, err := tx.Query(`SELECT exchange_id, time_ns, dir, opcode, size, truncated, compressed, close_code, close_reason, payload
		FROM messages WHERE exchange_id IN (SELECT value FROM json_each(?)) ORDER BY exchange_id, seq`, idList(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		m, err := scanMessage(rows, &id)
		if err != nil {
			return err
		}
		if x := at[uint64(id)]; x != nil {
			x.Messages = append(x.Messages, m)
		}
	}
	return rows.Err()
}

// idList is ids as a JSON array, for json_each: one parameter however
// many IDs there are.
func idList(ids []uint64) string {
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		// As stored: SQLite's integers are signed.
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(append(b, ']'))
}

// scanMessage reads one message row: the columns of loadMessagesSQL,
// after those for the extra destinations.
func scanMessage(sc scanner, extra ...any) (record.Message, error) {
	var (
		m      record.Message
		ns     int64
		dir    int
		opcode int
	)
	dest := append(extra, &ns, &dir, &opcode, &m.Size, &m.Truncated, &m.Compressed, &m.CloseCode, &m.CloseReason, &m.Payload)
	if err := sc.Scan(dest...); err != nil {
		return m, err
	}
	m.Time, m.Dir, m.Opcode = fromUnixNano(ns), record.Direction(dir), byte(opcode)
	if len(m.Payload) == 0 {
		m.Payload = nil
	}
	return m, nil
}
