package session

import (
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
)

// applicationID marks an SQLite file as a devproxy session ("dvpx"), in
// PRAGMA application_id.
const applicationID = 0x64767078

// FormatVersion is the session format this devproxy writes, kept in PRAGMA
// user_version. Each change to the schema adds a step to migrations and
// raises it by one; docs/session-format.md says what each version holds.
const FormatVersion = 4

// current is the version migrations lead to: FormatVersion (a test checks),
// unless a test adds a step.
func current() int { return len(migrations) }

// migrations[v] upgrades a file from format version v to v+1; version 0
// is an empty file. Every step runs in the transaction that sets the new
// version, so a file is either upgraded or left as it was.
var migrations = []func(*sql.Tx) error{
	createV1,
	deferIndexV2,
	packRecordsV3,
	inlineBodiesV4,
}

// schemaV1 is format version 1. Times are Unix nanoseconds (0: none),
// durations nanoseconds (-1: did not happen), header lists and marks JSON
// (see fields.go), booleans 0 or 1.
const schemaV1 = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE exchanges (
	id               INTEGER PRIMARY KEY,
	version          INTEGER NOT NULL,
	role             TEXT NOT NULL,
	state            INTEGER NOT NULL,
	start_ns         INTEGER NOT NULL,
	end_ns           INTEGER NOT NULL,
	client_addr      TEXT NOT NULL,
	server_addr      TEXT NOT NULL,
	replay_of        INTEGER NOT NULL,
	method           TEXT NOT NULL,
	url              TEXT NOT NULL,
	upstream_url     TEXT NOT NULL,
	proto            TEXT NOT NULL,
	host             TEXT NOT NULL,
	req_header       TEXT NOT NULL,
	req_trailer      TEXT NOT NULL,
	req_size         INTEGER NOT NULL,
	req_stored       INTEGER NOT NULL,
	req_truncated    INTEGER NOT NULL,
	req_complete     INTEGER NOT NULL,
	status           INTEGER,
	reason           TEXT,
	resp_proto       TEXT,
	resp_header      TEXT,
	resp_trailer     TEXT,
	resp_size        INTEGER,
	resp_stored      INTEGER,
	resp_truncated   INTEGER,
	resp_complete    INTEGER,
	t_blocked        INTEGER NOT NULL,
	t_dns            INTEGER NOT NULL,
	t_connect        INTEGER NOT NULL,
	t_tls            INTEGER NOT NULL,
	t_send           INTEGER NOT NULL,
	t_wait           INTEGER NOT NULL,
	t_receive        INTEGER NOT NULL,
	err_kind         TEXT,
	err_message      TEXT,
	err_status       INTEGER,
	upgraded         INTEGER NOT NULL,
	upgrade_up       INTEGER NOT NULL,
	upgrade_down     INTEGER NOT NULL,
	marks            TEXT NOT NULL,
	bodies_decoded   INTEGER NOT NULL,
	messages         INTEGER NOT NULL,
	messages_dropped INTEGER NOT NULL,
	not_persisted    TEXT NOT NULL,
	disk_bytes       INTEGER NOT NULL
);
CREATE TABLE bodies (
	exchange_id INTEGER NOT NULL,
	part        INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	data        BLOB NOT NULL,
	PRIMARY KEY (exchange_id, part, seq)
);
CREATE TABLE messages (
	exchange_id  INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	time_ns      INTEGER NOT NULL,
	dir          INTEGER NOT NULL,
	opcode       INTEGER NOT NULL,
	size         INTEGER NOT NULL,
	truncated    INTEGER NOT NULL,
	compressed   INTEGER NOT NULL,
	close_code   INTEGER NOT NULL,
	close_reason TEXT NOT NULL,
	payload      BLOB,
	PRIMARY KEY (exchange_id, seq)
);
CREATE VIRTUAL TABLE search USING fts5(
	url, headers, request, response, messages,
	content='', contentless_delete=1, tokenize='trigram'
);
`

// tablesV1 are the tables (and their kinds) a version 1 file must have.
var tablesV1 = map[string]string{
	"meta": "table", "exchanges": "table", "bodies": "table", "messages": "table", "search": "table",
}

// tablesV2 are those of version 2.
var tablesV2 = map[string]string{
	"meta": "table", "exchanges": "table", "bodies": "table", "messages": "table", "search": "table",
	"unindexed": "table",
}

// tablesOf are the tables a file of format version v must have.
func tablesOf(v int) map[string]string {
	if v < 2 {
		return tablesV1
	}
	return tablesV2
}

func createV1(tx *sql.Tx) error {
	_, err := tx.Exec(schemaV1)
	return err
}

// deferIndexV2 upgrades to format version 2, where exchanges are added to
// the search index after they are written, when the writer is idle (see
// index.go): the meta key indexed_through and the table unindexed say
// which are not in it yet. Version 1 indexed every exchange as it wrote
// it, so all of a version 1 file's exchanges are indexed already.
func deferIndexV2(tx *sql.Tx) error {
	_, err := tx.Exec(`
CREATE TABLE unindexed (
	id    INTEGER PRIMARY KEY,
	stale INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('indexed_through', max(
	coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_id'), 0),
	coalesce((SELECT max(id) FROM exchanges), 0)));
`)
	return err
}

// packRecordsV3 upgrades to format version 3, where an exchange's row
// keeps in columns what a list and the writer's own queries read, and the
// rest in one JSON object, rec (row.go). The table is made anew: a row of
// version 2 becomes one of version 3 in SQL, its record with every member
// (row.go's reader takes zero members as absent ones). The search index,
// keyed by exchange ID, stays as it is.
func packRecordsV3(tx *sql.Tx) error {
	_, err := tx.Exec(`
CREATE TABLE exchanges_v3 (
	id         INTEGER PRIMARY KEY,
	version    INTEGER NOT NULL,
	start_ns   INTEGER NOT NULL,
	end_ns     INTEGER NOT NULL,
	method     TEXT NOT NULL,
	url        TEXT NOT NULL,
	host       TEXT NOT NULL,
	status     INTEGER NOT NULL,
	size       INTEGER NOT NULL,
	disk_bytes INTEGER NOT NULL,
	rec        TEXT NOT NULL
);
INSERT INTO exchanges_v3 (id, version, start_ns, end_ns, method, url, host, status, size, disk_bytes, rec)
SELECT id, version, start_ns, end_ns, method, url, host,
	CASE WHEN coalesce(err_status, 0) != 0 THEN err_status ELSE coalesce(status, 0) END,
	CASE WHEN status IS NULL THEN -1 WHEN upgraded THEN upgrade_up + upgrade_down ELSE coalesce(resp_size, 0) END,
	disk_bytes,
	json_object(
		'role', role, 'state', state, 'client', client_addr, 'server', server_addr, 'replay_of', replay_of,
		'req', json_object('proto', proto, 'upstream_url', upstream_url,
			'header', json(req_header), 'trailer', json(req_trailer), 'size', req_size, 'stored', req_stored,
			'truncated', json(iif(req_truncated, 'true', 'false')), 'complete', json(iif(req_complete, 'true', 'false'))),
		'resp', CASE WHEN status IS NULL THEN NULL ELSE json_object('status', status, 'reason', reason, 'proto', resp_proto,
			'header', json(resp_header), 'trailer', json(resp_trailer), 'size', resp_size, 'stored', resp_stored,
			'truncated', json(iif(resp_truncated, 'true', 'false')), 'complete', json(iif(resp_complete, 'true', 'false'))) END,
		'timings', json_array(t_blocked, t_dns, t_connect, t_tls, t_send, t_wait, t_receive),
		'err', CASE WHEN err_kind IS NULL THEN NULL ELSE json_object('kind', err_kind, 'message', err_message, 'status', err_status) END,
		'upgraded', json(iif(upgraded, 'true', 'false')), 'upgrade_up', upgrade_up, 'upgrade_down', upgrade_down,
		'marks', json(marks), 'bodies_decoded', json(iif(bodies_decoded, 'true', 'false')),
		'messages', messages, 'messages_dropped', messages_dropped, 'not_persisted', not_persisted)
FROM exchanges ORDER BY id;
DROP TABLE exchanges;
ALTER TABLE exchanges_v3 RENAME TO exchanges;
`)
	return err
}

// inlineBodiesV4 upgrades to format version 4, where a body of up to
// inlineMax bytes is kept in its exchange's row (row.go). The bodies
// written before stay in the bodies table, the columns NULL.
func inlineBodiesV4(tx *sql.Tx) error {
	_, err := tx.Exec(`
ALTER TABLE exchanges ADD COLUMN req_body BLOB;
ALTER TABLE exchanges ADD COLUMN resp_body BLOB;
`)
	return err
}

// FormatError says a file cannot be opened as a session of this devproxy's
// format, and what to do.
type FormatError struct {
	// Found is the file's format version (PRAGMA user_version), or -1 when
	// the file is not a session at all.
	Found int
	// Supported is FormatVersion.
	Supported int
	// Reason says what is wrong.
	Reason string
}

func (e *FormatError) Error() string {
	switch {
	case e.Found < 0:
		return "not a devproxy session file: " + e.Reason
	case e.Found > e.Supported:
		return fmt.Sprintf("session format version %d is newer than this devproxy's (%d): use a newer devproxy, or another file", e.Found, e.Supported)
	default:
		return fmt.Sprintf("session format version %d: %s", e.Found, e.Reason)
	}
}

// migrate creates the schema in a new file, upgrades an older one, and
// refuses one that is newer or not a session, all in one IMMEDIATE
// transaction so that two processes cannot upgrade the same file at once.
func migrate(db *sql.DB) error {
	if err := vacuumIncrementally(db); err != nil {
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		return explain(err)
	}
	defer tx.Rollback()
	app, version, tables, err := readHeader(tx)
	if err != nil {
		return err
	}
	if err := checkHeader(app, version, tables, true); err != nil {
		return err
	}
	if version == current() {
		return nil
	}
	if version == 0 {
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return explain(err)
		}
	}
	for v := version; v < current(); v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("upgrade session format %d to %d: %w", v, v+1, explain(err))
		}
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", current())); err != nil {
		return explain(err)
	}
	return explain(tx.Commit())
}

// vacuumIncrementally turns on incremental vacuum in a new, empty file,
// so that eviction can give pages back to the file system. Opening in WAL
// mode has already created the file, so the setting takes a VACUUM (of
// nothing). The caller holds the lock: no other writer is creating it.
func vacuumIncrementally(db *sql.DB) error {
	var mode, tables int
	if err := db.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return explain(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return explain(err)
	}
	if mode == 2 || tables > 0 {
		return nil
	}
	for _, q := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"} {
		if _, err := db.Exec(q); err != nil {
			return explain(err)
		}
	}
	return nil
}

// checkReadable checks a file opened read-only and returns its format
// version: it must be a session of this format version or an older one,
// which is read as it is (a writer upgrades it).
func checkReadable(db *sql.DB) (int, error) {
	tx, err := db.Begin()
	if err != nil {
		return 0, explain(err)
	}
	defer tx.Rollback()
	app, version, tables, err := readHeader(tx)
	if err != nil {
		return 0, err
	}
	if version == 0 && app == 0 && len(tables) == 0 {
		return 0, &FormatError{Found: -1, Reason: "the file is empty"}
	}
	return version, checkHeader(app, version, tables, false)
}

// readHeader reads the file's application id, format version and the
// kinds of its schema objects by name.
func readHeader(tx *sql.Tx) (app, version int, tables map[string]string, err error) {
	if err := tx.QueryRow("PRAGMA application_id").Scan(&app); err != nil {
		return 0, 0, nil, explain(err)
	}
	if err := tx.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return 0, 0, nil, explain(err)
	}
	rows, err := tx.Query("SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view')")
	if err != nil {
		return 0, 0, nil, explain(err)
	}
	defer rows.Close()
	tables = map[string]string{}
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			return 0, 0, nil, explain(err)
		}
		tables[name] = kind
	}
	return app, version, tables, explain(rows.Err())
}

// checkHeader refuses a file that is not a session, or is of a newer
// format. empty says an empty file is fine (it becomes a session).
func checkHeader(app, version int, tables map[string]string, empty bool) error {
	switch {
	case app == 0 && version == 0 && len(tables) == 0 && empty:
		return nil
	case app != applicationID:
		return &FormatError{Found: -1, Reason: fmt.Sprintf("an SQLite database of another application (application_id %#x)", app)}
	case version > current():
		return &FormatError{Found: version, Supported: current()}
	case version <= 0:
		return &FormatError{Found: -1, Reason: fmt.Sprintf("format version %d is not one devproxy wrote", version)}
	default:
		for name, kind := range tablesOf(version) {
			if tables[name] != kind {
				return &FormatError{Found: version, Supported: current(), Reason: fmt.Sprintf("the file is damaged: %s %q is missing", kind, name)}
			}
		}
	}
	return nil
}

// explain turns the driver's errors about the file itself into sentences:
// not a database, damaged, read-only, full. Others pass through.
func explain(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	why := ""
	switch se.Code() & 0xff {
	case 26: // SQLITE_NOTADB
		return &FormatError{Found: -1, Reason: "the file is not an SQLite database"}
	case 11: // SQLITE_CORRUPT
		why = "the session file is damaged"
	case 13: // SQLITE_FULL
		why = "the disk is full"
	case 8: // SQLITE_READONLY
		why = "the session file cannot be written"
	case 10: // SQLITE_IOERR
		why = "the session file could not be read or written"
	case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
		why = "the session file is busy"
	}
	if why == "" {
		return err
	}
	return fmt.Errorf("%s: %w", why, err)
}
