package faulttest

// The fault suite's own PostgreSQL cluster. It is restarted in immediate
// mode during the campaign, so it cannot be the cluster of
// scripts/with-postgres.sh (TEST_DATABASE_URL), which the other packages
// of `go test ./...` use at the same time. It is made with that cluster's
// binaries (TEST_PGBIN) and runs as its owner (TEST_PGAS), both exported
// by scripts/with-postgres.sh.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a throwaway PostgreSQL cluster: 127.0.0.1, trust, fsync off,
// synchronous_commit on.
type cluster struct {
	as, bin, dir, data, logFile string
	Port                        int
}

// need reports a missing prerequisite: a skip, or a failure under CI=true
// (in CI nothing is skipped).
func need(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startCluster makes and starts a cluster, stopped and deleted when the
// test ends.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{as: os.Getenv("TEST_PGAS"), bin: os.Getenv("TEST_PGBIN")}
	if c.as == "" || c.bin == "" {
		need(t, "TEST_PGAS and TEST_PGBIN are not set: run the fault suite through scripts/with-postgres.sh (make test)")
	}
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(c.bin, tool)); err != nil {
			need(t, "PostgreSQL's %s not found in TEST_PGBIN=%s", tool, c.bin)
		}
	}
	out, err := c.run(30*time.Second, "mktemp", "-d", filepath.Join(os.TempDir(), "onecharge-faultpg.XXXXXX"))
	if err != nil {
		t.Fatalf("faulttest: mktemp as the cluster's owner: %v: %s", err, out)
	}
	c.dir = strings.TrimSpace(out)
	c.data, c.logFile = filepath.Join(c.dir, "data"), filepath.Join(c.dir, "server.log")
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(c.logFile); err == nil {
				t.Logf("--- PostgreSQL log (last 4 KiB):\n%s", tail(string(b), 4096))
			}
		}
		_, _ = c.pgctl(60*time.Second, "-m", "immediate", "stop")
		_, _ = c.run(60*time.Second, "rm", "-rf", c.dir)
	})
	if out, err := c.run(2*time.Minute, filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("faulttest: initdb: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		c.Port = freePort(t)
		// fsync off (the machine does not crash, processes do), but
		// synchronous_commit on: with it off, an immediate shutdown loses
		// the last commits, which the clients were told had happened.
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off -c max_connections=200", c.Port, c.dir)
		out, err := c.pgctl(90*time.Second, "-o", opts, "start")
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("faulttest: PostgreSQL did not start: %v\n%s", err, out)
		}
	}
	return c
}

// URL is the connection URL of the cluster's database postgres.
func (c *cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// Addr is host:port.
func (c *cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

// RestartImmediate is `pg_ctl restart -m immediate`: the server is killed
// without a checkpoint (every session ends at once, as in a crash) and
// started again, running crash recovery. It returns when the server
// accepts connections again.
func (c *cluster) RestartImmediate() (time.Duration, error) {
	start := time.Now()
	out, err := c.pgctl(2*time.Minute, "-m", "immediate", "restart")
	if err != nil {
		return 0, fmt.Errorf("pg_ctl restart: %v: %s", err, out)
	}
	return time.Since(start), nil
}

func (c *cluster) pgctl(timeout time.Duration, args ...string) (string, error) {
	args = append([]string{filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-l", c.logFile, "-w", "-t", "60", "-s"}, args...)
	return c.run(timeout, args...)
}

// run runs a command as the cluster's owner.
func (c *cluster) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.as, args...).CombinedOutput()
	return string(out), err
}

// Connect opens a connection for the checks.
func (c *cluster) Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("faulttest: connect to the cluster: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// freePort returns a port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
