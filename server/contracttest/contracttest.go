// Package contracttest is onecharge's HTTP contract suite (CONTRACT.md
// sections 2 to 5): black-box tests that talk to a running server over
// HTTP, one cookie jar per shopper, and confirm payments at its Stripe the
// way a browser does (publishable key and client secret). It is run
// against the Cloudflare Worker under wrangler dev (server/workertest) and
// can be run against native servers or replicas the same way:
//
//	contracttest.Run(t, contracttest.Target{BaseURL: url, Stripe: stripe})
//
// It covers the catalog, the session cookie, the cart (one per user,
// however often it is written), validation without a key, replay with the
// key, a first validation repeated with the same Idempotency-Key header (a
// client nonce: the same key and PaymentIntent), ten concurrent
// validations with one key (one PaymentIntent; the others answer the same
// or 409 request_in_progress), a payment completed by webhook (the order
// is paid, a replay answers 409 payment_already_completed with the
// contract's message, another user sees 404), cash on delivery, the
// refusals (400 for malformed JSON, unknown fields and field names that
// differ only in case, 413, 415, 422), 404 for malformed order ids, and,
// when the target has one, a configuration without database (503).
//
// Not covered: an order total Stripe would refuse (below 50 or above
// 99,999,999 cents) is 422 invalid_items by contract, but no cart of the
// demo catalog reaches either bound (its cheapest product is 500 cents, its
// largest cart about 1,060,000); checkoutsvc's own tests cover the rule.
//
// PaymentIntents are counted through the target's Stripe (for API, by
// listing them); the counts assume that nothing else creates PaymentIntents
// there while the suite runs.
package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Stripe is the Stripe (simulator) the server under test talks to.
type Stripe interface {
	// Confirm confirms the PaymentIntent with paymentMethod (for example
	// pm_card_visa) as a browser does: publishable key and client secret.
	// It returns the PaymentIntent's new status.
	Confirm(ctx context.Context, id, clientSecret, paymentMethod string) (string, error)
	// PaymentIntents counts the PaymentIntents that exist.
	PaymentIntents(ctx context.Context) (int, error)
}

// Target is the server under test.
type Target struct {
	// BaseURL is the server's root, e.g. http://127.0.0.1:8787.
	BaseURL string
	Stripe  Stripe
	// NoDatabaseURL, when set, is the root of the same server configured
	// without a database: it must answer 503 with an error body.
	NoDatabaseURL string
	// Client sends the requests; nil means a client with a 30 s timeout.
	// Each shopper gets its own copy with its own cookie jar.
	Client *http.Client
	// PaidTimeout bounds the wait for a webhook to mark an order paid;
	// default 20 s.
	PaidTimeout time.Duration
	// StaleAfter, when set, is the server's checkoutsvc StaleAfter: the
	// suite then also replays a key older than that, which makes the
	// server re-read its PaymentIntent from Stripe (a GET).
	StaleAfter time.Duration
}

// SessionCookie is the name of the session cookie (contract section 2).
const SessionCookie = "onecharge_session"

// Run runs the suite against target. Subtests are independent, each with
// shoppers of its own, and run one after another (the concurrency test
// makes its own concurrency). With StaleAfter, the stale key is issued
// first and replayed last, so that the other subtests fill the wait.
func Run(t *testing.T, target Target) {
	if target.Client == nil {
		target.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if target.PaidTimeout <= 0 {
		target.PaidTimeout = 20 * time.Second
	}
	target.BaseURL = strings.TrimRight(target.BaseURL, "/")
	s := &suite{Target: target}
	t.Run("Health", s.health)
	var stale *staleKey
	if target.StaleAfter > 0 {
		t.Run("IssueKeyToGoStale", func(t *testing.T) { stale = s.issueStale(t) })
	}
	t.Run("Products", s.products)
	t.Run("SessionCookie", s.sessionCookie)
	t.Run("Cart", s.cart)
	t.Run("ValidateAndReplay", s.validateAndReplay)
	t.Run("FirstValidationRepeatedWithNonce", s.nonce)
	t.Run("ConcurrentValidationsOneKey", s.concurrent)
	t.Run("PaidByWebhook", s.paid)
	t.Run("CashOnDelivery", s.cash)
	t.Run("Refusals", s.refusals)
	t.Run("MalformedOrderIDs", s.orderIDs)
	if target.NoDatabaseURL != "" {
		t.Run("NoDatabase", s.noDatabase)
	}
	if stale != nil {
		t.Run("ReplayAfterStale", stale.replay)
	}
}

type suite struct{ Target }

// shopper is one browser: a cookie jar of its own.
type shopper struct {
	t      *testing.T
	client *http.Client
	base   string
}

func (s *suite) shopper(t *testing.T) *shopper {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := *s.Client
	c.Jar = jar
	return &shopper{t: t, client: &c, base: s.BaseURL}
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) err() checkout.ErrorDetail {
	var b checkout.ErrorBody
	_ = json.Unmarshal(r.Body, &b)
	return b.Error
}

// do sends a request; body is JSON-encoded unless it is a []byte.
func (p *shopper) do(method, path string, body any, header ...string) response {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(p.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	require.NoError(p.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := p.client.Do(req)
	require.NoError(p.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// decode requires status and decodes the body into v.
func decode[T any](t *testing.T, r response, status int) T {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	var v T
	require.NoError(t, json.Unmarshal(r.Body, &v), "body: %s", r.Body)
	return v
}

func (p *shopper) validate(req checkout.ValidateRequest) response {
	return p.do(http.MethodPost, "/api/orders/validate", req)
}

func (s *suite) catalog(t *testing.T, p *shopper) map[string]checkout.Product {
	got := decode[checkout.ProductsResponse](t, p.do(http.MethodGet, "/api/products", nil), http.StatusOK)
	m := map[string]checkout.Product{}
	for _, pr := range got.Products {
		m[pr.ID] = pr
	}
	return m
}

// twoProducts picks two products of the catalog, in id order.
func (s *suite) twoProducts(t *testing.T, p *shopper) (checkout.Product, checkout.Product) {
	got := decode[checkout.ProductsResponse](t, p.do(http.MethodGet, "/api/products", nil), http.StatusOK)
	require.GreaterOrEqual(t, len(got.Products), 2, "the demo catalog has several products")
	return got.Products[0], got.Products[1]
}

func (s *suite) paymentIntents(t *testing.T) int {
	t.Helper()
	n, err := s.Stripe.PaymentIntents(context.Background())
	require.NoError(t, err)
	return n
}

func (s *suite) health(t *testing.T) {
	p := s.shopper(t)
	assert.Equal(t, http.StatusOK, p.do(http.MethodGet, "/healthz", nil).Status)
	assert.Equal(t, http.StatusOK, p.do(http.MethodGet, "/readyz", nil).Status)
	cfg := decode[checkout.ConfigResponse](t, p.do(http.MethodGet, "/api/config", nil), http.StatusOK)
	assert.NotEmpty(t, cfg.Stripe.APIBase)
	unknown := p.do(http.MethodGet, "/api/nothing-here", nil)
	assert.Equal(t, http.StatusNotFound, unknown.Status)
	assert.Equal(t, checkout.CodeNotFound, unknown.err().Code)
}

func (s *suite) products(t *testing.T) {
	p := s.shopper(t)
	got := decode[checkout.ProductsResponse](t, p.do(http.MethodGet, "/api/products", nil), http.StatusOK)
	require.NotEmpty(t, got.Products)
	for _, pr := range got.Products {
		assert.NotEmpty(t, pr.ID)
		assert.NotEmpty(t, pr.Name)
		assert.Positive(t, pr.UnitAmount)
		assert.NotEmpty(t, pr.Currency)
	}
}

func (s *suite) sessionCookie(t *testing.T) {
	p := s.shopper(t)
	r := p.do(http.MethodGet, "/api/cart", nil)
	require.Equal(t, http.StatusOK, r.Status)
	var found *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == SessionCookie {
			found = c
		}
	}
	require.NotNil(t, found, "the first request gets a session cookie")
	assert.True(t, found.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, found.SameSite)
	// The jar sends it back: no new cookie on the next request.
	again := p.do(http.MethodGet, "/api/cart", nil)
	assert.Empty(t, (&http.Response{Header: again.Header}).Cookies(), "a valid session is kept")
}

func (s *suite) cart(t *testing.T) {
	p := s.shopper(t)
	a, b := s.twoProducts(t, p)
	empty := decode[checkout.CartResponse](t, p.do(http.MethodGet, "/api/cart", nil), http.StatusOK)
	assert.Empty(t, empty.Cart.Items)

	// Written many times, concurrently too: never a duplicate-key error.
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = p.do(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{{ProductID: a.ID, Quantity: i + 1}}}).Status
		}()
	}
	wg.Wait()
	for _, st := range statuses {
		assert.Equal(t, http.StatusOK, st)
	}
	put := decode[checkout.CartResponse](t, p.do(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{
		{ProductID: a.ID, Quantity: 2}, {ProductID: b.ID, Quantity: 1},
	}}), http.StatusOK)
	assert.Equal(t, 2*a.UnitAmount+b.UnitAmount, put.Cart.Amount)
	got := decode[checkout.CartResponse](t, p.do(http.MethodGet, "/api/cart", nil), http.StatusOK)
	require.Len(t, got.Cart.Items, 2)
	assert.Equal(t, put.Cart.Amount, got.Cart.Amount)
	assert.Equal(t, a.Name, lineOf(got.Cart.Items, a.ID).Name)

	// Another shopper has a cart of their own.
	other := s.shopper(t)
	assert.Empty(t, decode[checkout.CartResponse](t, other.do(http.MethodGet, "/api/cart", nil), http.StatusOK).Cart.Items)
}

func lineOf(lines []checkout.Line, id string) checkout.Line {
	for _, l := range lines {
		if l.ProductID == id {
			return l
		}
	}
	return checkout.Line{}
}

// firstValidation validates a fresh checkout by card and checks the answer.
func (s *suite) firstValidation(t *testing.T, p *shopper, items []checkout.Item) checkout.ValidateResponse {
	t.Helper()
	v := decode[checkout.ValidateResponse](t, p.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard}), http.StatusOK)
	require.True(t, strings.HasPrefix(v.IdempotencyKey, "ik_"), "key %q", v.IdempotencyKey)
	require.NotNil(t, v.PaymentIntent)
	require.True(t, strings.HasPrefix(v.PaymentIntent.ID, "pi_"), "PaymentIntent %q", v.PaymentIntent.ID)
	require.NotEmpty(t, v.PaymentIntent.ClientSecret)
	return v
}

func (s *suite) validateAndReplay(t *testing.T) {
	p := s.shopper(t)
	a, b := s.twoProducts(t, p)
	items := []checkout.Item{{ProductID: a.ID, Quantity: 1}, {ProductID: b.ID, Quantity: 2}}
	before := s.paymentIntents(t)
	v := s.firstValidation(t, p, items)
	want := a.UnitAmount + 2*b.UnitAmount
	assert.Equal(t, want, v.Order.Amount, "prices come from the catalog")
	assert.Equal(t, want, v.PaymentIntent.Amount)
	assert.Equal(t, "requires_payment_method", v.PaymentIntent.Status)
	assert.Equal(t, before+1, s.paymentIntents(t), "one PaymentIntent")

	// The cart was upserted with the validated items.
	cart := decode[checkout.CartResponse](t, p.do(http.MethodGet, "/api/cart", nil), http.StatusOK)
	assert.Equal(t, want, cart.Cart.Amount)

	for i := 0; i < 2; i++ {
		again := decode[checkout.ValidateResponse](t, p.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard, IdempotencyKey: v.IdempotencyKey}), http.StatusOK)
		assert.Equal(t, v.IdempotencyKey, again.IdempotencyKey, "same key")
		require.NotNil(t, again.PaymentIntent)
		assert.Equal(t, v.PaymentIntent.ID, again.PaymentIntent.ID, "same PaymentIntent")
	}
	assert.Equal(t, before+1, s.paymentIntents(t), "a replay creates no PaymentIntent")

	// Another shopper sending this key gets a checkout of their own.
	other := s.shopper(t)
	theirs := decode[checkout.ValidateResponse](t, other.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard, IdempotencyKey: v.IdempotencyKey}), http.StatusOK)
	assert.NotEqual(t, v.IdempotencyKey, theirs.IdempotencyKey)
	require.NotNil(t, theirs.PaymentIntent)
	assert.NotEqual(t, v.PaymentIntent.ID, theirs.PaymentIntent.ID)
}

func (s *suite) concurrent(t *testing.T) {
	p := s.shopper(t)
	a, _ := s.twoProducts(t, p)
	v := s.firstValidation(t, p, []checkout.Item{{ProductID: a.ID, Quantity: 1}})
	before := s.paymentIntents(t)

	// Ten tabs retry at once with the key, for a changed cart (so that the
	// PaymentIntent is updated, not only replayed).
	const n = 10
	items := []checkout.Item{{ProductID: a.ID, Quantity: 3}}
	results := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = p.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard, IdempotencyKey: v.IdempotencyKey})
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, r := range results {
		switch r.Status {
		case http.StatusOK:
			ok++
			var got checkout.ValidateResponse
			require.NoError(t, json.Unmarshal(r.Body, &got))
			assert.Equal(t, v.IdempotencyKey, got.IdempotencyKey, "request %d", i)
			if assert.NotNil(t, got.PaymentIntent) {
				assert.Equal(t, v.PaymentIntent.ID, got.PaymentIntent.ID, "request %d: one PaymentIntent", i)
				assert.Equal(t, 3*a.UnitAmount, got.PaymentIntent.Amount, "request %d", i)
			}
		case http.StatusConflict:
			e := r.err()
			assert.Equal(t, checkout.CodeRequestInProgress, e.Code, "request %d: %s", i, r.Body)
			assert.NotEmpty(t, r.Header.Get("Retry-After"), "request %d", i)
		default:
			t.Errorf("request %d: status %d: %s", i, r.Status, r.Body)
		}
	}
	assert.Positive(t, ok, "at least one request went through")
	assert.Equal(t, before, s.paymentIntents(t), "no second PaymentIntent")
	final := decode[checkout.ValidateResponse](t, p.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard, IdempotencyKey: v.IdempotencyKey}), http.StatusOK)
	assert.Equal(t, v.PaymentIntent.ID, final.PaymentIntent.ID)
	assert.Equal(t, 3*a.UnitAmount, final.Order.Amount)
	t.Logf("%d of %d answered 200, the others 409 request_in_progress", ok, n)
}

// staleKey is a checkout validated at the start of the suite and replayed
// at its end, once older than StaleAfter.
type staleKey struct {
	s      *suite
	p      *shopper
	items  []checkout.Item
	v      checkout.ValidateResponse
	issued time.Time
}

func (s *suite) issueStale(t *testing.T) *staleKey {
	p := s.shopper(t)
	a, _ := s.twoProducts(t, p)
	items := []checkout.Item{{ProductID: a.ID, Quantity: 1}}
	k := &staleKey{s: s, p: p, items: items, issued: time.Now()}
	k.v = s.firstValidation(t, p, items)
	return k
}

// replay replays the key once it is older than StaleAfter: the server
// re-reads its PaymentIntent (a GET at Stripe) and answers the same.
func (k *staleKey) replay(t *testing.T) {
	p := *k.p
	p.t = t
	if wait := time.Until(k.issued.Add(k.s.StaleAfter + time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	before := k.s.paymentIntents(t)
	for i := 0; i < 2; i++ {
		again := decode[checkout.ValidateResponse](t, p.validate(checkout.ValidateRequest{Items: k.items, PaymentMethod: checkout.MethodCard, IdempotencyKey: k.v.IdempotencyKey}), http.StatusOK)
		assert.Equal(t, k.v.IdempotencyKey, again.IdempotencyKey)
		require.NotNil(t, again.PaymentIntent)
		assert.Equal(t, k.v.PaymentIntent.ID, again.PaymentIntent.ID)
	}
	assert.Equal(t, before, k.s.paymentIntents(t), "a stale replay creates no PaymentIntent")
}

// nonce repeats a first validation (no key in the body) with the same
// Idempotency-Key header, as the browser module does when the response
// was lost: the same key and PaymentIntent, one PaymentIntent in all.
func (s *suite) nonce(t *testing.T) {
	p := s.shopper(t)
	a, b := s.twoProducts(t, p)
	items := []checkout.Item{{ProductID: a.ID, Quantity: 1}, {ProductID: b.ID, Quantity: 1}}
	req := checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard}
	nonce := fmt.Sprintf("contract-nonce-%d", time.Now().UnixNano())
	before := s.paymentIntents(t)

	first := decode[checkout.ValidateResponse](t, p.do(http.MethodPost, "/api/orders/validate", req, "Idempotency-Key", nonce), http.StatusOK)
	require.True(t, strings.HasPrefix(first.IdempotencyKey, "ik_"), "key %q", first.IdempotencyKey)
	require.NotNil(t, first.PaymentIntent)
	for i := 0; i < 2; i++ {
		again := decode[checkout.ValidateResponse](t, p.do(http.MethodPost, "/api/orders/validate", req, "Idempotency-Key", nonce), http.StatusOK)
		assert.Equal(t, first.IdempotencyKey, again.IdempotencyKey, "the nonce answers with the key it issued")
		require.NotNil(t, again.PaymentIntent)
		assert.Equal(t, first.PaymentIntent.ID, again.PaymentIntent.ID, "same PaymentIntent")
		assert.Equal(t, first.PaymentIntent.ClientSecret, again.PaymentIntent.ClientSecret)
	}
	assert.Equal(t, before+1, s.paymentIntents(t), "a repeated first validation creates no PaymentIntent")

	// The issued key, sent in the body, is the same checkout.
	withKey := decode[checkout.ValidateResponse](t, p.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard, IdempotencyKey: first.IdempotencyKey}), http.StatusOK)
	assert.Equal(t, first.IdempotencyKey, withKey.IdempotencyKey)
	require.NotNil(t, withKey.PaymentIntent)
	assert.Equal(t, first.PaymentIntent.ID, withKey.PaymentIntent.ID)

	// The nonce is bound to this user: another shopper sending it starts a
	// checkout of their own; a new nonce starts a new checkout.
	other := s.shopper(t)
	theirs := decode[checkout.ValidateResponse](t, other.do(http.MethodPost, "/api/orders/validate", req, "Idempotency-Key", nonce), http.StatusOK)
	assert.NotEqual(t, first.IdempotencyKey, theirs.IdempotencyKey)
	require.NotNil(t, theirs.PaymentIntent)
	assert.NotEqual(t, first.PaymentIntent.ID, theirs.PaymentIntent.ID)
	fresh := decode[checkout.ValidateResponse](t, p.do(http.MethodPost, "/api/orders/validate", req, "Idempotency-Key", nonce+"-2"), http.StatusOK)
	assert.NotEqual(t, first.IdempotencyKey, fresh.IdempotencyKey)
	assert.Equal(t, before+3, s.paymentIntents(t))

	// A nonce longer than 255 characters is refused, writing nothing.
	long := p.do(http.MethodPost, "/api/orders/validate", req, "Idempotency-Key", strings.Repeat("n", checkout.MaxNonceLength+1))
	assert.Equal(t, http.StatusBadRequest, long.Status, "body: %s", long.Body)
	assert.Equal(t, checkout.CodeInvalidRequest, long.err().Code)
	assert.Equal(t, before+3, s.paymentIntents(t))
}

func (s *suite) paid(t *testing.T) {
	p := s.shopper(t)
	a, b := s.twoProducts(t, p)
	items := []checkout.Item{{ProductID: a.ID, Quantity: 2}, {ProductID: b.ID, Quantity: 1}}
	v := s.firstValidation(t, p, items)
	pi := v.PaymentIntent

	pending := decode[checkout.OrderResponse](t, p.do(http.MethodGet, "/api/orders/"+pi.ID, nil), http.StatusOK)
	assert.Equal(t, checkout.OrderPending, pending.Order.Status)

	status, err := s.Stripe.Confirm(context.Background(), pi.ID, pi.ClientSecret, "pm_card_visa")
	require.NoError(t, err)
	assert.Equal(t, "succeeded", status)

	// The webhook completes the order.
	var order checkout.OrderResponse
	deadline := time.Now().Add(s.PaidTimeout)
	for {
		order = decode[checkout.OrderResponse](t, p.do(http.MethodGet, "/api/orders/"+pi.ID, nil), http.StatusOK)
		if order.Order.Status == checkout.OrderPaid || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, checkout.OrderPaid, order.Order.Status, "paid within %s (webhook delivered)", s.PaidTimeout)
	assert.Equal(t, v.Order.Amount, order.Order.Amount)
	assert.Len(t, order.Order.Items, 2)

	// The cart is emptied by the webhook.
	cart := decode[checkout.CartResponse](t, p.do(http.MethodGet, "/api/cart", nil), http.StatusOK)
	assert.Empty(t, cart.Cart.Items)

	// A replay of the paid key: 409 with the contract's message.
	replay := p.validate(checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard, IdempotencyKey: v.IdempotencyKey})
	require.Equal(t, http.StatusConflict, replay.Status, "body: %s", replay.Body)
	e := replay.err()
	assert.Equal(t, checkout.CodePaymentAlreadyCompleted, e.Code)
	assert.Equal(t, "Payment already completed for this session. Please clear your checkout and start a new order.", e.Message)

	// Another user never sees the order.
	other := s.shopper(t)
	r := other.do(http.MethodGet, "/api/orders/"+pi.ID, nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, checkout.CodeNotFound, r.err().Code)

	// A new checkout without a key starts afresh.
	fresh := s.firstValidation(t, p, items)
	assert.NotEqual(t, v.IdempotencyKey, fresh.IdempotencyKey)
	assert.NotEqual(t, pi.ID, fresh.PaymentIntent.ID)
}

func (s *suite) cash(t *testing.T) {
	p := s.shopper(t)
	a, _ := s.twoProducts(t, p)
	before := s.paymentIntents(t)
	v := decode[checkout.ValidateResponse](t, p.validate(checkout.ValidateRequest{Items: []checkout.Item{{ProductID: a.ID, Quantity: 4}}, PaymentMethod: checkout.MethodCashOnDelivery}), http.StatusOK)
	assert.Empty(t, v.IdempotencyKey)
	assert.Nil(t, v.PaymentIntent)
	assert.Equal(t, 4*a.UnitAmount, v.Order.Amount)
	assert.Equal(t, before, s.paymentIntents(t))
}

func (s *suite) refusals(t *testing.T) {
	p := s.shopper(t)
	a, _ := s.twoProducts(t, p)
	ok := fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1}],"payment_method":"CARD"}`, a.ID)
	before := s.paymentIntents(t)
	cases := []struct {
		name   string
		body   []byte
		ctype  string
		status int
		code   checkout.Code
	}{
		{"MalformedJSON", []byte(`{"items":[`), "application/json", http.StatusBadRequest, checkout.CodeInvalidRequest},
		{"UnknownField", []byte(strings.Replace(ok, `"items"`, `"coupon":"FREE","items"`, 1)), "application/json", http.StatusBadRequest, checkout.CodeInvalidRequest},
		// Field names match exactly: ITEMS is an unknown field.
		{"FieldNameCase", []byte(strings.Replace(ok, `"items"`, `"ITEMS"`, 1)), "application/json", http.StatusBadRequest, checkout.CodeInvalidRequest},
		{"NestedFieldNameCase", []byte(strings.Replace(ok, `"product_id"`, `"Product_ID"`, 1)), "application/json", http.StatusBadRequest, checkout.CodeInvalidRequest},
		{"UnknownProduct", []byte(`{"items":[{"product_id":"no-such-product","quantity":1}],"payment_method":"CARD"}`), "application/json", http.StatusUnprocessableEntity, checkout.CodeInvalidItems},
		{"QuantityRange", []byte(strings.Replace(ok, `"quantity":1`, `"quantity":100`, 1)), "application/json", http.StatusUnprocessableEntity, checkout.CodeInvalidItems},
		{"PaymentMethod", []byte(strings.Replace(ok, `"CARD"`, `"BITCOIN"`, 1)), "application/json", http.StatusUnprocessableEntity, checkout.CodeInvalidPaymentMethod},
		{"TooLarge", []byte(`{"items":[],"email":"` + strings.Repeat("a", checkout.MaxBodyBytes) + `"}`), "application/json", http.StatusRequestEntityTooLarge, checkout.CodeRequestTooLarge},
		{"NotJSON", []byte(ok), "text/plain", http.StatusUnsupportedMediaType, checkout.CodeUnsupportedMediaType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := p.do(http.MethodPost, "/api/orders/validate", c.body, "Content-Type", c.ctype)
			require.Equal(t, c.status, r.Status, "body: %s", r.Body)
			e := r.err()
			assert.Equal(t, c.code, e.Code)
			assert.NotEmpty(t, e.Message)
		})
	}
	assert.Equal(t, before, s.paymentIntents(t), "a refused request creates no PaymentIntent")
	assert.Empty(t, decode[checkout.CartResponse](t, p.do(http.MethodGet, "/api/cart", nil), http.StatusOK).Cart.Items, "a refused request writes no cart")
}

// orderIDs: an id that is not a well-formed PaymentIntent or Checkout
// Session id is 404 not_found, like an unknown one.
func (s *suite) orderIDs(t *testing.T) {
	p := s.shopper(t)
	for _, id := range []string{"pi_%00", "pi_", "cs_", "pi_abc%20def", "pi_" + strings.Repeat("a", 251), "ik_abc", "abc", "pi_unknown000000000000000"} {
		r := p.do(http.MethodGet, "/api/orders/"+id, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s: %s", id, r.Body)
		assert.Equal(t, checkout.CodeNotFound, r.err().Code, "%s: %s", id, r.Body)
	}
}

func (s *suite) noDatabase(t *testing.T) {
	p := s.shopper(t)
	p.base = strings.TrimRight(s.NoDatabaseURL, "/")
	for _, path := range []string{"/api/products", "/api/cart", "/readyz"} {
		r := p.do(http.MethodGet, path, nil)
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s: %s", path, r.Body)
		e := r.err()
		assert.NotEmpty(t, e.Code, path)
		assert.Contains(t, strings.ToLower(e.Message), "database", "%s: the message says what is missing", path)
	}
	assert.Equal(t, http.StatusOK, p.do(http.MethodGet, "/healthz", nil).Status, "the process itself is healthy")
}
