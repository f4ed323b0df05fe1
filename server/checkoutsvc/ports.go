package checkoutsvc

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Store is the persistence the service needs. Two implementations exist:
// server/postgres (pgx/v5) and server/memstore (the embedded default); both
// pass the suite in server/storetest.
//
// Every method is atomic on its own. None holds a transaction open after it
// returns, so no transaction spans a Stripe call.
type Store interface {
	// Ping reports whether the store answers (for /readyz).
	Ping(ctx context.Context) error

	// Products returns the active catalog, ordered by id.
	Products(ctx context.Context) ([]checkout.Product, error)
	// ProductsByID returns the catalog entries (active or not) for ids;
	// unknown ids are absent from the map.
	ProductsByID(ctx context.Context, ids []string) (map[string]checkout.Product, error)

	// GetCart returns the user's stored cart lines; ok is false when the
	// user has no cart row.
	GetCart(ctx context.Context, userID string) (items []checkout.Item, updatedAt time.Time, ok bool, err error)
	// UpsertCart stores items as the user's one cart with
	// INSERT ... ON CONFLICT (user_id) DO UPDATE and returns updated_at.
	// It never fails with a duplicate-key error, however often or
	// concurrently it is called. sessionID, when not "", is stored as the
	// cart's hosted Checkout Session id; "" keeps the stored one.
	UpsertCart(ctx context.Context, userID string, items []checkout.Item, sessionID string) (time.Time, error)
	// UserForCheckoutSession returns the user whose cart carries sessionID.
	UserForCheckoutSession(ctx context.Context, sessionID string) (userID string, ok bool, err error)

	// ReplayKey is the lean path of a validation: in one atomic step it
	// stores the cart and, when the key row matches want exactly (same
	// user, method, PaymentIntent id, status, amount and currency, not
	// locked), touches last_used_at and returns true. Otherwise it writes
	// nothing and returns false, and the caller takes ClaimKey.
	// On PostgreSQL it is one statement (one round trip).
	ReplayKey(ctx context.Context, want KeyRecord, cart []checkout.Item, now time.Time) (bool, error)

	// GetKey returns the key's row; ok is false when unknown.
	GetKey(ctx context.Context, key string) (rec KeyRecord, ok bool, err error)
	// Lookup is the first step of a validation: the catalog entries for ids
	// (as ProductsByID) and the row of key (nil when key is "" or unknown),
	// read together. On PostgreSQL it is one pipelined round trip.
	Lookup(ctx context.Context, ids []string, key string) (map[string]checkout.Product, *KeyRecord, error)

	// ClaimKey is phase one of the lifecycle. In one short transaction it
	// reads the row of in.Key (when not ""), lets decide choose what to do
	// with it, and applies the decision:
	//   - Insert: stores decision.Record as a new key row (locked);
	//   - Lock: sets locked_at = in.Now and last_used_at = in.Now on the
	//     existing row and stores decision.Record's order snapshot;
	//   - Touch: sets last_used_at = in.Now only;
	//   - None: writes nothing at all (a refusal: request_in_progress or
	//     payment_already_completed must not refill a paid cart).
	// With Insert, Lock and Touch it also upserts the user's cart with
	// in.Cart, in the same transaction.
	// decide is called with the current row (nil when absent or in.Key is
	// "") while the row is held exclusively, and may be called again if the
	// store retries the transaction. ClaimKey returns decide's decision.
	ClaimKey(ctx context.Context, in ClaimInput, decide func(cur *KeyRecord) Decision) (Decision, error)

	// RecordPaymentIntent is phase three: it stores the PaymentIntent
	// bound to key and releases the lock (locked_at = NULL), setting
	// synced_at = now. The status only moves forward: a row already
	// "succeeded" (from a webhook) keeps that status. It returns the row
	// as stored.
	RecordPaymentIntent(ctx context.Context, key string, pi PaymentIntent, now time.Time) (KeyRecord, error)
	// ReleaseKey clears locked_at after a failed foreign call, leaving the
	// key usable for a retry, but only while the lock is still the one
	// taken at lockedAt (compared at microsecond precision): a request
	// whose lock timed out and was taken over never releases its
	// successor's lock.
	ReleaseKey(ctx context.Context, key string, lockedAt time.Time) error

	// ApplyEvent applies one verified Stripe event at most once (by
	// ev.ID) in one transaction and reports whether it was new. See Event.
	ApplyEvent(ctx context.Context, ev Event) (applied bool, err error)

	// GetOrder returns what userID may see of the order paid or pending
	// through PaymentIntent piID; ok is false for anyone but its owner.
	GetOrder(ctx context.Context, userID, piID string) (checkout.OrderStatus, bool, error)
}

// KeyRecord is the server's row for one idempotency key.
type KeyRecord struct {
	Key           string
	UserID        string
	PaymentMethod checkout.PaymentMethod
	// Order snapshot of the latest validation bound to this key: what an
	// order records when the payment succeeds.
	Items    []checkout.Line
	Amount   int64
	Currency string
	// The PaymentIntent, once recorded ("" before).
	PaymentIntentID string
	ClientSecret    string
	PIStatus        string
	PIAmount        int64
	PICurrency      string
	// CreateAmount and CreateCurrency are the parameters the PaymentIntent
	// was (or will be) created with, frozen at issuance so that a repeated
	// create after a crash sends Stripe identical parameters.
	CreateAmount   int64
	CreateCurrency string

	LockedAt      time.Time // zero when no request holds the key
	CreatedAt     time.Time
	LastUsedAt    time.Time
	SyncedAt      time.Time // when PIStatus was last learned from Stripe
	WebhookSeenAt time.Time // zero until a webhook told us about the PaymentIntent
}

// ClaimInput is the input of Store.ClaimKey.
type ClaimInput struct {
	UserID string
	Key    string // "" when the client sent none
	Cart   []checkout.Item
	Now    time.Time
}

// DecisionKind says what ClaimKey writes.
type DecisionKind int

// The decisions of ClaimKey.
const (
	DecideNone   DecisionKind = iota // write nothing but the cart
	DecideInsert                     // insert Record as a new, locked key
	DecideLock                       // lock the existing key, store Record's order snapshot
	DecideTouch                      // update last_used_at only
)

// Decision is what decide returns to ClaimKey; Outcome is the service's own
// and passed back untouched.
type Decision struct {
	Kind    DecisionKind
	Record  KeyRecord
	Outcome Outcome
}

// Outcome tells the service what to do after the claim.
type Outcome int

// Outcomes of a claim.
const (
	OutcomeIssue      Outcome = iota + 1 // new key: create the PaymentIntent
	OutcomeSync                          // locked existing key: create, update or re-read the PaymentIntent
	OutcomeReplay                        // answer Record as it is
	OutcomeInProgress                    // 409 request_in_progress
	OutcomeCompleted                     // 409 payment_already_completed
)

// PaymentIntent is the gateway's view of a Stripe PaymentIntent.
type PaymentIntent struct {
	ID           string
	ClientSecret string
	Status       string
	Amount       int64
	Currency     string
	Metadata     map[string]string
}

// Stripe PaymentIntent statuses the service cares about.
const (
	StatusRequiresPaymentMethod = "requires_payment_method"
	StatusRequiresConfirmation  = "requires_confirmation"
	StatusRequiresAction        = "requires_action"
	StatusProcessing            = "processing"
	StatusSucceeded             = "succeeded"
	StatusCanceled              = "canceled"
)

// Event is a verified Stripe event reduced to what ApplyEvent needs.
//
// ApplyEvent, keyed by ID (each applied at most once):
//   - EventPaymentSucceeded: the key row of PaymentIntentID (or, when no
//     row is bound to it yet, of metadata key OnechargeKey, binding it)
//     gets status succeeded and WebhookSeenAt; one order is recorded for
//     the PaymentIntent (unique) from the key's order snapshot; the
//     owner's cart is emptied.
//   - EventPaymentFailed: status requires_payment_method unless already
//     succeeded or canceled; WebhookSeenAt set.
//   - EventPaymentCanceled: status canceled unless already succeeded.
//   - EventCheckoutCompleted: one order for PaymentIntentID (or the
//     session id when Stripe sent none) for the user whose cart carries
//     CheckoutSessionID, from that cart; the cart is emptied.
//
// Unknown PaymentIntents and sessions are recorded as applied and change
// nothing else.
type Event struct {
	ID                string
	Type              string
	PaymentIntentID   string
	OnechargeKey      string // PaymentIntent metadata "onecharge_key"
	Amount            int64
	Currency          string
	CheckoutSessionID string
	Now               time.Time
}

// Event types the service handles.
const (
	EventPaymentSucceeded  = "payment_intent.succeeded"
	EventPaymentFailed     = "payment_intent.payment_failed"
	EventPaymentCanceled   = "payment_intent.canceled"
	EventCheckoutCompleted = "checkout.session.completed"
)

// Gateway is the payment provider: server/stripepay over stripe-go.
// Implementations translate provider errors at their edge: an unreachable,
// timed-out or misconfigured provider becomes ErrPaymentUnavailable, a
// rejected create ErrIntentFailed, an update refused for the intent's state
// ErrUnexpectedState.
type Gateway interface {
	// CreatePaymentIntent creates a PaymentIntent with Stripe's
	// Idempotency-Key set to idempotencyKey.
	CreatePaymentIntent(ctx context.Context, p CreateIntentParams) (PaymentIntent, error)
	// UpdatePaymentIntent changes amount and currency of an intent.
	UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, idempotencyKey string) (PaymentIntent, error)
	// GetPaymentIntent re-reads an intent.
	GetPaymentIntent(ctx context.Context, id string) (PaymentIntent, error)
	// CreateCheckoutSession creates a hosted Checkout Session.
	CreateCheckoutSession(ctx context.Context, p CheckoutSessionParams) (CheckoutSession, error)
	// ParseEvent verifies a webhook payload's Stripe-Signature and decodes it.
	ParseEvent(payload []byte, signature string) (Event, error)
}

// CreateIntentParams are the parameters of Gateway.CreatePaymentIntent.
type CreateIntentParams struct {
	Amount         int64
	Currency       string
	IdempotencyKey string
	Metadata       map[string]string
}

// CheckoutSessionParams are the parameters of Gateway.CreateCheckoutSession.
type CheckoutSessionParams struct {
	Lines          []checkout.Line
	Currency       string
	SuccessURL     string
	CancelURL      string
	ClientRefID    string
	IdempotencyKey string
}

// CheckoutSession is a created hosted Checkout Session.
type CheckoutSession struct {
	ID  string
	URL string
}

// Gateway errors, matched with errors.Is.
var (
	ErrPaymentUnavailable = errors.New("payment provider unavailable")
	ErrIntentFailed       = errors.New("payment intent rejected")
	ErrUnexpectedState    = errors.New("payment intent in unexpected state")
	ErrBadSignature       = errors.New("webhook signature invalid")
)

// ErrInvalidUserID is returned for a user id that is not a UUID: a
// caller's bug (authenticators issue UUIDs), caught before it reaches a
// store.
var ErrInvalidUserID = errors.New("user id is not a UUID")

// ParseUserID checks that id is a UUID (8-4-4-4-12 hexadecimal digits) and
// returns it in lower case, as PostgreSQL prints a uuid.
func ParseUserID(id string) (string, error) {
	if len(id) != 36 {
		return "", ErrInvalidUserID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", ErrInvalidUserID
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return "", ErrInvalidUserID
			}
		}
	}
	return strings.ToLower(id), nil
}

// OrderStatusOf maps a key row's PaymentIntent status to the status GET
// /api/orders reports while no order is recorded: succeeded is paid;
// canceled, and requires_payment_method once a webhook was seen (a
// payment_failed event left it there), are failed; anything else is
// pending.
func OrderStatusOf(piStatus string, webhookSeen bool) string {
	switch {
	case piStatus == StatusSucceeded:
		return checkout.OrderPaid
	case piStatus == StatusCanceled, piStatus == StatusRequiresPaymentMethod && webhookSeen:
		return checkout.OrderFailed
	}
	return checkout.OrderPending
}
