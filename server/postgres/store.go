package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
func (db *DB) UpsertCart(ctx context.Context, userID string, items []checkout.Item, sessionID string) (time.Time, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return time.Time{}, err
	}
	itemsJSON, err := jsonArray(items)
	if err != nil {
		return time.Time{}, err
	}
	var updatedAt time.Time
	err = db.pool.QueryRow(ctx, `
insert into carts (user_id, session_id, items)
values ($1::uuid, nullif($2::text, ''), $3::jsonb)
on conflict (user_id) do update
   set items = excluded.items,
       session_id = coalesce(excluded.session_id, carts.session_id),
       updated_at = now()
returning updated_at`, userID, sessionID, itemsJSON).Scan(&updatedAt)
	if err != nil {
		return time.Time{}, translate("upsert cart", err)
	}
	return updatedAt.UTC(), nil
}

// sqlUpsertCartAt is the cart upsert of ClaimKey, with the caller's clock.
const sqlUpsertCartAt = `
insert into carts (user_id, items, created_at, updated_at)
values ($1::uuid, $2::jsonb, $3, $3)
on conflict (user_id) do update
   set items = excluded.items,
       updated_at = excluded.updated_at`

// UserForCheckoutSession returns the user whose cart carries sessionID.
func (db *DB) UserForCheckoutSession(ctx context.Context, sessionID string) (string, bool, error) {
	if sessionID == "" {
		return "", false, nil
	}
	var userID string
	err := db.pool.QueryRow(ctx, `select user_id::text from carts where session_id = $1 limit 1`, sessionID).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	} else if err != nil {
		return "", false, translate("user for checkout session", err)
	}
	return userID, true, nil
}

// ReplayKey is one statement: the UPDATE of the key row matches want and
// is not locked, and the cart upsert takes its user from that UPDATE's
// RETURNING, so when the key does not match neither is written.
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
       and locked_at is null
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
 create_amount, create_currency, coalesce(payment_intent_id, ''), client_secret,
 pi_status, pi_amount, pi_currency, locked_at, created_at, last_used_at,
 synced_at, webhook_seen_at`

func scanKey(row pgx.Row) (checkoutsvc.KeyRecord, error) {
	var r checkoutsvc.KeyRecord
	var method string
	var locked, synced, webhook pgtype.Timestamptz
	err := row.Scan(&r.Key, &r.UserID, &method, &r.Items, &r.Amount, &r.Currency,
		&r.CreateAmount, &r.CreateCurrency, &r.PaymentIntentID, &r.ClientSecret,
		&r.PIStatus, &r.PIAmount, &r.PICurrency, &locked, &r.CreatedAt, &r.LastUsedAt,
		&synced, &webhook)
	if err != nil {
		return checkoutsvc.KeyRecord{}, err
	}
	r.PaymentMethod = checkout.PaymentMethod(method)
	if r.Items == nil {
		r.Items = []checkout.Line{}
	}
	r.LockedAt, r.SyncedAt, r.WebhookSeenAt = fromNull(locked), fromNull(synced), fromNull(webhook)
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

// ClaimKey runs one short transaction: it locks the key row (SELECT ...
// FOR UPDATE), calls decide, upserts the cart and applies the decision.
// Rows are always locked key first, cart second (as ReplayKey and
// ApplyEvent do), and the transaction is retried on a serialization
// failure or deadlock, calling decide again.
func (db *DB) ClaimKey(ctx context.Context, in checkoutsvc.ClaimInput, decide func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision) (checkoutsvc.Decision, error) {
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
		var cur *checkoutsvc.KeyRecord
		if in.Key != "" {
			r, err := scanKey(tx.QueryRow(ctx, `select `+keyColumns+` from idempotency_keys where key = $1 for update`, in.Key))
			if err == nil {
				cur = &r
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		d = decide(cur)
		if d.Kind == checkoutsvc.DecideNone {
			return nil // a refusal writes nothing, not even the cart
		}
		if _, err := tx.Exec(ctx, sqlUpsertCartAt, userID, cartJSON, in.Now); err != nil {
			return err
		}
		switch d.Kind {
		case checkoutsvc.DecideInsert:
			return insertKey(ctx, tx, d.Record, userID, in.Now)
		case checkoutsvc.DecideLock:
			snapshot, err := jsonArray(d.Record.Items)
			if err != nil {
				return err
			}
			return execOne(ctx, tx, `
update idempotency_keys
   set locked_at = $2, last_used_at = $2, items = $3::jsonb, amount = $4, currency = $5
 where key = $1`, in.Key, in.Now, snapshot, d.Record.Amount, d.Record.Currency)
		case checkoutsvc.DecideTouch:
			return execOne(ctx, tx, `update idempotency_keys set last_used_at = $2 where key = $1`, in.Key, in.Now)
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
    pi_amount, pi_currency, locked_at, created_at, last_used_at, synced_at, webhook_seen_at)
values ($1, $2::uuid, $3, $4::jsonb, $5, $6, $7, $8, nullif($9::text, ''), $10, $11, $12, $13,
    $14, $14, $14, $15, $16)`,
		r.Key, userID, string(r.PaymentMethod), snapshot, r.Amount, r.Currency,
		r.CreateAmount, r.CreateCurrency, r.PaymentIntentID, r.ClientSecret, r.PIStatus,
		r.PIAmount, r.PICurrency, now, toNull(r.SyncedAt), toNull(r.WebhookSeenAt))
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

// RecordPaymentIntent stores the PaymentIntent bound to key, releases the
// lock and sets synced_at. A status that is terminal (succeeded or
// canceled) for the same PaymentIntent is kept.
func (db *DB) RecordPaymentIntent(ctx context.Context, key string, pi checkoutsvc.PaymentIntent, now time.Time) (checkoutsvc.KeyRecord, error) {
	rec, err := scanKey(db.pool.QueryRow(ctx, `
update idempotency_keys
   set pi_status = case when payment_intent_id = $2 and pi_status in ('succeeded', 'canceled')
                        then pi_status else $4 end,
       payment_intent_id = nullif($2::text, ''),
       client_secret = $3,
       pi_amount = $5,
       pi_currency = $6,
       locked_at = null,
       synced_at = $7
 where key = $1
returning `+keyColumns,
		key, pi.ID, pi.ClientSecret, pi.Status, pi.Amount, pi.Currency, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkoutsvc.KeyRecord{}, fmt.Errorf("postgres: record payment intent: %w", errNoKey)
	} else if err != nil {
		return checkoutsvc.KeyRecord{}, translate("record payment intent", err)
	}
	return rec, nil
}

// ReleaseKey clears locked_at if it is still lockedAt; an unknown key is
// not an error.
func (db *DB) ReleaseKey(ctx context.Context, key string, lockedAt time.Time) error {
	_, err := db.pool.Exec(ctx, `update idempotency_keys set locked_at = null where key = $1 and locked_at = $2`,
		key, lockedAt.Truncate(time.Microsecond))
	return translate("release key", err)
}

// ApplyEvent applies ev at most once, in one transaction that starts by
// recording ev.ID in stripe_events (ON CONFLICT DO NOTHING).
func (db *DB) ApplyEvent(ctx context.Context, ev checkoutsvc.Event) (bool, error) {
	var applied bool
	err := db.inTx(ctx, "apply event", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
insert into stripe_events (id, type, received_at) values ($1, $2, coalesce($3, now()))
on conflict (id) do nothing`, ev.ID, ev.Type, toNull(ev.Now))
		if err != nil {
			return err
		}
		applied = tag.RowsAffected() == 1
		if !applied {
			return nil
		}
		switch ev.Type {
		case checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled:
			return applyIntentEvent(ctx, tx, ev)
		case checkoutsvc.EventCheckoutCompleted:
			return applyCheckoutCompleted(ctx, tx, ev)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}

// applyIntentEvent applies a payment_intent.* event to the key row bound
// to the PaymentIntent or, when none is, to the unbound row of the
// event's onecharge_key metadata, binding it.
func applyIntentEvent(ctx context.Context, tx pgx.Tx, ev checkoutsvc.Event) error {
	if ev.PaymentIntentID == "" {
		return nil
	}
	var key string
	err := tx.QueryRow(ctx, `select key from idempotency_keys where payment_intent_id = $1 for update`, ev.PaymentIntentID).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) && ev.OnechargeKey != "" {
		err = tx.QueryRow(ctx, `
update idempotency_keys set payment_intent_id = $1
 where key = $2 and payment_intent_id is null
returning key`, ev.PaymentIntentID, ev.OnechargeKey).Scan(&key)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // unknown PaymentIntent
	} else if err != nil {
		return err
	}

	switch ev.Type {
	case checkoutsvc.EventPaymentSucceeded:
		_, err = tx.Exec(ctx, sqlPaymentSucceeded, key, ev.PaymentIntentID, ev.Amount, ev.Currency, toNull(ev.Now))
	case checkoutsvc.EventPaymentFailed:
		_, err = tx.Exec(ctx, `
update idempotency_keys
   set pi_status = case when pi_status in ('succeeded', 'canceled') then pi_status
                        else 'requires_payment_method' end,
       webhook_seen_at = coalesce($2, now()),
       synced_at = coalesce($2, now())
 where key = $1`, key, toNull(ev.Now))
	case checkoutsvc.EventPaymentCanceled:
		_, err = tx.Exec(ctx, `
update idempotency_keys
   set pi_status = case when pi_status = 'succeeded' then pi_status else 'canceled' end,
       webhook_seen_at = coalesce($2, now()),
       synced_at = coalesce($2, now())
 where key = $1`, key, toNull(ev.Now))
	}
	return err
}

// sqlPaymentSucceeded marks the key succeeded, records the one order of
// the PaymentIntent from the key's order snapshot (amount and currency
// from the event when it carries a currency) and empties the owner's cart.
const sqlPaymentSucceeded = `
with k as (
    update idempotency_keys
       set pi_status = 'succeeded',
           pi_amount = case when $4::text <> '' then $3::bigint else pi_amount end,
           pi_currency = case when $4::text <> '' then $4::text else pi_currency end,
           webhook_seen_at = coalesce($5, now()),
           synced_at = coalesce($5, now())
     where key = $1
    returning user_id, items, amount, currency
), o as (
    insert into orders (payment_intent_id, user_id, amount, currency, items, created_at)
    select $2, user_id,
           case when $4::text <> '' then $3::bigint else amount end,
           case when $4::text <> '' then $4::text else currency end,
           items, coalesce($5, now())
      from k
    on conflict (payment_intent_id) do nothing
)
update carts
   set items = '[]', updated_at = coalesce($5, now())
 where user_id = (select user_id from k)`

// applyCheckoutCompleted records the order of a hosted Checkout Session
// for the user whose cart carries the session, priced from that cart and
// the catalog (amount and currency from the event when it carries a
// currency), and empties the cart.
func applyCheckoutCompleted(ctx context.Context, tx pgx.Tx, ev checkoutsvc.Event) error {
	if ev.CheckoutSessionID == "" {
		return nil
	}
	var userID string
	var items []checkout.Item
	err := tx.QueryRow(ctx, `select user_id::text, items from carts where session_id = $1 limit 1 for update`,
		ev.CheckoutSessionID).Scan(&userID, &items)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // unknown session
	} else if err != nil {
		return err
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	rows, err := tx.Query(ctx, sqlProductsByID, ids)
	if err != nil {
		return err
	}
	products, err := collectProducts(rows)
	if err != nil {
		return err
	}
	lines := []checkout.Line{}
	var amount int64
	var currency string
	for _, it := range items {
		p, ok := products[it.ProductID]
		if !ok {
			continue
		}
		lines = append(lines, checkout.Line{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitAmount: p.UnitAmount})
		amount += p.UnitAmount * int64(it.Quantity)
		if currency == "" {
			currency = p.Currency
		}
	}
	if ev.Currency != "" {
		amount, currency = ev.Amount, ev.Currency
	}
	linesJSON, err := jsonArray(lines)
	if err != nil {
		return err
	}
	orderID := ev.PaymentIntentID
	if orderID == "" {
		orderID = ev.CheckoutSessionID
	}
	if _, err := tx.Exec(ctx, `
insert into orders (payment_intent_id, user_id, amount, currency, items, checkout_session_id, created_at)
values ($1, $2::uuid, $3, $4, $5::jsonb, $6, coalesce($7, now()))
on conflict (payment_intent_id) do nothing`,
		orderID, userID, amount, currency, linesJSON, ev.CheckoutSessionID, toNull(ev.Now)); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `update carts set items = '[]', updated_at = coalesce($2, now()) where user_id = $1::uuid`,
		userID, toNull(ev.Now))
	return err
}

// GetOrder returns what userID may see of the order of PaymentIntent piID
// (see the package comment for the status rules). It reads the orders row
// and the key row in one pipelined batch.
func (db *DB) GetOrder(ctx context.Context, userID, piID string) (checkout.OrderStatus, bool, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return checkout.OrderStatus{}, false, err
	}
	if piID == "" {
		return checkout.OrderStatus{}, false, nil
	}
	type row struct {
		found       bool
		owner       string
		status      string
		webhookSeen bool
		st          checkout.OrderStatus
		piAmount    int64
		piCurrency  string
	}
	var order, key row
	b := &pgx.Batch{}
	b.Queue(`select user_id::text, amount, currency, items from orders where payment_intent_id = $1`, piID).
		QueryRow(func(r pgx.Row) error {
			err := r.Scan(&order.owner, &order.st.Amount, &order.st.Currency, &order.st.Items)
			order.found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	b.Queue(`
select user_id::text, pi_status, webhook_seen_at is not null, amount, currency, items, pi_amount, pi_currency
  from idempotency_keys where payment_intent_id = $1`, piID).
		QueryRow(func(r pgx.Row) error {
			err := r.Scan(&key.owner, &key.status, &key.webhookSeen, &key.st.Amount, &key.st.Currency,
				&key.st.Items, &key.piAmount, &key.piCurrency)
			key.found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return checkout.OrderStatus{}, false, translate("get order", err)
	}

	var st checkout.OrderStatus
	switch {
	case order.found:
		if order.owner != userID {
			return checkout.OrderStatus{}, false, nil
		}
		st = order.st
		st.Status = checkout.OrderPaid
	case key.found:
		if key.owner != userID {
			return checkout.OrderStatus{}, false, nil
		}
		st = key.st
		st.Status = checkoutsvc.OrderStatusOf(key.status, key.webhookSeen)
		if key.piCurrency != "" {
			st.Amount, st.Currency = key.piAmount, key.piCurrency
		}
	default:
		return checkout.OrderStatus{}, false, nil
	}
	if st.Items == nil {
		st.Items = []checkout.Line{}
	}
	return st, true, nil
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
