package checkoutsvc

import "time"

// Metrics is what the service reports about its work, for operators.
// server/metrics implements it with prometheus/client_golang; the service
// never imports a metrics library. Implementations must be safe for
// concurrent use and cheap: they are called on every request.
type Metrics interface {
	// KeyIssued: a new key, for a request that sent none.
	KeyIssued()
	// KeyReplayed: the same key and PaymentIntent answered.
	KeyReplayed()
	// KeyRotated: a new key replaced the one sent; reason is unknown,
	// foreign, expired, other_method, canceled or vanished.
	KeyRotated(reason string)
	// Refused: a 409, by code (payment_already_completed, request_in_progress).
	Refused(code string)
	IntentCreated()
	IntentUpdated()
	// StripeCall: one call to Stripe, by operation (create_payment_intent,
	// update_payment_intent, retrieve_payment_intent, cancel_payment_intent,
	// create_checkout_session, expire_checkout_session) and outcome (ok,
	// unavailable, rejected, unexpected_state, not_found).
	StripeCall(op, outcome string, d time.Duration)
	// Webhook: one delivery, by event type and outcome (applied,
	// duplicate, invalid_signature, error).
	Webhook(eventType, outcome string)
	// OrderRecorded: an order was recorded, status paid or needs_review.
	OrderRecorded(status string)
	// ReaperAction: the reaper did n of action (cancel_payment_intent,
	// expire_checkout_session, delete_keys, delete_events, error).
	ReaperAction(action string, n int)
}

// NopMetrics discards everything.
type NopMetrics struct{}

func (NopMetrics) KeyIssued()                               {}
func (NopMetrics) KeyReplayed()                             {}
func (NopMetrics) KeyRotated(string)                        {}
func (NopMetrics) Refused(string)                           {}
func (NopMetrics) IntentCreated()                           {}
func (NopMetrics) IntentUpdated()                           {}
func (NopMetrics) StripeCall(string, string, time.Duration) {}
func (NopMetrics) Webhook(string, string)                   {}
func (NopMetrics) OrderRecorded(string)                     {}
func (NopMetrics) ReaperAction(string, int)                 {}
