// Package stripepay is onecharge's payment gateway over stripe-go v76: it
// implements checkoutsvc.Gateway (create, update and retrieve
// PaymentIntents, create hosted Checkout Sessions, verify and decode
// webhook events) and adds the calls tests and tools need (confirm, cancel,
// retrieve a Checkout Session).
//
// Every Client owns a client.API built with its own backends (URL, HTTP
// client, retries), never stripe-go's package-level key or backends, so
// several clients (real Stripe, the simulator, stripe-mock) can coexist in
// one process. Each call carries its context, bounded by Config.Timeout
// (retries included), and the Idempotency-Key the caller passes; stripe-go
// reuses that key on its own retries (Config.MaxNetworkRetries), so a
// retried create can never make a second PaymentIntent.
//
// PaymentIntents are created card-only (payment_method_types ["card"],
// automatic_payment_methods disabled), which Stripe, stripe-mock and
// server/stripesim all accept.
//
// Errors are translated at this edge and keep the stripe-go error in their
// chain (errors.As(err, **stripe.Error) works):
//
//   - network errors, timeouts, 5xx, 401/403, 429 and 409 (idempotency key
//     in use): checkoutsvc.ErrPaymentUnavailable;
//   - code payment_intent_unexpected_state: checkoutsvc.ErrUnexpectedState;
//   - other 4xx (invalid request, card error, idempotency mismatch):
//     checkoutsvc.ErrIntentFailed;
//   - a webhook whose signature, timestamp or body does not verify:
//     checkoutsvc.ErrBadSignature.
//
// ParseEvent accepts events of any API version (the fields it reads, ids,
// amounts, currency and metadata, are stable), and reduces
// payment_intent.succeeded, payment_intent.payment_failed,
// payment_intent.canceled and checkout.session.completed to
// checkoutsvc.Event; other types keep only ID and Type. It leaves
// Event.Now to the caller.
//
// Not covered: customers, saved payment methods, refunds, manual capture,
// subscriptions, Connect accounts.
package stripepay
