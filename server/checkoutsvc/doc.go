// Package checkoutsvc is onecharge's checkout service: it prices carts from
// the catalog, keeps one cart per user, and binds every idempotency key to
// exactly one Stripe PaymentIntent.
//
// A validation with a key runs the lifecycle of brandur.org/idempotency-keys
// in three phases, none of which holds a database transaction across the
// network call to Stripe:
//
//  1. Claim: one short transaction (Store.ClaimKey) upserts the cart, reads
//     the key row and decides: issue a new key, rotate, replay, refuse
//     (409 request_in_progress or payment_already_completed) or lock the
//     key for a Stripe call. A lock older than LockTimeout is taken over, so
//     a crashed request cannot hold a key forever.
//  2. Foreign call: the PaymentIntent is created with a Stripe
//     Idempotency-Key derived from ours and with parameters frozen when the
//     key was issued, so repeating this phase after a crash returns the same
//     PaymentIntent instead of creating a second one.
//  3. Record: Store.RecordPaymentIntent stores the PaymentIntent and
//     releases the lock.
//
// A replay of a valid key with unchanged items and a fresh PaymentIntent
// state takes the lean path: Store.Lookup and Store.ReplayKey, no Stripe
// call. Webhooks (HandleWebhook) are the source of truth for success.
package checkoutsvc
