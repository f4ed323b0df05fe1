package stripesim

import (
	"encoding/json"
	"maps"
	"slices"
)

// PaymentIntent statuses.
const (
	StatusRequiresPaymentMethod = "requires_payment_method"
	StatusRequiresConfirmation  = "requires_confirmation"
	StatusRequiresAction        = "requires_action"
	StatusProcessing            = "processing"
	StatusSucceeded             = "succeeded"
	StatusCanceled              = "canceled"
)

// Error types, as in Stripe's error objects.
const (
	ErrorTypeAPI            = "api_error"
	ErrorTypeCard           = "card_error"
	ErrorTypeIdempotency    = "idempotency_error"
	ErrorTypeInvalidRequest = "invalid_request_error"
)

// Test payment methods the simulator knows (Stripe's names).
const (
	PMCardVisa                 = "pm_card_visa"
	PMCardMastercard           = "pm_card_mastercard"
	PMCardThreeDSecure2        = "pm_card_threeDSecure2Required"
	PMCardAuthRequired         = "pm_card_authenticationRequired"
	PMCardChargeDeclined       = "pm_card_chargeDeclined"
	PMCardInsufficientFunds    = "pm_card_chargeDeclinedInsufficientFunds"
	PMCardChargeDeclinedExpiry = "pm_card_chargeDeclinedExpiredCard"
)

// Error is Stripe's error object: the "error" member of an error response
// and a PaymentIntent's last_payment_error.
type Error struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Message       string         `json:"message"`
	Param         string         `json:"param,omitempty"`
	DocURL        string         `json:"doc_url,omitempty"`
	PaymentMethod *PaymentMethod `json:"payment_method,omitempty"`
	PaymentIntent *PaymentIntent `json:"payment_intent,omitempty"`
}

// PaymentMethod is the small part of a PaymentMethod object the simulator
// reports (inside last_payment_error).
type PaymentMethod struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Type   string `json:"type"`
}

// AutomaticPaymentMethods is a PaymentIntent's automatic_payment_methods.
type AutomaticPaymentMethods struct {
	Enabled bool `json:"enabled"`
}

// NextAction is a PaymentIntent's next_action; only redirect_to_url is simulated.
type NextAction struct {
	Type          string         `json:"type"`
	RedirectToURL *RedirectToURL `json:"redirect_to_url,omitempty"`
}

// RedirectToURL is next_action.redirect_to_url.
type RedirectToURL struct {
	URL       string `json:"url"`
	ReturnURL string `json:"return_url"`
}

// PaymentIntent is the simulated PaymentIntent, marshalled as Stripe does
// (nullable fields are pointers).
type PaymentIntent struct {
	ID                      string                   `json:"id"`
	Object                  string                   `json:"object"`
	Amount                  int64                    `json:"amount"`
	AmountCapturable        int64                    `json:"amount_capturable"`
	AmountReceived          int64                    `json:"amount_received"`
	AutomaticPaymentMethods *AutomaticPaymentMethods `json:"automatic_payment_methods"`
	CanceledAt              *int64                   `json:"canceled_at"`
	CancellationReason      *string                  `json:"cancellation_reason"`
	CaptureMethod           string                   `json:"capture_method"`
	ClientSecret            string                   `json:"client_secret"`
	ConfirmationMethod      string                   `json:"confirmation_method"`
	Created                 int64                    `json:"created"`
	Currency                string                   `json:"currency"`
	Description             *string                  `json:"description"`
	LastPaymentError        *Error                   `json:"last_payment_error"`
	LatestCharge            *string                  `json:"latest_charge"`
	Livemode                bool                     `json:"livemode"`
	Metadata                map[string]string        `json:"metadata"`
	NextAction              *NextAction              `json:"next_action"`
	PaymentMethod           *string                  `json:"payment_method"`
	PaymentMethodTypes      []string                 `json:"payment_method_types"`
	ReceiptEmail            *string                  `json:"receipt_email"`
	Status                  string                   `json:"status"`
}

func (p PaymentIntent) clone() PaymentIntent {
	p.Metadata = maps.Clone(p.Metadata)
	p.PaymentMethodTypes = slices.Clone(p.PaymentMethodTypes)
	if p.LastPaymentError != nil {
		e := *p.LastPaymentError
		p.LastPaymentError = &e
	}
	if p.NextAction != nil {
		n := *p.NextAction
		if n.RedirectToURL != nil {
			r := *n.RedirectToURL
			n.RedirectToURL = &r
		}
		p.NextAction = &n
	}
	if p.AutomaticPaymentMethods != nil {
		a := *p.AutomaticPaymentMethods
		p.AutomaticPaymentMethods = &a
	}
	return p
}

// intent is a PaymentIntent with the simulator's private state.
type intent struct {
	pi             PaymentIntent
	seq            int // creation order: its index in Sim.piOrder
	returnURL      string
	challengeToken string
}

// List is Stripe's list object, the answer of a list endpoint.
type List[T any] struct {
	Object  string `json:"object"` // "list"
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

// LineItem is one line of a Checkout Session (price_data only).
type LineItem struct {
	Name       string `json:"name"`
	Currency   string `json:"currency"`
	UnitAmount int64  `json:"unit_amount"`
	Quantity   int64  `json:"quantity"`
}

// CheckoutSession is the simulated Checkout Session (mode payment).
type CheckoutSession struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	AmountSubtotal     int64             `json:"amount_subtotal"`
	AmountTotal        int64             `json:"amount_total"`
	CancelURL          *string           `json:"cancel_url"`
	ClientReferenceID  *string           `json:"client_reference_id"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	CustomerEmail      *string           `json:"customer_email"`
	ExpiresAt          int64             `json:"expires_at"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	Mode               string            `json:"mode"`
	PaymentIntent      *string           `json:"payment_intent"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	PaymentStatus      string            `json:"payment_status"`
	Status             string            `json:"status"`
	SuccessURL         string            `json:"success_url"`
	URL                *string           `json:"url"`
	// LineItems are not part of the object's JSON (Stripe lists them at
	// their own endpoint), but tests may inspect them.
	LineItems []LineItem `json:"-"`
}

func (c CheckoutSession) clone() CheckoutSession {
	c.Metadata = maps.Clone(c.Metadata)
	c.PaymentMethodTypes = slices.Clone(c.PaymentMethodTypes)
	c.LineItems = slices.Clone(c.LineItems)
	return c
}

// session is a Checkout Session with the simulator's private state.
type session struct {
	cs         CheckoutSession
	piMetadata map[string]string
	piDesc     string
}

// Event types the simulator emits.
const (
	EventPaymentIntentSucceeded     = "payment_intent.succeeded"
	EventPaymentIntentPaymentFailed = "payment_intent.payment_failed"
	EventPaymentIntentCanceled      = "payment_intent.canceled"
	EventCheckoutSessionCompleted   = "checkout.session.completed"
	EventCheckoutSessionExpired     = "checkout.session.expired"
)

// Event is a Stripe event as delivered to webhooks.
type Event struct {
	ID              string       `json:"id"`
	Object          string       `json:"object"`
	APIVersion      string       `json:"api_version"`
	Created         int64        `json:"created"`
	Data            EventData    `json:"data"`
	Livemode        bool         `json:"livemode"`
	PendingWebhooks int          `json:"pending_webhooks"`
	Request         EventRequest `json:"request"`
	Type            string       `json:"type"`
}

// EventData holds the object snapshot of an event.
type EventData struct {
	Object json.RawMessage `json:"object"`
}

// EventRequest names the API request that caused an event (null fields
// for events caused by a hosted page).
type EventRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

// Payload returns the event's JSON, exactly the body a webhook receives.
func (e Event) Payload() []byte {
	b, _ := json.Marshal(e)
	return b
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
