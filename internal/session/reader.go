package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/devproxy/devproxy/internal/record"
)

// Part names one of an exchange's two bodies.
type Part uint8

// Parts, numbered as in the bodies table.
const (
	RequestBody Part = iota
	ResponseBody
)

// Count is how many exchanges the file holds.
func (s *Store) Count() (int, error) {
	db, err := s.reader()
	if err != nil {
		return 0, err
	}
	var n int
	err = db.QueryRow("SELECT count(*) FROM exchanges").Scan(&n)
	return n, s.readError(err)
}

// MaxID is the highest exchange ID ever written to the file, evicted or
// not (0 for a new file): a recorder that continues the session starts
// after it.
func (s *Store) MaxID() (uint64, error) {
	db, err := s.reader()
	if err != nil {
		return 0, err
	}
	var id int64
	err = db.QueryRow(`SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_id'), 0),
		coalesce((SELECT max(id) FROM exchanges), 0))`).Scan(&id)
	return uint64(id), s.readError(err)
}

// IDs returns up to limit exchange IDs greater than after, in order (limit
// <= 0: all of them). Page through a large file with the last ID of each
// page as the next after.
func (s *Store) IDs(after uint64, limit int) ([]uint64, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query("SELECT id FROM exchanges WHERE id > ? ORDER BY id LIMIT ?", int64(after), sqlLimit(limit))
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

// Range returns up to limit exchanges with IDs greater than after, in ID
// order (limit <= 0: all), as Get returns them: without body bytes or
// messages. It is how a list of a large session is read page by page.
func (s *Store) Range(after uint64, limit int) ([]record.Exchange, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(s.lay.selectSQL+" WHERE id > ? ORDER BY id LIMIT ?", int64(after), sqlLimit(limit))
	if err != nil {
		return nil, s.readError(err)
	}
	defer rows.Close()
	var xs []record.Exchange
	for rows.Next() {
		x, err := s.lay.scanExchange(rows)
		if err != nil {
			return nil, s.readError(err)
		}
		xs = append(xs, x)
	}
	return xs, s.readError(rows.Err())
}

// sqlLimit is limit for SQL's LIMIT, where -1 means none.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// Get returns exchange id without its body bytes and messages: each
// body's Size, Truncated and Complete are set, Bytes is nil (read it with
// Body), and MessagesDropped is set (read the messages with Messages). An
// exchange stored without its bodies carries the NotPersisted mark. It
// returns ErrNotFound when the file does not hold id.
func (s *Store) Get(id uint64) (record.Exchange, error) {
	db, err := s.reader()
	if err != nil {
		return record.Exchange{}, err
	}
	x, err := s.lay.scanExchange(db.QueryRow(s.lay.selectSQL+" WHERE id = ?", int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return record.Exchange{}, fmt.Errorf("exchange #%d: %w", id, ErrNotFound)
	}
	return x, s.readError(err)
}

// Body returns one body of exchange id with its bytes as captured (its
// Content-Encoding intact, unless the exchange's BodiesDecoded). An
// exchange without a response has an empty response body.
func (s *Store) Body(id uint64, part Part) (record.Body, error) {
	tx, err := s.snapshot() // one snapshot: the sizes and the bytes agree
	if err != nil {
		return record.Body{}, err
	}
	defer tx.Rollback()
	b, err := readBody(tx, s.lay, id, part)
	return b, s.readError(err)
}

// readBody reads a body's sizes and bytes within tx.
func readBody(tx *sql.Tx, lay *layout, id uint64, part Part) (record.Body, error) {
	x, n, err := lay.scan(tx.QueryRow(lay.selectSQL+" WHERE id = ?", int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return record.Body{}, fmt.Errorf("exchange #%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return record.Body{}, err
	}
	b := x.Request.Body
	if part == ResponseBody {
		if x.Response == nil {
			return record.Body{}, nil
		}
		b = x.Response.Body
	} else {
		part = RequestBody
	}
	stored := n.body[part]
	if stored <= 0 {
		return b, nil
	}
	if lay.inlineSQL != "" {
		var inRow [2][]byte
		if err := tx.QueryRow(lay.inlineSQL, int64(id)).Scan(&inRow[RequestBody], &inRow[ResponseBody]); err != nil {
			return b, err
		}
		if data := inRow[part]; data != nil {
			if int64(len(data)) != stored {
				return b, fmt.Errorf("exchange #%d: the file is damaged: %d body bytes stored, %d found", id, stored, len(data))
			}
			b.Bytes = data
			return b, nil
		}
	}
	rows, err := tx.Query("SELECT data FROM bodies WHERE exchange_id = ? AND part = ? ORDER BY seq", int64(id), int(part))
	if err != nil {
		return b, err
	}
	defer rows.Close()
	// The stored size sizes the buffer, within reason: the file may be
	// damaged.
	b.Bytes = make([]byte, 0, min(stored, 16<<20))
	for rows.Next() {
		var chunk []byte
		if err := rows.Scan(&chunk); err != nil {
			return b, err
		}
		b.Bytes = append(b.Bytes, chunk...)
	}
	if err := rows.Err(); err != nil {
		return b, err
	}
	if int64(len(b.Bytes)) != stored {
		return b, fmt.Errorf("exchange #%d: the file is damaged: %d body bytes stored, %d found", id, stored, len(b.Bytes))
	}
	return b, nil
}

// Messages returns exchange id's messages, oldest first, with their
// payloads (nil for those stored without: see NotPersisted).
func (s *Store) Messages(id uint64) ([]record.Message, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	ms, err := scanMessages(db.Query(loadMessagesSQL, int64(id)))
	return ms, s.readError(err)
}

// loadMessagesSQL reads an exchange's messages in order.
const loadMessagesSQL = `SELECT time_ns, dir, opcode, size, truncated, compressed, close_code, close_reason, payload
	FROM messages WHERE exchange_id = ? ORDER BY seq`

// scanMessages reads the rows of loadMessagesSQL.
func scanMessages(rows *sql.Rows, err error) ([]record.Message, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []record.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Load returns exchange id whole, as the recorder held it: bodies with
// their bytes and messages with their payloads, from one snapshot of the
// file. It is for exports and replay; a list reads Range, a detail view
// Get and Body.
func (s *Store) Load(id uint64) (record.Exchange, error) {
	tx, err := s.snapshot()
	if err != nil {
		return record.Exchange{}, err
	}
	defer tx.Rollback()
	l, err := newLoader(tx, s.lay)
	if err != nil {
		return record.Exchange{}, s.readError(err)
	}
	defer l.close()
	x, err := l.load(id)
	return x, s.readError(err)
}

// loader reads exchanges whole with three statements prepared once: on
// the writer's connection for the index passes, in a read transaction
// (one snapshot) for Load and Search.
type loader struct {
	// row reads an exchange's row, with the bodies it keeps (inline) in
	// formats that have them.
	row, bodies, messages *sql.Stmt
	inline                bool
	lay                   *layout
}

// preparer is *sql.Conn or *sql.Tx.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

func newLoader(p preparer, lay *layout) (loader, error) {
	l := loader{lay: lay, inline: lay.inlineSQL != ""}
	row := lay.selectSQL + " WHERE id = ?"
	if l.inline {
		// One statement rather than two: a search of exchanges not indexed
		// yet loads each, and spent half its time in these.
		row = strings.Replace(lay.selectSQL, " FROM exchanges", ", req_body, resp_body FROM exchanges", 1) + " WHERE id = ?"
	}
	for _, q := range []struct {
		s   **sql.Stmt
		sql string
	}{
		{&l.row, row},
		{&l.bodies, "SELECT part, data FROM bodies WHERE exchange_id = ? ORDER BY part, seq"},
		{&l.messages, loadMessagesSQL},
	} {
		st, err := p.PrepareContext(background, q.sql)
		if err != nil {
			l.close()
			return loader{}, err
		}
		*q.s = st
	}
	return l, nil
}

func (l loader) close() error {
	return closeStmts(l.row, l.bodies, l.messages)
}

// withBodies scans a row of loader.row: the layout's columns, then the
// bodies the row keeps.
type withBodies struct {
	sc scanner
	b  *[2][]byte
}

func (w withBodies) Scan(dest ...any) error {
	return w.sc.Scan(append(dest, &w.b[RequestBody], &w.b[ResponseBody])...)
}

// load reads exchange id whole.
func (l loader) load(id uint64) (record.Exchange, error) {
	var (
		sc     scanner = l.row.QueryRow(int64(id))
		inline [2][]byte
	)
	if l.inline {
		sc = withBodies{sc, &inline}
	}
	x, n, err := l.lay.scan(sc)
	if errors.Is(err, sql.ErrNoRows) {
		return record.Exchange{}, fmt.Errorf("exchange #%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return record.Exchange{}, err
	}
	if n.body[0] > 0 || n.body[1] > 0 {
		b, err := l.loadBodies(id, n, inline)
		if err != nil {
			return record.Exchange{}, err
		}
		x.Request.Body.Bytes = b[RequestBody]
		if x.Response != nil {
			x.Response.Body.Bytes = b[ResponseBody]
		}
	}
	if n.messages > 0 {
		if x.Messages, err = scanMessages(l.messages.Query(int64(id))); err != nil {
			return record.Exchange{}, err
		}
	}
	return x, nil
}

// loadBodies reads both bodies of exchange id, n saying how many bytes
// each has, b holding those its row keeps (nil where it keeps none).
func (l loader) loadBodies(id uint64, n stored, b [2][]byte) ([2][]byte, error) {
	inRow := [2]bool{b[0] != nil, b[1] != nil}
	if (inRow[0] || n.body[0] <= 0) && (inRow[1] || n.body[1] <= 0) {
		return b, checkStored(id, b, n)
	}
	rows, err := l.bodies.Query(int64(id))
	if err != nil {
		return b, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			part  int64
			chunk sql.RawBytes // appended at once: no copy of its own
		)
		if err := rows.Scan(&part, &chunk); err != nil {
			return b, err
		}
		if part != 0 && part != 1 {
			return b, fmt.Errorf("exchange #%d: the file is damaged: a body of part %d", id, part)
		}
		if inRow[part] {
			return b, fmt.Errorf("exchange #%d: the file is damaged: a body both in its row and in chunks", id)
		}
		if b[part] == nil {
			// The stored size sizes the buffer, within reason: the file
			// may be damaged.
			b[part] = make([]byte, 0, min(max(n.body[part], 0), 16<<20))
		}
		b[part] = append(b[part], chunk...)
	}
	if err := rows.Err(); err != nil {
		return b, err
	}
	return b, checkStored(id, b, n)
}

// checkStored fails unless b holds the bytes n says are stored.
func checkStored(id uint64, b [2][]byte, n stored) error {
	for part, data := range b {
		if int64(len(data)) != n.body[part] {
			return fmt.Errorf("exchange #%d: the file is damaged: %d body bytes stored, %d found", id, n.body[part], len(data))
		}
	}
	return nil
}

// readError names the file in a read error and explains the driver's.
func (s *Store) readError(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("read session %s: %w", s.path, explain(err))
}
