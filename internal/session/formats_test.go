package session

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/record"
)

// rowV2 is x's row in formats 1 and 2 (columnsV2), as a devproxy of those
// formats wrote it.
func rowV2(x *record.Exchange, notPersisted string, diskBytes int64) []any {
	row := make([]any, 0, len(columnsV2))
	rb := x.Request.Body
	row = append(row,
		int64(x.ID), int64(x.Version), string(x.Role), int64(x.State), unixNano(x.Start), unixNano(x.End),
		x.ClientAddr, x.ServerAddr, int64(x.ReplayOf),
		x.Request.Method, x.Request.URL, x.Request.UpstreamURL, x.Request.Proto, x.Request.Host,
		encodeFields(x.Request.Header), encodeFields(x.Request.Trailer),
		rb.Size, int64(len(rb.Bytes)), rb.Truncated, rb.Complete)
	if r := x.Response; r != nil {
		row = append(row, int64(r.Status), r.Reason, r.Proto, encodeFields(r.Header), encodeFields(r.Trailer),
			r.Body.Size, int64(len(r.Body.Bytes)), r.Body.Truncated, r.Body.Complete)
	} else {
		row = append(row, nil, nil, nil, nil, nil, nil, nil, nil, nil)
	}
	t := x.Timings
	row = append(row, int64(t.Blocked), int64(t.DNS), int64(t.Connect), int64(t.TLS), int64(t.Send), int64(t.Wait), int64(t.Receive))
	if e := x.Err; e != nil {
		row = append(row, string(e.Kind), e.Message, int64(e.Status))
	} else {
		row = append(row, nil, nil, nil)
	}
	return append(row, x.Upgraded, x.UpgradeUp, x.UpgradeDn, encodeMarks(x.Marks), x.BodiesDecoded,
		int64(len(x.Messages)), int64(x.MessagesDropped), notPersisted, diskBytes)
}

// writeOldSession writes xs into a new session file of format version 1,
// 2 or 3 at path with the schema steps of those versions, as a devproxy
// of that version did: every body in bodies, every exchange indexed.
func writeOldSession(t *testing.T, path string, version int, xs []record.Exchange) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.Exec(q, args...); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	exec(fmt.Sprintf("PRAGMA application_id = %d", applicationID))
	for _, step := range migrations[:version] {
		if err := step(tx); err != nil {
			t.Fatal(err)
		}
	}
	cols := columnsV2
	if version == 3 {
		cols = columnsV3
	}
	insert := "INSERT INTO exchanges (" + strings.Join(cols, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var last uint64
	for _, x := range xs {
		for part, b := range [][]byte{x.Request.Body.Bytes, responseBodyOf(x).Bytes} {
			for seq, off := 0, 0; off < len(b); seq, off = seq+1, off+ChunkSize {
				exec("INSERT INTO bodies (exchange_id, part, seq, data) VALUES (?, ?, ?, ?)", int64(x.ID), part, seq, b[off:min(off+ChunkSize, len(b))])
			}
		}
		for i, m := range x.Messages {
			exec("INSERT INTO messages (exchange_id, seq, time_ns, dir, opcode, size, truncated, compressed, close_code, close_reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				int64(x.ID), i, unixNano(m.Time), int(m.Dir), int(m.Opcode), m.Size, m.Truncated, m.Compressed, m.CloseCode, m.CloseReason, m.Payload)
		}
		if version == 3 {
			row, _ := exchangeRow(&x, "", 1000, nil)
			exec(insert, row[:len(columnsV3)]...) // without the bodies
		} else {
			exec(insert, rowV2(&x, "", 1000)...)
		}
		ix := indexText(&x, body.Decoder{Limit: DefaultIndexMax}, DefaultIndexMax)
		exec("INSERT INTO search (rowid, url, headers, request, response, messages) VALUES (?, ?, ?, ?, ?, ?)",
			int64(x.ID), ix.url, ix.headers, ix.request, ix.response, ix.messages)
		last = max(last, x.ID)
	}
	exec("INSERT INTO meta (key, value) VALUES ('last_id', ?)", fmt.Sprint(last))
	if version >= 2 {
		exec("UPDATE meta SET value = ? WHERE key = 'indexed_through'", fmt.Sprint(last))
	}
	exec(fmt.Sprintf("PRAGMA user_version = %d", version))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA journal_mode = WAL"); err != nil {
		t.Fatal(err)
	}
}

// oldExchanges are exchanges of every shape, for files of older formats.
func oldExchanges() []record.Exchange {
	xs := []record.Exchange{rich(1, 100, ChunkSize+10), exchange(2, []byte("needle in the second")), exchange(3, nil)}
	xs[2].Response, xs[2].Err = nil, &record.Error{Kind: record.ErrUnreachable, Message: "refused \xff", Status: 502}
	xs[2].Request.URL = "http://example.test/needle?\xfe"
	xs = append(xs, rich(4, 0, 0))
	xs[3].Upgraded, xs[3].Err, xs[3].Marks = false, nil, nil
	xs[3].Request.Header = append(xs[3].Request.Header, record.Field{Name: "X-Esc", Value: "tab\t\"q\" \u2028 \x01"})
	return xs
}

// checkExchanges checks that s holds xs (and nothing else) as they were
// written, through every read, and that a search for "needle" finds
// needles.
func checkExchanges(t *testing.T, s *Store, xs []record.Exchange, needles ...uint64) {
	t.Helper()
	if n, err := s.Count(); err != nil || n != len(xs) {
		t.Errorf("Count = %d, %v", n, err)
	}
	var ids []uint64
	var sums []Summary
	for _, x := range xs {
		ids = append(ids, x.ID)
		sums = append(sums, summaryOf(x))
		got, err := s.Load(x.ID)
		if err != nil || !reflect.DeepEqual(got, x) {
			t.Errorf("Load(%d) = %+v, %v\nwant %+v", x.ID, got, err, x)
		}
		meta, err := s.Get(x.ID)
		if err != nil || !reflect.DeepEqual(meta, withoutBytes(x)) {
			t.Errorf("Get(%d) = %+v, %v", x.ID, meta, err)
		}
		b, err := s.Body(x.ID, ResponseBody)
		if err != nil || !reflect.DeepEqual(b, responseBodyOf(x)) {
			t.Errorf("Body(%d) = %d bytes, %v", x.ID, len(b.Bytes), err)
		}
	}
	if got, err := s.Summaries(0, 0); err != nil || !reflect.DeepEqual(got, sums) {
		t.Errorf("Summaries = %+v, %v\nwant %+v", got, err, sums)
	}
	many, err := s.GetMany(ids)
	if err != nil || len(many) != len(xs) || !reflect.DeepEqual(many[0].Messages, xs[0].Messages) {
		t.Errorf("GetMany = %d exchanges, %v", len(many), err)
	}
	if got, err := s.Search("needle", 0); err != nil || !reflect.DeepEqual(got, needles) {
		t.Errorf("Search = %v, %v", got, err)
	}
}

// responseBodyOf is x's response body as Body returns it.
func responseBodyOf(x record.Exchange) record.Body {
	if x.Response == nil {
		return record.Body{}
	}
	return x.Response.Body
}

func TestOlderFormatsReadOnly(t *testing.T) {
	for _, v := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			path := newPath(t)
			xs := oldExchanges()
			writeOldSession(t, path, v, xs)
			s := open(t, path, Options{ReadOnly: true})
			checkExchanges(t, s, xs, 2, 3)
			s.Close()
			if got := userVersion(t, path); got != v {
				t.Errorf("a read-only open changed the file to version %d", got)
			}
		})
	}
}

func TestOlderFormatsUpgraded(t *testing.T) {
	for _, v := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			path := newPath(t)
			xs := oldExchanges()
			writeOldSession(t, path, v, xs)
			s, g := openGated(t, path, Options{})
			if got := userVersion(t, path); got != FormatVersion {
				t.Fatalf("upgraded to version %d", got)
			}
			if n := backlog(t, s); n != 0 {
				t.Errorf("the upgrade left %d exchanges to index, want none", n)
			}
			checkExchanges(t, s, xs, 2, 3)
			x := exchange(5, []byte("the needle of version 3"))
			s.Offer(x)
			s.Flush()
			waitIndexed(t, s, g)
			if ids := indexHits(t, s, "needle"); !reflect.DeepEqual(ids, []uint64{2, 3, 5}) {
				t.Errorf("indexed %v", ids)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, path, Options{ReadOnly: true})
			checkExchanges(t, s, append(xs, x), 2, 3, 5)
		})
	}
}

func TestBodiesInTheRowOrInChunks(t *testing.T) {
	s := open(t, newPath(t), Options{})
	sizes := [][2]int{{inlineMax, inlineMax + 1}, {inlineMax + 1, inlineMax}, {1, 0}, {0, inlineMax}, {ChunkSize + 1, 1}}
	var xs []record.Exchange
	for i, n := range sizes {
		x := rich(uint64(i+1), n[0], n[1])
		xs = append(xs, x)
		s.Offer(x)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		var inRow [2][]byte
		if err := s.rdb.QueryRow("SELECT req_body, resp_body FROM exchanges WHERE id = ?", int64(x.ID)).Scan(&inRow[0], &inRow[1]); err != nil {
			t.Fatal(err)
		}
		var chunks [2]int
		for part := range chunks {
			if err := s.rdb.QueryRow("SELECT count(*) FROM bodies WHERE exchange_id = ? AND part = ?", int64(x.ID), part).Scan(&chunks[part]); err != nil {
				t.Fatal(err)
			}
			n := sizes[i][part]
			if wantRow := n > 0 && n <= inlineMax; (inRow[part] != nil) != wantRow || (chunks[part] > 0) != (n > inlineMax) {
				t.Errorf("#%d part %d of %d bytes: in the row %v, %d chunks", x.ID, part, n, inRow[part] != nil, chunks[part])
			}
		}
		got, err := s.Load(x.ID)
		if err != nil || !reflect.DeepEqual(got, x) {
			t.Errorf("Load(%d) differs: %v", x.ID, err)
		}
		for part, want := range []record.Body{x.Request.Body, x.Response.Body} {
			if b, err := s.Body(x.ID, Part(part)); err != nil || !reflect.DeepEqual(b, want) {
				t.Errorf("Body(%d, %d) = %d bytes, %v", x.ID, part, len(b.Bytes), err)
			}
		}
	}
	// Deleted, replaced: nothing of the earlier bodies is left.
	s.Delete(5)
	x := rich(1, ChunkSize+5, 3)
	x.Version = 10
	s.Offer(x)
	s.Flush()
	var chunks int
	if err := s.rdb.QueryRow("SELECT count(*) FROM bodies WHERE exchange_id IN (1, 5)").Scan(&chunks); err != nil || chunks != 2 {
		t.Errorf("%d chunks of #1 and #5, %v; want the 2 of the new #1", chunks, err)
	}
	if got, err := s.Load(1); err != nil || !reflect.DeepEqual(got, x) {
		t.Errorf("the new #1 differs: %v", err)
	}
}
