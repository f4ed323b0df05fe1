package stripesim_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/onecharge/onecharge/server/stripesim"
)

// TestMinimumAmounts pins the table against Stripe's documented minimum
// charge amounts, in minor units.
func TestMinimumAmounts(t *testing.T) {
	t.Parallel()
	want := map[string]int64{
		"usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
		"dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000,
		"myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
	}
	got := map[string]int64{}
	for _, c := range stripesim.Currencies() {
		got[c], _ = stripesim.MinimumAmount(c)
	}
	assert.Equal(t, want, got)
	_, ok := stripesim.MinimumAmount("xxx")
	assert.False(t, ok)
}

// TestAmountBounds: PaymentIntent create and update and a Checkout
// Session's total are refused below the currency's minimum charge and
// above 99,999,999, with Stripe's codes, param and messages, and change
// nothing.
func TestAmountBounds(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	api := e.sk()

	t.Run("EveryCurrencyAtItsMinimum", func(t *testing.T) {
		for _, cur := range stripesim.Currencies() {
			minimum, _ := stripesim.MinimumAmount(cur)
			_, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(minimum - 1), Currency: stripe.String(cur)})
			assert.Equal(t, stripe.ErrorCode("amount_too_small"), stripeErr(t, err).Code, cur)
			pi, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(minimum), Currency: stripe.String(cur)})
			if assert.NoError(t, err, cur) {
				assert.Equal(t, minimum, pi.Amount)
			}
			_, err = api.CheckoutSessions.New(sessionParamsIn(cur, minimum-1))
			assert.Equal(t, stripe.ErrorCode("amount_too_small"), stripeErr(t, err).Code, cur)
			_, err = api.CheckoutSessions.New(sessionParamsIn(cur, minimum))
			assert.NoError(t, err, cur)
		}
	})

	t.Run("Create", func(t *testing.T) {
		before := e.sim.CreatedPaymentIntents()
		tests := []struct {
			name     string
			amount   int64
			currency string
			code     stripe.ErrorCode
			message  string
		}{
			{"Zero", 0, "usd", "parameter_invalid_integer", "This value must be greater than or equal to 1."},
			{"Negative", -50, "usd", "parameter_invalid_integer", "This value must be greater than or equal to 1."},
			{"BelowUSD", 49, "usd", "amount_too_small", "Amount must be at least $0.50 usd"},
			{"BelowGBP", 29, "gbp", "amount_too_small", "Amount must be at least £0.30 gbp"},
			{"BelowJPY", 49, "jpy", "amount_too_small", "Amount must be at least ¥50 jpy"},
			{"BelowHUF", 17499, "huf", "amount_too_small", "Amount must be at least 175.00 Ft huf"},
			{"BelowMXN", 999, "mxn", "amount_too_small", "Amount must be at least $10.00 mxn"},
			{"AboveUSD", 100000000, "usd", "amount_too_large", "Amount must be no more than $999,999.99"},
			{"AboveJPY", 100000000, "jpy", "amount_too_large", "Amount must be no more than ¥99,999,999"},
			{"AboveEUR", 1 << 40, "eur", "amount_too_large", "Amount must be no more than €999,999.99"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(tt.amount), Currency: stripe.String(tt.currency)})
				se := stripeErr(t, err)
				assert.Equal(t, 400, se.HTTPStatusCode)
				assert.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
				assert.Equal(t, tt.code, se.Code)
				assert.Equal(t, "amount", se.Param)
				assert.Equal(t, tt.message, se.Msg)
			})
		}
		for _, ok := range []struct {
			amount   int64
			currency string
		}{{50, "usd"}, {99999999, "usd"}, {30, "gbp"}, {50, "jpy"}, {99999999, "jpy"}} {
			_, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(ok.amount), Currency: stripe.String(ok.currency)})
			assert.NoError(t, err, "%d %s", ok.amount, ok.currency)
		}
		assert.Equal(t, before+5, e.sim.CreatedPaymentIntents(), "the refused ones made nothing")
	})

	t.Run("ErrUnsupportedCurrency", func(t *testing.T) {
		_, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(1000), Currency: stripe.String("xts")})
		se := stripeErr(t, err)
		assert.Equal(t, "currency", se.Param)
		assert.Contains(t, se.Msg, "Invalid currency: xts.")
		assert.Contains(t, se.Msg, "usd")
	})

	t.Run("Update", func(t *testing.T) {
		pi := e.createPI(t, 1000, nil)
		tests := []struct {
			name    string
			params  *stripe.PaymentIntentParams
			code    stripe.ErrorCode
			message string
		}{
			{"BelowMinimum", &stripe.PaymentIntentParams{Amount: stripe.Int64(49)}, "amount_too_small", "Amount must be at least $0.50 usd"},
			{"Zero", &stripe.PaymentIntentParams{Amount: stripe.Int64(0)}, "parameter_invalid_integer", "This value must be greater than or equal to 1."},
			{"AboveMaximum", &stripe.PaymentIntentParams{Amount: stripe.Int64(100000000)}, "amount_too_large", "Amount must be no more than $999,999.99"},
			// The bounds apply to the intent's new currency too.
			{"CurrencyWithHigherMinimum", &stripe.PaymentIntentParams{Currency: stripe.String("huf")}, "amount_too_small", "Amount must be at least 175.00 Ft huf"},
			{"BothBelow", &stripe.PaymentIntentParams{Amount: stripe.Int64(200), Currency: stripe.String("czk")}, "amount_too_small", "Amount must be at least 15.00Kč czk"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := api.PaymentIntents.Update(pi.ID, tt.params)
				se := stripeErr(t, err)
				assert.Equal(t, 400, se.HTTPStatusCode)
				assert.Equal(t, tt.code, se.Code)
				assert.Equal(t, "amount", se.Param)
				assert.Equal(t, tt.message, se.Msg)
				now, _ := e.sim.PaymentIntent(pi.ID)
				assert.Equal(t, int64(1000), now.Amount)
				assert.Equal(t, "usd", now.Currency)
			})
		}
		got, err := api.PaymentIntents.Update(pi.ID, &stripe.PaymentIntentParams{Amount: stripe.Int64(50)})
		require.NoError(t, err)
		assert.Equal(t, int64(50), got.Amount)
		got, err = api.PaymentIntents.Update(pi.ID, &stripe.PaymentIntentParams{Amount: stripe.Int64(99999999), Currency: stripe.String("jpy")})
		require.NoError(t, err)
		assert.Equal(t, int64(99999999), got.Amount)
	})

	t.Run("CheckoutSessionTotal", func(t *testing.T) {
		before := len(e.sim.CheckoutSessions())
		line := func(unit, qty int64) *stripe.CheckoutSessionLineItemParams {
			return &stripe.CheckoutSessionLineItemParams{PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency: stripe.String("usd"), UnitAmount: stripe.Int64(unit),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Item " + strconv.FormatInt(unit, 10))},
			}, Quantity: stripe.Int64(qty)}
		}
		session := func(lines ...*stripe.CheckoutSessionLineItemParams) *stripe.CheckoutSessionParams {
			return &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), SuccessURL: stripe.String("https://shop.example/ok"), LineItems: lines}
		}
		tests := []struct {
			name    string
			params  *stripe.CheckoutSessionParams
			code    stripe.ErrorCode
			message string
		}{
			{"Zero", session(line(0, 3)), "amount_too_small", "The Checkout Session's total amount due must add up to at least $0.50 usd"},
			{"BelowMinimum", session(line(20, 1), line(29, 1)), "amount_too_small", "The Checkout Session's total amount due must add up to at least $0.50 usd"},
			{"AboveMaximum", session(line(50000000, 1), line(50000000, 1)), "amount_too_large", "The Checkout Session's total amount due must be no more than $999,999.99."},
			{"ProductOverflowsInt64", session(line(1<<40, 1<<40)), "amount_too_large", "The Checkout Session's total amount due must be no more than $999,999.99."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := api.CheckoutSessions.New(tt.params)
				se := stripeErr(t, err)
				assert.Equal(t, 400, se.HTTPStatusCode)
				assert.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
				assert.Equal(t, tt.code, se.Code)
				assert.Equal(t, tt.message, se.Msg)
			})
		}
		assert.Len(t, e.sim.CheckoutSessions(), before, "nothing created")
		cs, err := api.CheckoutSessions.New(session(line(25, 2)))
		require.NoError(t, err)
		assert.Equal(t, int64(50), cs.AmountTotal)
		cs, err = api.CheckoutSessions.New(session(line(33333333, 3)))
		require.NoError(t, err)
		assert.Equal(t, int64(99999999), cs.AmountTotal)
	})

	t.Run("RefusalsAreNotStoredForIdempotency", func(t *testing.T) {
		h := bearer(e.sim.SecretKey())
		h["Idempotency-Key"] = "k-bounds"
		r := do(t, http.MethodPost, e.base+"/v1/payment_intents", url.Values{"amount": {"10"}, "currency": {"usd"}}, h)
		require.Equal(t, http.StatusBadRequest, r.Status)
		r = do(t, http.MethodPost, e.base+"/v1/payment_intents", url.Values{"amount": {"1000"}, "currency": {"usd"}}, h)
		assert.Equal(t, http.StatusOK, r.Status, "a refused amount never ran: the key is free: %s", r.Body)
	})
}
