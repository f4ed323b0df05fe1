package stripepay_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

func TestNew(t *testing.T) {
	t.Parallel()
	_, err := stripepay.New(stripepay.Config{})
	assert.Error(t, err)
	c, err := stripepay.New(stripepay.Config{SecretKey: "sk_test_x"})
	require.NoError(t, err)
	assert.NotNil(t, c.API())
}

func TestGateway(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	gw := e.gateway(t, nil)
	ctx := context.Background()
	meta := map[string]string{"onecharge_key": "ik_abc", "user_id": "u1"}

	pi, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 5000, Currency: "usd", IdempotencyKey: "onecharge-pi-create-ik_abc", Metadata: meta})
	require.NoError(t, err)
	assert.Regexp(t, `^pi_`, pi.ID)
	assert.NotEmpty(t, pi.ClientSecret)
	assert.Equal(t, checkoutsvc.StatusRequiresPaymentMethod, pi.Status)
	assert.Equal(t, int64(5000), pi.Amount)
	assert.Equal(t, "usd", pi.Currency)
	assert.Equal(t, meta, pi.Metadata)
	simPI, ok := e.sim.PaymentIntent(pi.ID)
	require.True(t, ok)
	assert.Equal(t, []string{"card"}, simPI.PaymentMethodTypes)
	require.NotNil(t, simPI.AutomaticPaymentMethods)
	assert.False(t, simPI.AutomaticPaymentMethods.Enabled)

	t.Run("CreateReplaysSameKey", func(t *testing.T) {
		again, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 5000, Currency: "usd", IdempotencyKey: "onecharge-pi-create-ik_abc", Metadata: meta})
		require.NoError(t, err)
		assert.Equal(t, pi, again)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	})

	t.Run("Get", func(t *testing.T) {
		got, err := gw.GetPaymentIntent(ctx, pi.ID)
		require.NoError(t, err)
		assert.Equal(t, pi, got)
	})

	t.Run("Update", func(t *testing.T) {
		got, err := gw.UpdatePaymentIntent(ctx, pi.ID, 6500, "eur", "")
		require.NoError(t, err)
		assert.Equal(t, int64(6500), got.Amount)
		assert.Equal(t, "eur", got.Currency)
		got, err = gw.UpdatePaymentIntent(ctx, pi.ID, 7000, "eur", "upd-1")
		require.NoError(t, err)
		assert.Equal(t, int64(7000), got.Amount)
	})

	t.Run("ConfirmAndErrUnexpectedState", func(t *testing.T) {
		got, err := gw.ConfirmPaymentIntent(ctx, pi.ID, stripesim.PMCardVisa, "", "")
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.StatusSucceeded, got.Status)
		_, err = gw.UpdatePaymentIntent(ctx, pi.ID, 100, "eur", "")
		assert.ErrorIs(t, err, checkoutsvc.ErrUnexpectedState)
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, stripe.ErrorCodePaymentIntentUnexpectedState, se.Code)
	})

	t.Run("Cancel", func(t *testing.T) {
		other, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 100, Currency: "usd"})
		require.NoError(t, err)
		got, err := gw.CancelPaymentIntent(ctx, other.ID, "cancel-1")
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.StatusCanceled, got.Status)
	})

	t.Run("CheckoutSession", func(t *testing.T) {
		cs, err := gw.CreateCheckoutSession(ctx, checkoutsvc.CheckoutSessionParams{
			Lines: []checkout.Line{
				{ProductID: "p1", Name: "Mug", Quantity: 2, UnitAmount: 1500},
				{ProductID: "p2", Name: "Tea", Quantity: 1, UnitAmount: 999},
			},
			Currency: "usd", SuccessURL: "https://shop.example/?session_id={CHECKOUT_SESSION_ID}",
			CancelURL: "https://shop.example/?canceled", ClientRefID: "u1", IdempotencyKey: "cs-1",
		})
		require.NoError(t, err)
		assert.Regexp(t, `^cs_test_`, cs.ID)
		assert.Equal(t, e.base+"/checkout/"+cs.ID, cs.URL)
		simCS, ok := e.sim.CheckoutSession(cs.ID)
		require.True(t, ok)
		assert.Equal(t, int64(3999), simCS.AmountTotal)
		assert.Equal(t, "u1", *simCS.ClientReferenceID)
		assert.Len(t, simCS.LineItems, 2)

		st, err := gw.GetCheckoutSession(ctx, cs.ID)
		require.NoError(t, err)
		assert.Equal(t, "open", st.Status)
		assert.Empty(t, st.PaymentIntentID)

		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
			Post(cs.URL, "application/x-www-form-urlencoded", nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		assert.Equal(t, "https://shop.example/?session_id="+cs.ID, resp.Header.Get("Location"))

		st, err = gw.GetCheckoutSession(ctx, cs.ID)
		require.NoError(t, err)
		assert.Equal(t, stripepay.CheckoutSessionStatus{ID: cs.ID, Status: "complete", PaymentStatus: "paid",
			PaymentIntentID: st.PaymentIntentID, AmountTotal: 3999, Currency: "usd"}, st)
		assert.Regexp(t, `^pi_`, st.PaymentIntentID)

		// A paid session cannot be expired: Stripe's refusal carries no
		// code, so the adapter re-reads and reports the status.
		status, err := gw.ExpireCheckoutSession(ctx, cs.ID)
		assert.ErrorIs(t, err, checkoutsvc.ErrUnexpectedState)
		assert.Equal(t, "complete", status)
	})

	t.Run("ExpireCheckoutSession", func(t *testing.T) {
		cs, err := gw.CreateCheckoutSession(ctx, checkoutsvc.CheckoutSessionParams{
			Lines: []checkout.Line{{ProductID: "p1", Name: "Mug", Quantity: 1, UnitAmount: 1500}}, Currency: "usd",
			SuccessURL: "https://shop.example/", ClientRefID: "u1",
		})
		require.NoError(t, err)
		status, err := gw.ExpireCheckoutSession(ctx, cs.ID)
		require.NoError(t, err)
		assert.Equal(t, "expired", status)
		status, err = gw.ExpireCheckoutSession(ctx, cs.ID)
		assert.ErrorIs(t, err, checkoutsvc.ErrUnexpectedState, "expiring twice")
		assert.Equal(t, "expired", status)
		_, err = gw.ExpireCheckoutSession(ctx, "cs_test_missing")
		assert.ErrorIs(t, err, checkoutsvc.ErrNotFound)
	})

	t.Run("NoGlobalState", func(t *testing.T) {
		assert.Empty(t, stripe.Key, "the adapter never sets stripe.Key")
	})
}

// TestErrorTranslation: provider errors become the Gateway's errors, with
// the original kept in the chain.
func TestErrorTranslation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	create := func(gw *stripepay.Client, key string, amount int64) error {
		_, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: amount, Currency: "usd", IdempotencyKey: key})
		return err
	}
	// fixed answers what the simulator cannot: 403, 429, a proxy's 502.
	fixed := func(t *testing.T, status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name string
		run  func(t *testing.T) error
		want error
		also error // another error in the chain, when set
	}{
		{name: "InvalidCreate", want: checkoutsvc.ErrIntentFailed, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			_, err := e.gateway(t, nil).CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 1000, Currency: "dollars"})
			return err
		}},
		{name: "IdempotencyMismatch", want: checkoutsvc.ErrIntentFailed, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			gw := e.gateway(t, nil)
			require.NoError(t, create(gw, "k", 100))
			return create(gw, "k", 200)
		}},
		{name: "CardDeclined", want: checkoutsvc.ErrIntentFailed, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			gw := e.gateway(t, nil)
			pi, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 1000, Currency: "usd"})
			require.NoError(t, err)
			_, err = gw.ConfirmPaymentIntent(ctx, pi.ID, stripesim.PMCardChargeDeclined, "", "")
			var ce *stripe.CardError
			assert.ErrorAs(t, err, &ce)
			return err
		}},
		{name: "NotFound", want: checkoutsvc.ErrNotFound, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			_, err := e.gateway(t, nil).GetPaymentIntent(ctx, "pi_missing")
			return err
		}},
		{name: "UnexpectedState", want: checkoutsvc.ErrUnexpectedState, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			gw := e.gateway(t, nil)
			pi, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 1000, Currency: "usd"})
			require.NoError(t, err)
			require.NoError(t, e.sim.ForcePaymentIntentStatus(pi.ID, checkoutsvc.StatusProcessing))
			_, err = gw.UpdatePaymentIntent(ctx, pi.ID, 2000, "usd", "")
			return err
		}},
		{name: "WrongSecretKey401", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			return create(e.gateway(t, func(c *stripepay.Config) { c.SecretKey = "sk_test_wrong" }), "", 1000)
		}},
		{name: "503AfterRetries", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			e.sim.AddFault(stripesim.Fault{ErrorStatus: 503, ErrorRate: 1})
			err := create(e.gateway(t, nil), "k", 1000)
			assert.Equal(t, int32(1+stripepay.DefaultMaxNetworkRetries), e.requests.Load(), "stripe-go retried 503")
			assert.Equal(t, 0, e.sim.CreatedPaymentIntents())
			return err
		}},
		{name: "500OnCreate", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			e.sim.AddFault(stripesim.Fault{Method: "POST", ErrorRate: 1})
			err := create(e.gateway(t, nil), "k", 1000)
			assert.Equal(t, int32(1), e.requests.Load(), "stripe-go does not retry a POST answered 500")
			return err
		}},
		{name: "LatencyBeyondTimeout", want: checkoutsvc.ErrPaymentUnavailable, also: context.DeadlineExceeded, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			e.sim.AddFault(stripesim.Fault{Latency: 5 * time.Second})
			gw := e.gateway(t, func(c *stripepay.Config) { c.Timeout = 100 * time.Millisecond })
			start := time.Now()
			_, err := gw.GetPaymentIntent(ctx, "pi_x")
			assert.Less(t, time.Since(start), 2*time.Second)
			return err
		}},
		{name: "CallerCanceled", want: checkoutsvc.ErrPaymentUnavailable, also: context.Canceled, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := e.gateway(t, nil).GetPaymentIntent(cctx, "pi_x")
			return err
		}},
		{name: "Unreachable", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			srv := httptest.NewServer(http.NotFoundHandler())
			base := srv.URL
			srv.Close()
			gw, err := stripepay.New(stripepay.Config{SecretKey: secretKey, APIBase: base, NoRetryDelay: true})
			require.NoError(t, err)
			return create(gw, "k", 1000)
		}},
		{name: "KeyInFlight409", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			e := mustSim(t, stripesim.Config{})
			e.sim.AddFault(stripesim.Fault{Method: "POST", Latency: 300 * time.Millisecond})
			gw := e.gateway(t, func(c *stripepay.Config) { c.MaxNetworkRetries = -1 })
			first := make(chan error, 1)
			go func() { first <- create(gw, "k-busy", 1000) }()
			require.Eventually(t, func() bool { return e.sim.InFlight() == 1 }, 5*time.Second, time.Millisecond)
			err := create(gw, "k-busy", 1000)
			require.NoError(t, <-first)
			return err
		}},
		{name: "Forbidden403", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			base := fixed(t, 403, `{"error":{"type":"invalid_request_error","message":"The provided key does not have the required permissions."}}`)
			gw, err := stripepay.New(stripepay.Config{SecretKey: secretKey, APIBase: base})
			require.NoError(t, err)
			return create(gw, "k", 1000)
		}},
		{name: "RateLimited429", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			base := fixed(t, 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests."}}`)
			gw, err := stripepay.New(stripepay.Config{SecretKey: secretKey, APIBase: base})
			require.NoError(t, err)
			return create(gw, "k", 1000)
		}},
		{name: "ProxyHTML502", want: checkoutsvc.ErrPaymentUnavailable, run: func(t *testing.T) error {
			base := fixed(t, 502, `<html>Bad Gateway</html>`)
			gw, err := stripepay.New(stripepay.Config{SecretKey: secretKey, APIBase: base, NoRetryDelay: true})
			require.NoError(t, err)
			_, err = gw.GetPaymentIntent(ctx, "pi_x")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.run(t)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			for _, other := range []error{checkoutsvc.ErrPaymentUnavailable, checkoutsvc.ErrIntentFailed, checkoutsvc.ErrUnexpectedState, checkoutsvc.ErrNotFound} {
				if other != tt.want {
					assert.False(t, errors.Is(err, other), "also %v: %v", other, err)
				}
			}
			if tt.also != nil {
				assert.ErrorIs(t, err, tt.also)
			}
			assert.Contains(t, err.Error(), "stripepay: ")
		})
	}
}

// TestDroppedCreate: the create commits, its answer is lost; retrying with
// the same Idempotency-Key returns the same PaymentIntent.
func TestDroppedCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	params := checkoutsvc.CreateIntentParams{Amount: 4200, Currency: "usd", IdempotencyKey: "onecharge-pi-create-ik_drop",
		Metadata: map[string]string{"onecharge_key": "ik_drop"}}
	tests := []struct {
		name string
		mod  func(*stripepay.Config)
	}{
		{"StripeGoRetry", nil},
		{"StripeGoRetryWithBackoff", func(c *stripepay.Config) { c.NoRetryDelay = false }},
		{"SecondCall", func(c *stripepay.Config) { c.MaxNetworkRetries = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustSim(t, stripesim.Config{})
			e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", DropCount: 1})
			gw := e.gateway(t, tt.mod)
			pi, err := gw.CreatePaymentIntent(ctx, params)
			if tt.name == "SecondCall" {
				require.ErrorIs(t, err, checkoutsvc.ErrPaymentUnavailable)
				pi, err = gw.CreatePaymentIntent(ctx, params)
			}
			require.NoError(t, err)
			assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
			assert.Equal(t, e.sim.PaymentIntents()[0].ID, pi.ID)
			assert.Equal(t, "ik_drop", pi.Metadata["onecharge_key"])
		})
	}
}
