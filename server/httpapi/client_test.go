package httpapi_test

// The browser module's lifecycle (shared/keyflow) against the real server
// handler, natively: the client and the server tested together by one Go
// suite. The transport is net/http here; in the browser it is fetch.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

// httpTransport is keyflow.Transport over net/http, recording the keys
// each request carried.
type httpTransport struct {
	client *http.Client
	mu     sync.Mutex
	bodies []string
}

func (tr *httpTransport) Do(ctx keyflow.Context, r keyflow.Request) (keyflow.Response, error) {
	req, err := http.NewRequestWithContext(keyflow.StdContext(ctx), r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return keyflow.Response{}, err
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	tr.mu.Lock()
	tr.bodies = append(tr.bodies, string(r.Body))
	tr.mu.Unlock()
	resp, err := tr.client.Do(req)
	if err != nil {
		return keyflow.Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return keyflow.Response{}, err
	}
	h := map[string]string{}
	for k := range resp.Header {
		h[strings.ToLower(k)] = resp.Header.Get(k)
	}
	return keyflow.Response{Status: resp.StatusCode, Header: h, Body: body}, nil
}

// sent returns how many requests were sent and whether the last carried key.
func (tr *httpTransport) sent() (n int, last string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.bodies), tr.bodies[len(tr.bodies)-1]
}

type shopper struct {
	*keyflow.Client
	http  *testenv.Client
	tr    *httpTransport
	store *keyflow.MemoryStore
}

func newShopper(t *testing.T, env *testenv.Env) *shopper {
	hc := env.NewClient(t)
	tr := &httpTransport{client: hc.HTTP}
	store := &keyflow.MemoryStore{}
	c := keyflow.New(store, tr)
	c.BaseURL = env.URL
	c.Sleep = func(keyflow.Context, keyflow.Duration) error { return nil } // backoff is tested in keyflow
	return &shopper{Client: c, http: hc, tr: tr, store: store}
}

func (s *shopper) key(t *testing.T) string {
	k, ok := s.StoredKey()
	require.True(t, ok, "a key is stored")
	return k
}

func rejection(t *testing.T, err error) *keyflow.Rejection {
	t.Helper()
	var rej *keyflow.Rejection
	require.ErrorAs(t, err, &rej)
	return rej
}

func TestClientAgainstServer(t *testing.T) {
	ctx := context.Background()
	card := checkout.ValidateRequest{Items: mugCard.Items, PaymentMethod: checkout.MethodCard}

	t.Run("FirstSendsNoKeySecondSendsStored", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{})
		s := newShopper(t, env)
		first, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		_, body := s.tr.sent()
		assert.NotContains(t, body, "idempotency_key")
		assert.Equal(t, first.IdempotencyKey, s.key(t))

		second, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		_, body = s.tr.sent()
		assert.Contains(t, body, first.IdempotencyKey)
		assert.Equal(t, first.PaymentIntent.ID, second.PaymentIntent.ID)
		assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
	})

	t.Run("RotationOverwrites", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{})
		other := newShopper(t, env)
		theirs, err := other.ValidateCartItems(ctx, card)
		require.NoError(t, err)

		s := newShopper(t, env)
		require.NoError(t, s.SetKey(theirs.IdempotencyKey)) // a key from another browser
		mine, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		assert.NotEqual(t, theirs.IdempotencyKey, mine.IdempotencyKey)
		assert.NotEqual(t, theirs.PaymentIntent.ID, mine.PaymentIntent.ID)
		assert.Equal(t, mine.IdempotencyKey, s.key(t), "the rotated key overwrites the stored one")
	})

	t.Run("CashOnDeliveryStoresNothing", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{})
		s := newShopper(t, env)
		resp, err := s.ValidateCartItems(ctx, checkout.ValidateRequest{Items: mugCard.Items, PaymentMethod: checkout.MethodCashOnDelivery})
		require.NoError(t, err)
		assert.Nil(t, resp.PaymentIntent)
		_, ok := s.StoredKey()
		assert.False(t, ok)
	})

	t.Run("ServerErrorOnceRetriedWithSameKey", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{StripeRetries: -1})
		s := newShopper(t, env)
		first, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		n0, _ := s.tr.sent()
		env.Sim.AddFault(stripesim.Fault{Path: "/v1/payment_intents/*", ErrorStatus: 503, ErrorCount: 1})
		more := withQuantity(card, 3) // an amount change: the server must call Stripe
		resp, err := s.ValidateCartItems(ctx, more)
		require.NoError(t, err)
		n1, body := s.tr.sent()
		assert.Equal(t, 2, n1-n0, "one failed attempt, one retry")
		assert.Contains(t, body, first.IdempotencyKey, "the retry carries the same key")
		assert.Equal(t, first.PaymentIntent.ID, resp.PaymentIntent.ID)
		assert.Equal(t, int64(3600), resp.PaymentIntent.Amount)
	})

	t.Run("AlreadyCompletedClearsAndRetriesOnce", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{})
		s := newShopper(t, env)
		paid, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, s.http.Confirm(paid.PaymentIntent, "pm_card_visa").Status)
		env.WaitWebhooks(t)
		// This tab never learned of the payment: it still holds the key.
		fresh, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		assert.NotEqual(t, paid.IdempotencyKey, fresh.IdempotencyKey)
		assert.NotEqual(t, paid.PaymentIntent.ID, fresh.PaymentIntent.ID)
		assert.Equal(t, fresh.IdempotencyKey, s.key(t))
		_, body := s.tr.sent()
		assert.NotContains(t, body, "idempotency_key", "the retry sent no key")
	})

	t.Run("PaymentSucceededClears", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{})
		s := newShopper(t, env)
		resp, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, s.http.Confirm(resp.PaymentIntent, "pm_card_visa").Status)
		s.PaymentSucceeded()
		_, ok := s.StoredKey()
		assert.False(t, ok)
		next, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		assert.NotEqual(t, resp.IdempotencyKey, next.IdempotencyKey)
	})

	t.Run("PaymentUnavailableKeepsKey", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{StripeRetries: -1})
		s := newShopper(t, env)
		first, err := s.ValidateCartItems(ctx, card)
		require.NoError(t, err)
		n0, _ := s.tr.sent()
		env.Sim.AddFault(stripesim.Fault{Path: "all", ErrorStatus: 503, ErrorRate: 1})
		_, err = s.ValidateCartItems(ctx, withQuantity(card, 4))
		rej := rejection(t, err)
		assert.Equal(t, keyflow.KindPaymentUnavailable, rej.Kind)
		assert.Equal(t, checkout.CodePaymentUnavailable, rej.Code)
		assert.Equal(t, http.StatusBadGateway, rej.Status)
		n1, _ := s.tr.sent()
		assert.Equal(t, keyflow.DefaultMaxAttempts, n1-n0, "maxAttempts in all")
		assert.Equal(t, first.IdempotencyKey, s.key(t), "the key stays for a later retry")
	})

	t.Run("ValidationNotRetried", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{})
		s := newShopper(t, env)
		_, err := s.ValidateCartItems(ctx, checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "retired-poster", Quantity: 1}}, PaymentMethod: checkout.MethodCard})
		rej := rejection(t, err)
		assert.Equal(t, keyflow.KindValidation, rej.Kind)
		assert.Equal(t, checkout.CodeInvalidItems, rej.Code)
		assert.Equal(t, http.StatusUnprocessableEntity, rej.Status)
		n, _ := s.tr.sent()
		assert.Equal(t, 1, n)
	})
}
