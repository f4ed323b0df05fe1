// Package migrate applies onecharge's PostgreSQL schema: the migrations
// embedded in package postgres ([postgres.Migrations]), in tern's format,
// with the version kept in [postgres.VersionTable].
//
// It is a package of its own so that only the programs that migrate link
// tern (and its template library): the native server migrates at start-up
// and `onecharge migrate` migrates and exits, while the Cloudflare Worker
// opens the store with [postgres.Open] alone and never carries tern.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/onecharge/onecharge/server/postgres"
)

// lockKey is the key of the session-level advisory lock held while
// migrating, so that processes starting together migrate one at a time.
const lockKey = int64(0x6f6e6563_68726731) // "onechrg1"

// Up connects to url and applies the migrations that are not applied yet,
// over a connection of its own, closed afterwards (which also drops the
// advisory lock if unlocking failed). Applying is idempotent. Its errors
// are *postgres.Error (or name the migration file), never SQL text or the
// URL's password. A nil logger discards the progress messages.
func Up(ctx context.Context, url string, logger *slog.Logger) (err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Parsed as the store's pool parses it, so that the pool's own
	// parameters (pool_max_conns, ...) are taken off the connection's.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return errors.New("postgres: invalid database URL")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return translate("connect", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", lockKey); err != nil {
		return translate("migrate: lock", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", lockKey); uerr != nil && err == nil {
			err = translate("migrate: unlock", uerr)
		}
	}()

	m, err := migrate.NewMigrator(ctx, conn, postgres.VersionTable)
	if err != nil {
		return translate("migrate: version table", err)
	}
	if err := m.LoadMigrations(postgres.Migrations()); err != nil {
		return fmt.Errorf("postgres: migrate: load: %w", err)
	}
	m.OnStart = func(seq int32, name, direction, _ string) {
		logger.Info("applying migration", "sequence", seq, "name", name, "direction", direction)
	}
	if err := m.Migrate(ctx); err != nil {
		var merr migrate.MigrationPgError
		if errors.As(err, &merr) {
			return translate("migrate: "+merr.MigrationName, merr.PgError)
		}
		return translate("migrate", err)
	}
	return nil
}

// translate wraps a driver error into a *postgres.Error, as the store does.
func translate(op string, err error) error {
	e := &postgres.Error{Op: op, Err: err}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.Code, e.Constraint = pgErr.Code, pgErr.ConstraintName
	}
	return e
}
