package stripepay_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

// wireState carries ids from one call of the wire table to the next.
type wireState struct {
	piID, sessionID string
}

// wireCalls is the one table of stripepay calls run against both the
// simulator and stripe-mock. stripe-mock is stateless: against it only
// success and decoded shapes are checked (check receives stateful=false).
var wireCalls = []struct {
	name string
	run  func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool)
}{
	{"CreatePaymentIntent", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		pi, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{
			Amount: 2000, Currency: "usd", IdempotencyKey: "onecharge-pi-create-ik_wire",
			Metadata: map[string]string{"onecharge_key": "ik_wire"},
		})
		require.NoError(t, err)
		assert.NotEmpty(t, pi.ID)
		assert.NotEmpty(t, pi.ClientSecret)
		assert.NotEmpty(t, pi.Status)
		if stateful {
			assert.Equal(t, int64(2000), pi.Amount)
			assert.Equal(t, "ik_wire", pi.Metadata["onecharge_key"])
		}
		st.piID = pi.ID
	}},
	{"RetrievePaymentIntent", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		pi, err := gw.GetPaymentIntent(ctx, st.piID)
		require.NoError(t, err)
		assert.NotEmpty(t, pi.ID)
		if stateful {
			assert.Equal(t, st.piID, pi.ID)
		}
	}},
	{"UpdatePaymentIntent", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		pi, err := gw.UpdatePaymentIntent(ctx, st.piID, 2500, "usd", "onecharge-pi-update-1")
		require.NoError(t, err)
		assert.NotEmpty(t, pi.ID)
		if stateful {
			assert.Equal(t, int64(2500), pi.Amount)
		}
	}},
	{"ConfirmPaymentIntent", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		pi, err := gw.ConfirmPaymentIntent(ctx, st.piID, "pm_card_visa", "https://shop.example/return", "")
		require.NoError(t, err)
		assert.NotEmpty(t, pi.ID)
		if stateful {
			assert.Equal(t, checkoutsvc.StatusSucceeded, pi.Status)
		}
	}},
	{"CancelPaymentIntent", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		// A fresh intent: the confirmed one can no longer be canceled.
		fresh, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 300, Currency: "usd"})
		require.NoError(t, err)
		pi, err := gw.CancelPaymentIntent(ctx, fresh.ID, "")
		require.NoError(t, err)
		assert.NotEmpty(t, pi.ID)
		if stateful {
			assert.Equal(t, checkoutsvc.StatusCanceled, pi.Status)
		}
	}},
	{"CreateCheckoutSession", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		cs, err := gw.CreateCheckoutSession(ctx, checkoutsvc.CheckoutSessionParams{
			Lines:      []checkout.Line{{ProductID: "p1", Name: "Mug", Quantity: 2, UnitAmount: 1500}},
			Currency:   "usd",
			SuccessURL: "https://shop.example/?checkout=success&session_id={CHECKOUT_SESSION_ID}",
			CancelURL:  "https://shop.example/?checkout=canceled", ClientRefID: "user-1", IdempotencyKey: "cs-wire",
		})
		require.NoError(t, err)
		assert.NotEmpty(t, cs.ID)
		assert.NotEmpty(t, cs.URL)
		st.sessionID = cs.ID
	}},
	{"RetrieveCheckoutSession", func(t *testing.T, ctx context.Context, gw *stripepay.Client, st *wireState, stateful bool) {
		cs, err := gw.GetCheckoutSession(ctx, st.sessionID)
		require.NoError(t, err)
		assert.NotEmpty(t, cs.ID)
		if stateful {
			assert.Equal(t, "open", cs.Status)
			assert.Equal(t, int64(3000), cs.AmountTotal)
		}
	}},
}

// TestWireCompatibility runs the same stripe-go calls against the
// simulator and stripe-mock (Stripe's OpenAPI-validated mock), proving
// that stripepay's requests are valid Stripe requests and that the
// simulator answers them in shapes stripe-go decodes.
func TestWireCompatibility(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name     string
		stateful bool
		start    func(t *testing.T) (base, secretKey string)
	}{
		{"Simulator", true, func(t *testing.T) (string, string) {
			e := mustSim(t, stripesim.Config{})
			return e.base, e.sim.SecretKey()
		}},
		{"StripeMock", false, func(t *testing.T) (string, string) { return startStripeMock(t), "sk_test_123" }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			base, key := b.start(t)
			gw, err := stripepay.New(stripepay.Config{SecretKey: key, APIBase: base, NoRetryDelay: true})
			require.NoError(t, err)
			st := &wireState{}
			for _, c := range wireCalls {
				if !t.Run(c.name, func(t *testing.T) { c.run(t, context.Background(), gw, st, b.stateful) }) {
					return // later calls need this one's ids
				}
			}
		})
	}
}
