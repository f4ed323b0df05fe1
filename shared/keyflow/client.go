package keyflow

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Defaults of New.
const (
	DefaultMaxAttempts   = 4
	DefaultBaseDelay     = 250 * Millisecond
	DefaultMaxDelay      = 4 * Second
	DefaultMaxRetryAfter = 30 * Second
)

// ValidatePath is the path of ValidateOrderItemsInsert (CONTRACT.md section 5).
const ValidatePath = "/api/orders/validate"

// Client runs the idempotency-key lifecycle against the onecharge API.
// Create it with New (a Client literal has no Store or Transport); its
// exported fields are configuration, to be set before use (zero values mean
// the defaults). Its methods are safe for concurrent use.
type Client struct {
	// BaseURL is prepended to API paths; "" means the page's own origin.
	BaseURL string
	// MaxAttempts is the number of requests one validation may send to
	// ride out transient failures, the first included (default 4).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: before retry n the client
	// waits a random duration in [0, min(MaxDelay, BaseDelay·2^(n-1))).
	BaseDelay Duration
	MaxDelay  Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one ends the retries with the response's rejection (default 30s).
	MaxRetryAfter Duration
	// Sleep waits d or until ctx ends; an error (ctx's) ends the
	// validation as canceled (default: a timer; the browser build has
	// none, and the module sets it).
	Sleep func(ctx Context, d Duration) error
	// Rand returns a uniformly random number in [0, 1) (default math/rand/v2).
	Rand func() float64
	// Now returns the current time in nanoseconds since 1970 UTC, as
	// time.Time's UnixNano, for Retry-After dates (default: the system
	// clock; the browser build has none, and the module sets it).
	Now func() int64
	// Log, when set, receives one line for every retry, rotation and clear.
	Log func(msg string)
	// Locker, when set, serializes validations with the other Clients that
	// share the Store (the other tabs of the origin): it is taken after
	// this Client's own turn, before the stored key is read, and released
	// once the response's key is stored. When nil, or when it fails, only
	// this Client's validations take turns.
	Locker Locker
	// Nonce returns a fresh nonce for a first validation's Idempotency-Key
	// header: 1 to 255 printable ASCII characters (default NewNonce; a
	// result of "" is replaced by NewNonce's).
	Nonce func() string

	store     Store
	transport Transport
	turn      chan struct{} // holds a token while a validation runs
}

// New returns a Client that keeps its key in store and talks through
// transport, with the default configuration.
func New(store Store, transport Transport) *Client {
	return &Client{
		MaxAttempts:   DefaultMaxAttempts,
		BaseDelay:     DefaultBaseDelay,
		MaxDelay:      DefaultMaxDelay,
		MaxRetryAfter: DefaultMaxRetryAfter,
		Sleep:         sleep,
		Rand:          rand.Float64,
		Now:           now,
		store:         store,
		transport:     transport,
		turn:          make(chan struct{}, 1),
	}
}

// ValidateCartItems validates an order with the server (POST
// {BaseURL}/api/orders/validate) following CONTRACT.md section 6:
//
//  0. Validations take turns: those of this Client, and, through Locker,
//     those of every Client sharing the Store. The stored key is read once
//     the turn is held.
//  1. The stored key is sent, if there is one; req.IdempotencyKey is
//     ignored. A validation without a key (for CARD and CARD_TEST) sends a
//     fresh nonce in the Idempotency-Key header instead, the same on each
//     of its retries, so that the server answers a retry whose first
//     response was lost with the key and PaymentIntent it already issued.
//  2. Network errors, 5xx and 409 request_in_progress are retried with the
//     same key, honouring Retry-After, up to MaxAttempts requests.
//  3. For CARD and CARD_TEST the response's key is stored, replacing a
//     different one (rotation). CASH_ON_DELIVERY leaves the store alone.
//  4. On 409 payment_already_completed the key is cleared and the
//     validation is sent once more without a key, as a new first
//     validation (a new nonce, its own transient retries), or with the key
//     another Client posted since (Board); if that fails too, its error is
//     returned.
//  5. Every error is a *Rejection.
//
// A request that breaks the server's own rules (checkout's Validate) is
// rejected without a request, with the code and status the server would
// answer.
//
// Validations run one at a time: a second call waits for the first to
// finish (or for its ctx to end), so that a double-clicked "Pay" button, or
// two tabs checking out at once, send the key the first call stored
// instead of starting a second checkout session with a second
// PaymentIntent.
func (c *Client) ValidateCartItems(ctx Context, req checkout.ValidateRequest) (checkout.ValidateResponse, error) {
	req.IdempotencyKey = ""
	if err := req.Validate(); err != nil {
		return checkout.ValidateResponse{}, localRejection(err)
	}
	unlock, board, err := c.lock(ctx)
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	defer unlock()
	var wrote bool // whether this validation changed the stored key
	req.IdempotencyKey, wrote = c.sendableKey()
	if board != nil && req.IdempotencyKey == "" {
		req.IdempotencyKey = c.postedKey(ctx, board)
	}
	resp, err := c.send(ctx, req)
	if rej, ok := errors.AsType[*Rejection](err); ok && rej.Kind == KindAlreadyCompleted {
		c.log("onecharge: payment already completed for the stored key; clearing it and starting a new checkout")
		c.store.Clear()
		wrote = true
		completed := req.IdempotencyKey
		req.IdempotencyKey = ""
		if board != nil {
			// Another tab may have started the new checkout already.
			if key := c.postedKey(ctx, board); key != completed {
				req.IdempotencyKey = key
			}
		}
		resp, err = c.send(ctx, req)
	}
	if err == nil && c.remember(req.PaymentMethod, resp) {
		wrote = true
	}
	if board != nil && wrote {
		c.post(ctx, board) // holding the lock: the next holder sees it
	}
	if err != nil {
		return checkout.ValidateResponse{}, err
	}
	return resp, nil
}

// sendableKey returns the stored key, or "" when there is none or it is
// malformed (then it is cleared, and cleared is true: the server would
// reject every request carrying it with 400).
func (c *Client) sendableKey() (key string, cleared bool) {
	key, ok := c.store.Get()
	if !ok || key == "" {
		return "", false
	}
	if _, err := checkout.ParseKey(key); err != nil {
		c.log("onecharge: dropping malformed stored idempotency key: " + err.Error())
		c.store.Clear()
		return "", true
	}
	return key, false
}

// remember stores the key of a successful CARD or CARD_TEST validation
// and reports whether that changed the stored key.
func (c *Client) remember(sent checkout.PaymentMethod, resp checkout.ValidateResponse) bool {
	method := resp.PaymentMethod
	if method == "" {
		method = sent
	}
	if !method.UsesKey() || resp.IdempotencyKey == "" {
		return false
	}
	old, ok := c.store.Get()
	if ok && old == resp.IdempotencyKey {
		return false
	}
	if ok {
		c.log("onecharge: the server rotated the idempotency key")
	}
	c.store.Set(resp.IdempotencyKey)
	return true
}

// send posts req until it gets an answer that is not transient or runs out
// of attempts. Without a key (for a method that uses keys) it sends a fresh
// nonce, the same on every attempt.
func (c *Client) send(ctx Context, req checkout.ValidateRequest) (checkout.ValidateResponse, error) {
	var zero checkout.ValidateResponse
	httpReq := Request{
		Method: "POST",
		URL:    strings.TrimRight(c.BaseURL, "/") + ValidatePath,
		Header: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
		Body:   checkout.EncodeValidateRequest(req),
	}
	if req.IdempotencyKey == "" && req.PaymentMethod.UsesKey() {
		httpReq.Header[NonceHeader] = c.nonce()
	}
	maxAttempts := c.MaxAttempts
	if maxAttempts < 1 {
		maxAttempts = DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return zero, canceledRejection(err)
		}
		res, err := c.transport.Do(ctx, httpReq)
		var (
			rej       *Rejection
			wait      Duration
			waitGiven bool
		)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return zero, canceledRejection(ctx.Err())
			}
			rej = networkRejection(err)
		case res.Status >= 200 && res.Status <= 299:
			out, err := checkout.DecodeValidateResponse(res.Body)
			if err != nil {
				return zero, &Rejection{
					Kind:    KindGeneric,
					Code:    CodeUnexpectedResponse,
					Message: "The server sent a response that could not be read.",
					Status:  res.Status,
					err:     err,
				}
			}
			return out, nil
		default:
			rej = responseRejection(res)
			if !retriable(res.Status, rej.Code) {
				return zero, rej
			}
			wait, waitGiven = parseRetryAfter(header(res.Header, "retry-after"), c.now)
		}
		if attempt >= maxAttempts {
			return zero, rej
		}
		if waitGiven && wait > c.maxRetryAfter() {
			c.log("onecharge: giving up: the server asks to retry after " + wait.String())
			return zero, rej
		}
		if !waitGiven {
			wait = c.backoff(attempt)
		}
		c.log("onecharge: attempt " + strconv.Itoa(attempt) + " of " + strconv.Itoa(maxAttempts) +
			" failed (" + string(rej.Code) + ", status " + strconv.Itoa(rej.Status) + "); retrying in " + wait.String())
		if err := c.sleep(ctx, wait); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return zero, canceledRejection(err)
		}
	}
}

// retriable reports whether a response is transient: any 5xx and 409
// request_in_progress.
func retriable(status int, code checkout.Code) bool {
	return status >= 500 && status <= 599 ||
		status == 409 && code == checkout.CodeRequestInProgress
}

// backoff returns the full-jitter delay before retry n (n >= 1): uniform in
// [0, min(MaxDelay, BaseDelay·2^(n-1))).
func (c *Client) backoff(n int) Duration {
	base, ceiling := c.BaseDelay, c.MaxDelay
	if base <= 0 {
		base = DefaultBaseDelay
	}
	if ceiling <= 0 {
		ceiling = DefaultMaxDelay
	}
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	r := 0.0
	if c.Rand != nil {
		r = c.Rand()
	} else {
		r = rand.Float64()
	}
	if r < 0 || r >= 1 {
		r = 0
	}
	return Duration(r * float64(d))
}

func (c *Client) maxRetryAfter() Duration {
	if c.MaxRetryAfter <= 0 {
		return DefaultMaxRetryAfter
	}
	return c.MaxRetryAfter
}

func (c *Client) now() int64 {
	if c.Now != nil {
		return c.Now()
	}
	return now()
}

func (c *Client) sleep(ctx Context, d Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return sleep(ctx, d)
}

func (c *Client) log(msg string) {
	if c.Log != nil {
		c.Log(msg)
	}
}

// PaymentSucceeded ends the checkout after a direct (non-redirect) payment
// succeeded: the key is cleared, so the next validation starts a new one.
func (c *Client) PaymentSucceeded() { c.ClearKey() }

// HandleRedirectReturn inspects the URL a redirect-based confirmation
// returned to (for example after 3-D Secure). When its query carries
// redirect_status=succeeded it clears the key and returns true; otherwise,
// and for URLs it cannot read, it keeps the key and returns false.
func (c *Client) HandleRedirectReturn(rawURL string) bool {
	succeeded, ok := redirectSucceeded(rawURL)
	if !ok || !succeeded {
		return false
	}
	c.ClearKey()
	return true
}

// StoredKey returns the stored key, if any.
func (c *Client) StoredKey() (string, bool) { return c.store.Get() }

// SetKey stores key, replacing the current one, after checking its format
// (checkout.ParseKey; the error is a *checkout.Error).
func (c *Client) SetKey(key string) error {
	if _, err := checkout.ParseKey(key); err != nil {
		return err
	}
	c.store.Set(key)
	c.posted(key)
	return nil
}

// ClearKey removes the stored key.
func (c *Client) ClearKey() {
	c.store.Clear()
	c.posted("")
}
