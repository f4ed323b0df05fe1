package httpapi_test

// Regression tests for the defects an adversarial review found in the
// promise of CONTRACT.md section 5a (issue 9), one test per defect, each
// on both stores. Every one of them failed before the fix.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// holdWebhooks keeps the simulator's events until the returned func
// releases them, like a webhook endpoint that is slow to be called.
func holdWebhooks(t *testing.T, env *testenv.Env) (release func()) {
	env.Sim.SetWebhookMode(stripesim.WebhookMode{Order: stripesim.Reversed})
	return func() {
		env.Sim.SetWebhookMode(stripesim.WebhookMode{})
		env.WaitWebhooks(t)
	}
}

func mugs(n int) checkout.ValidateRequest {
	return checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: n}}, PaymentMethod: checkout.MethodCard}
}

func validateOK(t *testing.T, c *testenv.Client, req checkout.ValidateRequest) checkout.ValidateResponse {
	t.Helper()
	resp, r := c.Validate(req)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	return resp
}

// requireOrder checks I1 for one payment: the order's amount is what
// Stripe received, its lines sum to it, and it is the wanted lines.
func requireOrder(t *testing.T, env *testenv.Env, c *testenv.Client, id string, status string, lines []checkout.Line) checkout.OrderStatus {
	t.Helper()
	o, code := orderOf(t, c, id)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, status, o.Status)
	var sum int64
	for _, l := range o.Items {
		sum += l.UnitAmount * int64(l.Quantity)
	}
	if status == checkout.OrderPaid {
		assert.Equal(t, sum, o.Amount, "the lines sum to the amount")
	}
	if lines != nil {
		assert.Equal(t, lines, o.Items)
	}
	return o
}

func mugLines(n int) []checkout.Line {
	return []checkout.Line{{ProductID: "mug", Name: "Onecharge Mug", Quantity: n, UnitAmount: 1200}}
}

// Defect: pay the 2-mug intent, then validate 99 mugs with the same key
// before the webhook lands: the refused validation rewrote the order
// snapshot and the webhook recorded 99 mugs for a payment of 2 400.
func TestPaidThenEditedRecordsWhatWasPaid(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first := validateOK(t, c, mugs(2))
		release := holdWebhooks(t, env)
		require.Equal(t, http.StatusOK, c.Confirm(first.PaymentIntent, "pm_card_visa").Status)

		_, r := c.Validate(withKey(mugs(99), first.IdempotencyKey))
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		assert.Equal(t, checkout.CodePaymentAlreadyCompleted, r.Error().Code)

		release()
		o := requireOrder(t, env, c, first.PaymentIntent.ID, checkout.OrderPaid, mugLines(2))
		assert.Equal(t, int64(2400), o.Amount)
	})
}

// Defect: an amount update that Stripe answered with a 500 had already
// changed the order snapshot; paying the unchanged intent recorded the
// new cart.
func TestFailedUpdateKeepsTheOrderStripeHolds(t *testing.T) {
	forEachStore(t, testenv.Options{StripeRetries: -1}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first := validateOK(t, c, mugs(2))
		env.Clock.Advance(time.Minute) // stale: the update path re-reads first
		fault := env.Sim.AddFault(stripesim.Fault{Method: http.MethodPost, Path: "/v1/payment_intents/*", ErrorCount: 1})
		_, r := c.Validate(withKey(mugs(99), first.IdempotencyKey))
		require.Equal(t, http.StatusBadGateway, r.Status, "%s", r.Body)
		env.Sim.RemoveFault(fault)

		require.Equal(t, http.StatusOK, c.Confirm(first.PaymentIntent, "pm_card_visa").Status)
		env.WaitWebhooks(t)
		o := requireOrder(t, env, c, first.PaymentIntent.ID, checkout.OrderPaid, mugLines(2))
		assert.Equal(t, int64(2400), o.Amount)
	})
}

// Defect: an update racing a confirm could leave the order and the payment
// apart. Whatever wins, the order is what Stripe charged.
func TestUpdateRacingConfirm(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		for i := 0; i < 6; i++ {
			c := env.NewClient(t)
			first := validateOK(t, c, mugs(2))
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); c.Confirm(first.PaymentIntent, "pm_card_visa") }()
			go func() { defer wg.Done(); c.Validate(withKey(mugs(3+i), first.IdempotencyKey)) }()
			wg.Wait()
			env.WaitWebhooks(t)
			pi, ok := env.Sim.PaymentIntent(first.PaymentIntent.ID)
			require.True(t, ok)
			require.Equal(t, "succeeded", pi.Status)
			o := requireOrder(t, env, c, pi.ID, checkout.OrderPaid, nil)
			assert.Equal(t, pi.AmountReceived, o.Amount, "run %d: the order is what Stripe received", i)
		}
	})
}

// payHostedSession pays a Checkout Session on the simulator's page and
// reports the status of the page's answer (303 when paid).
func payHostedSession(t *testing.T, sessionURL string) int {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	pay, err := noRedirect.PostForm(sessionURL, nil)
	require.NoError(t, err)
	pay.Body.Close()
	return pay.StatusCode
}

func hostedCheckout(t *testing.T, c *testenv.Client, items ...checkout.Item) checkout.CheckoutResponse {
	t.Helper()
	r := c.JSON(http.MethodPost, "/api/checkout", checkout.CartRequest{Items: items})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var resp checkout.CheckoutResponse
	r.Decode(t, &resp)
	return resp
}

// Defect: check out 1 mug, then put 99 mugs and 99 hoodies in the cart,
// then pay the session: the order said 1 200 with lines worth 564 300.
func TestHostedCheckoutRecordsItsOwnLines(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		sess := hostedCheckout(t, c, checkout.Item{ProductID: "mug", Quantity: 1})
		r := c.JSON(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 99}, {ProductID: "hoodie", Quantity: 99}}})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

		require.Equal(t, http.StatusSeeOther, payHostedSession(t, sess.URL))
		env.WaitWebhooks(t)
		o := requireOrder(t, env, c, sess.SessionID, checkout.OrderPaid, mugLines(1))
		assert.Equal(t, int64(1200), o.Amount)
	})
}

// Defect: a second checkout overwrote the first session's id on the cart
// while the first stayed payable, and paying it recorded no order at all.
func TestSecondCheckoutExpiresTheFirst(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		s1 := hostedCheckout(t, c, checkout.Item{ProductID: "mug", Quantity: 1})
		s2 := hostedCheckout(t, c, checkout.Item{ProductID: "mug", Quantity: 2})
		require.NotEqual(t, s1.SessionID, s2.SessionID)

		cs1, ok := env.Sim.CheckoutSession(s1.SessionID)
		require.True(t, ok)
		assert.Equal(t, "expired", cs1.Status, "the replaced session is expired at Stripe")
		assert.NotEqual(t, http.StatusSeeOther, payHostedSession(t, s1.URL), "the replaced session cannot be paid")

		require.Equal(t, http.StatusSeeOther, payHostedSession(t, s2.URL))
		env.WaitWebhooks(t)
		requireOrder(t, env, c, s2.SessionID, checkout.OrderPaid, mugLines(2))
		o, code := orderOf(t, c, s1.SessionID)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, checkout.OrderFailed, o.Status, "an expired session is a failed order")
	})
}

// Defect: 10 concurrent validations carrying one stale key got 10 new keys
// and 10 PaymentIntents.
func TestConcurrentRotationMakesOneSuccessor(t *testing.T) {
	stale := map[string]func(t *testing.T, env *testenv.Env, c *testenv.Client) string{
		"Foreign": func(t *testing.T, env *testenv.Env, c *testenv.Client) string {
			return validateOK(t, env.NewClient(t), mugs(2)).IdempotencyKey
		},
		"Unknown": func(t *testing.T, env *testenv.Env, c *testenv.Client) string {
			k, err := checkout.NewKey()
			require.NoError(t, err)
			return k
		},
		"Expired": func(t *testing.T, env *testenv.Env, c *testenv.Client) string {
			k := validateOK(t, c, mugs(2)).IdempotencyKey
			env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Minute)
			return k
		},
		"Canceled": func(t *testing.T, env *testenv.Env, c *testenv.Client) string {
			first := validateOK(t, c, mugs(2))
			require.NoError(t, env.Sim.ForcePaymentIntentStatus(first.PaymentIntent.ID, "canceled"))
			env.WaitWebhooks(t)
			return first.IdempotencyKey
		},
	}
	for name, prepare := range stale {
		t.Run(name, func(t *testing.T) {
			forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
				c := env.NewClient(t)
				c.Do(http.MethodGet, "/api/cart", "", nil) // one session for every request below
				key := prepare(t, env, c)
				before := env.Sim.CreatedPaymentIntents()
				env.Sim.AddFault(stripesim.Fault{Path: "/v1/payment_intents/**", Latency: 30 * time.Millisecond})

				const n = 10
				results := make([]testenv.Response, n)
				var wg sync.WaitGroup
				for i := range results {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i] = c.JSON(http.MethodPost, "/api/orders/validate", withKey(mugs(2), key))
					}()
				}
				wg.Wait()
				keys := map[string]bool{}
				for _, r := range results {
					switch r.Status {
					case http.StatusOK:
						var resp checkout.ValidateResponse
						r.Decode(t, &resp)
						keys[resp.IdempotencyKey+" "+resp.PaymentIntent.ID] = true
					case http.StatusConflict:
						assert.Equal(t, checkout.CodeRequestInProgress, r.Error().Code)
					default:
						t.Errorf("unexpected %d: %s", r.Status, r.Body)
					}
				}
				assert.Len(t, keys, 1, "every answer names the one successor: %v", keys)
				assert.False(t, keys[key], "the stale key was rotated")
				assert.Equal(t, before+1, env.Sim.CreatedPaymentIntents(), "one new PaymentIntent")
				// And a retry afterwards gets that successor too.
				resp := validateOK(t, c, withKey(mugs(2), key))
				assert.True(t, keys[resp.IdempotencyKey+" "+resp.PaymentIntent.ID], "a later retry with the stale key gets the same successor")
			})
		})
	}
}

// Defect: after KEY_TTL a key whose PaymentIntent succeeded or is
// processing was rotated to a new PaymentIntent.
func TestCompletionBeatsExpiry(t *testing.T) {
	cases := map[string]func(t *testing.T, env *testenv.Env, pi string){
		"SucceededWebhookSeen": func(t *testing.T, env *testenv.Env, pi string) {
			require.NoError(t, env.Sim.ForcePaymentIntentStatus(pi, "succeeded"))
			env.WaitWebhooks(t)
		},
		"SucceededWebhookLost": func(t *testing.T, env *testenv.Env, pi string) {
			env.Sim.SetWebhookURL("")
			require.NoError(t, env.Sim.ForcePaymentIntentStatus(pi, "succeeded"))
		},
		"Processing": func(t *testing.T, env *testenv.Env, pi string) {
			require.NoError(t, env.Sim.ForcePaymentIntentStatus(pi, "processing"))
		},
	}
	for name, pay := range cases {
		t.Run(name, func(t *testing.T) {
			forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
				c := env.NewClient(t)
				first := validateOK(t, c, mugs(2))
				pay(t, env, first.PaymentIntent.ID)
				env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Hour)
				for _, req := range []checkout.ValidateRequest{mugs(2), mugs(5)} {
					_, r := c.Validate(withKey(req, first.IdempotencyKey))
					require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
					assert.Equal(t, checkout.CodePaymentAlreadyCompleted, r.Error().Code)
				}
				assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
			})
		})
	}
}

// Defect: an expired key's PaymentIntent stayed payable from an old tab
// after the key was rotated.
func TestRotationCancelsTheOldIntent(t *testing.T) {
	rotate := map[string]func(env *testenv.Env, key string) checkout.ValidateRequest{
		"Expired": func(env *testenv.Env, key string) checkout.ValidateRequest {
			env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Minute)
			return withKey(mugs(2), key)
		},
		"OtherMethod": func(env *testenv.Env, key string) checkout.ValidateRequest {
			r := withKey(mugs(2), key)
			r.PaymentMethod = checkout.MethodCardTest
			return r
		},
	}
	for name, prepare := range rotate {
		t.Run(name, func(t *testing.T) {
			forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
				c := env.NewClient(t)
				first := validateOK(t, c, mugs(2))
				second := validateOK(t, c, prepare(env, first.IdempotencyKey))
				require.NotEqual(t, first.IdempotencyKey, second.IdempotencyKey)
				require.NotEqual(t, first.PaymentIntent.ID, second.PaymentIntent.ID)

				old, ok := env.Sim.PaymentIntent(first.PaymentIntent.ID)
				require.True(t, ok)
				assert.Equal(t, "canceled", old.Status, "the rotated key's intent is canceled at Stripe")
				r := c.Confirm(first.PaymentIntent, "pm_card_visa")
				assert.Equal(t, http.StatusBadRequest, r.Status, "an old tab cannot pay it: %s", r.Body)
				assert.Equal(t, 2, env.Sim.CreatedPaymentIntents())
			})
		})
	}
}

// blockingGateway holds the first UpdatePaymentIntent until released; the
// request keeps waiting even though its lease may be gone meanwhile.
type blockingGateway struct {
	checkoutsvc.Gateway
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	honorCtx bool // give up when the request's context ends
}

func newBlockingGateway(honorCtx bool) *blockingGateway {
	return &blockingGateway{entered: make(chan struct{}), release: make(chan struct{}), honorCtx: honorCtx}
}

func (g *blockingGateway) UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, key string) (checkoutsvc.PaymentIntent, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		if g.honorCtx {
			select {
			case <-g.release:
			case <-ctx.Done():
				return checkoutsvc.PaymentIntent{}, fmt.Errorf("%w: %w", checkoutsvc.ErrPaymentUnavailable, ctx.Err())
			}
		} else {
			<-g.release
			// The request was on the wire before its lease was lost: it
			// lands at Stripe whatever its context says now.
			ctx = context.WithoutCancel(ctx)
		}
	}
	return g.Gateway.UpdatePaymentIntent(ctx, id, amount, currency, key)
}

// Defect: after a lock takeover, the first request's RecordPaymentIntent
// overwrote its successor's state and unlocked it mid-call.
func TestTakenOverRequestNeverRecords(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := "StripeCallAbandoned"
		if late {
			name = "StripeCallLandsLate"
		}
		t.Run(name, func(t *testing.T) {
			for _, store := range testenv.Stores {
				t.Run(store, func(t *testing.T) {
					g := newBlockingGateway(!late)
					env := testenv.New(t, testenv.Options{Store: store, WrapGateway: func(inner checkoutsvc.Gateway) checkoutsvc.Gateway { g.Gateway = inner; return g }})
					takenOver(t, env, g, late)
				})
			}
		})
	}
}

func takenOver(t *testing.T, env *testenv.Env, g *blockingGateway, late bool) {
	c := env.NewClient(t)
	first := validateOK(t, c, mugs(2))
	key := first.IdempotencyKey

	aDone := make(chan testenv.Response, 1)
	go func() { aDone <- c.JSON(http.MethodPost, "/api/orders/validate", withKey(mugs(5), key)) }()
	<-g.entered
	env.Clock.Advance(env.Service.LockLease + time.Second) // A's lease runs out

	b := validateOK(t, c, withKey(mugs(3), key))
	assert.Equal(t, key, b.IdempotencyKey)
	assert.Equal(t, first.PaymentIntent.ID, b.PaymentIntent.ID)
	assert.Equal(t, int64(3600), b.PaymentIntent.Amount)
	if !late {
		// A notices the lost lease and gives up its Stripe call.
		select {
		case r := <-aDone:
			assert.NotEqual(t, http.StatusOK, r.Status, "%s", r.Body)
		case <-time.After(10 * time.Second):
			t.Fatal("the request whose lease was taken over did not give up")
		}
		close(g.release)
	} else {
		close(g.release)
		r := <-aDone
		assert.NotEqual(t, http.StatusOK, r.Status, "a request that lost its lease never answers as the holder: %s", r.Body)
	}
	rec, ok, err := env.Store.GetKey(context.Background(), key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, int64(3600), rec.Amount, "the successor's order stands")
	assert.Equal(t, int64(3600), rec.PIAmount)
	assert.Empty(t, rec.LockToken, "the successor's release stands")

	if late {
		pi, _ := env.Sim.PaymentIntent(first.PaymentIntent.ID)
		require.Equal(t, int64(6000), pi.Amount, "A's update landed after its successor's")
		// A webhook about the intent (a declined attempt) must not make
		// the stale state look fresh (found by the model-based test).
		require.Equal(t, http.StatusPaymentRequired, c.Confirm(first.PaymentIntent, "pm_card_chargeDeclined").Status)
		env.WaitWebhooks(t)
	}
	// Whatever A's late call did at Stripe, the next validation
	// puts Stripe back in line with the order.
	again := validateOK(t, c, withKey(mugs(3), key))
	assert.Equal(t, int64(3600), again.PaymentIntent.Amount)
	pi, _ := env.Sim.PaymentIntent(first.PaymentIntent.ID)
	assert.Equal(t, int64(3600), pi.Amount, "Stripe holds the successor's amount")
}

// crashingGateway performs the real UpdatePaymentIntent, then dies: the
// request ends there, as when its process is killed, holding its lease.
type crashingGateway struct {
	checkoutsvc.Gateway
	mu      sync.Mutex
	crashes int
}

func (g *crashingGateway) UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, key string) (checkoutsvc.PaymentIntent, error) {
	pi, err := g.Gateway.UpdatePaymentIntent(ctx, id, amount, currency, key)
	g.mu.Lock()
	crash := g.crashes > 0
	g.crashes--
	g.mu.Unlock()
	if crash {
		panic(http.ErrAbortHandler)
	}
	return pi, err
}

// Defect: a crashed request blocked its key for 30 s. Now its lease runs
// out after LockLease.
func TestCrashedRequestFreesKeyAfterLease(t *testing.T) {
	g := &crashingGateway{}
	o := testenv.Options{WrapGateway: func(inner checkoutsvc.Gateway) checkoutsvc.Gateway { g.Gateway = inner; return g }}
	forEachStore(t, o, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first := validateOK(t, c, mugs(2))
		g.mu.Lock()
		g.crashes = 1
		g.mu.Unlock()
		req, err := http.NewRequest(http.MethodPost, env.URL+"/api/orders/validate", strings.NewReader(string(checkout.EncodeValidateRequest(withKey(mugs(4), first.IdempotencyKey)))))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		_, err = c.HTTP.Do(req)
		require.Error(t, err, "the crashed request never answers")

		_, r := c.Validate(withKey(mugs(4), first.IdempotencyKey))
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		assert.Equal(t, checkout.CodeRequestInProgress, r.Error().Code)
		assert.NotEmpty(t, r.Header.Get("Retry-After"))

		env.Clock.Advance(env.Service.LockLease)
		resp := validateOK(t, c, withKey(mugs(4), first.IdempotencyKey))
		assert.Equal(t, first.IdempotencyKey, resp.IdempotencyKey)
		assert.Equal(t, first.PaymentIntent.ID, resp.PaymentIntent.ID)
		assert.Equal(t, int64(4800), resp.PaymentIntent.Amount)
		assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
	})
}

// Defect: GET /api/orders/pi_%00 (and %FF, %C3%28) was a 500 on PostgreSQL.
func TestOrderIDsMustBeWellFormed(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		for _, id := range []string{"pi_%00", "pi_%FF", "pi_%C3%28", "pi_", "pi_a%20b", "cs_", "x", "pi_abc%0A", "ch_123", strings.Repeat("pi_a", 100)} {
			r := c.Do(http.MethodGet, "/api/orders/"+id, "", nil)
			assert.Equal(t, http.StatusNotFound, r.Status, "%s: %s", id, r.Body)
			assert.Equal(t, checkout.CodeNotFound, r.Error().Code, id)
		}
	})
}

// Defect: {"ITEMS":[...]} was accepted: encoding/json matches names
// case-insensitively.
func TestFieldNamesMatchExactly(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		for _, tc := range []struct{ method, path, body string }{
			{http.MethodPost, "/api/orders/validate", `{"ITEMS":[{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`},
			{http.MethodPost, "/api/orders/validate", `{"items":[{"Product_ID":"mug","quantity":1}],"payment_method":"CARD"}`},
			{http.MethodPost, "/api/orders/validate", `{"items":[{"product_id":"mug","quantity":1}],"Payment_Method":"CARD"}`},
			{http.MethodPut, "/api/cart", `{"Items":[{"product_id":"mug","quantity":1}]}`},
			{http.MethodPut, "/api/cart", `{"items":[{"product_id":"mug","QUANTITY":1}]}`},
			{http.MethodPost, "/api/checkout", `{"iTems":[{"product_id":"mug","quantity":1}]}`},
		} {
			r := c.Do(tc.method, tc.path, "application/json", strings.NewReader(tc.body))
			assert.Equal(t, http.StatusBadRequest, r.Status, "%s %s: %s", tc.method, tc.body, r.Body)
			assert.Equal(t, checkout.CodeInvalidRequest, r.Error().Code)
		}
		assert.Equal(t, 0, env.Sim.CreatedPaymentIntents())
		var cart checkout.CartResponse
		c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
		assert.Empty(t, cart.Cart.Items, "nothing was written")
	})
}

var boundProducts = []checkout.Product{
	{ID: "stamp", Name: "Postage Stamp", UnitAmount: 10, Currency: "usd", Active: true},
	{ID: "gold-bar", Name: "Gold Bar", UnitAmount: 2_000_000, Currency: "usd", Active: true},
}

// Defect: an order total above Stripe's maximum or below its minimum was a
// 502 after writing the cart and a key row, and clients retried it.
func TestOrderTotalOutsideStripeBounds(t *testing.T) {
	forEachStore(t, testenv.Options{ExtraProducts: boundProducts}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		cases := []checkout.Item{{ProductID: "stamp", Quantity: 4}, {ProductID: "gold-bar", Quantity: 50}}
		for _, it := range cases {
			for _, method := range []checkout.PaymentMethod{checkout.MethodCard, checkout.MethodCardTest} {
				_, r := c.Validate(checkout.ValidateRequest{Items: []checkout.Item{it}, PaymentMethod: method})
				assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v: %s", it, r.Body)
				assert.Equal(t, checkout.CodeInvalidItems, r.Error().Code)
			}
			r := c.JSON(http.MethodPost, "/api/checkout", checkout.CartRequest{Items: []checkout.Item{it}})
			assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "checkout %v: %s", it, r.Body)
		}
		assert.Equal(t, 0, env.Sim.CreatedPaymentIntents())
		assert.Empty(t, env.Sim.CheckoutSessions())
		var cart checkout.CartResponse
		c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
		assert.Empty(t, cart.Cart.Items, "nothing was written")
		// At the bounds themselves it works: 5 stamps is 50 cents.
		validateOK(t, c, checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "stamp", Quantity: 5}}, PaymentMethod: checkout.MethodCard})
	})
}

// Defect: a PaymentIntent that Stripe no longer has (404) answered 502
// forever instead of rotating.
func TestVanishedIntentRotates(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first := validateOK(t, c, mugs(2))
		require.NoError(t, env.Sim.ForgetPaymentIntent(first.PaymentIntent.ID))
		env.Clock.Advance(time.Minute) // stale: the next validation asks Stripe
		for _, req := range []checkout.ValidateRequest{mugs(2), mugs(3)} {
			resp := validateOK(t, c, withKey(req, first.IdempotencyKey))
			assert.NotEqual(t, first.IdempotencyKey, resp.IdempotencyKey)
			assert.NotEqual(t, first.PaymentIntent.ID, resp.PaymentIntent.ID)
			first = resp
			env.Clock.Advance(time.Minute)
			require.NoError(t, env.Sim.ForgetPaymentIntent(resp.PaymentIntent.ID))
		}
	})
}

// Defect: the simulator's secret key was a constant in the source, so
// anyone could call /_stripe with it and rewrite an amount.
func TestSimulatorSecretKeyIsPrivate(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	first := validateOK(t, c, mugs(2))
	for _, key := range []string{"sk_test_onecharge_simulator", "sk_test_onecharge", "sk_test_x", env.Sim.PublishableKey()} {
		req, err := http.NewRequest(http.MethodPost, env.URL+"/_stripe/v1/payment_intents/"+first.PaymentIntent.ID, strings.NewReader("amount=1"))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "key %s", key)
	}
	pi, _ := env.Sim.PaymentIntent(first.PaymentIntent.ID)
	assert.Equal(t, int64(2400), pi.Amount)
}

// Defect: GET /api/orders said failed after a decline while the intent
// could still be paid.
func TestOrderPendingAfterDecline(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first := validateOK(t, c, mugs(2))
		require.Equal(t, http.StatusPaymentRequired, c.Confirm(first.PaymentIntent, "pm_card_chargeDeclined").Status)
		env.WaitWebhooks(t)
		o, code := orderOf(t, c, first.PaymentIntent.ID)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, checkout.OrderPending, o.Status)
		require.Equal(t, http.StatusOK, c.Confirm(first.PaymentIntent, "pm_card_visa").Status)
		env.WaitWebhooks(t)
		requireOrder(t, env, c, first.PaymentIntent.ID, checkout.OrderPaid, mugLines(2))
	})
}

// validateWithNonce sends a first validation carrying a client nonce.
func validateWithNonce(c *testenv.Client, env *testenv.Env, req checkout.ValidateRequest, nonce string) testenv.Response {
	hreq, _ := http.NewRequest(http.MethodPost, env.URL+"/api/orders/validate", strings.NewReader(string(checkout.EncodeValidateRequest(req))))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Idempotency-Key", nonce)
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		return testenv.Response{Status: -1, Body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return testenv.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// Rule 3: a first validation whose response was lost is repeated with
// the same nonce and gets the key and PaymentIntent it was issued.
func TestFirstCallNonce(t *testing.T) {
	decode := func(t *testing.T, r testenv.Response) checkout.ValidateResponse {
		t.Helper()
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var v checkout.ValidateResponse
		r.Decode(t, &v)
		return v
	}
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		a := decode(t, validateWithNonce(c, env, mugs(2), "nonce-1"))
		b := decode(t, validateWithNonce(c, env, mugs(2), "nonce-1"))
		assert.Equal(t, a.IdempotencyKey, b.IdempotencyKey)
		assert.Equal(t, a.PaymentIntent.ID, b.PaymentIntent.ID)
		assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())

		// As if the issued key had been sent: a changed cart updates it.
		u := decode(t, validateWithNonce(c, env, mugs(3), "nonce-1"))
		assert.Equal(t, a.PaymentIntent.ID, u.PaymentIntent.ID)
		assert.Equal(t, int64(3600), u.PaymentIntent.Amount)

		// Another nonce, another user with the same nonce: new checkouts.
		other := decode(t, validateWithNonce(c, env, mugs(2), "nonce-2"))
		assert.NotEqual(t, a.IdempotencyKey, other.IdempotencyKey)
		stranger := decode(t, validateWithNonce(env.NewClient(t), env, mugs(2), "nonce-1"))
		assert.NotEqual(t, a.IdempotencyKey, stranger.IdempotencyKey)
		assert.Equal(t, 3, env.Sim.CreatedPaymentIntents())

		// Concurrent first calls with one nonce: one key, one intent.
		c2 := env.NewClient(t)
		c2.Do(http.MethodGet, "/api/cart", "", nil) // one session for all of them
		results := make([]testenv.Response, 10)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = validateWithNonce(c2, env, mugs(2), "same") }()
		}
		wg.Wait()
		keys := map[string]bool{}
		for _, r := range results {
			if r.Status == http.StatusConflict {
				assert.Equal(t, checkout.CodeRequestInProgress, r.Error().Code)
				continue
			}
			keys[decode(t, r).IdempotencyKey] = true
		}
		assert.Len(t, keys, 1)
		assert.Equal(t, 4, env.Sim.CreatedPaymentIntents())

		// The binding lasts KEY_TTL.
		env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Minute)
		late := decode(t, validateWithNonce(c, env, mugs(2), "nonce-1"))
		assert.NotEqual(t, a.IdempotencyKey, late.IdempotencyKey)

		// Malformed nonces are refused and write nothing.
		for _, bad := range []string{strings.Repeat("n", 256), "tab\there", "é"} {
			r := validateWithNonce(c, env, mugs(2), bad)
			assert.Equal(t, http.StatusBadRequest, r.Status, "%q: %s", bad, r.Body)
		}
	})
}

// sendEvent posts a signed Stripe event of type typ about obj to the
// server, as Stripe would.
func sendEvent(t *testing.T, env *testenv.Env, typ string, obj map[string]any) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"id": "evt_test_" + strings.ReplaceAll(t.Name(), "/", "_") + fmt.Sprint(time.Now().UnixNano()), "object": "event",
		"type": typ, "api_version": "2023-10-16", "created": time.Now().Unix(),
		"data": map[string]any{"object": obj},
	})
	require.NoError(t, err)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: env.Sim.WebhookSecret(), Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/api/stripe/webhook", strings.NewReader(string(payload)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
}

// I1: a payment whose amount matches no order the server bound to it is
// recorded as needs_review with the amount paid, never silently wrong.
func TestPaymentMatchingNoOrderNeedsReview(t *testing.T) {
	t.Run("PaymentIntent", func(t *testing.T) {
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			first := validateOK(t, c, mugs(2))
			require.NoError(t, env.Sim.ForcePaymentIntentAmount(first.PaymentIntent.ID, 9999))
			require.Equal(t, http.StatusOK, c.Confirm(first.PaymentIntent, "pm_card_visa").Status)
			env.WaitWebhooks(t)
			o := requireOrder(t, env, c, first.PaymentIntent.ID, checkout.OrderNeedsReview, mugLines(2))
			assert.Equal(t, int64(9999), o.Amount, "the amount is what was paid")
		})
	})
	t.Run("CheckoutSession", func(t *testing.T) {
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			sess := hostedCheckout(t, c, checkout.Item{ProductID: "mug", Quantity: 1})
			sendEvent(t, env, "checkout.session.completed", map[string]any{
				"id": sess.SessionID, "object": "checkout.session", "status": "complete", "payment_status": "paid",
				"amount_total": 1, "currency": "usd", "payment_intent": "pi_forged000000000000001",
			})
			o := requireOrder(t, env, c, sess.SessionID, checkout.OrderNeedsReview, mugLines(1))
			assert.Equal(t, int64(1), o.Amount)
		})
	})
}

var _ = errors.New
var _ = url.Parse
