package stripesim_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/onecharge/onecharge/server/stripesim"
)

func createParams(amount int64, key string) *stripe.PaymentIntentParams {
	p := &stripe.PaymentIntentParams{Amount: stripe.Int64(amount), Currency: stripe.String("usd")}
	p.AddMetadata("onecharge_key", "ik_test")
	if key != "" {
		p.SetIdempotencyKey(key)
	}
	return p
}

func TestIdempotency(t *testing.T) {
	t.Parallel()

	t.Run("Replay", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		first, err := e.sk().PaymentIntents.New(createParams(500, "k-replay"))
		require.NoError(t, err)
		assert.Empty(t, first.LastResponse.Header.Get("Idempotent-Replayed"))
		second, err := e.sk().PaymentIntents.New(createParams(500, "k-replay"))
		require.NoError(t, err)
		assert.Equal(t, "true", second.LastResponse.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, first.LastResponse.RequestID, second.LastResponse.Header.Get("Original-Request"))
		assert.Equal(t, first.ID, second.ID)
		assert.Equal(t, first.LastResponse.RawJSON, second.LastResponse.RawJSON)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	})

	t.Run("ReplayError", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 500, nil)
		confirm := func() error {
			p := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(stripesim.PMCardChargeDeclined)}
			p.SetIdempotencyKey("k-decline")
			_, err := e.sk().PaymentIntents.Confirm(pi.ID, p)
			return err
		}
		first := stripeErr(t, confirm())
		second := stripeErr(t, confirm())
		assert.Equal(t, 402, second.HTTPStatusCode)
		assert.Equal(t, first.Code, second.Code)
		assert.Equal(t, "true", second.LastResponse.Header.Get("Idempotent-Replayed"))
		assert.Len(t, e.sim.Events(), 1, "a replay emits no second event")
	})

	t.Run("ErrMismatch", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		_, err := e.sk().PaymentIntents.New(createParams(500, "k-mismatch"))
		require.NoError(t, err)
		for _, call := range []func() error{
			func() error { _, err := e.sk().PaymentIntents.New(createParams(501, "k-mismatch")); return err },
			func() error {
				p := &stripe.CheckoutSessionParams{Mode: stripe.String("payment")}
				p.SetIdempotencyKey("k-mismatch")
				_, err := e.sk().CheckoutSessions.New(p)
				return err
			},
		} {
			err := call()
			se := stripeErr(t, err)
			assert.Equal(t, 400, se.HTTPStatusCode)
			assert.Equal(t, stripe.ErrorTypeIdempotency, se.Type)
			var ie *stripe.IdempotencyError
			assert.ErrorAs(t, err, &ie)
		}
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	})

	t.Run("ErrInFlight", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", Latency: 300 * time.Millisecond})
		type result struct {
			pi  *stripe.PaymentIntent
			err error
		}
		first := make(chan result, 1)
		go func() {
			pi, err := e.sk().PaymentIntents.New(createParams(500, "k-flight"))
			first <- result{pi, err}
		}()
		require.Eventually(t, func() bool { return e.sim.InFlight() == 1 }, 5*time.Second, time.Millisecond)

		_, err := e.sk().PaymentIntents.New(createParams(500, "k-flight"))
		se := stripeErr(t, err)
		assert.Equal(t, http.StatusConflict, se.HTTPStatusCode)
		assert.Equal(t, stripe.ErrorTypeIdempotency, se.Type)
		assert.Equal(t, stripe.ErrorCodeIdempotencyKeyInUse, se.Code)

		r := <-first
		require.NoError(t, r.err)
		again, err := e.sk().PaymentIntents.New(createParams(500, "k-flight"))
		require.NoError(t, err)
		assert.Equal(t, r.pi.ID, again.ID)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
		assert.Equal(t, 0, e.sim.InFlight())
	})

	t.Run("ConcurrentSameKey", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", Latency: 20 * time.Millisecond})
		const n = 16
		ids := make(chan string, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pi, err := e.sk().PaymentIntents.New(createParams(500, "k-race"))
				if err != nil {
					errs <- err
					return
				}
				ids <- pi.ID
			}()
		}
		wg.Wait()
		close(ids)
		close(errs)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		for err := range errs {
			assert.Equal(t, stripe.ErrorCodeIdempotencyKeyInUse, stripeErr(t, err).Code)
		}
		assert.Len(t, seen, 1, "every success is the same PaymentIntent")
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		first, err := e.sk().PaymentIntents.New(createParams(500, "k-expiry"))
		require.NoError(t, err)

		e.clock.Advance(24*time.Hour - time.Second)
		replay, err := e.sk().PaymentIntents.New(createParams(500, "k-expiry"))
		require.NoError(t, err)
		assert.Equal(t, first.ID, replay.ID)

		e.clock.Advance(2 * time.Second)
		fresh, err := e.sk().PaymentIntents.New(createParams(500, "k-expiry"))
		require.NoError(t, err)
		assert.NotEqual(t, first.ID, fresh.ID)
		assert.Empty(t, fresh.LastResponse.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, 2, e.sim.CreatedPaymentIntents())

		e.clock.Advance(25 * time.Hour)
		_, err = e.sk().PaymentIntents.New(createParams(999, "k-expiry"))
		require.NoError(t, err, "an expired key may carry other parameters")
	})

	t.Run("ScopedPerAPIKey", func(t *testing.T) {
		// The secret and the publishable key are separate scopes: one
		// Idempotency-Key used by both with other parameters is no
		// conflict, and neither replays the other's response.
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		a, b := e.createPI(t, 500, nil), e.createPI(t, 600, nil)
		p := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(stripesim.PMCardVisa)}
		p.SetIdempotencyKey("k-scope")
		got, err := e.sk().PaymentIntents.Confirm(a.ID, p)
		require.NoError(t, err)
		assert.Equal(t, a.ID, got.ID)
		p = &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(stripesim.PMCardVisa)}
		p.SetIdempotencyKey("k-scope")
		p.AddExtra("client_secret", b.ClientSecret)
		got, err = e.api(e.sim.PublishableKey(), 0).PaymentIntents.Confirm(b.ID, p)
		require.NoError(t, err)
		assert.Equal(t, b.ID, got.ID)
		assert.Empty(t, got.LastResponse.Header.Get("Idempotent-Replayed"))
		for _, id := range []string{a.ID, b.ID} {
			pi, _ := e.sim.PaymentIntent(id)
			assert.Equal(t, stripesim.StatusSucceeded, pi.Status)
		}
	})

	t.Run("ValidationErrorsNotStored", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		bad := &stripe.PaymentIntentParams{Amount: stripe.Int64(500)}
		bad.SetIdempotencyKey("k-invalid")
		_, err := e.sk().PaymentIntents.New(bad)
		assert.Equal(t, stripe.ErrorCode("parameter_missing"), stripeErr(t, err).Code)
		_, err = e.sk().PaymentIntents.New(createParams(500, "k-invalid"))
		require.NoError(t, err)
	})

	t.Run("GetIgnoresKey", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 500, nil)
		h := bearer(e.sim.SecretKey())
		h["Idempotency-Key"] = "k-get"
		for range 2 {
			resp := do(t, http.MethodGet, e.base+"/v1/payment_intents/"+pi.ID, nil, h)
			require.Equal(t, http.StatusOK, resp.Status)
			assert.Empty(t, resp.Header.Get("Idempotent-Replayed"))
		}
		// A plain form POST (as a browser sends it) replays too.
		h["Idempotency-Key"] = "k-order"
		r1 := do(t, http.MethodPost, e.base+"/v1/payment_intents", url.Values{"amount": {"1000"}, "currency": {"usd"}}, h)
		r2 := do(t, http.MethodPost, e.base+"/v1/payment_intents", url.Values{"currency": {"usd"}, "amount": {"1000"}}, h)
		require.Equal(t, http.StatusOK, r2.Status)
		assert.Equal(t, "true", r2.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, r1.JSON(t)["id"], r2.JSON(t)["id"])
	})
}
