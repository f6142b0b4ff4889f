package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterStopStart starts a private cluster, creates a database on it,
// stops and starts it, and finds the database again.
func TestClusterStopStart(t *testing.T) {
	c := NewCluster(t)
	u := c.URL(t)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	if err := ping(); err == nil {
		t.Fatal("connected to a stopped server")
	}
	c.Start(t)
	if err := ping(); err != nil {
		t.Fatal(err)
	}
}
