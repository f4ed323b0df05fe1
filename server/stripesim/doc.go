// Package stripesim is a stateful, in-process simulator of the part of the
// Stripe API onecharge uses, reached by the real stripe-go client over HTTP.
// The onecharge server runs it when STRIPE_SECRET_KEY is unset, and the
// tests use it to exercise behaviour and faults that stripe-mock (which is
// stateless) cannot.
//
// # Mounting
//
// A *Sim is an http.Handler serving paths relative to its root. Mount it
// under a prefix with http.StripPrefix and tell it the prefix (default
// "/_stripe") so that it can build absolute URLs for its hosted pages from
// the request's Host:
//
//	sim := stripesim.New(stripesim.Config{})
//	defer sim.Close()
//	mux.Handle("/_stripe/", http.StripPrefix("/_stripe", sim))
//	// once the server knows its address:
//	sim.SetWebhookURL("http://127.0.0.1:8080/api/stripe/webhook")
//
// When browsers reach the simulator at another address than stripe-go
// does, set Config.PublicURL instead.
//
// stripe-go reaches it with BackendConfig.URL "http://host:port/_stripe"
// and any secret key starting "sk_test_" (or Config.SecretKey). Browsers
// confirm with the publishable key "pk_test_simulator".
//
// # What is simulated
//
//   - PaymentIntents: create, retrieve, update, confirm, cancel, with
//     Stripe's form encoding, JSON shapes, error objects and status machine
//     (requires_payment_method → requires_confirmation / requires_action →
//     succeeded; canceled). Amount and currency change only in
//     requires_payment_method, requires_confirmation and requires_action,
//     otherwise 400 payment_intent_unexpected_state. Unknown ids answer 404
//     resource_missing. Metadata merges on update; an empty value deletes.
//   - Confirmation as Stripe.js does it: the publishable key (Bearer token
//     or "key" form field) plus the matching client_secret; the secret key
//     needs no client_secret. CORS preflights are answered and every
//     response allows any origin. Retrieve works the same way.
//   - Test payment methods: pm_card_visa, pm_card_mastercard, pm_card_amex
//     succeed; pm_card_threeDSecure2Required, pm_card_threeDSecureRequired
//     and pm_card_authenticationRequired need a redirect (next_action
//     redirect_to_url) to a challenge page with "Complete authentication"
//     and "Fail authentication" buttons, which redirects (303) to
//     return_url with payment_intent, payment_intent_client_secret and
//     redirect_status; pm_card_chargeDeclined (generic_decline),
//     pm_card_chargeDeclinedInsufficientFunds and
//     pm_card_chargeDeclinedExpiredCard answer 402 card_error and leave the
//     intent in requires_payment_method with last_payment_error. Any other
//     payment method answers 400 resource_missing.
//   - Checkout Sessions (mode payment, line_items with price_data):
//     create, retrieve (expand[]=payment_intent), and a hosted page with a
//     "Pay" button that creates a succeeded PaymentIntent for amount_total,
//     completes the session and redirects to success_url with
//     {CHECKOUT_SESSION_ID} filled in.
//   - Idempotency-Key on POST, scoped per API key and kept IdempotencyTTL
//     (24 h) by Config.Now: the same key and parameters replay the first
//     response with "Idempotent-Replayed: true"; a key whose first request
//     is still running answers 409 idempotency_key_in_use; other
//     parameters answer 400 idempotency_error. Requests rejected before
//     the endpoint runs (authentication, parameter validation) are not
//     stored, as on Stripe.
//   - Webhooks: payment_intent.succeeded, payment_intent.payment_failed,
//     payment_intent.canceled and checkout.session.completed, POSTed
//     asynchronously with a Stripe-Signature (t=…,v1=HMAC-SHA256) that
//     stripe-go's webhook.ConstructEvent accepts (api_version is
//     stripe.APIVersion), retried with exponential backoff on transport
//     errors and non-2xx answers up to Config.WebhookAttempts. A
//     WebhookMode delivers every event twice and/or holds events and
//     delivers them reversed or shuffled. WaitIdle waits for deliveries;
//     Close stops them.
//   - Faults (AddFault): per method and path pattern, added latency, a
//     count or rate of 500/503 answers before processing, and "commit then
//     drop": the request is processed and stored, then the connection is
//     closed without an answer.
//   - Assertions: CreatedPaymentIntents, PaymentIntent(s),
//     CheckoutSession(s), Events, InFlight, and ForcePaymentIntentStatus
//     for states no test card reaches (processing).
//
// # What is not simulated
//
// Everything else of Stripe: customers, PaymentMethod objects (test
// payment method ids are kept as they are sent), charges and refunds
// (latest_charge is an id only), manual capture, setup and subscription
// modes, list and search endpoints, expansion other than a session's
// payment_intent, prices and products by id, Checkout line_items
// endpoints, session expiry, Stripe.js's use_stripe_sdk flows, Connect
// (Stripe-Account), rate limiting (429), API version pinning, minimum
// charge amounts per currency (any amount from 1 to 99999999 is accepted),
// the strict validation of unknown parameters (they are ignored), events
// other than the four above (no payment_intent.created), and webhook
// endpoints managed through the API (one URL, set with SetWebhookURL).
// Webhook signatures are stamped with the wall clock, not Config.Now,
// because receivers check them against their own clock.
package stripesim
