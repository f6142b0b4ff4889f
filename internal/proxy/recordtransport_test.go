package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/devproxy/devproxy/internal/record"
)

// TestRecordTransport: a request devproxy sends by itself is recorded with
// its marks, response and body, and ends when the body is read.
func TestRecordTransport(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	rec := record.NewRecorder(record.Limits{})
	c := &http.Client{Transport: RecordTransport(rec, record.RoleServe, []record.Mark{{Stage: "route", Name: "health", Value: "check"}}, http.DefaultTransport)}
	res, err := c.Get(up.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	xs := rec.Snapshot()
	if len(xs) != 1 {
		t.Fatalf("%d exchanges recorded, want 1", len(xs))
	}
	x := xs[0]
	if v, _ := x.Mark("health"); v != "check" || x.State != record.Done || x.Response == nil || x.Response.Status != 200 || string(x.Response.Body.Bytes) != "ok" {
		t.Errorf("recorded %+v", x)
	}

	_, err = c.Get("http://127.0.0.1:1/healthz")
	if err == nil {
		t.Fatal("a refused connection succeeded")
	}
	if xs := rec.Snapshot(); len(xs) != 2 || xs[1].Err == nil || xs[1].State != record.Done {
		t.Errorf("the failed check is not recorded as failed: %+v", xs[len(xs)-1])
	}
}
