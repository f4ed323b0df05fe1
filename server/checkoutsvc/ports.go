package checkoutsvc

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Store is the persistence the service needs. Two implementations exist:
// server/postgres (pgx/v5) and server/memstore (the embedded default); both
// pass the suite in server/storetest.
//
// Every method is atomic on its own. None holds a transaction open after it
// returns, so no transaction spans a Stripe call: a request that calls
// Stripe holds its key (or its user's checkout) by a lease instead, a lock
// token with an expiry that the service renews while it waits on Stripe
// and that every later write of the request must present (a fencing
// token). A request whose process died stops renewing; its lease runs out
// after Service.LockLease and the next request takes over.
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
	// concurrently it is called.
	UpsertCart(ctx context.Context, userID string, items []checkout.Item) (time.Time, error)

	// ReplayKey is the lean path of a validation: in one atomic step it
	// stores the cart and, when the key row matches want exactly (same
	// user, method, PaymentIntent id, status, amount and currency, bound
	// order, and no lock token at all), sets last_used_at = now and
	// returns true. Otherwise it writes nothing and returns false, and the
	// caller takes ClaimKey. On PostgreSQL it is one statement.
	ReplayKey(ctx context.Context, want KeyRecord, cart []checkout.Item, now time.Time) (bool, error)

	// GetKey returns the key's row; ok is false when unknown.
	GetKey(ctx context.Context, key string) (rec KeyRecord, ok bool, err error)
	// Lookup is the first step of a validation: the catalog entries for ids
	// (as ProductsByID) and the row of key (nil when key is "" or unknown),
	// read together. On PostgreSQL it is one pipelined round trip.
	Lookup(ctx context.Context, ids []string, key string) (map[string]checkout.Product, *KeyRecord, error)

	// ClaimKey is the first phase of the lifecycle, one short
	// transaction:
	//
	//  1. It resolves the key the request speaks for: in.Key, or, when
	//     in.Key is "" and in.Nonce is not, the key bound to the alias
	//     AliasNonce(in.Nonce) of the user, if that alias was made at or
	//     after in.NonceSince. Then, as long as the user has a rotation
	//     alias AliasRotation(key), key becomes the successor it names.
	//  2. It reads that key's row, held exclusively, and calls decide
	//     with both (Claim). decide may be called again when the store
	//     retries the transaction.
	//  3. It applies decide's Decision:
	//     - DecideNone writes nothing at all (a refusal);
	//     - DecideTouch sets last_used_at = in.Now and stores in.Cart as
	//       the user's cart;
	//     - DecideLock stores Record.LockToken and Record.LeaseUntil on
	//       the existing row; nothing else (the outcome is not known yet);
	//     - DecideInsert stores Record as a new row and, when Alias is
	//       not "", binds the alias (user, Alias) to Record.Key, and
	//       stores in.Cart. When the alias is already bound (a concurrent
	//       request won), nothing is written and the whole claim starts
	//       over, so that it resolves to the winner's key.
	ClaimKey(ctx context.Context, in ClaimInput, decide func(Claim) Decision) (Decision, error)

	// RecordKey is the last phase: it stores what Stripe said about the
	// key's PaymentIntent and releases the lease, in one transaction, only
	// when the row still carries in.Token (else ErrLeaseLost, and nothing
	// is written: a request that lost its lease never records over its
	// successor). See RecordInput. It returns the row as stored.
	RecordKey(ctx context.Context, key string, in RecordInput) (KeyRecord, error)
	// ReleaseKey clears the lease after a failed Stripe call, when the
	// row still carries token; otherwise it does nothing. With stale, it
	// also forgets when the PaymentIntent was last synced, so that the
	// next request re-reads it from Stripe (the failed call may have
	// changed it).
	ReleaseKey(ctx context.Context, key, token string, stale bool) error
	// SetPending stores order as the key's pending order (nil clears it),
	// when token still holds the key (else ErrLeaseLost): the request is
	// about to ask Stripe for its amount, or puts back the pending order
	// it found when Stripe refused.
	SetPending(ctx context.Context, key, token string, order *checkout.Order) error
	// MarkStale forgets when the key's PaymentIntent was last synced,
	// whoever holds the key: a request that lost its lease after a Stripe
	// call that may have landed uses it to make its successor re-read.
	MarkStale(ctx context.Context, key string) error
	// RenewLease moves the lease l to until, when l.Token still holds it
	// and its lease has not run out at now; otherwise ErrLeaseLost.
	RenewLease(ctx context.Context, l Lease, now, until time.Time) error

	// ClaimCheckout is the first phase of a hosted checkout: in one
	// transaction it takes the user's checkout lease (unless another
	// request holds it: then InProgress, and nothing is written), stores
	// in.Cart as the cart, and returns the user's open sessions and the
	// newest one.
	ClaimCheckout(ctx context.Context, in CheckoutClaimInput) (CheckoutClaim, error)
	// RecordCheckout stores what happened at Stripe and releases the
	// user's checkout lease, only when in.Token still holds it (else
	// ErrLeaseLost, nothing written).
	RecordCheckout(ctx context.Context, in CheckoutRecord) error
	// ReleaseCheckout releases the user's checkout lease when token holds it.
	ReleaseCheckout(ctx context.Context, userID, token string) error

	// ApplyEvent applies one verified Stripe event at most once (by
	// ev.ID), in one transaction. See Event.
	ApplyEvent(ctx context.Context, ev Event) (EventResult, error)

	// GetOrder returns what userID may see of the order with id, a
	// PaymentIntent or Checkout Session id; ok is false for anyone but
	// its owner. See OrderStatusOf.
	GetOrder(ctx context.Context, userID, id string) (checkout.OrderStatus, bool, error)

	// The reaper's (see Reaper).

	// TryReaperLock takes the reaper's lock without waiting, so that one
	// replica reaps at a time: ok is false when another process holds it.
	// release frees it. On PostgreSQL it is a session-level advisory lock
	// on a connection of its own, freed also when the process dies.
	TryReaperLock(ctx context.Context) (release func(), ok bool, err error)
	// ReapableKeys lists up to limit keys, oldest first, whose
	// PaymentIntent may still be paid as far as the store knows (status
	// requires_payment_method or requires_confirmation), unused since
	// before idleBefore, and not held at now.
	ReapableKeys(ctx context.Context, idleBefore, now time.Time, limit int) ([]KeyRecord, error)
	// ReplacedSessions lists up to limit open Checkout Sessions that are
	// not their user's newest.
	ReplacedSessions(ctx context.Context, limit int) ([]CheckoutSession, error)
	// CloseSessions sets the status of the sessions in statuses (id →
	// SessionExpired or SessionComplete) that are still open.
	CloseSessions(ctx context.Context, statuses map[string]string) error
	// DeleteBefore deletes up to limit rows of each kind older than
	// before: key rows unused since then and not held at now, aliases made
	// before then, applied event ids received before then, and closed
	// Checkout Sessions created before then. Orders are never deleted.
	DeleteBefore(ctx context.Context, before, now time.Time, limit int) (Deleted, error)
}

// Deleted counts what DeleteBefore deleted.
type Deleted struct {
	Keys, Aliases, Events, Sessions int
}

// KeyRecord is the server's row for one idempotency key.
type KeyRecord struct {
	Key           string
	UserID        string
	PaymentMethod checkout.PaymentMethod
	// The order bound to the key's PaymentIntent: the one whose amount
	// Stripe holds (accepted). It changes only once Stripe accepted an
	// amount (RecordInput.Order), and the payment_intent.succeeded
	// webhook records it when the amounts match.
	Items    []checkout.Line
	Amount   int64
	Currency string
	// Pending is the order of an amount update that was sent to Stripe
	// and not confirmed (nil when none): if Stripe applied it and the
	// shopper paid that amount, the webhook records this order instead.
	Pending *checkout.Order
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

	// LockToken is the lease of the request holding the key ("" when
	// none); it holds until LeaseUntil.
	LockToken  string
	LeaseUntil time.Time

	CreatedAt     time.Time
	LastUsedAt    time.Time
	SyncedAt      time.Time // when the PaymentIntent was last learned from a Stripe answer; zero: re-read
	WebhookSeenAt time.Time // zero until a webhook told us about the PaymentIntent (webhooks never set SyncedAt)
}

// Held reports whether a request holds the key at now.
func (r *KeyRecord) Held(now time.Time) bool {
	return r.LockToken != "" && now.Before(r.LeaseUntil)
}

// Order returns the bound order.
func (r *KeyRecord) Order() checkout.Order {
	return checkout.Order{Items: r.Items, Amount: r.Amount, Currency: r.Currency}
}

// Aliases are per user. A nonce alias binds a first call's client nonce
// to the key it was issued; a rotation alias binds a key this user sent
// and that was rotated (unknown, another user's, expired, canceled, ...)
// to its one successor.
func AliasNonce(nonce string) string  { return "n:" + nonce }
func AliasRotation(key string) string { return "r:" + key }

// IsNonceAlias reports whether alias is a nonce alias.
func IsNonceAlias(alias string) bool { return strings.HasPrefix(alias, AliasNonce("")) }

// MaxAliasHops bounds the rotation aliases a store follows from one key
// (each hop is one rotation of the chain; a loop cannot happen, keys being
// new).
const MaxAliasHops = 16

// ClaimInput is the input of Store.ClaimKey.
type ClaimInput struct {
	UserID string
	Key    string // the key the client sent, "" when none
	Nonce  string // the first-call nonce, consulted when Key is ""
	// NonceSince: nonce aliases made before it are ignored (KEY_TTL ago).
	NonceSince time.Time
	Cart       []checkout.Item
	Now        time.Time
}

// Claim is what ClaimKey shows decide.
type Claim struct {
	Key string     // the resolved key, "" when the request speaks for none
	Cur *KeyRecord // its row, nil when there is none
}

// DecisionKind says what ClaimKey writes.
type DecisionKind int

// The decisions of ClaimKey.
const (
	DecideNone   DecisionKind = iota // write nothing
	DecideInsert                     // insert Record as a new key (held), bind Alias
	DecideLock                       // take the lease of the existing key
	DecideTouch                      // set last_used_at, store the cart
)

// Decision is what decide returns to ClaimKey; Outcome and Reason are the
// service's own and passed back untouched.
type Decision struct {
	Kind    DecisionKind
	Record  KeyRecord
	Alias   string
	Outcome Outcome
	Reason  string // why a key is rotated (metrics), "" otherwise
	// Resync: the previous holder's lease ran out while it held the key:
	// what it did at Stripe is unknown, so the PaymentIntent is re-read.
	Resync bool
}

// Outcome tells the service what to do after the claim.
type Outcome int

// Outcomes of a claim.
const (
	OutcomeIssue      Outcome = iota + 1 // new key (held): create the PaymentIntent
	OutcomeSync                          // held existing key: create, update or re-read the PaymentIntent
	OutcomeCancel                        // held existing key to rotate: cancel its PaymentIntent first
	OutcomeReplay                        // answer Record as it is
	OutcomeInProgress                    // 409 request_in_progress
	OutcomeCompleted                     // 409 payment_already_completed
)

// RecordInput is what RecordKey stores.
type RecordInput struct {
	Token string
	// PI is what Stripe reported about the key's PaymentIntent (ID ""
	// when nothing was learned). Its status is stored only moving
	// forward (StatusRank): a succeeded or canceled row keeps its status.
	PI PaymentIntent
	// Order, when not nil, is the order whose amount Stripe now holds: it
	// becomes the bound order and the pending order is cleared.
	Order *checkout.Order
	// Cart, when not nil, is stored as the user's cart.
	Cart []checkout.Item
	Now  time.Time
	// Sync records only what Stripe said about the PaymentIntent, even
	// that it is paid, and never moves last_used_at: the reaper's record,
	// which is not a shopper's request.
	Sync bool
}

// When the status stored after RecordKey is succeeded or processing, the
// request is refused and nothing but the lease is written (I4). When it is
// canceled, the PaymentIntent is stored but Order and Cart are not and
// last_used_at is not moved (the key rotates next). Otherwise last_used_at
// = Now. synced_at = Now when PI.ID is set.

// LeaseKind says what a lease holds.
type LeaseKind int

// Kinds of leases.
const (
	LeaseKey      LeaseKind = iota + 1 // an idempotency key, ID is the key
	LeaseCheckout                      // a user's hosted checkout, ID is the user id
)

// Lease names a lease a request holds.
type Lease struct {
	Kind  LeaseKind
	ID    string
	Token string
}

// ErrLeaseLost is returned by the fenced writes when the request's lease
// was taken over (or ran out).
var ErrLeaseLost = errors.New("lease lost: another request took the key over")

// CheckoutClaimInput is the input of Store.ClaimCheckout.
type CheckoutClaimInput struct {
	UserID     string
	Cart       []checkout.Item
	Token      string
	LeaseUntil time.Time
	Now        time.Time
}

// CheckoutClaim is what ClaimCheckout found.
type CheckoutClaim struct {
	// InProgress: another checkout of the user holds the lease until
	// LeaseUntil; nothing was written.
	InProgress bool
	LeaseUntil time.Time
	// Open lists the user's sessions that were open when last seen.
	Open []string
	// Last is the user's newest session id, "" when none.
	Last string
}

// CheckoutRecord is what RecordCheckout stores.
type CheckoutRecord struct {
	UserID string
	Token  string
	// Closed maps sessions that were open to the status Stripe now gives
	// them (SessionExpired or SessionComplete).
	Closed map[string]string
	// Session is the new session, stored with its own priced lines.
	Session *CheckoutSession
	Now     time.Time
}

// CheckoutSession is a hosted Checkout Session as the server stores it:
// with its own priced lines and total, which its order records.
type CheckoutSession struct {
	ID       string
	URL      string
	UserID   string
	Items    []checkout.Line
	Amount   int64
	Currency string
	Status   string // SessionOpen, SessionComplete, SessionExpired
}

// Checkout Session statuses.
const (
	SessionOpen     = "open"
	SessionComplete = "complete"
	SessionExpired  = "expired"
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

// StatusRank orders PaymentIntent statuses for invariant I5: a stored
// status is only ever replaced by one of higher rank (or, among the
// requires_* states, which Stripe moves between freely, by another of
// rank 0). Succeeded and canceled are final.
func StatusRank(status string) int {
	switch status {
	case "":
		return -1
	case StatusProcessing:
		return 1
	case StatusSucceeded, StatusCanceled:
		return 2
	}
	return 0
}

// ForwardStatus returns the status to store when next is learned for an
// intent stored with cur.
func ForwardStatus(cur, next string) string {
	if next == "" || StatusRank(next) < StatusRank(cur) || (StatusRank(cur) == 2 && next != cur) {
		return cur
	}
	return next
}

// Completed reports whether a PaymentIntent status means the payment is
// done or under way (rule 4: payment_already_completed).
func Completed(status string) bool { return status == StatusSucceeded || status == StatusProcessing }

// Event is a verified Stripe event reduced to what ApplyEvent needs.
//
// ApplyEvent, keyed by ID (each applied at most once):
//   - EventPaymentSucceeded: the key row bound to PaymentIntentID (or,
//     when none is yet, the row of metadata key OnechargeKey, binding it)
//     gets status succeeded and WebhookSeenAt, and one order is recorded
//     for the PaymentIntent (unique): the bound order when Amount and
//     Currency match it, else the pending order when they match that,
//     else status needs_review with the amount paid and the bound lines.
//     The owner's cart is emptied. A PaymentIntent with onecharge
//     metadata but no key row is recorded needs_review for metadata
//     user_id. A PaymentIntent without onecharge metadata (a hosted
//     checkout's) changes nothing: its session's event records it.
//   - EventPaymentFailed: status requires_payment_method, moving forward
//     only (a processing, succeeded or canceled intent keeps its status).
//   - EventPaymentCanceled: status canceled unless succeeded.
//   - EventCheckoutCompleted: one order for the stored session
//     CheckoutSessionID from its own lines, paid when Amount and Currency
//     match its total, else needs_review; the session is complete and the
//     owner's cart emptied. An unknown session is recorded needs_review
//     for ClientReferenceID when that is a user id.
//   - EventCheckoutExpired: the stored session becomes expired (if open).
//
// Unknown PaymentIntents and sessions are recorded as applied.
type Event struct {
	ID                string
	Type              string
	PaymentIntentID   string
	OnechargeKey      string // PaymentIntent metadata "onecharge_key"
	MetadataUserID    string // PaymentIntent metadata "user_id"
	Amount            int64  // received (succeeded) or requested amount; a session's amount_total
	Currency          string
	CheckoutSessionID string
	ClientReferenceID string
	Now               time.Time
}

// Event types the service handles.
const (
	EventPaymentSucceeded  = "payment_intent.succeeded"
	EventPaymentFailed     = "payment_intent.payment_failed"
	EventPaymentCanceled   = "payment_intent.canceled"
	EventCheckoutCompleted = "checkout.session.completed"
	EventCheckoutExpired   = "checkout.session.expired"
)

// EventResult is what ApplyEvent did.
type EventResult struct {
	Applied bool // false: the event id was applied before
	// Order is the order this event recorded, nil when none.
	Order *RecordedOrder
}

// RecordedOrder describes an order an event recorded.
type RecordedOrder struct {
	ID       string // the PaymentIntent or Checkout Session id
	UserID   string
	Status   string // checkout.OrderPaid or checkout.OrderNeedsReview
	Amount   int64  // as paid
	Currency string
	// Bound is the amount of the order the server had bound (the lines
	// recorded), for the needs_review log line; 0 when none.
	Bound int64
}

// Gateway is the payment provider: server/stripepay over stripe-go.
// Implementations translate provider errors at their edge: an unreachable,
// timed-out or misconfigured provider becomes ErrPaymentUnavailable, a
// rejected request ErrIntentFailed, a request refused for the object's
// state ErrUnexpectedState, an object Stripe does not have ErrNotFound.
type Gateway interface {
	// CreatePaymentIntent creates a PaymentIntent with Stripe's
	// Idempotency-Key set to p.IdempotencyKey.
	CreatePaymentIntent(ctx context.Context, p CreateIntentParams) (PaymentIntent, error)
	// UpdatePaymentIntent changes amount and currency of an intent.
	UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, idempotencyKey string) (PaymentIntent, error)
	// GetPaymentIntent re-reads an intent.
	GetPaymentIntent(ctx context.Context, id string) (PaymentIntent, error)
	// CancelPaymentIntent cancels an intent (reason "abandoned").
	CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (PaymentIntent, error)
	// CreateCheckoutSession creates a hosted Checkout Session.
	CreateCheckoutSession(ctx context.Context, p CheckoutSessionParams) (CheckoutSession, error)
	// ExpireCheckoutSession expires an open Checkout Session and returns
	// its status (ErrUnexpectedState when it is not open: then it is
	// re-read and its status returned with the error).
	ExpireCheckoutSession(ctx context.Context, id string) (status string, err error)
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

// Gateway errors, matched with errors.Is.
var (
	ErrPaymentUnavailable = errors.New("payment provider unavailable")
	ErrIntentFailed       = errors.New("payment intent rejected")
	ErrUnexpectedState    = errors.New("payment object in unexpected state")
	ErrNotFound           = errors.New("payment object not found")
	ErrBadSignature       = errors.New("webhook signature invalid")
)

// InProgressError is the 409 request_in_progress: another request holds
// the key (or the user's checkout) for about RetryAfter more.
type InProgressError struct {
	RetryAfter time.Duration
}

func (e *InProgressError) Error() string {
	return "request in progress: retry after " + e.RetryAfter.String()
}

// Unwrap makes the error read as the contract's request_in_progress.
func (e *InProgressError) Unwrap() error {
	return &checkout.Error{Code: checkout.CodeRequestInProgress, Message: checkout.MessageRequestInProgress}
}

// RetryAfterSeconds is the Retry-After header value: whole seconds, at
// least 1.
func (e *InProgressError) RetryAfterSeconds() string {
	s := int64((e.RetryAfter + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

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

// NormTime returns t as the stores keep a time (PostgreSQL's timestamptz):
// UTC, truncated to microseconds; the zero time stays zero.
func NormTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// OrderStatusOf maps a key row's PaymentIntent status to what GET
// /api/orders reports while no order is recorded for it: canceled is
// failed; anything else, a declined attempt included, is pending (the
// intent can still be paid; "paid" comes only with the recorded order).
func OrderStatusOf(piStatus string) string {
	if piStatus == StatusCanceled {
		return checkout.OrderFailed
	}
	return checkout.OrderPending
}

// SessionOrderStatusOf is OrderStatusOf for a Checkout Session with no
// recorded order: expired is failed, anything else pending.
func SessionOrderStatusOf(status string) string {
	if status == SessionExpired {
		return checkout.OrderFailed
	}
	return checkout.OrderPending
}
