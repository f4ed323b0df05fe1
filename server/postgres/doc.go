// Package postgres is onecharge's PostgreSQL store: a checkoutsvc.Store over
// a pgx/v5 pool, with its schema embedded as tern migrations ([Migrations])
// that package migrate applies (once; a session-level advisory lock
// serializes processes that start together, and the version is kept in
// [VersionTable]). [Open] does not migrate, so a program that only opens
// the store (the Cloudflare Worker) does not link tern.
//
// # Tables
//
//   - products: the catalog, seeded with the demo catalog (the same one
//     server/memstore builds in).
//   - carts: one row per user, constraint carts_user_id_unique; every
//     write is INSERT ... ON CONFLICT (user_id) DO UPDATE, so no number of
//     concurrent writes can fail with a duplicate key.
//   - idempotency_keys: one row per key, with the order snapshot, the
//     PaymentIntent (payment_intent_id unique) and locked_at.
//   - orders: one per PaymentIntent (or Checkout Session without one).
//   - stripe_events: the ids of the events applied.
//
// # Round trips and transactions
//
// Lookup is one pipelined batch and ReplayKey one statement: one round trip
// each. ReplayKey's cart upsert reads its user from the RETURNING of the
// key's conditional UPDATE, so a key that no longer matches writes nothing.
// ClaimKey is one short transaction (SELECT ... FOR UPDATE, decide, cart
// upsert, insert or update) and ApplyEvent one transaction starting with
// INSERT INTO stripe_events ... ON CONFLICT DO NOTHING; both are retried on
// serialization failures and deadlocks. Every transaction locks a key row
// before a cart row, so they cannot deadlock one another.
//
// # Matching in ReplayKey
//
// The key row matches want when it is not locked and its user, payment
// method, PaymentIntent id, PaymentIntent status, amount and currency, and
// its order snapshot (items, amount, currency) all equal want's. A want
// without a PaymentIntent id never matches.
//
// # GetOrder
//
// For the owner (anyone else gets ok == false):
//   - an orders row exists for the id (a payment_intent.succeeded or
//     checkout.session.completed webhook recorded it): "paid", with the
//     order's amount, currency and items;
//   - otherwise the key row bound to the PaymentIntent decides:
//     status succeeded → "paid" (Stripe said so before the webhook came);
//     canceled → "failed"; requires_payment_method after a webhook was seen
//     (a payment_intent.payment_failed left it there) → "failed";
//     anything else → "pending". Amount and currency are the
//     PaymentIntent's (the snapshot's before one is recorded), items the
//     key's order snapshot.
//
// # Errors
//
// Driver errors are translated into *[Error], whose message names the
// operation and SQLSTATE but never SQL text or values. A user id that is
// not a UUID is a caller bug: [ErrInvalidUserID], before any SQL runs.
//
// # Time
//
// UpsertCart stamps updated_at with the database's clock (now()); ClaimKey,
// ReplayKey and ApplyEvent use the time they are passed, like every key
// column. Times are returned in UTC; PostgreSQL keeps microseconds.
package postgres
