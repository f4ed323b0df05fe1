package checkoutsvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Defaults of Service.
const (
	DefaultKeyTTL     = 24 * time.Hour
	DefaultLockLease  = 3 * time.Second
	DefaultStaleAfter = 5 * time.Second
	DefaultCurrency   = "usd"
	// releaseTimeout bounds the clean-up writes made after a failure, which
	// run even when the client's request was cancelled.
	releaseTimeout = 5 * time.Second
	// maxRounds bounds the claims one validation makes: a rotation takes
	// two (cancel the old intent, then issue), a vanished intent one more.
	maxRounds = 4
)

// Service is the checkout service. Set Store and Gateway, then call New.
type Service struct {
	Store   Store
	Gateway Gateway
	Logger  *slog.Logger
	Metrics Metrics

	// KeyTTL: a key unused for this long is rotated; a first-call nonce
	// is honoured this long.
	KeyTTL time.Duration
	// LockLease: how long a request holds a key (or a user's hosted
	// checkout) without renewing. A request renews it every LockLease/3
	// while it waits on Stripe; when its process dies the key is free
	// again LockLease later.
	LockLease time.Duration
	// StaleAfter: a PaymentIntent state learned longer ago than this, with
	// no webhook seen for it, is re-read from Stripe before a replay.
	StaleAfter time.Duration
	// Currency of an empty cart.
	Currency string

	Now    func() time.Time
	NewKey func() (string, error)
}

// New returns s with defaults filled in.
func New(s Service) *Service {
	if s.KeyTTL <= 0 {
		s.KeyTTL = DefaultKeyTTL
	}
	if s.LockLease <= 0 {
		s.LockLease = DefaultLockLease
	}
	if s.StaleAfter <= 0 {
		s.StaleAfter = DefaultStaleAfter
	}
	if s.Currency == "" {
		s.Currency = DefaultCurrency
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.NewKey == nil {
		s.NewKey = checkout.NewKey
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Metrics == nil {
		s.Metrics = NopMetrics{}
	}
	return &s
}

// Products returns the active catalog.
func (s *Service) Products(ctx context.Context) ([]checkout.Product, error) {
	return s.Store.Products(ctx)
}

// Cart returns the user's cart priced from the current catalog. Lines whose
// product left the catalog are dropped from the answer.
func (s *Service) Cart(ctx context.Context, userID string) (checkout.Cart, error) {
	items, updated, ok, err := s.Store.GetCart(ctx, userID)
	if err != nil || !ok {
		return checkout.Cart{Items: []checkout.Line{}, Currency: s.Currency}, err
	}
	products, err := s.Store.ProductsByID(ctx, productIDs(items))
	if err != nil {
		return checkout.Cart{}, err
	}
	cart := checkout.Cart{Items: []checkout.Line{}, Currency: s.Currency, UpdatedAt: updated}
	for _, it := range items {
		if p, ok := products[it.ProductID]; ok && p.Active {
			cart.Items = append(cart.Items, checkout.Line{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitAmount: p.UnitAmount})
			cart.Amount += p.UnitAmount * int64(it.Quantity)
			cart.Currency = p.Currency
		}
	}
	return cart, nil
}

// PutCart validates items and stores them as the user's one cart. An empty
// list empties the cart. A cart may hold more than Stripe can charge:
// that is refused when it is checked out.
func (s *Service) PutCart(ctx context.Context, userID string, items []checkout.Item) (checkout.Cart, error) {
	if items == nil {
		items = []checkout.Item{}
	}
	order := checkout.Order{Items: []checkout.Line{}, Currency: s.Currency}
	if len(items) > 0 {
		var err error
		if order, err = s.price(ctx, items); err != nil {
			return checkout.Cart{}, err
		}
	}
	updated, err := s.Store.UpsertCart(ctx, userID, items)
	if err != nil {
		return checkout.Cart{}, err
	}
	return checkout.Cart{Items: order.Items, Amount: order.Amount, Currency: order.Currency, UpdatedAt: updated}, nil
}

func (s *Service) price(ctx context.Context, items []checkout.Item) (checkout.Order, error) {
	if err := checkout.ValidateItems(items); err != nil {
		return checkout.Order{}, err
	}
	products, err := s.Store.ProductsByID(ctx, productIDs(items))
	if err != nil {
		return checkout.Order{}, err
	}
	return checkout.PriceItems(items, lookupIn(products))
}

// Validate is ValidateOrderItemsInsert (contract section 5). nonce is the
// request's Idempotency-Key header ("" when absent): a first call's client
// nonce, used only when req carries no key.
func (s *Service) Validate(ctx context.Context, userID string, req checkout.ValidateRequest, nonce string) (checkout.ValidateResponse, error) {
	// Rule 1: nothing is written for a rejected request.
	if err := req.Validate(); err != nil {
		return checkout.ValidateResponse{}, err
	}
	if nonce != "" {
		if err := checkout.ValidateNonce(nonce); err != nil {
			return checkout.ValidateResponse{}, err
		}
	}
	method := req.PaymentMethod
	key := req.IdempotencyKey
	if !method.UsesKey() {
		key, nonce = "", "" // rule 2: cash on delivery never touches keys
	} else if key != "" {
		nonce = "" // the key says it all
	}
	products, rec, err := s.Store.Lookup(ctx, productIDs(req.Items), key)
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	order, err := checkout.PriceItems(req.Items, lookupIn(products))
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	if err := checkout.ValidateChargeAmount(order.Amount, order.Currency); err != nil {
		return checkout.ValidateResponse{}, err
	}
	resp := checkout.ValidateResponse{Order: order, PaymentMethod: method}
	if !method.UsesKey() {
		_, err := s.Store.UpsertCart(ctx, userID, req.Items)
		return resp, err
	}

	now := s.Now()
	if rec != nil && s.replayable(rec, userID, method, order, now) {
		ok, err := s.Store.ReplayKey(ctx, *rec, req.Items, now)
		if err != nil {
			return checkout.ValidateResponse{}, err
		} else if ok {
			s.Metrics.KeyReplayed()
			return withIntent(resp, *rec), nil
		}
		// The row changed under us: take the full path.
	}
	r := &validation{s: s, userID: userID, items: req.Items, method: method, order: order, key: key, nonce: nonce}
	return r.run(ctx, resp)
}

// validation is one request of ValidateOrderItemsInsert on its full path.
type validation struct {
	s      *Service
	userID string
	items  []checkout.Item
	method checkout.PaymentMethod
	order  checkout.Order
	key    string // as sent
	nonce  string
	// reason is why the key is being rotated, kept from the round that
	// canceled its PaymentIntent to the round that issues the successor.
	reason string
}

// errRotate: the key's PaymentIntent can no longer be paid (canceled, or
// gone from Stripe) and that is recorded: the next claim rotates the key.
var errRotate = errors.New("rotate the key")

func (v *validation) run(ctx context.Context, resp checkout.ValidateResponse) (checkout.ValidateResponse, error) {
	s := v.s
	for round := 0; round < maxRounds; round++ {
		now := s.Now()
		newKey, err := s.NewKey()
		if err != nil {
			return checkout.ValidateResponse{}, fmt.Errorf("new key: %w", err)
		}
		token := newToken()
		dec, err := s.Store.ClaimKey(ctx, ClaimInput{
			UserID: v.userID, Key: v.key, Nonce: v.nonce, NonceSince: now.Add(-s.KeyTTL), Cart: v.items, Now: now,
		}, func(c Claim) Decision { return v.decide(c, now, newKey, token) })
		if err != nil {
			return checkout.ValidateResponse{}, err
		}
		var rec KeyRecord
		switch dec.Outcome {
		case OutcomeInProgress:
			return checkout.ValidateResponse{}, s.inProgress(dec.Record.LeaseUntil.Sub(now))
		case OutcomeCompleted:
			s.Metrics.Refused(string(checkout.CodePaymentAlreadyCompleted))
			return checkout.ValidateResponse{}, checkout.ErrAlreadyCompleted
		case OutcomeReplay:
			s.Metrics.KeyReplayed()
			return withIntent(resp, dec.Record), nil
		case OutcomeIssue:
			if dec.Reason != "" {
				s.Metrics.KeyRotated(dec.Reason)
				s.Logger.Info("idempotency key rotated", "reason", dec.Reason, "new_key_prefix", keyPrefix(dec.Record.Key))
			} else {
				s.Metrics.KeyIssued()
			}
			rec, err = v.sync(ctx, dec.Record, false)
		case OutcomeSync:
			rec, err = v.sync(ctx, dec.Record, dec.Resync)
		case OutcomeCancel:
			v.reason = dec.Reason
			err = v.cancel(ctx, dec.Record, dec.Reason)
		default:
			return checkout.ValidateResponse{}, fmt.Errorf("claim: unknown outcome %d", dec.Outcome)
		}
		if errors.Is(err, errRotate) {
			continue
		} else if err != nil {
			return checkout.ValidateResponse{}, err
		}
		return withIntent(resp, rec), nil
	}
	return checkout.ValidateResponse{}, errors.New("validate: the key kept changing: too many rounds")
}

// decide applies rules 4 to 7 to the claimed key, its row held
// exclusively. Its order matters: a foreign or unknown key is rotated
// before anything of it is looked at (it reveals nothing); completion is
// checked before expiry (rule 4 before rule 5).
func (v *validation) decide(c Claim, now time.Time, newKey, token string) Decision {
	s := v.s
	cur := c.Cur
	lease := now.Add(s.LockLease)
	issue := func(reason string) Decision {
		rec := KeyRecord{
			Key: newKey, UserID: v.userID, PaymentMethod: v.method,
			Items: v.order.Items, Amount: v.order.Amount, Currency: v.order.Currency,
			CreateAmount: v.order.Amount, CreateCurrency: v.order.Currency,
			LockToken: token, LeaseUntil: lease, CreatedAt: now, LastUsedAt: now,
		}
		d := Decision{Kind: DecideInsert, Record: rec, Outcome: OutcomeIssue, Reason: reason}
		switch {
		case c.Key != "":
			d.Alias = AliasRotation(c.Key)
		case v.nonce != "":
			d.Alias = AliasNonce(v.nonce)
		}
		return d
	}
	switch {
	case cur == nil && c.Key == "":
		return issue("") // rule 3
	case cur == nil:
		return issue("unknown") // rule 5
	case cur.UserID != v.userID:
		return issue("foreign")
	case cur.Held(now):
		return Decision{Kind: DecideNone, Record: *cur, Outcome: OutcomeInProgress} // rule 7
	case Completed(cur.PIStatus):
		return Decision{Kind: DecideNone, Record: *cur, Outcome: OutcomeCompleted} // rule 4
	case cur.PIStatus == StatusCanceled:
		if v.reason != "" {
			return issue(v.reason) // canceled by this request, for that reason
		}
		return issue("canceled")
	}
	expired := now.Sub(cur.LastUsedAt) > s.KeyTTL
	if expired || cur.PaymentMethod != v.method {
		reason := "expired"
		if !expired {
			reason = "other_method"
		}
		if cur.PaymentIntentID == "" {
			// No PaymentIntent was ever handed out for it: nothing to cancel.
			return issue(reason)
		}
		rec := *cur
		rec.LockToken, rec.LeaseUntil = token, lease
		return Decision{Kind: DecideLock, Record: rec, Outcome: OutcomeCancel, Reason: reason}
	}
	if cur.LockToken == "" && s.replayable(cur, v.userID, v.method, v.order, now) {
		return Decision{Kind: DecideTouch, Record: *cur, Outcome: OutcomeReplay} // rule 6
	}
	rec := *cur
	rec.LockToken, rec.LeaseUntil = token, lease
	// A lock token left behind is a holder that died or stalled: what it
	// did at Stripe is unknown.
	return Decision{Kind: DecideLock, Record: rec, Outcome: OutcomeSync, Resync: cur.LockToken != ""}
}

// replayable reports whether rec can be answered as it is: the user's own,
// unheld, unexpired key for this method whose PaymentIntent exists for
// this very order, whose bound order is this order, and whose state is
// fresh.
func (s *Service) replayable(rec *KeyRecord, userID string, method checkout.PaymentMethod, order checkout.Order, now time.Time) bool {
	return rec.UserID == userID && rec.PaymentMethod == method && rec.LockToken == "" &&
		now.Sub(rec.LastUsedAt) <= s.KeyTTL && rec.PaymentIntentID != "" &&
		StatusRank(rec.PIStatus) == 0 &&
		rec.PIAmount == order.Amount && rec.PICurrency == order.Currency &&
		sameOrder(rec.Order(), order) && s.fresh(rec, now)
}

func sameOrder(a, b checkout.Order) bool {
	return a.Amount == b.Amount && a.Currency == b.Currency && slices.Equal(a.Items, b.Items)
}

// fresh reports whether rec's PaymentIntent state can be answered without
// asking Stripe: it was synced from a Stripe answer (and not marked stale
// since), and either a webhook has told us about the intent since or the
// sync is recent. A webhook alone never makes a state fresh: events carry
// statuses, and a request that lost its lease may have changed the amount
// (MarkStale), which only a Stripe answer can set right.
func (s *Service) fresh(rec *KeyRecord, now time.Time) bool {
	return !rec.SyncedAt.IsZero() && (!rec.WebhookSeenAt.IsZero() || now.Sub(rec.SyncedAt) < s.StaleAfter)
}

// sync is phases two and three for a held key: make Stripe's PaymentIntent
// match the order, then record it and release the lease. resync forces a
// re-read of the intent first.
func (v *validation) sync(ctx context.Context, rec KeyRecord, resync bool) (KeyRecord, error) {
	s := v.s
	h := s.hold(ctx, Lease{Kind: LeaseKey, ID: rec.Key, Token: rec.LockToken}, rec.LeaseUntil)
	defer h.stop()

	var pi PaymentIntent
	var err error
	switch {
	case rec.PaymentIntentID == "":
		pi, err = s.createIntent(h.ctx, h, rec)
	case resync || !s.fresh(&rec, s.Now()):
		pi, err = s.getIntent(h.ctx, h, rec.PaymentIntentID)
	default:
		pi = PaymentIntent{ID: rec.PaymentIntentID, ClientSecret: rec.ClientSecret, Status: rec.PIStatus, Amount: rec.PIAmount, Currency: rec.PICurrency}
	}
	if err != nil {
		// A create or a read that failed changed nothing we rely on: a
		// repeated create replays Stripe's first answer.
		return KeyRecord{}, v.fail(ctx, h, rec, err, false)
	}
	if done, err := v.settled(ctx, h, rec, pi); done {
		return KeyRecord{}, err
	}
	if pi.Amount != v.order.Amount || pi.Currency != v.order.Currency {
		// Rule 6: same key, new amount: update the one PaymentIntent.
		// Updates set absolute values, so repeating one is harmless. The
		// order is kept as pending first: if the update lands and its
		// answer is lost, a payment of that amount still finds its order.
		order := v.order
		if err := s.Store.SetPending(ctx, rec.Key, rec.LockToken, &order); err != nil {
			return KeyRecord{}, v.recordFailed(ctx, h, rec, err, false)
		}
		updated, err := s.updateIntent(h.ctx, h, pi.ID, v.order)
		if errors.Is(err, ErrUnexpectedState) {
			// Stripe refused: the intent moved on (paid, processing,
			// canceled), and the update was not applied: the pending order
			// goes back to what it was, so that a refusal writes nothing.
			fresh, getErr := s.getIntent(h.ctx, h, pi.ID)
			if getErr == nil && (Completed(fresh.Status) || fresh.Status == StatusCanceled) {
				if err := s.Store.SetPending(ctx, rec.Key, rec.LockToken, rec.Pending); err != nil {
					return KeyRecord{}, v.recordFailed(ctx, h, rec, err, false)
				}
				if done, err := v.settled(ctx, h, rec, fresh); done {
					return KeyRecord{}, err
				}
			}
			return KeyRecord{}, v.fail(ctx, h, rec, err, true)
		} else if err != nil {
			return KeyRecord{}, v.fail(ctx, h, rec, err, true)
		}
		pi = updated
		s.Metrics.IntentUpdated()
	}
	order := v.order
	stored, err := s.Store.RecordKey(ctx, rec.Key, RecordInput{Token: rec.LockToken, PI: pi, Order: &order, Cart: v.items, Now: s.Now()})
	if err != nil {
		return KeyRecord{}, v.recordFailed(ctx, h, rec, err, true)
	}
	if Completed(stored.PIStatus) || Completed(pi.Status) { // a webhook won the race
		s.Metrics.Refused(string(checkout.CodePaymentAlreadyCompleted))
		return KeyRecord{}, checkout.ErrAlreadyCompleted
	}
	if stored.PIStatus == StatusCanceled {
		return KeyRecord{}, errRotate
	}
	return stored, nil
}

// settled handles a PaymentIntent that can no longer take this order:
// succeeded or processing (409 payment_already_completed), canceled
// (recorded, then the key rotates). A refusal writes nothing (I4): the
// lease is released and the status is left for the webhook (or the next
// request, which asks Stripe again). For an intent still open it does
// nothing.
func (v *validation) settled(ctx context.Context, h *hold, rec KeyRecord, pi PaymentIntent) (bool, error) {
	s := v.s
	switch {
	case Completed(pi.Status):
		s.release(ctx, rec, false)
		s.Metrics.Refused(string(checkout.CodePaymentAlreadyCompleted))
		return true, checkout.ErrAlreadyCompleted
	case pi.Status == StatusCanceled:
		if _, err := s.Store.RecordKey(ctx, rec.Key, RecordInput{Token: rec.LockToken, PI: pi, Now: s.Now()}); err != nil {
			return true, v.recordFailed(ctx, h, rec, err, false)
		}
		return true, errRotate
	}
	return false, nil
}

// fail ends a request whose Stripe call failed: the lease is released
// (stale: the call may have changed the intent), a vanished intent is
// recorded canceled so that the key rotates. A request whose lease was
// lost before its call is a 409 (it wrote nothing); after a call that
// may have changed the intent it is a 502, and its successor re-reads.
func (v *validation) fail(ctx context.Context, h *hold, rec KeyRecord, err error, stale bool) error {
	s := v.s
	if h.lost() {
		if stale && !errors.Is(err, ErrLeaseLost) { // the call was made and may have landed
			s.markStale(ctx, rec.Key)
			return &checkout.Error{Code: checkout.CodePaymentUnavailable, Message: checkout.MessagePaymentUnavailable}
		}
		return s.inProgress(s.LockLease)
	}
	if errors.Is(err, ErrNotFound) && rec.PaymentIntentID != "" {
		// Rule 5: the PaymentIntent no longer exists at Stripe. Nobody can
		// pay it: record it canceled, which rotates the key.
		gone := PaymentIntent{ID: rec.PaymentIntentID, Status: StatusCanceled, Amount: rec.PIAmount, Currency: rec.PICurrency, ClientSecret: rec.ClientSecret}
		if _, rerr := s.Store.RecordKey(ctx, rec.Key, RecordInput{Token: rec.LockToken, PI: gone, Now: s.Now()}); rerr != nil {
			return v.recordFailed(ctx, h, rec, rerr, false)
		}
		s.Logger.Warn("payment intent vanished at Stripe: rotating its key", "payment_intent", rec.PaymentIntentID)
		v.reason = "vanished"
		return errRotate
	}
	s.release(ctx, rec, stale)
	return err
}

// recordFailed handles a failed fenced write. A lost lease after a Stripe
// call that changed something (changed) makes the successor re-read the
// intent (our call may have landed after its own) and is a 502; before
// any such call it is a 409 that wrote nothing. Anything else releases
// the lease.
func (v *validation) recordFailed(ctx context.Context, h *hold, rec KeyRecord, err error, changed bool) error {
	s := v.s
	if errors.Is(err, ErrLeaseLost) {
		if !changed {
			return s.inProgress(s.LockLease)
		}
		s.Logger.Warn("lease lost before recording: the successor re-reads the intent", "key_prefix", keyPrefix(rec.Key))
		s.markStale(ctx, rec.Key)
		return &checkout.Error{Code: checkout.CodePaymentUnavailable, Message: checkout.MessagePaymentUnavailable}
	}
	s.release(ctx, rec, true)
	return err
}

// cancel is the first half of rotating the user's own key (expired, or
// issued for the other payment method): its PaymentIntent is canceled at
// Stripe so that an old tab cannot pay it (I2), then recorded; the next
// claim issues the successor. If Stripe says it was paid meanwhile, the
// answer is payment_already_completed.
func (v *validation) cancel(ctx context.Context, rec KeyRecord, reason string) error {
	s := v.s
	h := s.hold(ctx, Lease{Kind: LeaseKey, ID: rec.Key, Token: rec.LockToken}, rec.LeaseUntil)
	defer h.stop()
	pi, err := s.cancelIntent(h.ctx, h, rec.PaymentIntentID, StripeCancelKey(rec.Key))
	if errors.Is(err, ErrUnexpectedState) {
		// Succeeded, processing or already canceled: ask.
		pi, err = s.getIntent(h.ctx, h, rec.PaymentIntentID)
	}
	if err != nil {
		return v.fail(ctx, h, rec, err, true)
	}
	if done, err := v.settled(ctx, h, rec, pi); done {
		if errors.Is(err, errRotate) {
			s.Logger.Info("payment intent canceled for rotation", "reason", reason, "payment_intent", pi.ID)
		}
		return err
	}
	// Still open (Stripe never answers a cancel like that): leave it.
	s.release(ctx, rec, true)
	return &checkout.Error{Code: checkout.CodePaymentUnavailable, Message: checkout.MessagePaymentUnavailable}
}

// Stripe calls, each checking the lease first and reporting to Metrics.

func (s *Service) createIntent(ctx context.Context, h *hold, rec KeyRecord) (PaymentIntent, error) {
	pi, err := s.intentCall(h, "create_payment_intent", "create payment intent", true, func() (PaymentIntent, error) {
		return s.Gateway.CreatePaymentIntent(ctx, CreateIntentParams{
			Amount:         rec.CreateAmount,
			Currency:       rec.CreateCurrency,
			IdempotencyKey: StripeCreateKey(rec.Key),
			Metadata: map[string]string{
				"onecharge_key":  rec.Key,
				"user_id":        rec.UserID,
				"payment_method": string(rec.PaymentMethod),
			},
		})
	})
	if err == nil {
		s.Metrics.IntentCreated()
	}
	return pi, err
}

func (s *Service) getIntent(ctx context.Context, h *hold, id string) (PaymentIntent, error) {
	return s.intentCall(h, "retrieve_payment_intent", "retrieve payment intent", false, func() (PaymentIntent, error) {
		return s.Gateway.GetPaymentIntent(ctx, id)
	})
}

func (s *Service) updateIntent(ctx context.Context, h *hold, id string, order checkout.Order) (PaymentIntent, error) {
	return s.intentCall(h, "update_payment_intent", "update payment intent", false, func() (PaymentIntent, error) {
		return s.Gateway.UpdatePaymentIntent(ctx, id, order.Amount, order.Currency, "")
	})
}

func (s *Service) cancelIntent(ctx context.Context, h *hold, id, idemKey string) (PaymentIntent, error) {
	return s.intentCall(h, "cancel_payment_intent", "cancel payment intent", false, func() (PaymentIntent, error) {
		return s.Gateway.CancelPaymentIntent(ctx, id, idemKey)
	})
}

// intentCall makes one call about a PaymentIntent while h holds the lease:
// timed and counted as op, its error turned into the contract's by
// gatewayError (what names it; creating as gatewayError's).
func (s *Service) intentCall(h *hold, op, what string, creating bool, call func() (PaymentIntent, error)) (PaymentIntent, error) {
	if err := h.check(); err != nil {
		return PaymentIntent{}, err
	}
	start := time.Now()
	pi, err := call()
	s.stripeCall(op, start, err)
	if err != nil {
		return PaymentIntent{}, s.gatewayError(what, err, creating)
	}
	return pi, nil
}

func (s *Service) stripeCall(op string, start time.Time, err error) {
	s.Metrics.StripeCall(op, outcomeOf(err), time.Since(start))
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrUnexpectedState):
		return "unexpected_state"
	case errors.Is(err, ErrIntentFailed):
		return "rejected"
	}
	return "unavailable"
}

// StripeCreateKey is the Stripe Idempotency-Key of the PaymentIntent create
// for our key: stable, so a repeated create replays the first.
func StripeCreateKey(key string) string { return "onecharge-pi-create-" + key }

// StripeCancelKey is the Stripe Idempotency-Key of the cancel of our key's
// PaymentIntent (by a rotation or the reaper).
func StripeCancelKey(key string) string { return "onecharge-pi-cancel-" + key }

// gatewayError turns a gateway error into the contract's 502s, keeping
// the gateway's sentinel (ErrNotFound, ErrUnexpectedState, ...) in the
// chain for the service's own decisions.
func (s *Service) gatewayError(op string, err error, creating bool) error {
	s.Logger.Warn("stripe call failed", "op", op, "err", err)
	code, msg := checkout.CodePaymentUnavailable, checkout.MessagePaymentUnavailable
	if creating && !errors.Is(err, ErrPaymentUnavailable) {
		code, msg = checkout.CodePaymentIntentFailed, checkout.MessageIntentFailed
	}
	return &gatewayErr{public: &checkout.Error{Code: code, Message: msg}, cause: err}
}

// gatewayErr is a Stripe failure: it reads as its public *checkout.Error
// (errors.As) and still matches the gateway's sentinels (errors.Is).
type gatewayErr struct {
	public *checkout.Error
	cause  error
}

func (e *gatewayErr) Error() string   { return e.public.Error() + ": " + e.cause.Error() }
func (e *gatewayErr) Unwrap() []error { return []error{e.public, e.cause} }

func (s *Service) inProgress(retryAfter time.Duration) error {
	s.Metrics.Refused(string(checkout.CodeRequestInProgress))
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	return &InProgressError{RetryAfter: retryAfter}
}

// release clears rec's lease after a failure, even when ctx is already
// cancelled, unless another request has taken it over since.
func (s *Service) release(ctx context.Context, rec KeyRecord, stale bool) {
	s.cleanup(ctx, "release idempotency key", func(ctx context.Context) error {
		return s.Store.ReleaseKey(ctx, rec.Key, rec.LockToken, stale)
	})
}

func (s *Service) markStale(ctx context.Context, key string) {
	s.cleanup(ctx, "mark idempotency key stale", func(ctx context.Context) error { return s.Store.MarkStale(ctx, key) })
}

// cleanup makes a store write that must happen even when the request's
// context has ended, within releaseTimeout; a failure is logged (a lease
// not released runs out by itself).
func (s *Service) cleanup(ctx context.Context, what string, write func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := write(ctx); err != nil {
		s.Logger.Error(what, "err", err)
	}
}

// hold keeps a lease while its request waits on Stripe: a goroutine renews
// it every LockLease/3, and the first renewal that fails because the lease
// was lost (taken over, or run out) cancels ctx, so that a Stripe call not
// sent yet never is. Stop it with stop (also on panic: a deferred stop is
// what a dead process looks like, a lease nobody renews).
type hold struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	s      *Service
	lease  Lease
	until  atomic.Int64 // the lease's end as last renewed, UnixNano on s.Now's clock
}

var errLostLease = errors.New("the lease was lost")

func (s *Service) hold(parent context.Context, l Lease, until time.Time) *hold {
	ctx, cancel := context.WithCancelCause(parent)
	h := &hold{ctx: ctx, cancel: cancel, done: make(chan struct{}), s: s, lease: l}
	h.until.Store(until.UnixNano())
	go h.renew()
	return h
}

func (h *hold) renew() {
	t := time.NewTicker(h.s.LockLease / 3)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		now := h.s.Now()
		until := now.Add(h.s.LockLease)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), h.s.LockLease/3)
		err := h.s.Store.RenewLease(ctx, h.lease, now, until)
		cancel()
		switch {
		case err == nil:
			h.until.Store(until.UnixNano())
		case errors.Is(err, ErrLeaseLost):
			h.s.Logger.Warn("lease lost while waiting on Stripe", "kind", h.lease.Kind)
			h.cancel(errLostLease)
			return
		default:
			// The store did not answer: keep trying; if the lease runs out
			// meanwhile, check fails and the fenced writes refuse.
			h.s.Logger.Warn("renew lease", "err", err)
		}
	}
}

// check reports whether the lease still holds, as far as this request
// knows: before each Stripe call, so that a request that stalled past its
// lease does not call Stripe after its successor did.
func (h *hold) check() error {
	if h.lost() {
		return fmt.Errorf("%w: %w", ErrLeaseLost, ErrPaymentUnavailable)
	}
	return h.ctx.Err()
}

func (h *hold) lost() bool {
	return context.Cause(h.ctx) == errLostLease || !h.s.Now().Before(time.Unix(0, h.until.Load()))
}

func (h *hold) stop() {
	close(h.done)
	h.cancel(nil)
}

// newToken returns a fresh lease token.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// keyPrefix is what logs show of a key: enough to correlate, not enough
// to use.
func keyPrefix(key string) string {
	if len(key) > 10 {
		return key[:10]
	}
	return key
}

// Checkout creates a hosted Checkout Session for items after storing them
// as the user's cart. baseURL is where Stripe sends the shopper back. The
// session is stored with its own priced lines (its order records those,
// whatever the cart becomes), the user's previous open sessions are
// expired at Stripe first (one payable session at a time), and the create
// carries a Stripe Idempotency-Key derived from the user, the lines and
// the user's newest session, so a retry after a crash gets the same
// session.
func (s *Service) Checkout(ctx context.Context, userID string, items []checkout.Item, baseURL string) (checkout.CheckoutResponse, error) {
	order, err := s.price(ctx, items)
	if err != nil {
		return checkout.CheckoutResponse{}, err
	}
	if err := checkout.ValidateChargeAmount(order.Amount, order.Currency); err != nil {
		return checkout.CheckoutResponse{}, err
	}
	now := s.Now()
	token := newToken()
	claim, err := s.Store.ClaimCheckout(ctx, CheckoutClaimInput{UserID: userID, Cart: items, Token: token, LeaseUntil: now.Add(s.LockLease), Now: now})
	if err != nil {
		return checkout.CheckoutResponse{}, err
	}
	if claim.InProgress {
		return checkout.CheckoutResponse{}, s.inProgress(claim.LeaseUntil.Sub(now))
	}
	h := s.hold(ctx, Lease{Kind: LeaseCheckout, ID: userID, Token: token}, now.Add(s.LockLease))
	defer h.stop()
	fail := func(err error) (checkout.CheckoutResponse, error) {
		s.cleanup(ctx, "release checkout", func(ctx context.Context) error { return s.Store.ReleaseCheckout(ctx, userID, token) })
		if h.lost() {
			return checkout.CheckoutResponse{}, s.inProgress(s.LockLease)
		}
		return checkout.CheckoutResponse{}, err
	}

	closed := map[string]string{}
	for _, id := range claim.Open {
		if err := h.check(); err != nil {
			return fail(err)
		}
		start := time.Now()
		status, err := s.Gateway.ExpireCheckoutSession(h.ctx, id)
		s.stripeCall("expire_checkout_session", start, err)
		switch {
		case err == nil, errors.Is(err, ErrUnexpectedState) && status != "" && status != SessionOpen:
			closed[id] = status
		case errors.Is(err, ErrNotFound):
			closed[id] = SessionExpired
		default:
			return fail(s.gatewayError("expire checkout session", err, false))
		}
	}
	if err := h.check(); err != nil {
		return fail(err)
	}
	start := time.Now()
	sess, err := s.Gateway.CreateCheckoutSession(h.ctx, CheckoutSessionParams{
		Lines:          order.Items,
		Currency:       order.Currency,
		SuccessURL:     baseURL + "/?checkout=success&session_id={CHECKOUT_SESSION_ID}",
		CancelURL:      baseURL + "/?checkout=canceled",
		ClientRefID:    userID,
		IdempotencyKey: checkoutIdempotencyKey(userID, order, claim.Last, baseURL),
	})
	s.stripeCall("create_checkout_session", start, err)
	if err != nil {
		return fail(s.gatewayError("create checkout session", err, false))
	}
	if _, wasClosed := closed[sess.ID]; wasClosed {
		// Stripe replayed a session this very checkout expired: the
		// Idempotency-Key was not new. Never hand out a dead session.
		return fail(fmt.Errorf("checkout: Stripe replayed the closed session %s", sess.ID))
	}
	sess.UserID, sess.Items, sess.Amount, sess.Currency, sess.Status = userID, order.Items, order.Amount, order.Currency, SessionOpen
	err = s.Store.RecordCheckout(ctx, CheckoutRecord{UserID: userID, Token: token, Closed: closed, Session: &sess, Now: s.Now()})
	if errors.Is(err, ErrLeaseLost) {
		return checkout.CheckoutResponse{}, s.inProgress(s.LockLease)
	} else if err != nil {
		return fail(err)
	}
	return checkout.CheckoutResponse{URL: sess.URL, SessionID: sess.ID}, nil
}

// checkoutIdempotencyKey derives the Stripe Idempotency-Key of a session
// create from the user, the priced order, the user's newest session and
// the base of the session's return URLs: the same checkout retried after
// a crash replays Stripe's first answer, while the next checkout (after
// that session was stored) is a new one. Every parameter of the create is
// covered: a retry through another of the shop's addresses (its return
// URLs differ) is a new create, where reusing the key would have Stripe
// refuse it (idempotency_error) on every retry.
func checkoutIdempotencyKey(userID string, order checkout.Order, last, baseURL string) string {
	h := sha256.New()
	h.Write([]byte(userID + "\x00" + order.Currency + "\x00" + last + "\x00" + baseURL))
	for _, l := range order.Items {
		h.Write([]byte("\x00" + l.ProductID + "\x00" + strconv.Itoa(l.Quantity) + "\x00" + strconv.FormatInt(l.UnitAmount, 10)))
	}
	return "onecharge-cs-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Order returns the order paid or pending through id (a PaymentIntent or
// Checkout Session id), for its owner only. A malformed id is not found
// without asking the store.
func (s *Service) Order(ctx context.Context, userID, id string) (checkout.OrderStatus, error) {
	notFound := &checkout.Error{Code: checkout.CodeNotFound, Message: checkout.MessageNotFound}
	if !checkout.ValidOrderID(id) {
		return checkout.OrderStatus{}, notFound
	}
	o, ok, err := s.Store.GetOrder(ctx, userID, id)
	if err != nil {
		return o, err
	} else if !ok {
		return o, notFound
	}
	if o.Items == nil {
		o.Items = []checkout.Line{}
	}
	return o, nil
}

// HandleWebhook verifies and applies one Stripe event, at most once. It
// reports false for an event id seen before. A payment that matches no
// order the server bound to it is recorded needs_review, logged at error
// level and counted (I1).
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) (applied bool, err error) {
	ev, err := s.Gateway.ParseEvent(payload, signature)
	if err != nil {
		s.Logger.Warn("webhook rejected", "err", err)
		s.Metrics.Webhook("unknown", "invalid_signature")
		return false, &checkout.Error{Code: checkout.CodeInvalidSignature, Message: "The Stripe-Signature header does not verify."}
	}
	ev.Now = s.Now()
	res, err := s.Store.ApplyEvent(ctx, ev)
	if err != nil {
		s.Metrics.Webhook(ev.Type, "error")
		return false, err
	}
	outcome := "applied"
	if !res.Applied {
		outcome = "duplicate"
	}
	s.Metrics.Webhook(ev.Type, outcome)
	if o := res.Order; o != nil {
		s.Metrics.OrderRecorded(o.Status)
		if o.Status == checkout.OrderNeedsReview {
			s.Logger.Error("payment matches no order bound to it: recorded needs_review",
				"order", o.ID, "paid", o.Amount, "currency", o.Currency, "bound_amount", o.Bound, "event", ev.ID)
		}
	}
	s.Logger.Info("webhook", "event", ev.ID, "type", ev.Type, "payment_intent", ev.PaymentIntentID, "applied", res.Applied)
	return res.Applied, nil
}

func withIntent(resp checkout.ValidateResponse, rec KeyRecord) checkout.ValidateResponse {
	resp.IdempotencyKey = rec.Key
	resp.PaymentIntent = &checkout.PaymentIntent{
		ID: rec.PaymentIntentID, ClientSecret: rec.ClientSecret, Status: rec.PIStatus,
		Amount: rec.PIAmount, Currency: rec.PICurrency,
	}
	return resp
}

func productIDs(items []checkout.Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	return ids
}

func lookupIn(m map[string]checkout.Product) func(string) (checkout.Product, bool) {
	return func(id string) (checkout.Product, bool) { p, ok := m[id]; return p, ok }
}
