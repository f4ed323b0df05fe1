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

func TestPaymentIntentLifecycle(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	api := e.sk()

	t.Run("Create", func(t *testing.T) {
		pi := e.createPI(t, 5000, map[string]string{"onecharge_key": "ik_1"})
		assert.Regexp(t, `^pi_[A-Za-z0-9]{24}$`, pi.ID)
		assert.Regexp(t, `^`+pi.ID+`_secret_[A-Za-z0-9]+$`, pi.ClientSecret)
		assert.Equal(t, "payment_intent", pi.Object)
		assert.Equal(t, stripe.PaymentIntentStatusRequiresPaymentMethod, pi.Status)
		assert.Equal(t, int64(5000), pi.Amount)
		assert.Equal(t, stripe.CurrencyUSD, pi.Currency)
		assert.Equal(t, map[string]string{"onecharge_key": "ik_1"}, pi.Metadata)
		assert.Equal(t, []string{"card"}, pi.PaymentMethodTypes)
		assert.False(t, pi.Livemode)
		assert.Equal(t, e.clock.Now().Unix(), pi.Created)
		assert.Nil(t, pi.NextAction)
		assert.Nil(t, pi.LastPaymentError)
	})

	t.Run("Retrieve", func(t *testing.T) {
		pi := e.createPI(t, 700, nil)
		got, err := api.PaymentIntents.Get(pi.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, pi.ID, got.ID)
		assert.Equal(t, pi.ClientSecret, got.ClientSecret)
		assert.Equal(t, int64(700), got.Amount)
	})

	t.Run("Update", func(t *testing.T) {
		pi := e.createPI(t, 700, map[string]string{"a": "1", "b": "2"})
		p := &stripe.PaymentIntentParams{Amount: stripe.Int64(900), Currency: stripe.String("EUR")}
		p.AddMetadata("a", "")
		p.AddMetadata("c", "3")
		got, err := api.PaymentIntents.Update(pi.ID, p)
		require.NoError(t, err)
		assert.Equal(t, int64(900), got.Amount)
		assert.Equal(t, stripe.CurrencyEUR, got.Currency)
		assert.Equal(t, map[string]string{"b": "2", "c": "3"}, got.Metadata)
		assert.Equal(t, stripe.PaymentIntentStatusRequiresPaymentMethod, got.Status)
	})

	t.Run("UpdatePaymentMethodThenConfirm", func(t *testing.T) {
		pi := e.createPI(t, 700, nil)
		got, err := api.PaymentIntents.Update(pi.ID, &stripe.PaymentIntentParams{PaymentMethod: stripe.String(stripesim.PMCardVisa)})
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusRequiresConfirmation, got.Status)
		got, err = api.PaymentIntents.Confirm(pi.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusSucceeded, got.Status)
		assert.Equal(t, int64(700), got.AmountReceived)
	})

	t.Run("CreateAndConfirm", func(t *testing.T) {
		got, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{
			Amount: stripe.Int64(100), Currency: stripe.String("usd"),
			PaymentMethod: stripe.String(stripesim.PMCardVisa), Confirm: stripe.Bool(true),
		})
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusSucceeded, got.Status)
		require.NotNil(t, got.LatestCharge)
		assert.Regexp(t, `^ch_`, got.LatestCharge.ID)
	})

	t.Run("Cancel", func(t *testing.T) {
		pi := e.createPI(t, 700, nil)
		got, err := api.PaymentIntents.Cancel(pi.ID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("abandoned")})
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusCanceled, got.Status)
		assert.Equal(t, stripe.PaymentIntentCancellationReasonAbandoned, got.CancellationReason)
		assert.Equal(t, e.clock.Now().Unix(), got.CanceledAt)

		_, err = api.PaymentIntents.Cancel(pi.ID, nil)
		se := stripeErr(t, err)
		assert.Equal(t, 400, se.HTTPStatusCode)
		assert.Equal(t, stripe.ErrorCodePaymentIntentUnexpectedState, se.Code)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		for _, call := range []func() error{
			func() error { _, err := api.PaymentIntents.Get("pi_missing", nil); return err },
			func() error {
				_, err := api.PaymentIntents.Update("pi_missing", &stripe.PaymentIntentParams{Amount: stripe.Int64(1)})
				return err
			},
			func() error { _, err := api.PaymentIntents.Confirm("pi_missing", nil); return err },
			func() error { _, err := api.PaymentIntents.Cancel("pi_missing", nil); return err },
		} {
			se := stripeErr(t, call())
			assert.Equal(t, 404, se.HTTPStatusCode)
			assert.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
			assert.Equal(t, stripe.ErrorCodeResourceMissing, se.Code)
		}
	})

	t.Run("ErrMissingParams", func(t *testing.T) {
		tests := []struct {
			name   string
			params *stripe.PaymentIntentParams
			param  string
			code   stripe.ErrorCode
		}{
			{"NoAmount", &stripe.PaymentIntentParams{Currency: stripe.String("usd")}, "amount", "parameter_missing"},
			{"NoCurrency", &stripe.PaymentIntentParams{Amount: stripe.Int64(10)}, "currency", "parameter_missing"},
			{"ZeroAmount", &stripe.PaymentIntentParams{Amount: stripe.Int64(0), Currency: stripe.String("usd")}, "amount", "parameter_invalid_integer"},
			{"BelowMinimum", &stripe.PaymentIntentParams{Amount: stripe.Int64(49), Currency: stripe.String("usd")}, "amount", "amount_too_small"},
			{"HugeAmount", &stripe.PaymentIntentParams{Amount: stripe.Int64(100000000), Currency: stripe.String("usd")}, "amount", "amount_too_large"},
			{"BadCurrency", &stripe.PaymentIntentParams{Amount: stripe.Int64(10), Currency: stripe.String("dollars")}, "currency", "parameter_invalid_string"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := api.PaymentIntents.New(tt.params)
				se := stripeErr(t, err)
				assert.Equal(t, 400, se.HTTPStatusCode)
				assert.Equal(t, tt.code, se.Code)
				assert.Equal(t, tt.param, se.Param)
			})
		}
	})
}

// TestUpdateAmountByStatus: amount and currency change only while Stripe
// allows it.
func TestUpdateAmountByStatus(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	api := e.sk()
	tests := []struct {
		name   string
		status string
		ok     bool
	}{
		{"RequiresPaymentMethod", stripesim.StatusRequiresPaymentMethod, true},
		{"RequiresConfirmation", stripesim.StatusRequiresConfirmation, true},
		{"RequiresAction", stripesim.StatusRequiresAction, true},
		{"Processing", stripesim.StatusProcessing, false},
		{"Succeeded", stripesim.StatusSucceeded, false},
		{"Canceled", stripesim.StatusCanceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pi := e.createPI(t, 1000, nil)
			require.NoError(t, e.sim.ForcePaymentIntentStatus(pi.ID, tt.status))
			for _, p := range []*stripe.PaymentIntentParams{
				{Amount: stripe.Int64(1500)},
				{Currency: stripe.String("eur")},
			} {
				got, err := api.PaymentIntents.Update(pi.ID, p)
				if tt.ok {
					require.NoError(t, err)
					assert.NotEqual(t, stripe.PaymentIntentStatusSucceeded, got.Status)
					continue
				}
				se := stripeErr(t, err)
				assert.Equal(t, 400, se.HTTPStatusCode)
				assert.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
				assert.Equal(t, stripe.ErrorCodePaymentIntentUnexpectedState, se.Code)
				require.NotNil(t, se.PaymentIntent)
				assert.Equal(t, pi.ID, se.PaymentIntent.ID)
			}
			if !tt.ok {
				// Metadata may still change.
				p := &stripe.PaymentIntentParams{}
				p.AddMetadata("note", "x")
				_, err := api.PaymentIntents.Update(pi.ID, p)
				require.NoError(t, err)
			}
		})
	}
}

func TestConfirmTestCards(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	api := e.sk()
	tests := []struct {
		name        string
		pm          string
		status      stripe.PaymentIntentStatus
		httpStatus  int
		errType     stripe.ErrorType
		code        stripe.ErrorCode
		declineCode stripe.DeclineCode
		nextAction  bool
	}{
		{name: "Visa", pm: "pm_card_visa", status: "succeeded"},
		{name: "Mastercard", pm: "pm_card_mastercard", status: "succeeded"},
		{name: "ThreeDSecure2", pm: "pm_card_threeDSecure2Required", status: "requires_action", nextAction: true},
		{name: "Declined", pm: "pm_card_chargeDeclined", status: "requires_payment_method", httpStatus: 402,
			errType: stripe.ErrorTypeCard, code: stripe.ErrorCodeCardDeclined, declineCode: "generic_decline"},
		{name: "InsufficientFunds", pm: "pm_card_chargeDeclinedInsufficientFunds", status: "requires_payment_method", httpStatus: 402,
			errType: stripe.ErrorTypeCard, code: stripe.ErrorCodeCardDeclined, declineCode: "insufficient_funds"},
		{name: "Unknown", pm: "pm_card_nonsense", status: "requires_payment_method", httpStatus: 400,
			errType: stripe.ErrorTypeInvalidRequest, code: stripe.ErrorCodeResourceMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pi := e.createPI(t, 2500, nil)
			got, err := api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{
				PaymentMethod: stripe.String(tt.pm),
				ReturnURL:     stripe.String("https://shop.example/return"),
			})
			if tt.httpStatus == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.status, got.Status)
			} else {
				se := stripeErr(t, err)
				assert.Equal(t, tt.httpStatus, se.HTTPStatusCode)
				assert.Equal(t, tt.errType, se.Type)
				assert.Equal(t, tt.code, se.Code)
				assert.Equal(t, tt.declineCode, se.DeclineCode)
				if tt.errType == stripe.ErrorTypeCard {
					var ce *stripe.CardError
					require.ErrorAs(t, err, &ce)
					require.NotNil(t, se.PaymentIntent)
					assert.Equal(t, tt.status, se.PaymentIntent.Status)
				}
			}
			now, ok := e.sim.PaymentIntent(pi.ID)
			require.True(t, ok)
			assert.Equal(t, string(tt.status), now.Status)
			if tt.errType == stripe.ErrorTypeCard {
				require.NotNil(t, now.LastPaymentError)
				assert.Equal(t, string(tt.code), now.LastPaymentError.Code)
				assert.Equal(t, string(tt.declineCode), now.LastPaymentError.DeclineCode)
				// Retrieve shows it too, and a new card may be tried.
				again, err := api.PaymentIntents.Get(pi.ID, nil)
				require.NoError(t, err)
				require.NotNil(t, again.LastPaymentError)
				assert.Equal(t, tt.code, again.LastPaymentError.Code)
				ok, err := api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
				require.NoError(t, err)
				assert.Equal(t, stripe.PaymentIntentStatusSucceeded, ok.Status)
				assert.Nil(t, ok.LastPaymentError)
			}
			if tt.nextAction {
				require.NotNil(t, got.NextAction)
				assert.Equal(t, stripe.PaymentIntentNextActionTypeRedirectToURL, got.NextAction.Type)
				assert.Regexp(t, `^`+e.base+`/challenge/`+pi.ID+`/`, got.NextAction.RedirectToURL.URL)
				assert.Equal(t, "https://shop.example/return", got.NextAction.RedirectToURL.ReturnURL)
			}
		})
	}

	t.Run("ErrConfirmSucceeded", func(t *testing.T) {
		pi := e.createPI(t, 2500, nil)
		_, err := api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
		require.NoError(t, err)
		_, err = api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
		se := stripeErr(t, err)
		assert.Equal(t, stripe.ErrorCodePaymentIntentUnexpectedState, se.Code)
	})

	t.Run("ErrNoPaymentMethod", func(t *testing.T) {
		pi := e.createPI(t, 2500, nil)
		_, err := api.PaymentIntents.Confirm(pi.ID, nil)
		se := stripeErr(t, err)
		assert.Equal(t, 400, se.HTTPStatusCode)
		assert.Equal(t, stripe.ErrorCodePaymentIntentUnexpectedState, se.Code)
	})
}

// TestPublishableKeyConfirm confirms as Stripe.js does: publishable key
// plus client_secret.
func TestPublishableKeyConfirm(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})

	t.Run("KeyFormField", func(t *testing.T) {
		pi := e.createPI(t, 1200, nil)
		resp := do(t, http.MethodPost, e.base+"/v1/payment_intents/"+pi.ID+"/confirm", url.Values{
			"key": {"pk_test_simulator"}, "client_secret": {pi.ClientSecret}, "payment_method": {"pm_card_visa"},
		}, map[string]string{"Origin": "http://shop.example"})
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "succeeded", resp.JSON(t)["status"])
	})

	t.Run("BearerWithStripeGo", func(t *testing.T) {
		pi := e.createPI(t, 1200, nil)
		params := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")}
		params.AddExtra("client_secret", pi.ClientSecret)
		got, err := e.api("pk_test_simulator", 0).PaymentIntents.Confirm(pi.ID, params)
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusSucceeded, got.Status)
	})

	t.Run("RetrieveWithClientSecret", func(t *testing.T) {
		pi := e.createPI(t, 1200, nil)
		resp := do(t, http.MethodGet, e.base+"/v1/payment_intents/"+pi.ID+"?client_secret="+url.QueryEscape(pi.ClientSecret), nil, bearer("pk_test_simulator"))
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		assert.Equal(t, pi.ID, resp.JSON(t)["id"])
	})

	tests := []struct {
		name   string
		form   url.Values
		header map[string]string
		status int
	}{
		{"ErrWrongClientSecret", url.Values{"key": {"pk_test_simulator"}, "client_secret": {"pi_x_secret_y"}, "payment_method": {"pm_card_visa"}}, nil, 400},
		{"ErrNoClientSecret", url.Values{"payment_method": {"pm_card_visa"}}, bearer("pk_test_simulator"), 401},
		{"ErrNoKey", url.Values{"payment_method": {"pm_card_visa"}}, nil, 401},
		{"ErrUnknownKey", url.Values{"payment_method": {"pm_card_visa"}}, bearer("pk_test_other"), 401},
		{"ErrLiveKey", url.Values{"payment_method": {"pm_card_visa"}}, bearer("sk_live_123456789"), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pi := e.createPI(t, 1200, nil)
			resp := do(t, http.MethodPost, e.base+"/v1/payment_intents/"+pi.ID+"/confirm", tt.form, tt.header)
			assert.Equal(t, tt.status, resp.Status, string(resp.Body))
			assert.Equal(t, "invalid_request_error", resp.JSON(t)["error"].(map[string]any)["type"])
			now, _ := e.sim.PaymentIntent(pi.ID)
			assert.Equal(t, stripesim.StatusRequiresPaymentMethod, now.Status)
		})
	}

	t.Run("ErrPublishableKeyOnSecretEndpoint", func(t *testing.T) {
		_, err := e.api("pk_test_simulator", 0).PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(1), Currency: stripe.String("usd")})
		assert.Equal(t, 401, stripeErr(t, err).HTTPStatusCode)
	})

	t.Run("Preflight", func(t *testing.T) {
		resp := do(t, http.MethodOptions, e.base+"/v1/payment_intents/pi_x/confirm", nil, map[string]string{
			"Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization, content-type",
		})
		assert.Equal(t, http.StatusNoContent, resp.Status)
		assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
		assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
	})
}

// TestSecretKey: without Config.SecretKey the simulator draws one at
// random; only that exact key (or the configured one) calls the
// secret-key API, never another sk_test_ key nor the publishable key.
func TestSecretKey(t *testing.T) {
	t.Parallel()
	createParams := func() *stripe.PaymentIntentParams {
		return &stripe.PaymentIntentParams{Amount: stripe.Int64(1000), Currency: stripe.String("usd")}
	}

	t.Run("RandomPerStart", func(t *testing.T) {
		t.Parallel()
		a, b := mustSim(t, stripesim.Config{}), mustSim(t, stripesim.Config{})
		assert.Regexp(t, `^sk_test_sim_[A-Za-z0-9]{32}$`, a.sim.SecretKey())
		assert.NotEqual(t, a.sim.SecretKey(), b.sim.SecretKey())
		_, err := a.sk().PaymentIntents.New(createParams())
		require.NoError(t, err)
		_, err = b.api(a.sim.SecretKey(), 0).PaymentIntents.New(createParams())
		assert.Equal(t, 401, stripeErr(t, err).HTTPStatusCode, "one simulator's key is not another's")
		assert.Zero(t, b.sim.CreatedPaymentIntents())
	})

	t.Run("ErrWrongTestKey401", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		for _, key := range []string{"sk_test_simulator", "sk_test_onecharge_simulator", e.sim.SecretKey() + "x", e.sim.SecretKey()[:len(e.sim.SecretKey())-1]} {
			_, err := e.api(key, 0).PaymentIntents.New(createParams())
			se := stripeErr(t, err)
			assert.Equal(t, 401, se.HTTPStatusCode, key)
			assert.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
			assert.Contains(t, se.Msg, "Invalid API Key provided")
			assert.NotContains(t, se.Msg, e.sim.SecretKey(), "the key is redacted")
		}
		assert.Zero(t, e.sim.CreatedPaymentIntents())
	})

	t.Run("ErrPublishableKeyOnSecretEndpoints", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 1000, nil)
		cs, err := e.sk().CheckoutSessions.New(sessionParams(1000))
		require.NoError(t, err)
		pk := e.api(e.sim.PublishableKey(), 0)
		for name, call := range map[string]func() error{
			"CreatePaymentIntent": func() error { _, err := pk.PaymentIntents.New(createParams()); return err },
			"UpdatePaymentIntent": func() error {
				_, err := pk.PaymentIntents.Update(pi.ID, &stripe.PaymentIntentParams{Amount: stripe.Int64(1)})
				return err
			},
			"RetrievePaymentIntentWithoutSecret": func() error { _, err := pk.PaymentIntents.Get(pi.ID, nil); return err },
			"CancelPaymentIntent":                func() error { _, err := pk.PaymentIntents.Cancel(pi.ID, nil); return err },
			"CreateCheckoutSession":              func() error { _, err := pk.CheckoutSessions.New(sessionParams(1000)); return err },
			"RetrieveCheckoutSession":            func() error { _, err := pk.CheckoutSessions.Get(cs.ID, nil); return err },
			"ExpireCheckoutSession":              func() error { _, err := pk.CheckoutSessions.Expire(cs.ID, nil); return err },
			"ListPaymentIntents": func() error {
				it := pk.PaymentIntents.List(nil)
				it.Next()
				return it.Err()
			},
		} {
			se := stripeErr(t, call())
			assert.Equal(t, 401, se.HTTPStatusCode, name)
			assert.Contains(t, se.Msg, "publishable API key", name)
		}
		now, _ := e.sim.PaymentIntent(pi.ID)
		assert.Equal(t, int64(1000), now.Amount)
		assert.Equal(t, stripesim.StatusRequiresPaymentMethod, now.Status)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
		assert.Len(t, e.sim.CheckoutSessions(), 1)
		assert.Equal(t, "open", e.sim.CheckoutSessions()[0].Status)
	})

	t.Run("Configured", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{SecretKey: "sk_test_only_this"})
		assert.Equal(t, "sk_test_only_this", e.sim.SecretKey())
		_, err := e.api("sk_test_only_this", 0).PaymentIntents.New(createParams())
		require.NoError(t, err)
		_, err = e.api("sk_test_another", 0).PaymentIntents.New(createParams())
		assert.Equal(t, 401, stripeErr(t, err).HTTPStatusCode)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	})
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	resp := do(t, http.MethodGet, e.base+"/v1/customers", nil, bearer(e.sim.SecretKey()))
	assert.Equal(t, http.StatusNotFound, resp.Status)
	assert.Contains(t, resp.JSON(t)["error"].(map[string]any)["message"], "Unrecognized request URL")
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	a := e.createPI(t, 100, nil)
	b := e.createPI(t, 200, nil)
	all := e.sim.PaymentIntents()
	require.Len(t, all, 2)
	assert.Equal(t, []string{a.ID, b.ID}, []string{all[0].ID, all[1].ID})
	assert.Equal(t, 2, e.sim.CreatedPaymentIntents())
	_, ok := e.sim.PaymentIntent("pi_missing")
	assert.False(t, ok)
	assert.Error(t, e.sim.ForcePaymentIntentStatus(a.ID, "bogus"))
	assert.Error(t, e.sim.ForcePaymentIntentStatus("pi_missing", stripesim.StatusSucceeded))
	// Copies: changing one does not change the simulator.
	all[0].Metadata["x"] = "y"
	again, _ := e.sim.PaymentIntent(a.ID)
	assert.NotContains(t, again.Metadata, "x")
}

// TestCreateWithUnknownPaymentMethod: Stripe rejects the create and
// creates nothing.
func TestCreateWithUnknownPaymentMethod(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	resp := do(t, http.MethodPost, e.base+"/v1/payment_intents",
		url.Values{"amount": {"1000"}, "currency": {"usd"}, "payment_method": {"pm_card_nonexistent"}}, bearer(e.sim.SecretKey()))
	assert.Equal(t, http.StatusBadRequest, resp.Status)
	assert.Equal(t, "resource_missing", resp.JSON(t)["error"].(map[string]any)["code"])
	assert.Zero(t, e.sim.CreatedPaymentIntents())
	assert.Empty(t, e.sim.PaymentIntents())
}
