package session

// The mapping between a record.Exchange and its row in the exchanges
// table, both ways, in one place. Since format version 3 the row has a
// column for what a list or a query by hand looks at (and the writer's
// own queries: version, size on disk) and a JSON object, rec, with the
// rest; since version 4, the bodies of up to inlineMax bytes too. Writing
// an exchange binds 13 values where it bound 48 (and 4 more for each row
// of bodies), a bind being a call into the driver that takes the
// connection's mutex (see docs/session-format.md). Formats 1 and 2 had a
// column for everything: rowv2.go reads them.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// layout is how a format version lays out exchanges: the writer writes
// the current one, a read-only store reads an older file as it is.
type layout struct {
	// selectSQL selects the columns scan reads, from exchanges; a WHERE
	// clause may follow.
	selectSQL string
	// scan reads a row selected with selectSQL.
	scan func(scanner) (record.Exchange, stored, error)
	// summarySQL is Summaries' query (see list.go).
	summarySQL string
	// inlineSQL reads the bodies an exchange's row holds (req_body,
	// resp_body, NULL when in bodies), by ID; "" in formats without.
	inlineSQL string
}

// layoutOf is the layout of format version v.
func layoutOf(v int) *layout {
	switch {
	case v < 3:
		return layoutV2
	case v == 3:
		return layoutV3
	}
	return layoutV4
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// stored is what of an exchange the file holds beside its row: the
// bytes of each body (in part order) and the messages.
type stored struct {
	body     [2]int64
	messages int64
}

// columnsV3 are the exchanges table's columns in the order exchangeRow
// writes them and scanV3 reads them.
var columnsV3 = []string{"id", "version", "start_ns", "end_ns", "method", "url", "host", "status", "size", "disk_bytes", "rec"}

// layoutV3 is the layout of format 3; layoutV4's adds the bodies kept in
// the row.
var layoutV3 = &layout{
	selectSQL: "SELECT " + strings.Join(columnsV3, ", ") + " FROM exchanges",
	scan:      scanV3,
	summarySQL: `SELECT count(*), coalesce(max(id), 0), coalesce(group_concat(
	printf('%d %d %d %d %d %d ', id, version, status, CASE WHEN end_ns = 0 THEN -1 ELSE end_ns - start_ns END, size,
		octet_length(host)) || host, ''), '')
	FROM (SELECT id, version, status, start_ns, end_ns, size, host FROM exchanges WHERE id > ?1 ORDER BY id LIMIT ?2)`,
}

var layoutV4 = &layout{
	selectSQL:  layoutV3.selectSQL,
	scan:       scanV3,
	summarySQL: layoutV3.summarySQL,
	inlineSQL:  "SELECT req_body, resp_body FROM exchanges WHERE id = ?",
}

// inlineMax is the largest body kept in its exchange's row (req_body,
// resp_body) rather than in the bodies table: writing it costs a value
// bound in the row's statement where a row of bodies cost a statement of
// its own, a fifth of the writer's time. Larger bodies stay out of the
// row, so that a scan of the exchanges table (Summaries) stays narrow.
const inlineMax = 2 << 10

// inline is b when it is kept in the row, else nil.
func inline(b []byte) []byte {
	if len(b) == 0 || len(b) > inlineMax {
		return nil
	}
	return b
}

// insertExchangeSQL writes (or replaces) an exchange's row: the columns
// exchangeRow writes.
var insertExchangeSQL = "INSERT OR REPLACE INTO exchanges (" + strings.Join(columnsV3, ", ") + ", req_body, resp_body" +
	") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(columnsV3)+2), ", ") + ")"

// exchangeRow is x's row: its body bytes as they will be stored (their
// lengths, and the small ones themselves), notPersisted ("" or why bodies
// were left out) and diskBytes (an estimate of the bytes x takes, for
// eviction). rec is a buffer to build the record in, returned for the
// next row. Numbers are int64: database/sql takes them as they are, where
// an int goes through reflection.
func exchangeRow(x *record.Exchange, notPersisted string, diskBytes int64, rec []byte) ([]any, []byte) {
	rec = appendRecord(rec[:0], x, notPersisted)
	var respBody []byte
	if x.Response != nil {
		respBody = inline(x.Response.Body.Bytes)
	}
	return []any{int64(x.ID), int64(x.Version), unixNano(x.Start), unixNano(x.End),
		x.Request.Method, x.Request.URL, x.Request.Host, int64(x.Status()), x.ResponseSize(), diskBytes, string(rec),
		inline(x.Request.Body.Bytes), respBody}, rec
}

// appendRecord appends x's record: a JSON object with what the columns do
// not hold (see docs/session-format.md). A field at its zero value is
// left out. The request's "sent" and the response's "upstream" (what
// rules changed) were added within format 4: readers before them skip
// members they do not know, so the format did not change.
func appendRecord(b []byte, x *record.Exchange, notPersisted string) []byte {
	w := recWriter{b: append(b, '{')}
	w.text("role", string(x.Role))
	w.int("state", int64(x.State))
	w.text("client", x.ClientAddr)
	w.text("server", x.ServerAddr)
	w.int("replay_of", int64(x.ReplayOf))
	w.key("req")
	w.b = append(w.b, '{')
	inner := recWriter{b: w.b}
	r := &x.Request
	inner.text("proto", r.Proto)
	inner.text("upstream_url", r.UpstreamURL)
	inner.fields("header", r.Header)
	inner.fields("trailer", r.Trailer)
	inner.body(&r.Body)
	if s := r.Sent; s != nil {
		inner.key("sent")
		sent := recWriter{b: append(inner.b, '{')}
		sent.text("method", s.Method)
		sent.text("url", s.URL)
		sent.fields("header", s.Header)
		inner.b = append(sent.b, '}')
	}
	w.b = append(inner.b, '}')
	if resp := x.Response; resp != nil {
		w.key("resp")
		inner := recWriter{b: append(w.b, '{')}
		inner.int("status", int64(resp.Status))
		inner.text("reason", resp.Reason)
		inner.text("proto", resp.Proto)
		inner.fields("header", resp.Header)
		inner.fields("trailer", resp.Trailer)
		inner.body(&resp.Body)
		if up := resp.Upstream; up != nil {
			inner.key("upstream")
			u := recWriter{b: append(inner.b, '{')}
			u.int("status", int64(up.Status))
			u.fields("header", up.Header)
			inner.b = append(u.b, '}')
		}
		w.b = append(inner.b, '}')
	}
	t := x.Timings
	w.key("timings")
	w.b = append(w.b, '[')
	for i, d := range [7]time.Duration{t.Blocked, t.DNS, t.Connect, t.TLS, t.Send, t.Wait, t.Receive} {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = strconv.AppendInt(w.b, int64(d), 10)
	}
	w.b = append(w.b, ']')
	if e := x.Err; e != nil {
		w.key("err")
		inner := recWriter{b: append(w.b, '{')}
		inner.text("kind", string(e.Kind))
		inner.text("message", e.Message)
		inner.int("status", int64(e.Status))
		w.b = append(inner.b, '}')
	}
	w.bool("upgraded", x.Upgraded)
	w.int("upgrade_up", x.UpgradeUp)
	w.int("upgrade_down", x.UpgradeDn)
	if len(x.Marks) > 0 {
		w.key("marks")
		w.b = appendMarks(w.b, x.Marks)
	}
	w.bool("bodies_decoded", x.BodiesDecoded)
	w.int("messages", int64(len(x.Messages)))
	w.int("messages_dropped", int64(x.MessagesDropped))
	w.text("not_persisted", notPersisted)
	return append(w.b, '}')
}

// recWriter appends the members of a JSON object, leaving out those at
// their zero value.
type recWriter struct {
	b    []byte
	some bool // a member was written: the next needs a comma
}

// key starts a member.
func (w *recWriter) key(k string) {
	if w.some {
		w.b = append(w.b, ',')
	}
	w.some = true
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *recWriter) text(k, v string) {
	if v != "" {
		w.key(k)
		w.b = appendText(w.b, v)
	}
}

func (w *recWriter) int(k string, v int64) {
	if v != 0 {
		w.key(k)
		w.b = strconv.AppendInt(w.b, v, 10)
	}
}

func (w *recWriter) bool(k string, v bool) {
	if v {
		w.key(k)
		w.b = append(w.b, "true"...)
	}
}

func (w *recWriter) fields(k string, fs record.Fields) {
	if len(fs) > 0 {
		w.key(k)
		w.b = appendFields(w.b, fs)
	}
}

// body writes a body's sizes: stored is how many of its bytes the bodies
// table holds.
func (w *recWriter) body(b *record.Body) {
	w.int("size", b.Size)
	w.int("stored", int64(len(b.Bytes)))
	w.bool("truncated", b.Truncated)
	w.bool("complete", b.Complete)
}

// scanV3 reads a row selected with layoutV3.selectSQL: the exchange
// without body bytes or messages, and what the file holds of them.
func scanV3(sc scanner) (record.Exchange, stored, error) {
	var (
		x                                 record.Exchange
		id, version, startNS, endNS, size int64
		status, diskBytes                 int64
		rec                               string
	)
	r := &x.Request
	if err := sc.Scan(&id, &version, &startNS, &endNS, &r.Method, &r.URL, &r.Host, &status, &size, &diskBytes, &rec); err != nil {
		return record.Exchange{}, stored{}, err
	}
	x.ID, x.Version = uint64(id), uint64(version)
	x.Start, x.End = fromUnixNano(startNS), fromUnixNano(endNS)
	n, err := readRecord(&x, rec)
	if err != nil {
		return record.Exchange{}, stored{}, fmt.Errorf("exchange %d: the file is damaged: its record: %w", id, err)
	}
	return x, n, nil
}

// readRecord reads what appendRecord wrote (or the upgrade to format 3,
// which writes every member, zero or not) into x.
func readRecord(x *record.Exchange, rec string) (stored, error) {
	var n stored
	r := jsonReader{b: rec}
	r.object(func(key string) {
		switch key {
		case "role":
			x.Role = record.Role(r.text())
		case "state":
			x.State = record.State(r.int())
		case "client":
			x.ClientAddr = r.text()
		case "server":
			x.ServerAddr = r.text()
		case "replay_of":
			x.ReplayOf = uint64(r.int())
		case "req":
			q := &x.Request
			r.object(func(key string) {
				switch key {
				case "proto":
					q.Proto = r.text()
				case "upstream_url":
					q.UpstreamURL = r.text()
				case "header":
					q.Header = r.fields()
				case "trailer":
					q.Trailer = r.fields()
				case "sent":
					q.Sent = r.sent()
				default:
					r.bodyMember(key, &q.Body, &n.body[RequestBody])
				}
			})
		case "resp":
			if r.null() {
				return
			}
			resp := &record.Response{}
			r.object(func(key string) {
				switch key {
				case "status":
					resp.Status = int(r.int())
				case "reason":
					resp.Reason = r.text()
				case "proto":
					resp.Proto = r.text()
				case "header":
					resp.Header = r.fields()
				case "trailer":
					resp.Trailer = r.fields()
				case "upstream":
					resp.Upstream = r.upstream()
				default:
					r.bodyMember(key, &resp.Body, &n.body[ResponseBody])
				}
			})
			x.Response = resp
		case "timings":
			var t [7]time.Duration
			i := 0
			r.array(func() {
				if i >= len(t) {
					r.fail()
					return
				}
				t[i] = time.Duration(r.int())
				i++
			})
			x.Timings = record.Timings{Blocked: t[0], DNS: t[1], Connect: t[2], TLS: t[3], Send: t[4], Wait: t[5], Receive: t[6]}
		case "err":
			if r.null() {
				return
			}
			e := &record.Error{}
			r.object(func(key string) {
				switch key {
				case "kind":
					e.Kind = record.ErrorKind(r.text())
				case "message":
					e.Message = r.text()
				case "status":
					e.Status = int(r.int())
				default:
					r.skip(0)
				}
			})
			x.Err = e
		case "upgraded":
			x.Upgraded = r.bool()
		case "upgrade_up":
			x.UpgradeUp = r.int()
		case "upgrade_down":
			x.UpgradeDn = r.int()
		case "marks":
			x.Marks = r.marks()
		case "bodies_decoded":
			x.BodiesDecoded = r.bool()
		case "messages":
			n.messages = r.int()
		case "messages_dropped":
			x.MessagesDropped = int(r.int())
		default: // not_persisted (the marks say it too), or a later key
			r.skip(0)
		}
	})
	r.end()
	return n, r.err
}

// sent reads a request's "sent" member (Request.Sent); null is nil.
func (r *jsonReader) sent() *record.SentRequest {
	if r.null() {
		return nil
	}
	s := &record.SentRequest{}
	r.object(func(key string) {
		switch key {
		case "method":
			s.Method = r.text()
		case "url":
			s.URL = r.text()
		case "header":
			s.Header = r.fields()
		default:
			r.skip(0)
		}
	})
	return s
}

// upstream reads a response's "upstream" member (Response.Upstream); null
// is nil.
func (r *jsonReader) upstream() *record.UpstreamResponse {
	if r.null() {
		return nil
	}
	u := &record.UpstreamResponse{}
	r.object(func(key string) {
		switch key {
		case "status":
			u.Status = int(r.int())
		case "header":
			u.Header = r.fields()
		default:
			r.skip(0)
		}
	})
	return u
}

// bodyMember reads a member of a body's sizes (recWriter.body).
func (r *jsonReader) bodyMember(key string, b *record.Body, stored *int64) {
	switch key {
	case "size":
		b.Size = r.int()
	case "stored":
		*stored = r.int()
	case "truncated":
		b.Truncated = r.bool()
	case "complete":
		b.Complete = r.bool()
	default:
		r.skip(0)
	}
}

// scanExchange reads a row selected with l.selectSQL: the exchange
// without body bytes or messages (its bodies' sizes are there).
func (l *layout) scanExchange(sc scanner) (record.Exchange, error) {
	x, _, err := l.scan(sc)
	return x, err
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano reverses unixNano.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
