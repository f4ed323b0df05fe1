// Package metrics counts what onecharge does, for Prometheus: it
// implements the Metrics interfaces of the checkout service and of the
// HTTP layer with prometheus/client_golang, on a registry of its own (no
// global registry) that also carries the Go runtime and process
// collectors. Handler serves it in the Prometheus text format (GET
// /metrics, contract section 9).
//
// # Metrics
//
// Every name is prefixed onecharge_. Label values come from fixed sets;
// any other value a caller passes is counted as "other", so that a
// caller's bug can never explode the number of series.
//
//	onecharge_keys_issued_total                      counter   new idempotency keys (no key sent, or a first-call nonce seen for the first time)
//	onecharge_keys_replayed_total                    counter   same key answered with the same PaymentIntent
//	onecharge_keys_rotated_total{reason}             counter   keys replaced; reason: unknown, expired, foreign, other_method, canceled, vanished
//	onecharge_refusals_total{code}                   counter   409 answers; code: payment_already_completed, request_in_progress
//	onecharge_payment_intents_created_total          counter   PaymentIntents created at Stripe
//	onecharge_payment_intents_updated_total          counter   PaymentIntents whose amount or currency was updated at Stripe
//	onecharge_stripe_calls_total{operation,outcome}  counter   Stripe API calls; outcome: ok, unavailable, rejected, unexpected_state, not_found
//	onecharge_stripe_call_duration_seconds{operation} histogram their latency
//	onecharge_webhooks_total{type,outcome}           counter   webhook deliveries; outcome: applied, duplicate, invalid_signature, error
//	onecharge_orders_recorded_total{status}          counter   orders recorded; status: paid, needs_review
//	onecharge_orders_needs_review_total              counter   orders recorded as needs_review (invariant I1), also counted above
//	onecharge_reaper_actions_total{action}           counter   reaper work, by items; action: cancel_payment_intent, expire_checkout_session, delete_keys, delete_events, error
//	onecharge_http_requests_total{route,status}      counter   HTTP requests by mux route template and status code
//	onecharge_http_request_duration_seconds{route}   histogram their latency
//
// operation is one of create_payment_intent, update_payment_intent,
// retrieve_payment_intent, confirm_payment_intent, cancel_payment_intent,
// list_payment_intents, create_checkout_session, retrieve_checkout_session,
// expire_checkout_session. type is one of payment_intent.succeeded,
// payment_intent.payment_failed, payment_intent.canceled,
// payment_intent.processing, payment_intent.requires_action,
// payment_intent.created, checkout.session.completed,
// checkout.session.expired, checkout.session.async_payment_succeeded,
// checkout.session.async_payment_failed (an event whose signature is
// invalid has no trusted type: it counts as "other"). route is the route
// template the mux matched (e.g. "/api/orders/{payment_intent_id}"): the
// first MaxRoutes distinct values are kept, any further one (a raw path
// passed by mistake) counts as "other", as do "" and status codes outside
// 100..599.
//
// Every series of the fixed label sets exists from the start with the
// value 0; the HTTP series appear with the first request of their route.
// Besides these, the registry exposes the go_* and process_* metrics of
// the Go and process collectors.
package metrics
