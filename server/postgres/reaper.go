package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/shared/checkout"
)

// reaperLock is the key of the session-level advisory lock one replica
// holds while it reaps.
const reaperLock = int64(0x6f6e6563_72656170) // "onecreap"

// TryReaperLock takes the reaper's advisory lock on a connection of its
// own, held until release (or until the process dies and PostgreSQL ends
// its session).
func (db *DB) TryReaperLock(ctx context.Context) (func(), bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, false, translate("reaper lock", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, reaperLock).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, translate("reaper lock", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `select pg_advisory_unlock($1)`, reaperLock); err != nil {
			// Closing the connection ends the session, which frees the lock.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}
	return release, true, nil
}

// ReapableKeys lists unheld keys with a payable PaymentIntent unused since
// before idleBefore, oldest first (idempotency_keys_last_used_at_idx).
func (db *DB) ReapableKeys(ctx context.Context, idleBefore, now time.Time, limit int) ([]checkoutsvc.KeyRecord, error) {
	rows, err := db.pool.Query(ctx, `select `+keyColumns+` from idempotency_keys
 where last_used_at < $1
   and payment_intent_id is not null
   and pi_status in ('requires_payment_method', 'requires_confirmation')
   and (lock_token is null or lease_until <= $2)
 order by last_used_at, key
 limit $3`, idleBefore, now, limit)
	if err != nil {
		return nil, translate("reapable keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (checkoutsvc.KeyRecord, error) { return scanKey(r) })
	return out, translate("reapable keys", err)
}

// ReplacedSessions lists open sessions that are not their user's newest.
func (db *DB) ReplacedSessions(ctx context.Context, limit int) ([]checkoutsvc.CheckoutSession, error) {
	rows, err := db.pool.Query(ctx, `
select s.id, s.url, s.user_id::text, s.items, s.amount, s.currency, s.status
  from checkout_sessions s
 where s.status = 'open'
   and exists (select from checkout_sessions n where n.user_id = s.user_id and n.seq > s.seq)
 order by s.id
 limit $1`, limit)
	if err != nil {
		return nil, translate("replaced sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (checkoutsvc.CheckoutSession, error) {
		var s checkoutsvc.CheckoutSession
		err := r.Scan(&s.ID, &s.URL, &s.UserID, &s.Items, &s.Amount, &s.Currency, &s.Status)
		if s.Items == nil {
			s.Items = []checkout.Line{}
		}
		return s, err
	})
	return out, translate("replaced sessions", err)
}

// CloseSessions sets the status of sessions still open.
func (db *DB) CloseSessions(ctx context.Context, statuses map[string]string) error {
	if len(statuses) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for id, status := range statuses {
		b.Queue(`update checkout_sessions set status = $2 where id = $1 and status = 'open'`, id, status)
	}
	return translate("close sessions", db.pool.SendBatch(ctx, b).Close())
}

// DeleteBefore deletes, in one batch of bounded statements, what
// retention no longer keeps; orders stay.
func (db *DB) DeleteBefore(ctx context.Context, before, now time.Time, limit int) (checkoutsvc.Deleted, error) {
	var d checkoutsvc.Deleted
	b := &pgx.Batch{}
	count := func(n *int) func(pgx.Row) error {
		return func(r pgx.Row) error { return r.Scan(n) }
	}
	b.Queue(`with gone as (
  delete from idempotency_keys where key in (
    select key from idempotency_keys
     where last_used_at < $1 and (lock_token is null or lease_until <= $2)
     order by last_used_at limit $3)
  returning 1)
select count(*) from gone`, before, now, limit).QueryRow(count(&d.Keys))
	b.Queue(`with gone as (
  delete from key_aliases where (user_id, alias) in (
    select user_id, alias from key_aliases where created_at < $1 order by created_at limit $2)
  returning 1)
select count(*) from gone`, before, limit).QueryRow(count(&d.Aliases))
	b.Queue(`with gone as (
  delete from stripe_events where id in (
    select id from stripe_events where received_at < $1 order by received_at limit $2)
  returning 1)
select count(*) from gone`, before, limit).QueryRow(count(&d.Events))
	b.Queue(`with gone as (
  delete from checkout_sessions where id in (
    select id from checkout_sessions where status <> 'open' and created_at < $1 order by created_at limit $2)
  returning 1)
select count(*) from gone`, before, limit).QueryRow(count(&d.Sessions))
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return checkoutsvc.Deleted{}, translate("delete old rows", err)
	}
	return d, nil
}
