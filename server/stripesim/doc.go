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
// does, set Config.PublicURL instead. The command server/cmd/stripesim
// serves it at the root (PathPrefix "/") on a port of its own, so that
// several server replicas share one simulator.
//
// stripe-go reaches it with BackendConfig.URL "http://host:port/_stripe"
// and the secret key Sim.SecretKey: Config.SecretKey, or one New draws at
// random ("sk_test_sim_" and 32 alphanumerics from crypto/rand), so that
// only the process that started the simulator can call its secret-key
// API. Browsers confirm with the publishable key "pk_test_simulator"
// (Config.PublishableKey).
//
// # What is simulated
//
//   - Authentication: the one secret key (a Bearer token or Basic auth;
//     any other key, sk_test_ or not, is 401 with the key redacted) and
//     the publishable key, which is 401 on every secret-key endpoint.
//   - PaymentIntents: create, retrieve, update, confirm, cancel, with
//     Stripe's form encoding, JSON shapes, error objects and status machine
//     (requires_payment_method → requires_confirmation / requires_action →
//     succeeded; canceled). Amount and currency change only in
//     requires_payment_method, requires_confirmation and requires_action,
//     otherwise 400 payment_intent_unexpected_state. Unknown ids answer 404
//     resource_missing. Metadata merges on update; an empty value deletes.
//   - The list, GET /v1/payment_intents (secret key): Stripe's list object
//     (object "list", data, has_more, url "/v1/payment_intents"), newest
//     first, limit 1..100 (default 10), starting_after or ending_before
//     (an unknown id is 400 resource_missing on that param; both at once
//     are refused), created exact or created[gt|gte|lt|lte]; the objects
//     are those retrieve returns. stripe-go's auto-paginating iterators
//     walk it in both directions.
//   - Amounts as Stripe bounds them, for PaymentIntent create and update
//     (the amount and currency the intent would have) and a Checkout
//     Session's total: below 1 is parameter_invalid_integer; below the
//     currency's minimum charge (Stripe's table: 50 for usd, eur, …, 30
//     for gbp, 50 for jpy, 17500 for huf; see MinimumAmount) is
//     amount_too_small; above MaxAmount (99,999,999) amount_too_large;
//     with Stripe's messages ("Amount must be at least $0.50 usd", "The
//     Checkout Session's total amount due must add up to at least $0.50
//     usd"). Only the 24 currencies of that table are accepted
//     (Currencies); others are 400 on currency.
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
//     create, retrieve (expand[]=payment_intent), expire, and a hosted
//     page with a "Pay" button that creates a succeeded PaymentIntent for
//     amount_total, completes the session and redirects to success_url
//     with {CHECKOUT_SESSION_ID} filled in. Expire (POST
//     /v1/checkout/sessions/{id}/expire) turns an open session expired
//     (url null) and emits checkout.session.expired; a session that is
//     not open answers 400 "Only Checkout Sessions with a status in
//     ["open"] can be expired. This Checkout Session has a status of
//     `complete`."; the page of an expired session cannot be paid (a Pay
//     POST answers 410 and makes no PaymentIntent).
//   - Idempotency-Key on POST, scoped per API key and kept IdempotencyTTL
//     (24 h) by Config.Now: the same key and parameters replay the first
//     response with "Idempotent-Replayed: true"; a key whose first request
//     is still running answers 409 idempotency_key_in_use; other
//     parameters answer 400 idempotency_error. Requests rejected before
//     the endpoint runs (authentication, parameter validation, amount
//     bounds) are not stored, as on Stripe.
//   - Webhooks: payment_intent.succeeded, payment_intent.payment_failed,
//     payment_intent.canceled, checkout.session.completed and
//     checkout.session.expired, POSTed asynchronously to every endpoint
//     (Config.WebhookURL and WebhookURLs, SetWebhookURL for one,
//     SetWebhookURLs for several: replicas sharing the simulator) with a
//     Stripe-Signature (t=…,v1=HMAC-SHA256, one secret for all endpoints)
//     that stripe-go's webhook.ConstructEvent accepts (api_version is
//     stripe.APIVersion; pending_webhooks is the number of endpoints).
//     Each endpoint has its own queue and retries, with exponential
//     backoff on transport errors and non-2xx answers up to
//     Config.WebhookAttempts, so that one failing endpoint delays no
//     other. A WebhookMode delivers every event twice and/or holds events
//     and delivers them reversed or shuffled. WaitIdle waits for the
//     deliveries to every endpoint; Close stops them.
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
// modes, list endpoints other than PaymentIntents' (no Checkout Session
// list, no line_items endpoint), search, total_count and expand[] on
// lists, expansion other than a session's payment_intent, prices and
// products by id, a session's own expiry at expires_at (sessions expire
// only through the expire endpoint), Stripe.js's use_stripe_sdk flows,
// Connect (Stripe-Account), rate limiting (429), API version pinning,
// currency conversion (the minimum charge of a presentment currency
// outside Stripe's table, hence those currencies are refused), the
// strict validation of unknown parameters (they are ignored), events
// other than the five above (no payment_intent.created), and webhook
// endpoints managed through the API (they are set with
// SetWebhookURL(s), every endpoint receives every event type). Webhook
// signatures are stamped with the wall clock, not Config.Now, because
// receivers check them against their own clock.
package stripesim
