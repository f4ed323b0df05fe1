// Package checkoutsvc is onecharge's checkout service: it prices carts from
// the catalog, keeps one cart per user, and binds every idempotency key to
// exactly one Stripe PaymentIntent.
//
// A validation with a key runs the lifecycle of brandur.org/idempotency-keys
// in three phases, none of which holds a database transaction across the
// network call to Stripe:
//
//  1. Claim: one short transaction (Store.ClaimKey) upserts the cart,
//     resolves the key (or first-call nonce) through the user's aliases,
//     reads the key row and decides: issue a new key, rotate to the one
//     successor, replay, refuse (409 request_in_progress or
//     payment_already_completed) or lease the key for a Stripe call. A
//     lease lasts Service.LockLease and is renewed while the request waits
//     on Stripe (Store.RenewLease), so a request whose process died frees
//     its key within one lease.
//  2. Foreign call: the PaymentIntent is created with a Stripe
//     Idempotency-Key derived from ours (StripeCreateKey) and with
//     parameters frozen when the key was issued, so repeating this phase
//     after a crash returns the same PaymentIntent instead of creating a
//     second one. An amount change is an update, and the bound order
//     changes only once Stripe has accepted it (Store.SetPending).
//  3. Record: Store.RecordKey stores what Stripe answered and releases the
//     lease, only while the request still holds it. A request that lost
//     its lease writes nothing but Store.MarkStale, so its successor
//     re-reads the PaymentIntent.
//
// A replay of a valid key with unchanged items and a fresh PaymentIntent
// state takes the lean path: Store.Lookup and Store.ReplayKey, no Stripe
// call. Webhooks (HandleWebhook) are the source of truth for success: they
// record the order bound to the payment, needs_review when its amount is
// not what Stripe reports. Reaper cancels what abandoned checkouts left
// behind and applies retention.
package checkoutsvc
