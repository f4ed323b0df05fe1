// Package pgtest gives each test its own migrated PostgreSQL database.
//
// The server comes from the environment variable TEST_DATABASE_URL, a URL
// (postgres://user@host:port/db) whose user may CREATE DATABASE;
// scripts/with-postgres.sh starts a throwaway cluster and sets it, and
// `make test` runs the suites through that script. Without it, tests are
// skipped, except under CI=true, where they fail: in CI a missing database
// is an error, never a silent skip.
//
// The first call in a process makes sure a template database holding the
// migrated schema exists. Its name carries a hash of the embedded
// migrations, and it is built under a PostgreSQL advisory lock, so the test
// binaries that `go test ./...` runs in parallel build it once and share it
// (and a later run against the same server reuses it). Every call then
// clones it with CREATE DATABASE t_<random> TEMPLATE ..., which takes
// milliseconds, and drops the clone (WITH (FORCE)) when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/migrate"
)

// EnvURL is the variable naming the PostgreSQL server of the tests.
const EnvURL = "TEST_DATABASE_URL"

const missing = EnvURL + " is not set: run the tests with make test, which starts a throwaway PostgreSQL cluster"

// templateLock is the advisory lock key held while a template is built.
const templateLock = int64(0x6f6e6563_74706c31) // "onectpl1"

var (
	setupOnce sync.Once
	setupErr  error
	admin     *pgxpool.Pool // on the server URL's own database
	server    *url.URL
	template  string
	strategy  string // " strategy file_copy" from PostgreSQL 15 on
)

// URL returns the connection URL of a fresh, migrated database that only
// this test uses, dropped in tb.Cleanup.
func URL(tb testing.TB) string {
	tb.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal(missing)
		}
		tb.Skip(missing)
	}
	setupOnce.Do(func() { setupErr = setup(raw) })
	if setupErr != nil {
		tb.Fatalf("pgtest: %v", setupErr)
	}

	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()+" template "+pgx.Identifier{template}.Sanitize()+strategy); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *server
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// Open returns a store on a fresh database (URL), closed in tb.Cleanup.
// cfg.URL is filled in; the rest of cfg is passed on.
func Open(tb testing.TB, cfg postgres.Config) *postgres.DB {
	tb.Helper()
	cfg.URL = URL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// setup connects to the server and makes sure the template exists.
func setup(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	server = u

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvURL, err)
	}
	cfg.MaxConns = 4
	if admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return err
	}
	sum, err := migrationsHash()
	if err != nil {
		return err
	}
	template = "onecharge_tpl_" + sum

	// A connection of its own, closed at the end: the advisory lock is
	// session-level, so it is released whatever happens below.
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", templateLock); err != nil {
		return err
	}
	// Copying the files of a small template is several times faster than
	// PostgreSQL 15's default, WAL_LOG, which is made for large ones.
	var version int
	if err := conn.QueryRow(ctx, "select current_setting('server_version_num')::int").Scan(&version); err != nil {
		return err
	}
	if version >= 150000 {
		strategy = " strategy file_copy"
	}
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select from pg_database where datname = $1)", template).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if err := buildTemplate(ctx, conn, u); err != nil {
			return fmt.Errorf("build template %s: %w", template, err)
		}
	}
	return nil
}

// buildTemplate migrates a scratch database with migrate.Up and renames
// it into place, so a template under its final name is always complete.
func buildTemplate(ctx context.Context, conn *pgx.Conn, server *url.URL) error {
	scratch := template + "_build"
	for _, sql := range []string{
		"drop database if exists " + pgx.Identifier{scratch}.Sanitize() + " with (force)",
		"create database " + pgx.Identifier{scratch}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	u := *server
	u.Path = "/" + scratch
	u.RawPath = ""
	if err := migrate.Up(ctx, u.String(), nil); err != nil {
		return err
	}
	// Renaming waits (up to a few seconds) for the closed sessions to end.
	_, err := conn.Exec(ctx, "alter database "+pgx.Identifier{scratch}.Sanitize()+" rename to "+pgx.Identifier{template}.Sanitize())
	return err
}

// migrationsHash identifies the embedded migrations.
func migrationsHash() (string, error) {
	fsys := postgres.Migrations()
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", errors.New("no embedded migrations")
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
