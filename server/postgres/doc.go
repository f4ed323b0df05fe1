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
//     concurrent writes can fail with a duplicate key. It also carries the
//     user's hosted-checkout lease (checkout_token, checkout_lease_until).
//   - idempotency_keys: one row per key: the bound order (what Stripe
//     holds) and the pending one (an update that may have reached Stripe),
//     the PaymentIntent (payment_intent_id unique) and the lease of the
//     request holding the key (lock_token, lease_until).
//   - key_aliases: per user, a first-call nonce ("n:" + nonce) or a rotated
//     key ("r:" + key) bound to a key; primary key (user_id, alias), so a
//     concurrent second binding loses.
//   - checkout_sessions: each hosted Checkout Session with its own priced
//     lines, total and status; seq orders a user's sessions.
//   - orders: one per PaymentIntent and one per Checkout Session (both
//     unique), status paid or needs_review.
//   - stripe_events: the ids of the events applied.
//
// # Round trips and transactions
//
// Lookup is one pipelined batch and ReplayKey one statement: one round trip
// each. ReplayKey's cart upsert reads its user from the RETURNING of the
// key's conditional UPDATE, so a key that no longer matches writes nothing.
// ClaimKey is one short transaction: resolve the key through the aliases
// (one recursive query), SELECT ... FOR UPDATE, decide, then the writes.
// RecordKey locks the row, checks the lease token and writes; RenewLease,
// ReleaseKey and MarkStale are one statement each. ClaimCheckout takes the
// checkout lease with one conditional upsert of the cart row. ApplyEvent is
// one transaction starting with INSERT INTO stripe_events ... ON CONFLICT DO
// NOTHING. Transactions are retried on serialization failures, deadlocks,
// and (ClaimKey) an alias a concurrent claim bound first. Key rows are
// locked before cart rows, sessions before carts, so transactions do not
// deadlock one another.
//
// The rules that decide what a record or a payment writes are the pure
// functions of checkoutsvc (ApplyRecord, PaidOrder, SessionOrder), shared
// with server/memstore.
//
// # Matching in ReplayKey
//
// The key row matches want when no lock token is on it (not even one whose
// lease ran out: what its holder did is unknown) and its user, payment
// method, PaymentIntent id, PaymentIntent status, amount and currency, and
// its bound order (items, amount, currency) all equal want's. A want
// without a PaymentIntent id never matches.
//
// # GetOrder
//
// For the owner (anyone else gets ok == false):
//   - an orders row exists for the id (a PaymentIntent or Checkout Session
//     id): its status (paid or needs_review), amount, currency and items;
//   - otherwise the key row bound to the PaymentIntent: "failed" when it
//     was canceled, else "pending" (after a declined attempt too: it can
//     still be paid), with the bound order;
//   - otherwise the stored Checkout Session: "failed" when expired, else
//     "pending", with its lines.
//
// # Errors
//
// Driver errors are translated into *[Error], whose message names the
// operation and SQLSTATE but never SQL text or values. A user id that is
// not a UUID is a caller bug: [ErrInvalidUserID], before any SQL runs.
//
// # Time
//
// UpsertCart stamps updated_at with the database's clock (now()); the
// other methods use the times they are passed, like every key column, so
// the leases follow the service's clock. Times are returned in UTC;
// PostgreSQL keeps microseconds.
package postgres
