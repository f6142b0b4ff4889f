package main

import (
	"bytes"
	"compress/gzip"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, as sessions use it
)

// TestViewSaysWhatAFileIs: view of a file that is not HAR says what the
// file looks like and what view reads, instead of a JSON parse error.
func TestViewSaysWhatAFileIs(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"log":{"entries":[]}}`))
	zw.Close()
	// mitmproxy's flow format: tnetstrings, a dictionary per flow.
	flow := "40:7:version;2:20#4:type;4:http;2:id;3:abc;}"
	big := `{"x":"` + strings.Repeat("y", 2*sniffHead) + `"}`
	for _, tt := range []struct {
		name, body string
		says       []string
	}{
		{"flows.mitm", flow + flow, []string{"is a mitmproxy flow file", "mitmdump -nr " + filepath.Join(dir, "flows.mitm") + " --set hardump=" + filepath.Join(dir, "flows.har")}},
		{"long.mitm", "1000:7:version;" + strings.Repeat("x", 990) + "}", []string{"is a mitmproxy flow file"}},
		{"object.json", `{"hello": "world", "n": 1}`, []string{`is a JSON object with keys "hello", "n" but no "log"`}},
		{"bigobject.json", big, []string{`is a JSON object with keys "x" but no "log"`}},
		{"empty.json", "{}", []string{"is an empty JSON object"}},
		{"array.json", `[{"log": {}}]`, []string{"is a JSON array"}},
		{"empty.har", "", []string{"is empty"}},
		{"blank.har", " \n\t", []string{"is empty"}},
		{"text.har", "GET / HTTP/1.1\r\nHost: x\r\n", []string{`is text that is not a JSON object: it starts "GET / HTTP/1.1"`}},
		{"binary.har", "\x00\x01\x02\xff", []string{"is binary data"}},
		{"gz.har", gz.String(), []string{"is gzip-compressed", "gunzip -k"}},
		{"saz.saz", "PK\x03\x04rest", []string{"is a zip archive"}},
		{"cap.pcap", "\xd4\xc3\xb2\xa1rest", []string{"is a packet capture"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := runCmd(t, "view", p, "--no-tui")
			if err == nil {
				t.Fatal("view succeeded")
			}
			msg := err.Error()
			for _, want := range append(tt.says, p+" ", viewReads) {
				if !strings.Contains(msg, want) {
					t.Errorf("the error lacks %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "invalid character") || strings.Contains(msg, "read HAR") {
				t.Errorf("the error is the HAR reader's:\n%s", msg)
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		_, err := runCmd(t, "view", dir, "--no-tui")
		if err == nil || !strings.Contains(err.Error(), dir+" is a directory") {
			t.Errorf("view DIR: %v", err)
		}
	})
}

// TestViewOfOtherSQLiteSaysWhatViewReads: an SQLite database that is not a
// session gets the session store's reason and what view reads.
func TestViewOfOtherSQLiteSaysWhatViewReads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "other.db")
	// Another application's database, through the driver sessions use.
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (body TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = runCmd(t, "view", p, "--no-tui")
	if err == nil || !strings.Contains(err.Error(), "not a devproxy session file") || !strings.Contains(err.Error(), viewReads) {
		t.Errorf("view of another SQLite file: %v", err)
	}
}

// TestViewStillReadsHAR: the check lets HAR files through, whatever their
// first key, and leaves a broken HAR to the reader, which names the line.
func TestViewStillReadsHAR(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"plain.har":     `{"log": {"version": "1.2", "creator": {"name": "x"}, "entries": []}}`,
		"bom.har":       "\xef\xbb\xbf" + `{"log": {"entries": []}}`,
		"commented.har": `{"_comment": {"a": [1, {"b": 2}]}, "log": {"entries": []}}`,
		"indented.har":  "\n\n   {\n  \"log\": {\"entries\": []}}",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runCmd(t, "view", p, "--no-tui"); err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
	p := filepath.Join(dir, "broken.har")
	if err := os.WriteFile(p, []byte("{\n  \"log\": {\n    \"entries\": [,]\n  }\n}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, "view", p, "--no-tui"); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("a broken HAR: %v; want the reader's error with its line", err)
	}
}
