package stripesim_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"github.com/onecharge/onecharge/server/stripesim"
)

// TestThreeDSecureChallenge follows the redirect as a browser would: GET the
// challenge page, POST one of its forms, follow the 303 to return_url.
func TestThreeDSecureChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		action         string
		redirectStatus string
		piStatus       string
		event          string
	}{
		{"Complete", "complete", "succeeded", stripesim.StatusSucceeded, stripesim.EventPaymentIntentSucceeded},
		{"Fail", "fail", "failed", stripesim.StatusRequiresPaymentMethod, stripesim.EventPaymentIntentPaymentFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustSim(t, stripesim.Config{})
			pi := e.createPI(t, 4200, nil)
			got, err := e.sk().PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{
				PaymentMethod: stripe.String(stripesim.PMCardThreeDSecure2),
				ReturnURL:     stripe.String("https://shop.example/checkout/return?step=3"),
			})
			require.NoError(t, err)
			require.Equal(t, stripe.PaymentIntentStatusRequiresAction, got.Status)
			challenge := got.NextAction.RedirectToURL.URL

			page := do(t, http.MethodGet, challenge, nil, nil)
			require.Equal(t, http.StatusOK, page.Status)
			assert.Contains(t, page.Header.Get("Content-Type"), "text/html")
			html := string(page.Body)
			assert.Contains(t, html, `aria-label="Complete authentication"`)
			assert.Contains(t, html, `aria-label="Fail authentication"`)
			assert.Contains(t, html, "42.00 USD")

			resp := do(t, http.MethodPost, challenge, url.Values{"action": {tt.action}}, nil)
			require.Equal(t, http.StatusSeeOther, resp.Status)
			loc, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			assert.Equal(t, "shop.example", loc.Host)
			assert.Equal(t, "/checkout/return", loc.Path)
			q := loc.Query()
			assert.Equal(t, "3", q.Get("step"))
			assert.Equal(t, pi.ID, q.Get("payment_intent"))
			assert.Equal(t, pi.ClientSecret, q.Get("payment_intent_client_secret"))
			assert.Equal(t, tt.redirectStatus, q.Get("redirect_status"))

			after, err := e.sk().PaymentIntents.Get(pi.ID, nil)
			require.NoError(t, err)
			assert.Equal(t, stripe.PaymentIntentStatus(tt.piStatus), after.Status)
			assert.Nil(t, after.NextAction)
			if tt.action == "fail" {
				require.NotNil(t, after.LastPaymentError)
				assert.Equal(t, stripe.ErrorCode("payment_intent_authentication_failure"), after.LastPaymentError.Code)
			}
			evs := e.sim.Events()
			require.Len(t, evs, 1)
			assert.Equal(t, tt.event, evs[0].Type)

			// A second submit (double click) lands on the same outcome;
			// the page itself is gone.
			again := do(t, http.MethodPost, challenge, url.Values{"action": {"complete"}}, nil)
			require.Equal(t, http.StatusSeeOther, again.Status)
			assert.Contains(t, again.Header.Get("Location"), "redirect_status="+tt.redirectStatus)
			assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, challenge, nil, nil).Status)
			assert.Len(t, e.sim.Events(), 1)
		})
	}

	t.Run("ErrBadToken", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 4200, nil)
		_, err := e.sk().PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(stripesim.PMCardThreeDSecure2)})
		require.NoError(t, err)
		resp := do(t, http.MethodPost, e.base+"/challenge/"+pi.ID+"/wrong", url.Values{"action": {"complete"}}, nil)
		assert.Equal(t, http.StatusNotFound, resp.Status)
		now, _ := e.sim.PaymentIntent(pi.ID)
		assert.Equal(t, stripesim.StatusRequiresAction, now.Status)
	})

	t.Run("CanceledMeanwhile", func(t *testing.T) {
		// Found by the model-based test: the intent was canceled while its
		// challenge was open; completing the challenge then must not make
		// it succeed (Stripe never moves canceled to succeeded).
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 4200, nil)
		got, err := e.sk().PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{
			PaymentMethod: stripe.String(stripesim.PMCardThreeDSecure2), ReturnURL: stripe.String("https://shop.example/r")})
		require.NoError(t, err)
		challenge := got.NextAction.RedirectToURL.URL
		require.NoError(t, e.sim.ForcePaymentIntentStatus(pi.ID, stripesim.StatusCanceled)) // the back office cancels it
		resp := do(t, http.MethodPost, challenge, url.Values{"action": {"complete"}}, nil)
		require.Equal(t, http.StatusSeeOther, resp.Status)
		assert.Contains(t, resp.Header.Get("Location"), "redirect_status=failed")
		now, _ := e.sim.PaymentIntent(pi.ID)
		assert.Equal(t, stripesim.StatusCanceled, now.Status)
		for _, ev := range e.sim.Events() {
			assert.NotEqual(t, stripesim.EventPaymentIntentSucceeded, ev.Type)
		}
	})

	t.Run("PublicURL", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{PublicURL: "https://shop.example/_stripe/"})
		pi := e.createPI(t, 4200, nil)
		got, err := e.sk().PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(stripesim.PMCardThreeDSecure2)})
		require.NoError(t, err)
		assert.Regexp(t, `^https://shop\.example/_stripe/challenge/`+pi.ID+`/`, got.NextAction.RedirectToURL.URL)
	})

	t.Run("PathPrefixAndForwardedProto", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 4200, nil)
		resp := do(t, http.MethodPost, e.base+"/v1/payment_intents/"+pi.ID+"/confirm",
			url.Values{"payment_method": {stripesim.PMCardThreeDSecure2}},
			map[string]string{"Authorization": "Bearer " + e.sim.SecretKey(), "X-Forwarded-Proto": "https"})
		require.Equal(t, http.StatusOK, resp.Status)
		next := resp.JSON(t)["next_action"].(map[string]any)["redirect_to_url"].(map[string]any)["url"].(string)
		assert.True(t, strings.HasPrefix(next, "https://"+strings.TrimPrefix(e.srv.URL, "http://")+"/_stripe/challenge/"), next)
	})
}

func TestCheckoutSession(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	rcv := newReceiver(t, 0)
	e.sim.SetWebhookURL(rcv.URL())
	api := e.sk()

	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String("payment"),
		SuccessURL:        stripe.String("https://shop.example/?checkout=success&session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:         stripe.String("https://shop.example/?checkout=canceled"),
		ClientReferenceID: stripe.String("user-1"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{
			{PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1500),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Mug")},
			}, Quantity: stripe.Int64(2)},
			{PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency: stripe.String("usd"), UnitAmount: stripe.Int64(999),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Tea <green>")},
			}, Quantity: stripe.Int64(1)},
		},
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: map[string]string{"cart": "c1"}},
	}
	params.AddMetadata("order", "o1")
	cs, err := api.CheckoutSessions.New(params)
	require.NoError(t, err)
	assert.Regexp(t, `^cs_test_`, cs.ID)
	assert.Equal(t, "checkout.session", cs.Object)
	assert.Equal(t, int64(3999), cs.AmountTotal)
	assert.Equal(t, stripe.CurrencyUSD, cs.Currency)
	assert.Equal(t, stripe.CheckoutSessionStatusOpen, cs.Status)
	assert.Equal(t, stripe.CheckoutSessionPaymentStatusUnpaid, cs.PaymentStatus)
	assert.Equal(t, "user-1", cs.ClientReferenceID)
	assert.Equal(t, map[string]string{"order": "o1"}, cs.Metadata)
	assert.Nil(t, cs.PaymentIntent)
	assert.Equal(t, e.base+"/checkout/"+cs.ID, cs.URL)

	page := do(t, http.MethodGet, cs.URL, nil, nil)
	require.Equal(t, http.StatusOK, page.Status)
	assert.Contains(t, string(page.Body), `aria-label="Pay"`)
	assert.Contains(t, string(page.Body), "Tea &lt;green&gt;")
	assert.Contains(t, string(page.Body), "39.99 USD")
	assert.Contains(t, string(page.Body), `href="https://shop.example/?checkout=canceled"`)

	paid := do(t, http.MethodPost, cs.URL, url.Values{}, nil)
	require.Equal(t, http.StatusSeeOther, paid.Status)
	assert.Equal(t, "https://shop.example/?checkout=success&session_id="+cs.ID, paid.Header.Get("Location"))

	got, err := api.CheckoutSessions.Get(cs.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, stripe.CheckoutSessionStatusComplete, got.Status)
	assert.Equal(t, stripe.CheckoutSessionPaymentStatusPaid, got.PaymentStatus)
	require.NotNil(t, got.PaymentIntent)
	piID := got.PaymentIntent.ID

	expanded := &stripe.CheckoutSessionParams{}
	expanded.AddExpand("payment_intent")
	got, err = api.CheckoutSessions.Get(cs.ID, expanded)
	require.NoError(t, err)
	assert.Equal(t, stripe.PaymentIntentStatusSucceeded, got.PaymentIntent.Status)
	assert.Equal(t, int64(3999), got.PaymentIntent.Amount)
	assert.Equal(t, map[string]string{"cart": "c1"}, got.PaymentIntent.Metadata)
	assert.Equal(t, piID, got.PaymentIntent.ID)
	assert.Equal(t, 1, e.sim.CreatedPaymentIntents())

	evs := rcv.waitFor(t, 2)
	assert.Equal(t, []string{"payment_intent.succeeded", "checkout.session.completed"}, []string{evs[0].Type, evs[1].Type})

	// Paying again redirects again and changes nothing.
	again := do(t, http.MethodPost, cs.URL, url.Values{}, nil)
	require.Equal(t, http.StatusSeeOther, again.Status)
	assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	waitIdle(t, e.sim)
	assert.Len(t, rcv.deliveries(), 2)

	t.Run("ErrParams", func(t *testing.T) {
		line := func(cur string, amount int64, name string) *stripe.CheckoutSessionLineItemParams {
			return &stripe.CheckoutSessionLineItemParams{PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency: stripe.String(cur), UnitAmount: stripe.Int64(amount),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(name)},
			}, Quantity: stripe.Int64(1)}
		}
		tests := []struct {
			name   string
			params *stripe.CheckoutSessionParams
			param  string
		}{
			{"NoMode", &stripe.CheckoutSessionParams{SuccessURL: stripe.String("https://x"), LineItems: []*stripe.CheckoutSessionLineItemParams{line("usd", 1, "a")}}, "mode"},
			{"Subscription", &stripe.CheckoutSessionParams{Mode: stripe.String("subscription"), SuccessURL: stripe.String("https://x"), LineItems: []*stripe.CheckoutSessionLineItemParams{line("usd", 1, "a")}}, "mode"},
			{"NoSuccessURL", &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), LineItems: []*stripe.CheckoutSessionLineItemParams{line("usd", 1, "a")}}, "success_url"},
			{"NoLines", &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), SuccessURL: stripe.String("https://x")}, "line_items"},
			{"MixedCurrencies", &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), SuccessURL: stripe.String("https://x"), LineItems: []*stripe.CheckoutSessionLineItemParams{line("usd", 1, "a"), line("eur", 1, "b")}}, "line_items[1][price_data][currency]"},
			{"NoName", &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), SuccessURL: stripe.String("https://x"), LineItems: []*stripe.CheckoutSessionLineItemParams{line("usd", 1, "")}}, "line_items[0][price_data][product_data][name]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := api.CheckoutSessions.New(tt.params)
				se := stripeErr(t, err)
				assert.Equal(t, 400, se.HTTPStatusCode)
				assert.Equal(t, tt.param, se.Param)
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := api.CheckoutSessions.Get("cs_test_missing", nil)
		se := stripeErr(t, err)
		assert.Equal(t, 404, se.HTTPStatusCode)
		assert.Equal(t, stripe.ErrorCodeResourceMissing, se.Code)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, e.base+"/checkout/cs_test_missing", nil, nil).Status)
	})
}

// TestCheckoutSessionLineItemErrors: bad line items are rejected with
// Stripe's parameter errors, and no session is created.
func TestCheckoutSessionLineItemErrors(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	base := url.Values{
		"mode": {"payment"}, "success_url": {"https://shop.test/ok"}, "cancel_url": {"https://shop.test/no"},
		"line_items[0][price_data][currency]":           {"usd"},
		"line_items[0][price_data][product_data][name]": {"Mug"},
		"line_items[0][price_data][unit_amount]":        {"1200"},
		"line_items[0][quantity]":                       {"1"},
	}
	tests := []struct {
		name, field, value, code, param string
	}{
		{"QuantityNotInteger", "line_items[0][quantity]", "two", "parameter_invalid_integer", "line_items[0][quantity]"},
		{"QuantityMissing", "line_items[0][quantity]", "", "parameter_missing", "line_items[0][quantity]"},
		{"QuantityZero", "line_items[0][quantity]", "0", "parameter_invalid_integer", "line_items[0][quantity]"},
		{"UnitAmountNotInteger", "line_items[0][price_data][unit_amount]", "1.5", "parameter_invalid_integer", "line_items[0][price_data][unit_amount]"},
		{"UnitAmountMissing", "line_items[0][price_data][unit_amount]", "", "parameter_missing", "line_items[0][price_data][unit_amount]"},
		{"UnitAmountNegative", "line_items[0][price_data][unit_amount]", "-1", "parameter_invalid_integer", "line_items[0][price_data][unit_amount]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range base {
				form[k] = v
			}
			if tt.value == "" {
				form.Del(tt.field)
			} else {
				form.Set(tt.field, tt.value)
			}
			resp := do(t, http.MethodPost, e.base+"/v1/checkout/sessions", form, bearer(e.sim.SecretKey()))
			assert.Equal(t, http.StatusBadRequest, resp.Status)
			errObj := resp.JSON(t)["error"].(map[string]any)
			assert.Equal(t, tt.code, errObj["code"])
			assert.Equal(t, tt.param, errObj["param"])
		})
	}
	assert.Empty(t, e.sim.CheckoutSessions())
}
