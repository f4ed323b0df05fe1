package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/shared/checkout"
)

var _ checkoutsvc.Store = (*DB)(nil)

// Products returns the active catalog, ordered by id.
func (db *DB) Products(ctx context.Context) ([]checkout.Product, error) {
	rows, err := db.pool.Query(ctx, `select id, name, unit_amount, currency, active from products where active order by id`)
	if err != nil {
		return nil, translate("products", err)
	}
	out, err := pgx.CollectRows(rows, scanProduct)
	if err != nil {
		return nil, translate("products", err)
	}
	return out, nil
}

// ProductsByID returns the catalog entries, active or not, for ids.
func (db *DB) ProductsByID(ctx context.Context, ids []string) (map[string]checkout.Product, error) {
	rows, err := db.pool.Query(ctx, sqlProductsByID, nonNil(ids))
	if err != nil {
		return nil, translate("products by id", err)
	}
	out, err := collectProducts(rows)
	return out, translate("products by id", err)
}

const sqlProductsByID = `select id, name, unit_amount, currency, active from products where id = any($1::text[])`

func scanProduct(row pgx.CollectableRow) (checkout.Product, error) {
	var p checkout.Product
	err := row.Scan(&p.ID, &p.Name, &p.UnitAmount, &p.Currency, &p.Active)
	return p, err
}

func collectProducts(rows pgx.Rows) (map[string]checkout.Product, error) {
	list, err := pgx.CollectRows(rows, scanProduct)
	if err != nil {
		return nil, err
	}
	out := make(map[string]checkout.Product, len(list))
	for _, p := range list {
		out[p.ID] = p
	}
	return out, nil
}

// GetCart returns the user's stored cart lines.
func (db *DB) GetCart(ctx context.Context, userID string) ([]checkout.Item, time.Time, bool, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	var items []checkout.Item
	var updatedAt time.Time
	err = db.pool.QueryRow(ctx, `select items, updated_at from carts where user_id = $1::uuid`, userID).Scan(&items, &updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, false, nil
	} else if err != nil {
		return nil, time.Time{}, false, translate("get cart", err)
	}
	if items == nil {
		items = []checkout.Item{}
	}
	return items, updatedAt.UTC(), true, nil
}

// UpsertCart stores items as the user's one cart, with the database's
// clock as updated_at.
func (db *DB) UpsertCart(ctx context.Context, userID string, items []checkout.Item) (time.Time, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return time.Time{}, err
	}
	itemsJSON, err := jsonArray(items)
	if err != nil {
		return time.Time{}, err
	}
	var updatedAt time.Time
	err = db.pool.QueryRow(ctx, sqlUpsertCart, userID, itemsJSON).Scan(&updatedAt)
	if err != nil {
		return time.Time{}, translate("upsert cart", err)
	}
	return updatedAt.UTC(), nil
}

const sqlUpsertCart = `
insert into carts (user_id, items)
values ($1::uuid, $2::jsonb)
on conflict (user_id) do update
   set items = excluded.items,
       updated_at = now()
returning updated_at`

// sqlUpsertCartAt is the cart upsert of the key and checkout paths, with
// the caller's clock.
const sqlUpsertCartAt = `
insert into carts (user_id, items, created_at, updated_at)
values ($1::uuid, $2::jsonb, $3, $3)
on conflict (user_id) do update
   set items = excluded.items,
       updated_at = excluded.updated_at`

// ReplayKey is one statement: the UPDATE of the key row matches want and
// carries no lock token, and the cart upsert takes its user from that
// UPDATE's RETURNING, so when the key does not match neither is written.
func (db *DB) ReplayKey(ctx context.Context, want checkoutsvc.KeyRecord, cart []checkout.Item, now time.Time) (bool, error) {
	userID, err := parseUser(want.UserID)
	if err != nil {
		return false, err
	}
	if want.PaymentIntentID == "" {
		return false, nil
	}
	snapshot, err := jsonArray(want.Items)
	if err != nil {
		return false, err
	}
	cartJSON, err := jsonArray(cart)
	if err != nil {
		return false, err
	}
	var matched bool
	err = db.pool.QueryRow(ctx, sqlReplayKey,
		want.Key, userID, string(want.PaymentMethod), want.PaymentIntentID,
		want.PIStatus, want.PIAmount, want.PICurrency,
		want.Amount, want.Currency, snapshot, now, cartJSON,
	).Scan(&matched)
	if err != nil {
		return false, translate("replay key", err)
	}
	return matched, nil
}

const sqlReplayKey = `
with k as (
    update idempotency_keys
       set last_used_at = $11
     where key = $1
       and user_id = $2::uuid
       and payment_method = $3
       and payment_intent_id = $4
       and pi_status = $5
       and pi_amount = $6
       and pi_currency = $7
       and amount = $8
       and currency = $9
       and items = $10::jsonb
       and lock_token is null
    returning user_id
), c as (
    insert into carts (user_id, items, created_at, updated_at)
    select user_id, $12::jsonb, $11, $11 from k
    on conflict (user_id) do update
       set items = excluded.items,
           updated_at = excluded.updated_at
)
select exists (select from k)`

// sqlKeyByID reads one key row.
const sqlKeyByID = `select ` + keyColumns + ` from idempotency_keys where key = $1`

// keyColumns are the columns scanned by scanKey, in its order.
const keyColumns = `key, user_id::text, payment_method, items, amount, currency,
 pending_items, coalesce(pending_amount, 0), coalesce(pending_currency, ''),
 create_amount, create_currency, coalesce(payment_intent_id, ''), client_secret,
 pi_status, pi_amount, pi_currency, coalesce(lock_token, ''), lease_until,
 created_at, last_used_at, synced_at, webhook_seen_at`

func scanKey(row pgx.Row) (checkoutsvc.KeyRecord, error) {
	var r checkoutsvc.KeyRecord
	var method string
	var pendingItems []checkout.Line
	var pendingAmount int64
	var pendingCurrency string
	var lease, synced, webhook pgtype.Timestamptz
	err := row.Scan(&r.Key, &r.UserID, &method, &r.Items, &r.Amount, &r.Currency,
		&pendingItems, &pendingAmount, &pendingCurrency,
		&r.CreateAmount, &r.CreateCurrency, &r.PaymentIntentID, &r.ClientSecret,
		&r.PIStatus, &r.PIAmount, &r.PICurrency, &r.LockToken, &lease,
		&r.CreatedAt, &r.LastUsedAt, &synced, &webhook)
	if err != nil {
		return checkoutsvc.KeyRecord{}, err
	}
	r.PaymentMethod = checkout.PaymentMethod(method)
	if r.Items == nil {
		r.Items = []checkout.Line{}
	}
	if pendingItems != nil {
		r.Pending = &checkout.Order{Items: pendingItems, Amount: pendingAmount, Currency: pendingCurrency}
	}
	r.LeaseUntil, r.SyncedAt, r.WebhookSeenAt = fromNull(lease), fromNull(synced), fromNull(webhook)
	r.CreatedAt, r.LastUsedAt = r.CreatedAt.UTC(), r.LastUsedAt.UTC()
	return r, nil
}

// GetKey returns the key's row.
func (db *DB) GetKey(ctx context.Context, key string) (checkoutsvc.KeyRecord, bool, error) {
	rec, err := scanKey(db.pool.QueryRow(ctx, sqlKeyByID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkoutsvc.KeyRecord{}, false, nil
	} else if err != nil {
		return checkoutsvc.KeyRecord{}, false, translate("get key", err)
	}
	return rec, true, nil
}

// Lookup reads the catalog entries for ids and the row of key in one
// pipelined batch: one round trip.
func (db *DB) Lookup(ctx context.Context, ids []string, key string) (map[string]checkout.Product, *checkoutsvc.KeyRecord, error) {
	b := &pgx.Batch{}
	var products map[string]checkout.Product
	var rec *checkoutsvc.KeyRecord
	b.Queue(sqlProductsByID, nonNil(ids)).Query(func(rows pgx.Rows) error {
		var err error
		products, err = collectProducts(rows)
		return err
	})
	if key != "" {
		b.Queue(sqlKeyByID, key).QueryRow(func(row pgx.Row) error {
			r, err := scanKey(row)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
			rec = &r
			return nil
		})
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, translate("lookup", err)
	}
	return products, rec, nil
}

// sqlResolveKey follows the user's aliases: from the key sent ($2) or,
// without one, the key bound to the nonce alias $3 made at or after $4,
// along rotation aliases to the newest successor.
var sqlResolveKey = `
with recursive chain (key, depth) as (
    select k, 0 from (
        select case when $2::text <> '' then $2::text
                    else (select key from key_aliases
                           where user_id = $1::uuid and alias = $3 and created_at >= $4)
               end as k
    ) start where k is not null
  union all
    select a.key, c.depth + 1
      from chain c
      join key_aliases a on a.user_id = $1::uuid and a.alias = '` + checkoutsvc.AliasRotation("") + `' || c.key
     where c.depth < ` + strconv.Itoa(checkoutsvc.MaxAliasHops) + `
)
select coalesce((select key from chain order by depth desc limit 1), '')`

// errAliasTaken: a concurrent claim bound the alias first; the claim
// starts over and resolves to the winner's key.
var errAliasTaken error = plainError("alias bound by a concurrent request")

// ClaimKey runs one short transaction: it resolves the key through the
// user's aliases, locks its row (SELECT ... FOR UPDATE), calls decide and
// applies the decision. Rows are always locked key first, cart second (as
// RecordKey and ApplyEvent do). The transaction is retried on a
// serialization failure, a deadlock, or an alias a concurrent claim bound
// first, calling decide again.
func (db *DB) ClaimKey(ctx context.Context, in checkoutsvc.ClaimInput, decide func(checkoutsvc.Claim) checkoutsvc.Decision) (checkoutsvc.Decision, error) {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return checkoutsvc.Decision{}, err
	}
	cartJSON, err := jsonArray(in.Cart)
	if err != nil {
		return checkoutsvc.Decision{}, err
	}
	var d checkoutsvc.Decision
	err = db.inTx(ctx, "claim key", func(tx pgx.Tx) error {
		var key string
		if in.Key != "" || in.Nonce != "" {
			if err := tx.QueryRow(ctx, sqlResolveKey, userID, in.Key, checkoutsvc.AliasNonce(in.Nonce), toNull(in.NonceSince)).Scan(&key); err != nil {
				return err
			}
		}
		var cur *checkoutsvc.KeyRecord
		if key != "" {
			r, err := scanKey(tx.QueryRow(ctx, `select `+keyColumns+` from idempotency_keys where key = $1 for update`, key))
			if err == nil {
				cur = &r
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		d = decide(checkoutsvc.Claim{Key: key, Cur: cur})
		switch d.Kind {
		case checkoutsvc.DecideNone:
			return nil // a refusal writes nothing
		case checkoutsvc.DecideInsert:
			if d.Alias != "" {
				// A nonce alias older than the nonces honoured is bound
				// anew; a live one, or any rotation alias, is the winner's.
				replaceBefore := toNull(time.Time{})
				if checkoutsvc.IsNonceAlias(d.Alias) {
					replaceBefore = toNull(in.NonceSince)
				}
				tag, err := tx.Exec(ctx, `insert into key_aliases (user_id, alias, key, created_at) values ($1::uuid, $2, $3, $4)
on conflict (user_id, alias) do update set key = excluded.key, created_at = excluded.created_at
 where key_aliases.created_at < $5`, userID, d.Alias, d.Record.Key, in.Now, replaceBefore)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return errAliasTaken
				}
			}
			if err := insertKey(ctx, tx, d.Record, userID, in.Now); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sqlUpsertCartAt, userID, cartJSON, in.Now)
			return err
		case checkoutsvc.DecideLock:
			if cur == nil {
				return errNoKey
			}
			return execOne(ctx, tx, `update idempotency_keys set lock_token = $2, lease_until = $3 where key = $1`,
				key, d.Record.LockToken, toNull(d.Record.LeaseUntil))
		case checkoutsvc.DecideTouch:
			if cur == nil {
				return errNoKey
			}
			if err := execOne(ctx, tx, `update idempotency_keys set last_used_at = $2 where key = $1`, key, in.Now); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sqlUpsertCartAt, userID, cartJSON, in.Now)
			return err
		}
		return plainError(fmt.Sprintf("unknown decision %d", d.Kind))
	})
	if err != nil {
		return checkoutsvc.Decision{}, err
	}
	return d, nil
}

func insertKey(ctx context.Context, tx pgx.Tx, r checkoutsvc.KeyRecord, defaultUser string, now time.Time) error {
	if r.Key == "" {
		return plainError("insert without a key")
	}
	userID := defaultUser
	if r.UserID != "" {
		var err error
		if userID, err = parseUser(r.UserID); err != nil {
			return err
		}
	}
	snapshot, err := jsonArray(r.Items)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
insert into idempotency_keys (key, user_id, payment_method, items, amount, currency,
    create_amount, create_currency, payment_intent_id, client_secret, pi_status,
    pi_amount, pi_currency, lock_token, lease_until, created_at, last_used_at, synced_at, webhook_seen_at)
values ($1, $2::uuid, $3, $4::jsonb, $5, $6, $7, $8, nullif($9::text, ''), $10, $11, $12, $13,
    nullif($14::text, ''), $15, $16, $16, $17, $18)`,
		r.Key, userID, string(r.PaymentMethod), snapshot, r.Amount, r.Currency,
		r.CreateAmount, r.CreateCurrency, r.PaymentIntentID, r.ClientSecret, r.PIStatus,
		r.PIAmount, r.PICurrency, r.LockToken, toNull(r.LeaseUntil), now, toNull(r.SyncedAt), toNull(r.WebhookSeenAt))
	return err
}

// execOne runs a statement that must change exactly one key row.
func execOne(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errNoKey
	}
	return nil
}

// RecordKey locks the key row, applies checkoutsvc.ApplyRecord to it (the
// token check included) and stores the result, with the cart when the
// rule says so, in one transaction.
func (db *DB) RecordKey(ctx context.Context, key string, in checkoutsvc.RecordInput) (checkoutsvc.KeyRecord, error) {
	var out checkoutsvc.KeyRecord
	var lost bool
	err := db.inTx(ctx, "record key", func(tx pgx.Tx) error {
		lost = false
		row, err := scanKey(tx.QueryRow(ctx, `select `+keyColumns+` from idempotency_keys where key = $1 for update`, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoKey
		} else if err != nil {
			return err
		}
		next, storeCart, err := checkoutsvc.ApplyRecord(row, in)
		if errors.Is(err, checkoutsvc.ErrLeaseLost) {
			lost = true
			return nil
		} else if err != nil {
			return plainError(err.Error())
		}
		if err := writeKey(ctx, tx, next); err != nil {
			return err
		}
		if storeCart {
			cartJSON, err := jsonArray(in.Cart)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sqlUpsertCartAt, next.UserID, cartJSON, in.Now); err != nil {
				return err
			}
		}
		next.SyncedAt, next.LastUsedAt = checkoutsvc.NormTime(next.SyncedAt), checkoutsvc.NormTime(next.LastUsedAt)
		out = next
		return nil
	})
	if err != nil {
		return checkoutsvc.KeyRecord{}, err
	}
	if lost {
		return checkoutsvc.KeyRecord{}, checkoutsvc.ErrLeaseLost
	}
	return out, nil
}

// writeKey stores the mutable columns of r.
func writeKey(ctx context.Context, tx pgx.Tx, r checkoutsvc.KeyRecord) error {
	snapshot, err := jsonArray(r.Items)
	if err != nil {
		return err
	}
	pendingItems, pendingAmount, pendingCurrency, err := pendingArgs(r.Pending)
	if err != nil {
		return err
	}
	return execOne(ctx, tx, `
update idempotency_keys
   set items = $2::jsonb, amount = $3, currency = $4,
       pending_items = $5::jsonb, pending_amount = $6, pending_currency = $7,
       payment_intent_id = nullif($8::text, ''), client_secret = $9, pi_status = $10,
       pi_amount = $11, pi_currency = $12, lock_token = nullif($13::text, ''), lease_until = $14,
       last_used_at = $15, synced_at = $16, webhook_seen_at = $17
 where key = $1`,
		r.Key, snapshot, r.Amount, r.Currency, pendingItems, pendingAmount, pendingCurrency,
		r.PaymentIntentID, r.ClientSecret, r.PIStatus, r.PIAmount, r.PICurrency,
		r.LockToken, toNull(r.LeaseUntil), r.LastUsedAt, toNull(r.SyncedAt), toNull(r.WebhookSeenAt))
}

// pendingArgs are the pending_* columns' values of a pending order, all
// NULL for none.
func pendingArgs(order *checkout.Order) (items *string, amount *int64, currency *string, err error) {
	if order == nil {
		return nil, nil, nil, nil
	}
	s, err := jsonArray(order.Items)
	if err != nil {
		return nil, nil, nil, err
	}
	return &s, &order.Amount, &order.Currency, nil
}

// ReleaseKey clears the lease when token still holds it; with stale, the
// next request re-reads the PaymentIntent.
func (db *DB) ReleaseKey(ctx context.Context, key, token string, stale bool) error {
	_, err := db.pool.Exec(ctx, `
update idempotency_keys
   set lock_token = null, lease_until = null,
       synced_at = case when $3 then null else synced_at end,
       webhook_seen_at = case when $3 then null else webhook_seen_at end
 where key = $1 and lock_token = $2`, key, token, stale)
	return translate("release key", err)
}

// SetPending stores the pending order of a key token holds: one
// statement, fenced by the token.
func (db *DB) SetPending(ctx context.Context, key, token string, order *checkout.Order) error {
	items, amount, currency, err := pendingArgs(order)
	if err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, `update idempotency_keys set pending_items = $3::jsonb, pending_amount = $4, pending_currency = $5
 where key = $1 and lock_token = $2`, key, token, items, amount, currency)
	if err != nil {
		return translate("set pending order", err)
	}
	if tag.RowsAffected() == 0 {
		return checkoutsvc.ErrLeaseLost
	}
	return nil
}

// MarkStale makes the next request re-read the key's PaymentIntent.
func (db *DB) MarkStale(ctx context.Context, key string) error {
	_, err := db.pool.Exec(ctx, `update idempotency_keys set synced_at = null, webhook_seen_at = null where key = $1`, key)
	return translate("mark key stale", err)
}

// RenewLease moves a lease that still holds (token matches, not run out
// at now) to until: one statement.
func (db *DB) RenewLease(ctx context.Context, l checkoutsvc.Lease, now, until time.Time) error {
	var sql string
	id := l.ID
	switch l.Kind {
	case checkoutsvc.LeaseKey:
		sql = `update idempotency_keys set lease_until = $4 where key = $1 and lock_token = $2 and lease_until > $3`
	case checkoutsvc.LeaseCheckout:
		var err error
		if id, err = parseUser(id); err != nil {
			return err
		}
		sql = `update carts set checkout_lease_until = $4 where user_id = $1::uuid and checkout_token = $2 and checkout_lease_until > $3`
	default:
		return plainError(fmt.Sprintf("renew lease: unknown kind %d", l.Kind))
	}
	tag, err := db.pool.Exec(ctx, sql, id, l.Token, now, until)
	if err != nil {
		return translate("renew lease", err)
	}
	if tag.RowsAffected() == 0 {
		return checkoutsvc.ErrLeaseLost
	}
	return nil
}

// ClaimCheckout takes the user's checkout lease with one conditional
// upsert of the cart row (ON CONFLICT ... DO UPDATE ... WHERE the lease is
// free), so two concurrent checkouts cannot both take it, then reads the
// user's open and newest sessions.
func (db *DB) ClaimCheckout(ctx context.Context, in checkoutsvc.CheckoutClaimInput) (checkoutsvc.CheckoutClaim, error) {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return checkoutsvc.CheckoutClaim{}, err
	}
	cartJSON, err := jsonArray(in.Cart)
	if err != nil {
		return checkoutsvc.CheckoutClaim{}, err
	}
	var out checkoutsvc.CheckoutClaim
	err = db.inTx(ctx, "claim checkout", func(tx pgx.Tx) error {
		out = checkoutsvc.CheckoutClaim{}
		var taken bool
		err := tx.QueryRow(ctx, `
insert into carts (user_id, items, created_at, updated_at, checkout_token, checkout_lease_until)
values ($1::uuid, $2::jsonb, $3, $3, $4, $5)
on conflict (user_id) do update
   set items = excluded.items, updated_at = excluded.updated_at,
       checkout_token = excluded.checkout_token, checkout_lease_until = excluded.checkout_lease_until
 where carts.checkout_token is null or carts.checkout_lease_until <= $3
returning true`, userID, cartJSON, in.Now, in.Token, toNull(in.LeaseUntil)).Scan(&taken)
		if errors.Is(err, pgx.ErrNoRows) {
			var lease pgtype.Timestamptz
			if err := tx.QueryRow(ctx, `select checkout_lease_until from carts where user_id = $1::uuid`, userID).Scan(&lease); err != nil {
				return err
			}
			out.InProgress, out.LeaseUntil = true, fromNull(lease)
			return nil
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
with newest as (select id from checkout_sessions where user_id = $1::uuid order by seq desc limit 1)
select id, status = 'open', id = (select id from newest)
  from checkout_sessions
 where user_id = $1::uuid and (status = 'open' or id = (select id from newest))
 order by id`, userID)
		if err != nil {
			return err
		}
		var id string
		var open, last bool
		_, err = pgx.ForEachRow(rows, []any{&id, &open, &last}, func() error {
			if open {
				out.Open = append(out.Open, id)
			}
			if last {
				out.Last = id
			}
			return nil
		})
		return err
	})
	if err != nil {
		return checkoutsvc.CheckoutClaim{}, err
	}
	return out, nil
}

// RecordCheckout stores the closed and new sessions and then releases the
// lease, fenced by the token: when the token no longer holds, the whole
// transaction rolls back. Sessions are locked before the cart, as
// ApplyEvent does.
func (db *DB) RecordCheckout(ctx context.Context, in checkoutsvc.CheckoutRecord) error {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return err
	}
	return db.inTx(ctx, "record checkout", func(tx pgx.Tx) error {
		for id, status := range in.Closed {
			if _, err := tx.Exec(ctx, `update checkout_sessions set status = $2 where id = $1 and status = 'open'`, id, status); err != nil {
				return err
			}
		}
		if s := in.Session; s != nil {
			items, err := jsonArray(s.Items)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
insert into checkout_sessions (id, user_id, url, items, amount, currency, status, created_at)
values ($1, $2::uuid, $3, $4::jsonb, $5, $6, $7, $8)
on conflict (id) do nothing`, s.ID, userID, s.URL, items, s.Amount, s.Currency, s.Status, in.Now); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `update carts set checkout_token = null, checkout_lease_until = null
 where user_id = $1::uuid and checkout_token = $2`, userID, in.Token)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return checkoutsvc.ErrLeaseLost // rolls the transaction back; translate keeps it matchable
		}
		return nil
	})
}

// ReleaseCheckout releases the user's checkout lease when token holds it.
func (db *DB) ReleaseCheckout(ctx context.Context, userID, token string) error {
	userID, err := parseUser(userID)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `update carts set checkout_token = null, checkout_lease_until = null
 where user_id = $1::uuid and checkout_token = $2`, userID, token)
	return translate("release checkout", err)
}

// ApplyEvent applies a Stripe event at most once: in one transaction it
// records the event id (INSERT ... ON CONFLICT DO NOTHING; a conflict
// means it was applied before) and then its effects.
func (db *DB) ApplyEvent(ctx context.Context, ev checkoutsvc.Event) (checkoutsvc.EventResult, error) {
	var res checkoutsvc.EventResult
	err := db.inTx(ctx, "apply event", func(tx pgx.Tx) error {
		res = checkoutsvc.EventResult{}
		tag, err := tx.Exec(ctx, `insert into stripe_events (id, type, received_at) values ($1, $2, coalesce($3, now())) on conflict (id) do nothing`,
			ev.ID, ev.Type, toNull(ev.Now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		res.Applied = true
		switch ev.Type {
		case checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled:
			res.Order, err = applyIntentEvent(ctx, tx, ev)
		case checkoutsvc.EventCheckoutCompleted:
			res.Order, err = applyCheckoutCompleted(ctx, tx, ev)
		case checkoutsvc.EventCheckoutExpired:
			_, err = tx.Exec(ctx, `update checkout_sessions set status = 'expired' where id = $1 and status = 'open'`, ev.CheckoutSessionID)
		}
		return err
	})
	if err != nil {
		return checkoutsvc.EventResult{}, err
	}
	return res, nil
}

// applyIntentEvent applies a payment_intent.* event to the key row bound
// to the PaymentIntent or, when none is, to the unbound row of the
// event's onecharge_key metadata, binding it.
func applyIntentEvent(ctx context.Context, tx pgx.Tx, ev checkoutsvc.Event) (*checkoutsvc.RecordedOrder, error) {
	if ev.PaymentIntentID == "" {
		return nil, nil
	}
	row, err := scanKey(tx.QueryRow(ctx, `select `+keyColumns+` from idempotency_keys where payment_intent_id = $1 for update`, ev.PaymentIntentID))
	if errors.Is(err, pgx.ErrNoRows) && ev.OnechargeKey != "" {
		row, err = scanKey(tx.QueryRow(ctx, `select `+keyColumns+` from idempotency_keys where key = $1 and payment_intent_id is null for update`, ev.OnechargeKey))
		row.PaymentIntentID = ev.PaymentIntentID
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if ev.Type != checkoutsvc.EventPaymentSucceeded || ev.OnechargeKey == "" {
			return nil, nil // not ours (a hosted checkout's, another integration's)
		}
		// Ours, but no key row knows it (removed, or never stored).
		userID, perr := parseUser(ev.MetadataUserID)
		if perr != nil {
			return nil, nil
		}
		order, err := insertOrder(ctx, tx, orderRow{piID: ev.PaymentIntentID, userID: userID, status: checkout.OrderNeedsReview,
			amount: ev.Amount, currency: ev.Currency, items: []checkout.Line{}, at: ev.Now})
		if err != nil {
			return nil, err
		}
		return order, emptyCart(ctx, tx, userID, ev.Now)
	} else if err != nil {
		return nil, err
	}

	row.WebhookSeenAt = ev.Now
	var order *checkoutsvc.RecordedOrder
	switch ev.Type {
	case checkoutsvc.EventPaymentSucceeded:
		row.PIStatus = checkoutsvc.ForwardStatus(row.PIStatus, checkoutsvc.StatusSucceeded)
		if row.PIStatus == checkoutsvc.StatusSucceeded {
			if ev.Currency != "" {
				row.PIAmount, row.PICurrency = ev.Amount, ev.Currency
			}
			status, items := checkoutsvc.PaidOrder(&row, ev.Amount, ev.Currency)
			o := orderRow{piID: row.PaymentIntentID, userID: row.UserID, status: status, amount: ev.Amount,
				currency: ev.Currency, items: items, at: ev.Now}
			if order, err = insertOrder(ctx, tx, o); err != nil {
				return nil, err
			}
			if order != nil {
				order.Bound = row.Amount
			}
			if err := emptyCart(ctx, tx, row.UserID, ev.Now); err != nil {
				return nil, err
			}
		}
	case checkoutsvc.EventPaymentFailed:
		row.PIStatus = checkoutsvc.ForwardStatus(row.PIStatus, checkoutsvc.StatusRequiresPaymentMethod)
	case checkoutsvc.EventPaymentCanceled:
		row.PIStatus = checkoutsvc.ForwardStatus(row.PIStatus, checkoutsvc.StatusCanceled)
	}
	return order, writeKey(ctx, tx, row)
}

type orderRow struct {
	piID, sessionID, userID, status, currency string
	amount                                    int64
	items                                     []checkout.Line
	at                                        time.Time
}

// insertOrder records o unless its PaymentIntent or session has an order
// already (one order per payment), and describes what it stored.
func insertOrder(ctx context.Context, tx pgx.Tx, o orderRow) (*checkoutsvc.RecordedOrder, error) {
	items, err := jsonArray(o.items)
	if err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `
insert into orders (payment_intent_id, checkout_session_id, user_id, status, amount, currency, items, created_at)
values (nullif($1::text, ''), nullif($2::text, ''), $3::uuid, $4, $5, $6, $7::jsonb, coalesce($8, now()))
on conflict do nothing`, o.piID, o.sessionID, o.userID, o.status, o.amount, o.currency, items, toNull(o.at))
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err
	}
	id := o.sessionID
	if id == "" {
		id = o.piID
	}
	return &checkoutsvc.RecordedOrder{ID: id, UserID: o.userID, Status: o.status, Amount: o.amount, Currency: o.currency}, nil
}

// applyCheckoutCompleted records the order of a stored Checkout Session
// from its own lines (needs_review when Stripe's total differs), marks it
// complete and empties the owner's cart. A session the server never stored
// is recorded needs_review for its client_reference_id.
func applyCheckoutCompleted(ctx context.Context, tx pgx.Tx, ev checkoutsvc.Event) (*checkoutsvc.RecordedOrder, error) {
	if ev.CheckoutSessionID == "" {
		return nil, nil
	}
	var s checkoutsvc.CheckoutSession
	err := tx.QueryRow(ctx, `select id, user_id::text, items, amount, currency, status from checkout_sessions where id = $1 for update`,
		ev.CheckoutSessionID).Scan(&s.ID, &s.UserID, &s.Items, &s.Amount, &s.Currency, &s.Status)
	o := orderRow{piID: ev.PaymentIntentID, sessionID: ev.CheckoutSessionID, amount: ev.Amount, currency: ev.Currency, at: ev.Now}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		userID, perr := parseUser(ev.ClientReferenceID)
		if perr != nil {
			return nil, nil
		}
		o.userID, o.status, o.items = userID, checkout.OrderNeedsReview, []checkout.Line{}
	case err != nil:
		return nil, err
	default:
		o.userID, o.status, o.items = s.UserID, checkoutsvc.SessionOrder(&s, ev.Amount, ev.Currency), s.Items
		if _, err := tx.Exec(ctx, `update checkout_sessions set status = 'complete' where id = $1`, s.ID); err != nil {
			return nil, err
		}
	}
	order, err := insertOrder(ctx, tx, o)
	if err != nil {
		return nil, err
	}
	if order != nil {
		order.Bound = s.Amount
	}
	return order, emptyCart(ctx, tx, o.userID, ev.Now)
}

// emptyCart empties userID's cart after a payment was recorded for it.
func emptyCart(ctx context.Context, tx pgx.Tx, userID string, at time.Time) error {
	_, err := tx.Exec(ctx, `update carts set items = '[]', updated_at = coalesce($2, now()) where user_id = $1::uuid`, userID, toNull(at))
	return err
}

// GetOrder returns what userID may see of the order with id. It reads the
// orders row, the key row and the session row of id in one pipelined
// batch (see the package comment for the status rules).
func (db *DB) GetOrder(ctx context.Context, userID, id string) (checkout.OrderStatus, bool, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return checkout.OrderStatus{}, false, err
	}
	if id == "" {
		return checkout.OrderStatus{}, false, nil
	}
	type found struct {
		ok     bool
		owner  string
		status string
		st     checkout.OrderStatus
	}
	var order, key, sess found
	scan := func(f *found) func(pgx.Row) error {
		return func(r pgx.Row) error {
			err := r.Scan(&f.owner, &f.status, &f.st.Amount, &f.st.Currency, &f.st.Items)
			f.ok = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
	}
	b := &pgx.Batch{}
	b.Queue(`select user_id::text, status, amount, currency, items from orders
 where payment_intent_id = $1 or checkout_session_id = $1 order by id limit 1`, id).QueryRow(scan(&order))
	b.Queue(`select user_id::text, pi_status, amount, currency, items from idempotency_keys where payment_intent_id = $1`, id).QueryRow(scan(&key))
	b.Queue(`select user_id::text, status, amount, currency, items from checkout_sessions where id = $1`, id).QueryRow(scan(&sess))
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return checkout.OrderStatus{}, false, translate("get order", err)
	}
	var f found
	switch {
	case order.ok:
		f = order
		f.st.Status = order.status
	case key.ok:
		f = key
		f.st.Status = checkoutsvc.OrderStatusOf(key.status)
	case sess.ok:
		f = sess
		f.st.Status = checkoutsvc.SessionOrderStatusOf(sess.status)
	default:
		return checkout.OrderStatus{}, false, nil
	}
	if f.owner != userID {
		return checkout.OrderStatus{}, false, nil
	}
	if f.st.Items == nil {
		f.st.Items = []checkout.Line{}
	}
	return f.st, true, nil
}

// jsonArray encodes a slice as a JSON array; nil becomes [].
func jsonArray[T any](s []T) (string, error) {
	if s == nil {
		s = []T{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("postgres: encode items: %w", err)
	}
	return string(b), nil
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// toNull maps the zero time to NULL.
func toNull(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromNull maps NULL to the zero time and anything else to UTC.
func fromNull(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
