package session

// The exchanges table of format versions 1 and 2, a column for each field
// of an exchange, read by a read-only store that opens such a file as it
// is (a writer upgrades it: see schema.go). The column list and the
// values read follow the same order.

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

// columnsV2 are the exchanges table's columns in formats 1 and 2, in the
// order scanV2 reads them.
var columnsV2 = []string{
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

// layoutV2 is the layout of formats 1 and 2.
var layoutV2 = &layout{
	selectSQL: "SELECT " + strings.Join(columnsV2, ", ") + " FROM exchanges",
	scan:      scanV2,
	summarySQL: `SELECT count(*), coalesce(max(id), 0), coalesce(group_concat(
	printf('%d %d %d %d %d %d ', id, version,
		CASE WHEN coalesce(err_status, 0) != 0 THEN err_status ELSE coalesce(status, 0) END,
		CASE WHEN end_ns = 0 THEN -1 ELSE end_ns - start_ns END,
		CASE WHEN status IS NULL THEN -1 WHEN upgraded THEN upgrade_up + upgrade_down ELSE coalesce(resp_size, 0) END,
		octet_length(host)) || host, ''), '')
	FROM (SELECT id, version, status, err_status, start_ns, end_ns, resp_size, upgraded, upgrade_up, upgrade_down, coalesce(host, '') AS host
		FROM exchanges WHERE id > ?1 ORDER BY id LIMIT ?2)`,
}

// scanV2 reads a row of formats 1 and 2 (layoutV2.selectSQL).
func scanV2(sc scanner) (record.Exchange, stored, error) {
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
