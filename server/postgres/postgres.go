package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/onecharge/onecharge/server/checkoutsvc"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migrations, in tern's format
// (NNN_name.sql with an optional "---- create above / drop below ----").
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded: cannot happen
	}
	return sub
}

// VersionTable is the table in which tern records the schema version.
const VersionTable = "public.onecharge_schema_version"

// Config configures Open.
type Config struct {
	// URL is the connection string, for example
	// postgres://user:password@host:5432/db?sslmode=disable.
	URL string
	// MaxConns caps the pool. 0 takes the URL's pool_max_conns when it
	// has one, otherwise DefaultMaxConns.
	MaxConns int32
	// Tracer, when set, traces every query of the pool (tests count
	// round trips with it). It may also implement pgx.BatchTracer.
	Tracer pgx.QueryTracer
	// Logger receives retry messages; nil discards them.
	Logger *slog.Logger
	// Configure, when set, adjusts each connection's configuration after
	// parsing (the Cloudflare Worker dials through cloudflare:sockets
	// with it, see package cfsocket).
	Configure func(*pgconn.Config)
	// Gate, when set, is asked before each new connection of the pool:
	// while it returns an error, no connection is made and every query
	// (and Ping) fails, naming it. The server keeps its pool shut this way
	// until the migrations are applied.
	Gate func() error
}

// DefaultMaxConns is the pool's size unless Config.MaxConns or the URL's
// pool_max_conns says otherwise. A request spends its time waiting on
// PostgreSQL (round trips, and commits waiting for the disk), not on the
// CPU, so pgxpool's default of max(4, CPUs) leaves requests queuing for
// a connection while PostgreSQL could take them: at 32 concurrent
// requests on 2 CPUs, 4 connections gave about half the throughput of 16
// (make bench, issue 12), and more than 16 gave no more. 16 also leaves
// several replicas room under PostgreSQL's default max_connections (100).
const DefaultMaxConns = 16

// DB is the PostgreSQL checkoutsvc.Store. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

// Open returns the store over a pool for cfg.URL. It applies no
// migrations (package migrate does, so that only the programs that
// migrate link tern) and connects lazily, on the first query.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errors.New("postgres: invalid database URL")
	}
	switch {
	case cfg.MaxConns > 0:
		poolCfg.MaxConns = cfg.MaxConns
	case !strings.Contains(cfg.URL, "pool_max_conns"):
		poolCfg.MaxConns = DefaultMaxConns
	}

	if cfg.Configure != nil {
		cfg.Configure(&poolCfg.ConnConfig.Config)
	}
	poolCfg.ConnConfig.Tracer = cfg.Tracer
	if gate := cfg.Gate; gate != nil {
		poolCfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
			if err := gate(); err != nil {
				return plainError("database not ready: " + err.Error())
			}
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, translate("open pool", err)
	}
	return &DB{pool: pool, logger: logger}, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (db *DB) Close() { db.pool.Close() }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return translate("ping", db.pool.Ping(ctx))
}

// Error is a database failure translated at the store's edge. Its message
// names the operation, the SQLSTATE and the constraint, never SQL text or
// the values involved; Unwrap returns the driver's error (a
// *pgconn.PgError when the server refused a statement), so errors.Is
// still finds context.Canceled and context.DeadlineExceeded.
type Error struct {
	Op         string // what the store was doing, e.g. "upsert cart"
	Code       string // SQLSTATE, "" when the server did not answer
	Constraint string // violated constraint, if any
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("postgres: ")
	b.WriteString(e.Op)
	switch {
	case e.Code != "":
		fmt.Fprintf(&b, ": SQLSTATE %s", e.Code)
		if e.Constraint != "" {
			fmt.Fprintf(&b, " on %s", e.Constraint)
		}
	case errors.Is(e.Err, context.Canceled), errors.Is(e.Err, context.DeadlineExceeded):
		fmt.Fprintf(&b, ": %v", e.Err)
	case errors.As(e.Err, new(plainError)):
		fmt.Fprintf(&b, ": %v", e.Err)
	case errors.As(e.Err, new(*pgconn.ConnectError)), errors.As(e.Err, new(net.Error)):
		b.WriteString(": database unavailable")
	default:
		b.WriteString(": database error")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// translate wraps a driver error into an *Error; nil stays nil.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		return err
	}
	e := &Error{Op: op, Err: err}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.Code, e.Constraint = pgErr.Code, pgErr.ConstraintName
	}
	return e
}

// plainError is an error of the store's own, safe to print in full.
type plainError string

func (e plainError) Error() string { return string(e) }

// ErrInvalidUserID is returned when a user id is not a UUID: a caller bug.
var ErrInvalidUserID = checkoutsvc.ErrInvalidUserID

// errNoKey is returned when a method needs an existing key row.
var errNoKey error = plainError("idempotency key not found")

// Serialization failures and deadlocks abort a transaction that may succeed
// when run again.
const (
	sqlstateSerializationFailure = "40001"
	sqlstateDeadlockDetected     = "40P01"
	maxAttempts                  = 5
)

// inTx runs fn in a transaction, again (up to maxAttempts times in all)
// when the transaction fails with a serialization failure, a deadlock or
// errAliasTaken (a concurrent claim bound the alias first; run again, the
// claim resolves to the winner's key).
func (db *DB) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, db.pool, fn)
		if err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		retry := errors.As(err, &pgErr) &&
			(pgErr.Code == sqlstateSerializationFailure || pgErr.Code == sqlstateDeadlockDetected)
		retry = retry || errors.Is(err, errAliasTaken)
		if !retry || attempt == maxAttempts {
			return translate(op, err)
		}
		db.logger.Debug("retrying transaction", "op", op, "attempt", attempt, "err", err)
		backoff := time.Duration(attempt) * time.Duration(1+rand.IntN(10)) * time.Millisecond
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return translate(op, ctx.Err())
		}
	}
}

// parseUser checks the user id before it reaches the store.
func parseUser(id string) (string, error) { return checkoutsvc.ParseUserID(id) }
