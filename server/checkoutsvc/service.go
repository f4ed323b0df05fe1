package checkoutsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Defaults of Service.
const (
	DefaultKeyTTL      = 24 * time.Hour
	DefaultLockTimeout = 30 * time.Second
	DefaultStaleAfter  = 5 * time.Second
	DefaultCurrency    = "usd"
	// releaseTimeout bounds the clean-up writes made after a failure, which
	// run even when the client's request was cancelled.
	releaseTimeout = 5 * time.Second
)

// Service is the checkout service. Set Store and Gateway, then call New.
type Service struct {
	Store   Store
	Gateway Gateway
	Logger  *slog.Logger

	// KeyTTL: a key unused for this long is rotated.
	KeyTTL time.Duration
	// LockTimeout: a key locked for longer than this by a request that
	// never finished is taken over by the next one.
	LockTimeout time.Duration
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
	if s.LockTimeout <= 0 {
		s.LockTimeout = DefaultLockTimeout
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
// list empties the cart.
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
	updated, err := s.Store.UpsertCart(ctx, userID, items, "")
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

// Validate is ValidateOrderItemsInsert (contract section 5).
func (s *Service) Validate(ctx context.Context, userID string, req checkout.ValidateRequest) (checkout.ValidateResponse, error) {
	// Rule 1: nothing is written for a rejected request.
	if err := req.Validate(); err != nil {
		return checkout.ValidateResponse{}, err
	}
	method := req.PaymentMethod
	key := req.IdempotencyKey
	if !method.UsesKey() {
		key = "" // rule 2: cash on delivery never touches keys
	}
	products, rec, err := s.Store.Lookup(ctx, productIDs(req.Items), key)
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	order, err := checkout.PriceItems(req.Items, lookupIn(products))
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	resp := checkout.ValidateResponse{Order: order, PaymentMethod: method}
	if !method.UsesKey() {
		_, err := s.Store.UpsertCart(ctx, userID, req.Items, "")
		return resp, err
	}

	now := s.Now()
	if rec != nil && s.replayable(rec, userID, method, order, now) {
		ok, err := s.Store.ReplayKey(ctx, *rec, req.Items, now)
		if err != nil {
			return checkout.ValidateResponse{}, err
		} else if ok {
			return withIntent(resp, *rec), nil
		}
		// The row changed under us: take the full path.
	}
	return s.claimAndSync(ctx, userID, req.Items, key, method, order, resp, now, true)
}

func (s *Service) claimAndSync(ctx context.Context, userID string, items []checkout.Item, key string, method checkout.PaymentMethod,
	order checkout.Order, resp checkout.ValidateResponse, now time.Time, mayRotate bool) (checkout.ValidateResponse, error) {
	newKey, err := s.NewKey()
	if err != nil {
		return checkout.ValidateResponse{}, fmt.Errorf("new key: %w", err)
	}
	dec, err := s.Store.ClaimKey(ctx, ClaimInput{UserID: userID, Key: key, Cart: items, Now: now},
		func(cur *KeyRecord) Decision { return s.decide(cur, userID, method, order, now, newKey) })
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	switch dec.Outcome {
	case OutcomeInProgress:
		return checkout.ValidateResponse{}, &checkout.Error{Code: checkout.CodeRequestInProgress, Message: checkout.MessageRequestInProgress}
	case OutcomeCompleted:
		return checkout.ValidateResponse{}, checkout.ErrAlreadyCompleted
	case OutcomeReplay:
		return withIntent(resp, dec.Record), nil
	}
	rec, err := s.sync(ctx, dec.Record, order, now)
	if errors.Is(err, errCanceled) && mayRotate {
		// The PaymentIntent was canceled behind our back (rule 4): the
		// recorded status makes the next claim rotate the key.
		return s.claimAndSync(ctx, userID, items, dec.Record.Key, method, order, resp, s.Now(), false)
	} else if err != nil {
		return checkout.ValidateResponse{}, err
	}
	return withIntent(resp, rec), nil
}

// decide applies rules 4 to 7 to the key row cur, held exclusively.
func (s *Service) decide(cur *KeyRecord, userID string, method checkout.PaymentMethod, order checkout.Order, now time.Time, newKey string) Decision {
	if cur == nil || cur.UserID != userID || cur.PaymentMethod != method ||
		now.Sub(cur.LastUsedAt) > s.KeyTTL || cur.PIStatus == StatusCanceled {
		// Rules 3 and 4: issue, or rotate. A foreign row is never read further.
		rec := KeyRecord{
			Key: newKey, UserID: userID, PaymentMethod: method,
			Items: order.Items, Amount: order.Amount, Currency: order.Currency,
			CreateAmount: order.Amount, CreateCurrency: order.Currency,
			LockedAt: now, CreatedAt: now, LastUsedAt: now,
		}
		return Decision{Kind: DecideInsert, Record: rec, Outcome: OutcomeIssue}
	}
	if !cur.LockedAt.IsZero() && now.Sub(cur.LockedAt) < s.LockTimeout {
		return Decision{Kind: DecideNone, Record: *cur, Outcome: OutcomeInProgress} // rule 7
	}
	if completed(cur.PIStatus) {
		return Decision{Kind: DecideNone, Record: *cur, Outcome: OutcomeCompleted} // rule 5
	}
	if s.replayable(cur, userID, method, order, now) {
		return Decision{Kind: DecideTouch, Record: *cur, Outcome: OutcomeReplay} // rule 6
	}
	rec := *cur
	rec.Items, rec.Amount, rec.Currency = order.Items, order.Amount, order.Currency
	rec.LockedAt, rec.LastUsedAt = now, now
	return Decision{Kind: DecideLock, Record: rec, Outcome: OutcomeSync}
}

// replayable reports whether rec can be answered as it is: the user's own,
// unlocked, unexpired key for this method whose PaymentIntent exists for
// this very order and whose state is fresh.
func (s *Service) replayable(rec *KeyRecord, userID string, method checkout.PaymentMethod, order checkout.Order, now time.Time) bool {
	return rec.UserID == userID && rec.PaymentMethod == method && rec.LockedAt.IsZero() &&
		now.Sub(rec.LastUsedAt) <= s.KeyTTL && rec.PaymentIntentID != "" &&
		!completed(rec.PIStatus) && rec.PIStatus != StatusCanceled &&
		rec.PIAmount == order.Amount && rec.PICurrency == order.Currency &&
		rec.Amount == order.Amount && rec.Currency == order.Currency && slices.Equal(rec.Items, order.Items) &&
		s.fresh(rec, now)
}

func (s *Service) fresh(rec *KeyRecord, now time.Time) bool {
	return !rec.WebhookSeenAt.IsZero() || now.Sub(rec.SyncedAt) < s.StaleAfter
}

func completed(status string) bool { return status == StatusSucceeded || status == StatusProcessing }

var errCanceled = errors.New("payment intent canceled")

// sync is phases two and three for a locked key: make Stripe's
// PaymentIntent match the order, then record it and release the lock. On
// failure the lock is released so the key stays usable for a retry.
func (s *Service) sync(ctx context.Context, rec KeyRecord, order checkout.Order, now time.Time) (KeyRecord, error) {
	pi, err := s.syncIntent(ctx, rec, order, now)
	if err != nil && !errors.Is(err, checkout.ErrAlreadyCompleted) && !errors.Is(err, errCanceled) {
		s.release(ctx, rec)
		return KeyRecord{}, err
	}
	stored, recErr := s.Store.RecordPaymentIntent(ctx, rec.Key, pi, s.Now())
	if recErr != nil {
		s.release(ctx, rec)
		return KeyRecord{}, recErr
	}
	if err != nil {
		return KeyRecord{}, err
	}
	if completed(stored.PIStatus) { // a webhook won the race
		return KeyRecord{}, checkout.ErrAlreadyCompleted
	}
	return stored, nil
}

func (s *Service) syncIntent(ctx context.Context, rec KeyRecord, order checkout.Order, now time.Time) (PaymentIntent, error) {
	var pi PaymentIntent
	var err error
	switch {
	case rec.PaymentIntentID == "":
		pi, err = s.Gateway.CreatePaymentIntent(ctx, CreateIntentParams{
			Amount:         rec.CreateAmount,
			Currency:       rec.CreateCurrency,
			IdempotencyKey: StripeCreateKey(rec.Key),
			Metadata: map[string]string{
				"onecharge_key":  rec.Key,
				"user_id":        rec.UserID,
				"payment_method": string(rec.PaymentMethod),
			},
		})
		if err != nil {
			return PaymentIntent{}, s.gatewayError("create payment intent", err, true)
		}
	case !s.fresh(&rec, now):
		if pi, err = s.Gateway.GetPaymentIntent(ctx, rec.PaymentIntentID); err != nil {
			return PaymentIntent{}, s.gatewayError("retrieve payment intent", err, false)
		}
	default:
		pi = PaymentIntent{ID: rec.PaymentIntentID, ClientSecret: rec.ClientSecret, Status: rec.PIStatus, Amount: rec.PIAmount, Currency: rec.PICurrency}
	}
	if err := intentState(pi); err != nil {
		return pi, err
	}
	if pi.Amount == order.Amount && pi.Currency == order.Currency {
		return pi, nil
	}
	// Rule 6: same key, new amount: update the one PaymentIntent. Updates
	// set absolute values, so repeating one is harmless; stripe-go keys
	// its own retries.
	updated, err := s.Gateway.UpdatePaymentIntent(ctx, pi.ID, order.Amount, order.Currency, "")
	if errors.Is(err, ErrUnexpectedState) {
		// Stripe refused: the intent moved on (paid, processing, canceled).
		if fresh, getErr := s.Gateway.GetPaymentIntent(ctx, pi.ID); getErr == nil {
			if err := intentState(fresh); err != nil {
				return fresh, err
			}
		}
		return PaymentIntent{}, s.gatewayError("update payment intent", err, true)
	} else if err != nil {
		return PaymentIntent{}, s.gatewayError("update payment intent", err, false)
	}
	return updated, nil
}

func intentState(pi PaymentIntent) error {
	switch {
	case completed(pi.Status):
		return checkout.ErrAlreadyCompleted
	case pi.Status == StatusCanceled:
		return errCanceled
	}
	return nil
}

// StripeCreateKey is the Stripe Idempotency-Key of the PaymentIntent create
// for our key: stable, so a repeated create replays the first.
func StripeCreateKey(key string) string { return "onecharge-pi-create-" + key }

func (s *Service) gatewayError(op string, err error, creating bool) error {
	s.Logger.Warn("stripe call failed", "op", op, "err", err)
	switch {
	case errors.Is(err, ErrPaymentUnavailable), !creating:
		return &checkout.Error{Code: checkout.CodePaymentUnavailable, Message: checkout.MessagePaymentUnavailable}
	default:
		return &checkout.Error{Code: checkout.CodePaymentIntentFailed, Message: checkout.MessageIntentFailed}
	}
}

// release unlocks rec's key after a failure, even when ctx is already
// cancelled, unless another request has taken the lock over since.
func (s *Service) release(ctx context.Context, rec KeyRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := s.Store.ReleaseKey(ctx, rec.Key, rec.LockedAt); err != nil {
		s.Logger.Error("release idempotency key", "err", err)
	}
}

// Checkout creates a hosted Checkout Session for items after storing them as
// the user's cart. baseURL is where Stripe sends the shopper back.
func (s *Service) Checkout(ctx context.Context, userID string, items []checkout.Item, baseURL string) (checkout.CheckoutResponse, error) {
	order, err := s.price(ctx, items)
	if err != nil {
		return checkout.CheckoutResponse{}, err
	}
	if _, err := s.Store.UpsertCart(ctx, userID, items, ""); err != nil {
		return checkout.CheckoutResponse{}, err
	}
	sess, err := s.Gateway.CreateCheckoutSession(ctx, CheckoutSessionParams{
		Lines:       order.Items,
		Currency:    order.Currency,
		SuccessURL:  baseURL + "/?checkout=success&session_id={CHECKOUT_SESSION_ID}",
		CancelURL:   baseURL + "/?checkout=canceled",
		ClientRefID: userID,
	})
	if err != nil {
		return checkout.CheckoutResponse{}, s.gatewayError("create checkout session", err, false)
	}
	if _, err := s.Store.UpsertCart(ctx, userID, items, sess.ID); err != nil {
		return checkout.CheckoutResponse{}, err
	}
	return checkout.CheckoutResponse{URL: sess.URL, SessionID: sess.ID}, nil
}

// Order returns the order paid or pending through piID, for its owner only.
func (s *Service) Order(ctx context.Context, userID, piID string) (checkout.OrderStatus, error) {
	o, ok, err := s.Store.GetOrder(ctx, userID, piID)
	if err != nil {
		return o, err
	} else if !ok {
		return o, &checkout.Error{Code: checkout.CodeNotFound, Message: checkout.MessageNotFound}
	}
	if o.Items == nil {
		o.Items = []checkout.Line{}
	}
	return o, nil
}

// HandleWebhook verifies and applies one Stripe event, at most once. It
// reports false for an event id seen before.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) (applied bool, err error) {
	ev, err := s.Gateway.ParseEvent(payload, signature)
	if err != nil {
		s.Logger.Warn("webhook rejected", "err", err)
		return false, &checkout.Error{Code: checkout.CodeInvalidSignature, Message: "The Stripe-Signature header does not verify."}
	}
	ev.Now = s.Now()
	if applied, err = s.Store.ApplyEvent(ctx, ev); err != nil {
		return false, err
	}
	s.Logger.Info("webhook", "event", ev.ID, "type", ev.Type, "payment_intent", ev.PaymentIntentID, "applied", applied)
	return applied, nil
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
