package stripesim_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/onecharge/onecharge/server/stripesim"
)

// notOpenMessage is Stripe's answer to expiring a session that is not open.
func notOpenMessage(status string) string {
	return `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of ` + "`" + status + "`."
}

// TestExpireCheckoutSession: POST /v1/checkout/sessions/{id}/expire through
// stripe-go, its event, its hosted page and its errors.
func TestExpireCheckoutSession(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		rcv := newReceiver(t, 0)
		e.sim.SetWebhookURL(rcv.URL())
		api := e.sk()
		cs, err := api.CheckoutSessions.New(sessionParams(2500))
		require.NoError(t, err)
		pageURL := cs.URL

		got, err := api.CheckoutSessions.Expire(cs.ID, &stripe.CheckoutSessionExpireParams{})
		require.NoError(t, err)
		assert.Equal(t, cs.ID, got.ID)
		assert.Equal(t, stripe.CheckoutSessionStatusExpired, got.Status)
		assert.Equal(t, stripe.CheckoutSessionPaymentStatusUnpaid, got.PaymentStatus)
		assert.Empty(t, got.URL, "an expired session has no url")
		assert.Nil(t, got.PaymentIntent)

		again, err := api.CheckoutSessions.Get(cs.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, stripe.CheckoutSessionStatusExpired, again.Status)

		evs := rcv.waitFor(t, 1)
		assert.Equal(t, stripesim.EventCheckoutSessionExpired, evs[0].Type)
		ev := e.sim.Events()[0]
		assert.Contains(t, string(ev.Data.Object), `"status":"expired"`)
		require.NotNil(t, ev.Request.ID, "caused by an API request")

		// The hosted page shows the session expired and cannot be paid.
		page := do(t, http.MethodGet, pageURL, nil, nil)
		require.Equal(t, http.StatusOK, page.Status)
		assert.Contains(t, string(page.Body), "expired")
		assert.NotContains(t, string(page.Body), `aria-label="Pay"`)
		pay := do(t, http.MethodPost, pageURL, url.Values{}, nil)
		assert.Equal(t, http.StatusGone, pay.Status)
		assert.Empty(t, pay.Header.Get("Location"), "no redirect to success_url")
		waitIdle(t, e.sim)
		assert.Zero(t, e.sim.CreatedPaymentIntents(), "no PaymentIntent made")
		assert.Len(t, e.sim.Events(), 1, "no completion")
		now, _ := e.sim.CheckoutSession(cs.ID)
		assert.Equal(t, "expired", now.Status)
	})

	t.Run("ErrNotOpen", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		api := e.sk()
		expired, err := api.CheckoutSessions.New(sessionParams(2500))
		require.NoError(t, err)
		_, err = api.CheckoutSessions.Expire(expired.ID, nil)
		require.NoError(t, err)
		complete, err := api.CheckoutSessions.New(sessionParams(2500))
		require.NoError(t, err)
		require.Equal(t, http.StatusSeeOther, do(t, http.MethodPost, complete.URL, url.Values{}, nil).Status)

		for _, tt := range []struct{ id, status string }{{expired.ID, "expired"}, {complete.ID, "complete"}} {
			_, err := api.CheckoutSessions.Expire(tt.id, nil)
			se := stripeErr(t, err)
			assert.Equal(t, 400, se.HTTPStatusCode)
			assert.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
			assert.Equal(t, notOpenMessage(tt.status), se.Msg)
			now, _ := e.sim.CheckoutSession(tt.id)
			assert.Equal(t, tt.status, now.Status, "unchanged")
		}
		types := []string{}
		for _, ev := range e.sim.Events() {
			types = append(types, ev.Type)
		}
		assert.Equal(t, []string{stripesim.EventCheckoutSessionExpired, stripesim.EventPaymentIntentSucceeded, stripesim.EventCheckoutSessionCompleted}, types)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		_, err := e.sk().CheckoutSessions.Expire("cs_test_missing", nil)
		se := stripeErr(t, err)
		assert.Equal(t, 404, se.HTTPStatusCode)
		assert.Equal(t, stripe.ErrorCodeResourceMissing, se.Code)
		assert.Equal(t, "session", se.Param)
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		api := e.sk()
		cs, err := api.CheckoutSessions.New(sessionParams(2500))
		require.NoError(t, err)
		expire := func(key string) (*stripe.CheckoutSession, error) {
			p := &stripe.CheckoutSessionExpireParams{}
			p.SetIdempotencyKey(key)
			return api.CheckoutSessions.Expire(cs.ID, p)
		}
		first, err := expire("k-expire")
		require.NoError(t, err)
		replay, err := expire("k-expire")
		require.NoError(t, err, "the same key replays the first answer")
		assert.Equal(t, "true", replay.LastResponse.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, first.LastResponse.RequestID, replay.LastResponse.Header.Get("Original-Request"))
		assert.Equal(t, stripe.CheckoutSessionStatusExpired, replay.Status)
		assert.Len(t, e.sim.Events(), 1, "one expiry, one event")

		_, err = expire("k-other")
		assert.Equal(t, notOpenMessage("expired"), stripeErr(t, err).Msg, "another key runs again")

		// The same key on another session is a parameter mismatch.
		other, err := api.CheckoutSessions.New(sessionParams(2500))
		require.NoError(t, err)
		p := &stripe.CheckoutSessionExpireParams{}
		p.SetIdempotencyKey("k-expire")
		_, err = api.CheckoutSessions.Expire(other.ID, p)
		assert.Equal(t, stripe.ErrorTypeIdempotency, stripeErr(t, err).Type)
		now, _ := e.sim.CheckoutSession(other.ID)
		assert.Equal(t, "open", now.Status)
	})
}
