package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

func TestWebhookSignature(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	payload := []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","api_version":"` + stripe.APIVersion + `","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`)
	tests := []struct {
		name string
		sig  string
	}{
		{"Missing", ""},
		{"Garbage", "t=1,v1=deadbeef"},
		{"WrongSecret", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: "whsec_wrong", Timestamp: time.Now()}).Header},
		{"TooOld", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: env.Sim.WebhookSecret(), Timestamp: time.Now().Add(-time.Hour)}).Header},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.URL+"/api/stripe/webhook", strings.NewReader(string(payload)))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set("Stripe-Signature", tt.sig)
			resp, err := c.HTTP.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			var body checkout.ErrorBody
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, checkout.CodeInvalidSignature, body.Error.Code)
		})
	}
}

// paidIntent validates and pays with the good card.
func paidIntent(t *testing.T, env *testenv.Env, c *testenv.Client) checkout.ValidateResponse {
	resp, r := c.Validate(mugCard)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	conf := c.Confirm(resp.PaymentIntent, "pm_card_visa")
	require.Equal(t, http.StatusOK, conf.Status, "%s", conf.Body)
	return resp
}

func orderOf(t *testing.T, c *testenv.Client, pi string) (checkout.OrderStatus, int) {
	r := c.Do(http.MethodGet, "/api/orders/"+pi, "", nil)
	var o checkout.OrderResponse
	if r.Status == http.StatusOK {
		r.Decode(t, &o)
	}
	return o.Order, r.Status
}

func TestWebhookDeliveries(t *testing.T) {
	t.Run("DuplicateEventsOneOrder", func(t *testing.T) {
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			env.Sim.SetWebhookMode(stripesim.WebhookMode{Duplicate: true})
			c := env.NewClient(t)
			resp := paidIntent(t, env, c)
			env.WaitWebhooks(t)
			o, status := orderOf(t, c, resp.PaymentIntent.ID)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, checkout.OrderPaid, o.Status)
			assert.Equal(t, int64(2400), o.Amount)

			// A replay of the same event id by hand is recognised and changes nothing.
			assert.JSONEq(t, `{"received":true,"duplicate":true}`, replayLastEvent(t, env))
			again, _ := orderOf(t, c, resp.PaymentIntent.ID)
			assert.Equal(t, o, again)
		})
	})
	t.Run("SucceededBeforeFailed", func(t *testing.T) {
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			// A declined attempt, then a good one; events arrive reversed.
			env.Sim.SetWebhookMode(stripesim.WebhookMode{Order: stripesim.Reversed})
			c := env.NewClient(t)
			resp, r := c.Validate(mugCard)
			require.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, http.StatusPaymentRequired, c.Confirm(resp.PaymentIntent, "pm_card_chargeDeclined").Status)
			require.Equal(t, http.StatusOK, c.Confirm(resp.PaymentIntent, "pm_card_visa").Status)
			env.Sim.ReleaseWebhooks()
			env.WaitWebhooks(t)
			o, _ := orderOf(t, c, resp.PaymentIntent.ID)
			assert.Equal(t, checkout.OrderPaid, o.Status, "a late payment_failed never undoes succeeded")
			_, r = c.Validate(withKey(mugCard, resp.IdempotencyKey))
			assert.Equal(t, checkout.CodePaymentAlreadyCompleted, r.Error().Code)
		})
	})
	t.Run("SucceededThenReplayed", func(t *testing.T) {
		// The succeeded event lands (the record phase keeping it is the
		// store suite's KeepsSucceeded): the key is spent.
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			resp, r := c.Validate(mugCard)
			require.Equal(t, http.StatusOK, r.Status)
			res, err := env.Store.ApplyEvent(context.Background(), stripeEvent("evt_early", resp.PaymentIntent.ID, resp.IdempotencyKey, env))
			require.NoError(t, err)
			assert.True(t, res.Applied)
			_, r = c.Validate(withKey(mugCard, resp.IdempotencyKey))
			assert.Equal(t, checkout.CodePaymentAlreadyCompleted, r.Error().Code)
		})
	})
	t.Run("RetriedAfterFailure", func(t *testing.T) {
		// The first deliveries fail (the server is "down"); Stripe retries.
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			env.Sim.SetWebhookURL(env.URL + "/api/stripe/webhook-typo")
			resp := paidIntent(t, env, c)
			time.Sleep(30 * time.Millisecond) // let a delivery attempt fail
			env.Sim.SetWebhookURL(env.URL + "/api/stripe/webhook")
			env.WaitWebhooks(t)
			o, _ := orderOf(t, c, resp.PaymentIntent.ID)
			assert.Equal(t, checkout.OrderPaid, o.Status)
		})
	})
}

func TestHostedCheckout(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		body := checkout.CartRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 1}, {ProductID: "cap", Quantity: 2}}}
		var first checkout.CheckoutResponse
		for i := 0; i < 3; i++ { // repeated checkouts keep working and keep one cart
			r := c.JSON(http.MethodPost, "/api/checkout", body)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var resp checkout.CheckoutResponse
			r.Decode(t, &resp)
			assert.True(t, strings.HasPrefix(resp.SessionID, "cs_"))
			assert.NotEmpty(t, resp.URL)
			first = resp
		}
		var cart checkout.CartResponse
		c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
		assert.Len(t, cart.Cart.Items, 2)
		assert.Equal(t, int64(1200+2*2000), cart.Cart.Amount)

		// Pay on the hosted page: the simulator completes the session and
		// sends checkout.session.completed.
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		page, err := noRedirect.Get(first.URL)
		require.NoError(t, err)
		page.Body.Close()
		require.Equal(t, http.StatusOK, page.StatusCode)
		pay, err := noRedirect.PostForm(first.URL, nil)
		require.NoError(t, err)
		pay.Body.Close()
		require.Equal(t, http.StatusSeeOther, pay.StatusCode)
		assert.Contains(t, pay.Header.Get("Location"), "session_id="+first.SessionID)
		env.WaitWebhooks(t)
		sess, ok := env.Sim.CheckoutSession(first.SessionID)
		require.True(t, ok)
		require.NotNil(t, sess.PaymentIntent)
		o, status := orderOf(t, c, *sess.PaymentIntent)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, checkout.OrderPaid, o.Status)
		assert.Equal(t, int64(5200), o.Amount)
		c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
		assert.Empty(t, cart.Cart.Items)
	})
}

func stripeEvent(id, pi, key string, env *testenv.Env) checkoutsvc.Event {
	return checkoutsvc.Event{ID: id, Type: checkoutsvc.EventPaymentSucceeded, PaymentIntentID: pi, OnechargeKey: key, Amount: 2400, Currency: "usd", Now: env.Clock.Now()}
}

func piOf(resp checkout.ValidateResponse) checkoutsvc.PaymentIntent {
	p := resp.PaymentIntent
	return checkoutsvc.PaymentIntent{ID: p.ID, ClientSecret: p.ClientSecret, Status: checkoutsvc.StatusRequiresPaymentMethod, Amount: p.Amount, Currency: p.Currency}
}

func replayLastEvent(t *testing.T, env *testenv.Env) string {
	evs := env.Sim.Events()
	require.NotEmpty(t, evs)
	ev := evs[len(evs)-1]
	payload := ev.Payload()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: env.Sim.WebhookSecret(), Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/api/stripe/webhook", strings.NewReader(string(payload)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "replayed event %s: %s", ev.ID, body)
	return string(body)
}
