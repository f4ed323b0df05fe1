package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/migrate"
)

// Start-up with PostgreSQL (CONTRACT.md section 9): the server listens at
// once and opens its store with the pool shut (postgres.Config.Gate);
// a goroutine applies the migrations, retrying with capped, jittered
// exponential backoff until the database answers, and then opens the
// pool. Until then /readyz answers 503 and every request that needs the
// store answers 500 internal, as any request does whose store fails (the
// browser module retries 5xx). The server never exits for an unreachable
// database. Replicas starting together migrate one at a time (migrate.Up
// holds an advisory lock).
//
// Once open, the pool is pgxpool's: after PostgreSQL restarts, broken
// connections fail the requests using them and are discarded, idle ones
// are pinged before reuse, and new ones are dialled on demand.

// Backoff of the migration attempts: the n-th retry waits a random
// duration in [d/2, d), d = min(dbRetryMax, dbRetryBase·2^(n-1)).
const (
	dbRetryBase = 250 * time.Millisecond
	dbRetryMax  = 5 * time.Second
	// dbAttemptTimeout bounds one attempt (connect, wait for another
	// replica's migration lock, migrate).
	dbAttemptTimeout = 30 * time.Second
)

// errMigrating is the gate's answer until the migrations are applied.
var errMigrating = errors.New("waiting for the migrations to be applied")

// database is the PostgreSQL store of a server and its start-up.
type database struct {
	DB     *postgres.DB
	ready  atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
}

// openDatabase opens the store with its pool shut and starts applying the
// migrations in the background. Close stops that and closes the store.
func openDatabase(ctx context.Context, url string, logger *slog.Logger) (*database, error) {
	d := &database{done: make(chan struct{})}
	db, err := postgres.Open(ctx, postgres.Config{URL: url, Logger: logger, Gate: d.gate})
	if err != nil {
		return nil, err
	}
	d.DB = db
	ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go d.migrate(ctx, url, logger)
	return d, nil
}

func (d *database) gate() error {
	if d.ready.Load() {
		return nil
	}
	return errMigrating
}

// migrate applies the migrations until they are, then opens the pool.
func (d *database) migrate(ctx context.Context, url string, logger *slog.Logger) {
	defer close(d.done)
	start := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, dbAttemptTimeout)
		err := migrate.Up(actx, url, logger)
		cancel()
		if err == nil {
			d.ready.Store(true)
			logger.Info("store: PostgreSQL, migrations applied", "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			return
		}
		if ctx.Err() != nil {
			return
		}
		wait := dbBackoff(attempt)
		logger.Warn("database unavailable: retrying", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// dbBackoff is the wait after failed attempt n (n >= 1).
func dbBackoff(n int) time.Duration {
	d := dbRetryBase
	for i := 1; i < n && d < dbRetryMax; i++ {
		d *= 2
	}
	d = min(d, dbRetryMax)
	return d/2 + rand.N(d/2)
}

// Close stops the migration attempts and closes the store.
func (d *database) Close() {
	d.cancel()
	<-d.done
	d.DB.Close()
}
