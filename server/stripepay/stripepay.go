package stripepay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onecharge/onecharge/server/checkoutsvc"
)

// Defaults applied by New.
const (
	DefaultMaxNetworkRetries = 2
	DefaultTimeout           = 10 * time.Second
)

// MetadataKey is the PaymentIntent metadata entry that carries onecharge's
// idempotency key; ParseEvent reports it as Event.OnechargeKey.
const MetadataKey = "onecharge_key"

// Config configures a Client.
type Config struct {
	// SecretKey is the Stripe secret key (sk_live_…, sk_test_…). Required.
	SecretKey string
	// WebhookSecret verifies Stripe-Signature headers (whsec_…). Without
	// it every event is rejected with ErrBadSignature.
	WebhookSecret string
	// APIBase replaces https://api.stripe.com, e.g. the simulator
	// ("http://127.0.0.1:8080/_stripe") or stripe-mock.
	APIBase string
	// HTTPClient sends the requests. Default: a client of its own,
	// without a timeout of its own (Timeout bounds each call).
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a failed request
	// (network errors, 409, 503, 5xx on GET), reusing the request's
	// Idempotency-Key. Zero means DefaultMaxNetworkRetries; a negative
	// value disables retries.
	MaxNetworkRetries int
	// NoRetryDelay makes stripe-go retry at once instead of after its
	// 0.5–5 s backoff. For tests only.
	NoRetryDelay bool
	// Timeout bounds each call, retries included. Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives stripe-go's own log lines at debug level. Default:
	// discard.
	Logger *slog.Logger
}

// Client is the checkoutsvc.Gateway over stripe-go v76. It uses its own
// client.API and backends, never stripe-go's globals. Safe for concurrent use.
type Client struct {
	api           *client.API
	webhookSecret string
	timeout       time.Duration
}

var _ checkoutsvc.Gateway = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.SecretKey) == "" {
		return nil, errors.New("stripepay: SecretKey is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	retries := int64(cfg.MaxNetworkRetries)
	switch {
	case cfg.MaxNetworkRetries == 0:
		retries = DefaultMaxNetworkRetries
	case cfg.MaxNetworkRetries < 0:
		retries = 0
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	backend := func(typ stripe.SupportedBackend, url string) stripe.Backend {
		bc := &stripe.BackendConfig{
			HTTPClient:        cfg.HTTPClient,
			LeveledLogger:     leveledLogger{cfg.Logger},
			MaxNetworkRetries: stripe.Int64(retries),
		}
		if url != "" {
			bc.URL = stripe.String(url)
		}
		b := stripe.GetBackendWithConfig(typ, bc)
		if bi, ok := b.(*stripe.BackendImplementation); ok && cfg.NoRetryDelay {
			bi.SetNetworkRetriesSleep(false)
		}
		return b
	}
	backends := &stripe.Backends{
		API:     backend(stripe.APIBackend, cfg.APIBase),
		Connect: backend(stripe.ConnectBackend, ""),
		Uploads: backend(stripe.UploadsBackend, ""),
	}
	return &Client{
		api:           client.New(cfg.SecretKey, backends),
		webhookSecret: cfg.WebhookSecret,
		timeout:       cfg.Timeout,
	}, nil
}

// API returns the underlying stripe-go client (for calls the Gateway does
// not cover, and tests).
func (c *Client) API() *client.API { return c.api }

// CreatePaymentIntent creates a card-only PaymentIntent (automatic payment
// methods off) with Stripe's Idempotency-Key p.IdempotencyKey.
func (c *Client) CreatePaymentIntent(ctx context.Context, p checkoutsvc.CreateIntentParams) (checkoutsvc.PaymentIntent, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.PaymentIntentParams{
		Amount:   stripe.Int64(p.Amount),
		Currency: stripe.String(p.Currency),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripe.Bool(false),
		},
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	for k, v := range p.Metadata {
		params.AddMetadata(k, v)
	}
	setCommon(&params.Params, ctx, p.IdempotencyKey)
	pi, err := c.api.PaymentIntents.New(params)
	if err != nil {
		return checkoutsvc.PaymentIntent{}, translate("create payment intent", err)
	}
	return fromStripe(pi), nil
}

// UpdatePaymentIntent sets amount and currency of intent id.
func (c *Client) UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, idempotencyKey string) (checkoutsvc.PaymentIntent, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.PaymentIntentParams{
		Amount:   stripe.Int64(amount),
		Currency: stripe.String(currency),
	}
	setCommon(&params.Params, ctx, idempotencyKey)
	pi, err := c.api.PaymentIntents.Update(id, params)
	if err != nil {
		return checkoutsvc.PaymentIntent{}, translate("update payment intent", err)
	}
	return fromStripe(pi), nil
}

// GetPaymentIntent re-reads intent id.
func (c *Client) GetPaymentIntent(ctx context.Context, id string) (checkoutsvc.PaymentIntent, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.PaymentIntentParams{}
	setCommon(&params.Params, ctx, "")
	pi, err := c.api.PaymentIntents.Get(id, params)
	if err != nil {
		return checkoutsvc.PaymentIntent{}, translate("retrieve payment intent", err)
	}
	return fromStripe(pi), nil
}

// ConfirmPaymentIntent confirms intent id server-side with paymentMethod
// (e.g. "pm_card_visa"); returnURL is where a redirect-based
// authentication sends the shopper back ("" for none).
func (c *Client) ConfirmPaymentIntent(ctx context.Context, id, paymentMethod, returnURL, idempotencyKey string) (checkoutsvc.PaymentIntent, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(paymentMethod)}
	if returnURL != "" {
		params.ReturnURL = stripe.String(returnURL)
	}
	setCommon(&params.Params, ctx, idempotencyKey)
	pi, err := c.api.PaymentIntents.Confirm(id, params)
	if err != nil {
		return checkoutsvc.PaymentIntent{}, translate("confirm payment intent", err)
	}
	return fromStripe(pi), nil
}

// CancelPaymentIntent cancels intent id with cancellation reason
// "abandoned" (the checkout moved to another key).
func (c *Client) CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (checkoutsvc.PaymentIntent, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String(string(stripe.PaymentIntentCancellationReasonAbandoned))}
	setCommon(&params.Params, ctx, idempotencyKey)
	pi, err := c.api.PaymentIntents.Cancel(id, params)
	if err != nil {
		return checkoutsvc.PaymentIntent{}, translate("cancel payment intent", err)
	}
	return fromStripe(pi), nil
}

// CreateCheckoutSession creates a hosted Checkout Session (mode payment,
// card) with one price_data line per order line.
func (c *Client) CreateCheckoutSession(ctx context.Context, p checkoutsvc.CheckoutSessionParams) (checkoutsvc.CheckoutSession, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.CheckoutSessionParams{
		Mode:               stripe.String(string(stripe.CheckoutSessionModePayment)),
		SuccessURL:         stripe.String(p.SuccessURL),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	if p.CancelURL != "" {
		params.CancelURL = stripe.String(p.CancelURL)
	}
	if p.ClientRefID != "" {
		params.ClientReferenceID = stripe.String(p.ClientRefID)
	}
	for _, l := range p.Lines {
		product := &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(l.Name)}
		if l.ProductID != "" {
			product.AddMetadata("product_id", l.ProductID)
		}
		params.LineItems = append(params.LineItems, &stripe.CheckoutSessionLineItemParams{
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(p.Currency),
				UnitAmount:  stripe.Int64(l.UnitAmount),
				ProductData: product,
			},
			Quantity: stripe.Int64(int64(l.Quantity)),
		})
	}
	setCommon(&params.Params, ctx, p.IdempotencyKey)
	s, err := c.api.CheckoutSessions.New(params)
	if err != nil {
		return checkoutsvc.CheckoutSession{}, translate("create checkout session", err)
	}
	return checkoutsvc.CheckoutSession{ID: s.ID, URL: s.URL}, nil
}

// ExpireCheckoutSession expires the open Checkout Session id and returns
// its new status. Stripe refuses a session that is not open with a 400
// that carries no code; the session is then retrieved, and its status
// returned with ErrUnexpectedState (complete: it was paid; expired: it
// was expired already).
func (c *Client) ExpireCheckoutSession(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.CheckoutSessionExpireParams{}
	setCommon(&params.Params, ctx, "")
	s, err := c.api.CheckoutSessions.Expire(id, params)
	if err == nil {
		return string(s.Status), nil
	}
	err = translate("expire checkout session", err)
	if !errors.Is(err, checkoutsvc.ErrIntentFailed) {
		return "", err
	}
	st, gerr := c.GetCheckoutSession(ctx, id)
	if gerr != nil {
		return "", gerr
	}
	if st.Status == string(stripe.CheckoutSessionStatusOpen) {
		return st.Status, err // refused for another reason
	}
	return st.Status, fmt.Errorf("stripepay: expire checkout session: %w: session is %s", checkoutsvc.ErrUnexpectedState, st.Status)
}

// CheckoutSessionStatus is what GetCheckoutSession reports.
type CheckoutSessionStatus struct {
	ID              string
	Status          string // open, complete, expired
	PaymentStatus   string // unpaid, paid, no_payment_required
	PaymentIntentID string
	AmountTotal     int64
	Currency        string
}

// GetCheckoutSession reads Checkout Session id.
func (c *Client) GetCheckoutSession(ctx context.Context, id string) (CheckoutSessionStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.CheckoutSessionParams{}
	setCommon(&params.Params, ctx, "")
	s, err := c.api.CheckoutSessions.Get(id, params)
	if err != nil {
		return CheckoutSessionStatus{}, translate("retrieve checkout session", err)
	}
	out := CheckoutSessionStatus{
		ID: s.ID, Status: string(s.Status), PaymentStatus: string(s.PaymentStatus),
		AmountTotal: s.AmountTotal, Currency: string(s.Currency),
	}
	if s.PaymentIntent != nil {
		out.PaymentIntentID = s.PaymentIntent.ID
	}
	return out, nil
}

// ParseEvent verifies payload's Stripe-Signature with the WebhookSecret
// (default tolerance, 5 minutes) and reduces the event to checkoutsvc.Event.
// The four event types of checkoutsvc are decoded; any other type yields
// an Event with only ID and Type. Events of other API versions are
// accepted: only fields stable across versions are read.
func (c *Client) ParseEvent(payload []byte, signature string) (checkoutsvc.Event, error) {
	if c.webhookSecret == "" {
		return checkoutsvc.Event{}, fmt.Errorf("stripepay: parse event: %w: no webhook secret configured", checkoutsvc.ErrBadSignature)
	}
	ev, err := webhook.ConstructEventWithOptions(payload, signature, c.webhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		return checkoutsvc.Event{}, fmt.Errorf("stripepay: parse event: %w: %w", checkoutsvc.ErrBadSignature, err)
	}
	out := checkoutsvc.Event{ID: ev.ID, Type: string(ev.Type)}
	if ev.Data == nil {
		return out, nil
	}
	switch out.Type {
	case checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled:
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return checkoutsvc.Event{}, fmt.Errorf("stripepay: parse event %s: %w: payment intent: %w", ev.ID, checkoutsvc.ErrBadSignature, err)
		}
		out.PaymentIntentID = pi.ID
		out.OnechargeKey = pi.Metadata[MetadataKey]
		out.MetadataUserID = pi.Metadata["user_id"]
		out.Amount = pi.Amount
		if out.Type == checkoutsvc.EventPaymentSucceeded && pi.AmountReceived > 0 {
			out.Amount = pi.AmountReceived // what was paid, the figure I1 holds orders to
		}
		out.Currency = string(pi.Currency)
	case checkoutsvc.EventCheckoutCompleted, checkoutsvc.EventCheckoutExpired:
		var s stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
			return checkoutsvc.Event{}, fmt.Errorf("stripepay: parse event %s: %w: checkout session: %w", ev.ID, checkoutsvc.ErrBadSignature, err)
		}
		out.CheckoutSessionID = s.ID
		if s.PaymentIntent != nil {
			out.PaymentIntentID = s.PaymentIntent.ID
		}
		out.OnechargeKey = s.Metadata[MetadataKey]
		out.ClientReferenceID = s.ClientReferenceID
		out.Amount = s.AmountTotal
		out.Currency = string(s.Currency)
	}
	return out, nil
}

func setCommon(p *stripe.Params, ctx context.Context, idempotencyKey string) {
	p.Context = ctx
	if idempotencyKey != "" {
		p.SetIdempotencyKey(idempotencyKey)
	}
}

func fromStripe(pi *stripe.PaymentIntent) checkoutsvc.PaymentIntent {
	return checkoutsvc.PaymentIntent{
		ID:           pi.ID,
		ClientSecret: pi.ClientSecret,
		Status:       string(pi.Status),
		Amount:       pi.Amount,
		Currency:     string(pi.Currency),
		Metadata:     pi.Metadata,
	}
}

// translate maps a stripe-go error to the Gateway's errors, keeping the
// original in the chain:
//   - network errors, timeouts, 5xx, 401/403 (authentication,
//     permission), 429 (rate limit), 409 (idempotency key in use) and
//     answers that are not Stripe errors: ErrPaymentUnavailable;
//   - payment_intent_unexpected_state: ErrUnexpectedState;
//   - 404 resource_missing (the object is not there): ErrNotFound;
//   - any other 4xx (invalid request, card error, idempotency mismatch):
//     ErrIntentFailed.
func translate(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripepay: %s: %w: %w", op, checkoutsvc.ErrPaymentUnavailable, err)
	}
	switch st := se.HTTPStatusCode; {
	case st >= 500, st == http.StatusUnauthorized, st == http.StatusForbidden,
		st == http.StatusTooManyRequests, st == http.StatusConflict, st < 400:
		return fmt.Errorf("stripepay: %s: %w: %w", op, checkoutsvc.ErrPaymentUnavailable, err)
	case se.Code == stripe.ErrorCodePaymentIntentUnexpectedState:
		return fmt.Errorf("stripepay: %s: %w: %w", op, checkoutsvc.ErrUnexpectedState, err)
	case st == http.StatusNotFound && se.Code == stripe.ErrorCodeResourceMissing:
		return fmt.Errorf("stripepay: %s: %w: %w", op, checkoutsvc.ErrNotFound, err)
	default:
		return fmt.Errorf("stripepay: %s: %w: %w", op, checkoutsvc.ErrIntentFailed, err)
	}
}

// leveledLogger routes stripe-go's log lines to slog at debug level: the
// adapter reports failures through its errors, so the library's own lines
// would only duplicate them.
type leveledLogger struct{ l *slog.Logger }

func (l leveledLogger) Debugf(format string, v ...any) { l.log(format, v...) }
func (l leveledLogger) Infof(format string, v ...any)  { l.log(format, v...) }
func (l leveledLogger) Warnf(format string, v ...any)  { l.log(format, v...) }
func (l leveledLogger) Errorf(format string, v ...any) { l.log(format, v...) }

func (l leveledLogger) log(format string, v ...any) {
	if l.l.Enabled(context.Background(), slog.LevelDebug) {
		l.l.Debug(fmt.Sprintf(format, v...), "component", "stripe-go")
	}
}
