package session

// The mapping between a record.Exchange and its row in the exchanges
// table, both ways, in one place: the column list, the values written and
// the values read follow the same order.

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// exchangeColumns are the exchanges table's columns in the order
// exchangeRow writes and scanExchange reads them.
var exchangeColumns = []string{
	"id", "version", "role", "state", "start_ns", "end_ns", "client_addr", "server_addr", "replay_of",
	"method", "url", "upstream_url", "proto", "host", "req_header", "req_trailer",
	"req_size", "req_stored", "req_truncated", "req_complete",
	"status", "reason", "resp_proto", "resp_header", "resp_trailer",
	"resp_size", "resp_stored", "resp_truncated", "resp_complete",
	"t_blocked", "t_dns", "t_connect", "t_tls", "t_send", "t_wait", "t_receive",
	"err_kind", "err_message", "err_status",
	"upgraded", "upgrade_up", "upgrade_down", "marks", "bodies_decoded",
	"messages", "messages_dropped", "not_persisted", "disk_bytes",
}

var (
	selectExchangeSQL = "SELECT " + strings.Join(exchangeColumns, ", ") + " FROM exchanges"
	insertExchangeSQL = "INSERT OR REPLACE INTO exchanges (" + strings.Join(exchangeColumns, ", ") +
		") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(exchangeColumns)), ", ") + ")"
)

// exchangeRow is x's row: its body bytes as they will be stored (their
// lengths), notPersisted ("" or why bodies were left out) and diskBytes
// (an estimate of the bytes x takes, for eviction). Numbers are int64:
// database/sql takes them as they are, where an int goes through
// reflection.
func exchangeRow(x *record.Exchange, notPersisted string, diskBytes int64) []any {
	row := make([]any, 0, len(exchangeColumns))
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

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanExchange reads a row selected with selectExchangeSQL: the exchange
// without body bytes or messages (its bodies' sizes are there).
func scanExchange(sc scanner) (record.Exchange, error) {
	x, _, err := scanStored(sc)
	return x, err
}

// stored is what of an exchange the file holds beside its row: the
// bytes of each body (in part order) and the messages.
type stored struct {
	body     [2]int64
	messages int64
}

// scanStored is scanExchange, and says what the bodies and messages
// tables hold of the exchange.
func scanStored(sc scanner) (record.Exchange, stored, error) {
	var (
		x                                                           record.Exchange
		id, version, replayOf, startNS, endNS                       int64
		role                                                        string
		state                                                       int
		reqHeader, reqTrailer, marks, notPersisted                  string
		reqStored, messages, diskBytes                              int64
		status, respSize, respStored, errStatus                     sql.NullInt64
		respTruncated, respComplete                                 sql.NullBool
		reason, respProto, respHeader, respTrailer, errKind, errMsg sql.NullString
		t                                                           [7]int64
	)
	r := &x.Request
	err := sc.Scan(&id, &version, &role, &state, &startNS, &endNS, &x.ClientAddr, &x.ServerAddr, &replayOf,
		&r.Method, &r.URL, &r.UpstreamURL, &r.Proto, &r.Host, &reqHeader, &reqTrailer,
		&r.Body.Size, &reqStored, &r.Body.Truncated, &r.Body.Complete,
		&status, &reason, &respProto, &respHeader, &respTrailer,
		&respSize, &respStored, &respTruncated, &respComplete,
		&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6],
		&errKind, &errMsg, &errStatus,
		&x.Upgraded, &x.UpgradeUp, &x.UpgradeDn, &marks, &x.BodiesDecoded,
		&messages, &x.MessagesDropped, &notPersisted, &diskBytes)
	if err != nil {
		return record.Exchange{}, stored{}, err
	}
	x.ID, x.Version, x.ReplayOf = uint64(id), uint64(version), uint64(replayOf)
	x.Role, x.State = record.Role(role), record.State(state)
	x.Start, x.End = fromUnixNano(startNS), fromUnixNano(endNS)
	if r.Header, err = decodeFields(reqHeader); err != nil {
		return record.Exchange{}, stored{}, fmt.Errorf("exchange %d: %w", id, err)
	}
	if r.Trailer, err = decodeFields(reqTrailer); err != nil {
		return record.Exchange{}, stored{}, fmt.Errorf("exchange %d: %w", id, err)
	}
	if status.Valid {
		resp := &record.Response{Status: int(status.Int64), Reason: reason.String, Proto: respProto.String,
			Body: record.Body{Size: respSize.Int64, Truncated: respTruncated.Bool, Complete: respComplete.Bool}}
		if resp.Header, err = decodeFields(respHeader.String); err != nil {
			return record.Exchange{}, stored{}, fmt.Errorf("exchange %d: %w", id, err)
		}
		if resp.Trailer, err = decodeFields(respTrailer.String); err != nil {
			return record.Exchange{}, stored{}, fmt.Errorf("exchange %d: %w", id, err)
		}
		x.Response = resp
	}
	x.Timings = record.Timings{Blocked: time.Duration(t[0]), DNS: time.Duration(t[1]), Connect: time.Duration(t[2]),
		TLS: time.Duration(t[3]), Send: time.Duration(t[4]), Wait: time.Duration(t[5]), Receive: time.Duration(t[6])}
	if errKind.Valid {
		x.Err = &record.Error{Kind: record.ErrorKind(errKind.String), Message: errMsg.String, Status: int(errStatus.Int64)}
	}
	if x.Marks, err = decodeMarks(marks); err != nil {
		return record.Exchange{}, stored{}, fmt.Errorf("exchange %d: %w", id, err)
	}
	return x, stored{body: [2]int64{reqStored, respStored.Int64}, messages: messages}, nil
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
