// Package pgtest gives tests a real PostgreSQL: a fresh database on the
// server named by DEVPROXY_TEST_POSTGRES (URL), or a private cluster the
// test starts and can stop and start again (Cluster), to see what happens
// when PostgreSQL goes away.
//
// Without DEVPROXY_TEST_POSTGRES (or without PostgreSQL's server programs,
// for Cluster) tests skip with a message saying what to set, except under
// CI (CI=true), where they fail: CI must run them.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the URL of an admin database (one a
// test may create databases from) of the PostgreSQL server tests use.
const EnvURL = "DEVPROXY_TEST_POSTGRES"

// missing skips the test, or fails it under CI.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must run the PostgreSQL tests (.ci/run installs PostgreSQL and sets %s)", why, EnvURL)
	}
	t.Skipf("%s; skipping this PostgreSQL test", why)
}

// URL returns the URL of a new, empty database on the server named by
// DEVPROXY_TEST_POSTGRES, dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		missing(t, EnvURL+" is not set (to run it: "+EnvURL+"=postgres://postgres@127.0.0.1:5432/postgres, a server on which the user may create databases)")
	}
	return NewDatabase(t, admin)
}

// NewDatabase creates a database with a unique name on the server of
// admin (a URL of a database there) and returns its URL; it is dropped
// when the test ends.
func NewDatabase(t testing.TB, admin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to the admin database: %v", err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "devproxy_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			// The server may have gone with the test's cluster.
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %s does not parse", EnvURL)
	}
	u.Path = "/" + name
	return u.String()
}

// Cluster is a PostgreSQL server of the test's own: a data directory made
// by initdb in a temporary directory, listening on a loopback port.
type Cluster struct {
	bin, dir, data string
	port           int
	asPostgres     bool

	mu      sync.Mutex
	running bool
}

// Password is the password of the user "postgres" in a Cluster: its URLs
// carry one, so that tests can check it never shows.
const Password = "pgtest-Secret-9f3"

// NewCluster starts a private PostgreSQL cluster, stopped and removed when
// the test ends. It needs PostgreSQL's server programs (initdb, pg_ctl):
// found with pg_config --bindir, in /usr/lib/postgresql/*/bin or on PATH.
// Run as root, it runs them as the user postgres.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := binDir()
	if bin == "" {
		missing(t, "PostgreSQL's server programs (initdb, pg_ctl) are not installed (apt-get install postgresql)")
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			missing(t, "running as root, and there is no user postgres to run PostgreSQL as (initdb refuses root)")
		}
		c.asPostgres = true
	}
	// Not t.TempDir: its parents are private to root, and the server may
	// run as postgres.
	dir, err := os.MkdirTemp("", "devproxy-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		c.mu.Lock()
		running := c.running
		c.mu.Unlock()
		if running {
			_, _ = c.ctl("stop", "-m", "immediate", "-w")
		}
		os.RemoveAll(dir)
	})
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.asPostgres {
		if out, err := exec.Command("chown", "-R", "postgres:", dir).CombinedOutput(); err != nil {
			t.Fatalf("pgtest: chown %s: %v: %s", dir, err, out)
		}
	}
	// Local (socket) connections are trusted; TCP ones need the password.
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "--pwfile", pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// A free port can be taken between choosing and starting: try a few.
	for attempt := 0; ; attempt++ {
		c.port = freePort(t)
		out, err := c.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("pgtest: start PostgreSQL: %v\n%s", err, out)
		}
	}
	return c
}

// AdminURL is the URL of the cluster's database "postgres", as the user
// postgres with its password.
func (c *Cluster) AdminURL() string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", Password, c.port)
}

// URL creates a new database in the cluster and returns its URL.
func (c *Cluster) URL(t testing.TB) string {
	t.Helper()
	return NewDatabase(t, c.AdminURL())
}

// Stop shuts the server down (fast: connections are closed at once).
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if out, err := c.ctl("stop", "-m", "fast", "-w"); err != nil {
		t.Fatalf("pgtest: stop PostgreSQL: %v\n%s", err, out)
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// Start starts the server again, on the same port, and returns once it
// accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if out, err := c.start(); err != nil {
		t.Fatalf("pgtest: start PostgreSQL: %v\n%s", err, out)
	}
}

func (c *Cluster) start() ([]byte, error) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", c.port, c.dir)
	out, err := c.ctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "log"), "-o", opts)
	if err == nil {
		c.mu.Lock()
		c.running = true
		c.mu.Unlock()
	} else if log, rerr := os.ReadFile(filepath.Join(c.dir, "log")); rerr == nil {
		out = append(out, log...)
	}
	return out, err
}

func (c *Cluster) ctl(args ...string) ([]byte, error) {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data}, args...)...)
}

// run runs a server program, as postgres when root.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	if c.asPostgres {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// binDir finds the directory of initdb and pg_ctl, or "".
func binDir() string {
	has := func(dir string) bool {
		_, err1 := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "pg_ctl"))
		return err1 == nil && err2 == nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir
		}
	}
	return ""
}

// version is the major version in /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
