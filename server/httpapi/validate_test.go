package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// forEachStore runs fn against a fresh environment on every store.
func forEachStore(t *testing.T, o testenv.Options, fn func(t *testing.T, env *testenv.Env)) {
	for _, kind := range testenv.Stores {
		t.Run(kind, func(t *testing.T) {
			o := o
			o.Store = kind
			fn(t, testenv.New(t, o))
		})
	}
}

func withKey(req checkout.ValidateRequest, key string) checkout.ValidateRequest {
	req.IdempotencyKey = key
	return req
}

func withQuantity(req checkout.ValidateRequest, q int) checkout.ValidateRequest {
	req.Items = []checkout.Item{{ProductID: req.Items[0].ProductID, Quantity: q}}
	return req
}

// TestValidateRules has one case per server rule of contract section 5.
// Each case prepares a key (or none), sends one request, and checks the
// status, the error code, whether the key changed and how many
// PaymentIntents the simulator created in all.
func TestValidateRules(t *testing.T) {
	type prepared struct {
		key string
		pi  string
	}
	tests := []struct {
		name string
		// setup returns the request to send, given a shopper c who may
		// have validated once already (first).
		setup      func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest
		issueFirst bool // validate once with CARD before setup
		status     int
		code       checkout.Code
		keyChanged bool // compared to the first key; with no first key: a key is issued
		samePI     bool
		wantPIs    int
	}{
		{
			name: "Rule2CashOnDeliveryNoKeyNoIntent",
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				return checkout.ValidateRequest{Items: mugCard.Items, PaymentMethod: checkout.MethodCashOnDelivery}
			},
			status: 200, wantPIs: 0,
		},
		{
			name: "Rule3NoKeyIssuesKeyAndIntent",
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				return mugCard
			},
			status: 200, keyChanged: true, wantPIs: 1,
		},
		{
			name: "Rule3CardTest", issueFirst: false,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				r := mugCard
				r.PaymentMethod = checkout.MethodCardTest
				return r
			},
			status: 200, keyChanged: true, wantPIs: 1,
		},
		{
			name: "Rule3NoKeyAlwaysNewSession", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				return mugCard
			},
			status: 200, keyChanged: true, wantPIs: 2,
		},
		{
			name: "Rule4UnknownKeyRotates",
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				k, _ := checkout.NewKey()
				return withKey(mugCard, k)
			},
			status: 200, keyChanged: true, wantPIs: 1,
		},
		{
			name: "Rule4ExpiredKeyRotates", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Minute)
				return withKey(mugCard, first.key)
			},
			status: 200, keyChanged: true, wantPIs: 2,
		},
		{
			name: "Rule4ForeignKeyRotates", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				*c = *env.NewClient(t) // another user sends the first user's key
				return withKey(mugCard, first.key)
			},
			status: 200, keyChanged: true, wantPIs: 2,
		},
		{
			name: "Rule4OtherMethodRotates", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				r := withKey(mugCard, first.key)
				r.PaymentMethod = checkout.MethodCardTest
				return r
			},
			status: 200, keyChanged: true, wantPIs: 2,
		},
		{
			name: "Rule4CanceledIntentRotates", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				require.NoError(t, env.Sim.ForcePaymentIntentStatus(first.pi, "canceled"))
				env.WaitWebhooks(t)
				return withKey(mugCard, first.key)
			},
			status: 200, keyChanged: true, wantPIs: 2,
		},
		{
			name: "Rule4CanceledWithoutWebhookRotatesAfterResync", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				env.Sim.SetWebhookURL("") // the cancel event never arrives
				require.NoError(t, env.Sim.ForcePaymentIntentStatus(first.pi, "canceled"))
				env.Clock.Advance(checkoutsvc.DefaultStaleAfter + time.Second)
				return withKey(mugCard, first.key)
			},
			status: 200, keyChanged: true, wantPIs: 2,
		},
		{
			name: "Rule5SucceededIsAlreadyCompleted", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				require.NoError(t, env.Sim.ForcePaymentIntentStatus(first.pi, "succeeded"))
				env.WaitWebhooks(t)
				return withKey(mugCard, first.key)
			},
			status: 409, code: checkout.CodePaymentAlreadyCompleted, wantPIs: 1,
		},
		{
			name: "Rule5ProcessingIsAlreadyCompletedAfterResync", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				require.NoError(t, env.Sim.ForcePaymentIntentStatus(first.pi, "processing"))
				env.Clock.Advance(checkoutsvc.DefaultStaleAfter + time.Second)
				return withKey(mugCard, first.key)
			},
			status: 409, code: checkout.CodePaymentAlreadyCompleted, wantPIs: 1,
		},
		{
			name: "Rule6ValidKeyReplays", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				return withKey(mugCard, first.key)
			},
			status: 200, samePI: true, wantPIs: 1,
		},
		{
			name: "Rule6StaleStateReReadThenReplays", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				env.Clock.Advance(time.Hour)
				return withKey(mugCard, first.key)
			},
			status: 200, samePI: true, wantPIs: 1,
		},
		{
			name: "Rule6AmountChangeUpdatesSameIntent", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				return withKey(withQuantity(mugCard, 5), first.key)
			},
			status: 200, samePI: true, wantPIs: 1,
		},
		{
			name: "Rule7LockedKeyInProgress", issueFirst: true,
			setup: func(t *testing.T, env *testenv.Env, c *testenv.Client, first prepared) checkout.ValidateRequest {
				// Another request holds the key: lock it as the claim phase does.
				_, err := env.Store.ClaimKey(context.Background(), checkoutsvc.ClaimInput{UserID: ownerOf(t, env, first.key), Key: first.key, Cart: mugCard.Items, Now: env.Clock.Now()},
					func(c checkoutsvc.Claim) checkoutsvc.Decision {
						rec := *c.Cur
						rec.LockToken, rec.LeaseUntil = "tok-other-request", env.Clock.Now().Add(env.Service.LockLease)
						return checkoutsvc.Decision{Kind: checkoutsvc.DecideLock, Record: rec}
					})
				require.NoError(t, err)
				return withKey(mugCard, first.key)
			},
			status: 409, code: checkout.CodeRequestInProgress, wantPIs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
				c := env.NewClient(t)
				var first prepared
				if tt.issueFirst {
					resp, r := c.Validate(mugCard)
					require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
					first = prepared{key: resp.IdempotencyKey, pi: resp.PaymentIntent.ID}
				}
				req := tt.setup(t, env, c, first)
				resp, r := c.Validate(req)
				require.Equal(t, tt.status, r.Status, "body: %s", r.Body)
				if tt.code != "" {
					assert.Equal(t, tt.code, r.Error().Code)
					if tt.code == checkout.CodePaymentAlreadyCompleted {
						assert.Equal(t, checkout.MessageAlreadyCompleted, r.Error().Message)
					}
					if tt.code == checkout.CodeRequestInProgress {
						assert.NotEmpty(t, r.Header.Get("Retry-After"))
					}
				} else if req.PaymentMethod.UsesKey() {
					_, err := checkout.ParseKey(resp.IdempotencyKey)
					require.NoError(t, err)
					require.NotNil(t, resp.PaymentIntent)
					assert.NotEmpty(t, resp.PaymentIntent.ClientSecret)
					assert.Equal(t, resp.Order.Amount, resp.PaymentIntent.Amount, "the intent is for the order's amount")
					assert.Equal(t, tt.keyChanged, resp.IdempotencyKey != first.key, "key changed")
					if tt.samePI {
						assert.Equal(t, first.pi, resp.PaymentIntent.ID)
					} else if first.pi != "" {
						assert.NotEqual(t, first.pi, resp.PaymentIntent.ID)
					}
					sim, ok := env.Sim.PaymentIntent(resp.PaymentIntent.ID)
					require.True(t, ok)
					assert.Equal(t, resp.Order.Amount, sim.Amount, "Stripe holds the order's amount")
				} else {
					assert.Empty(t, resp.IdempotencyKey)
					assert.Nil(t, resp.PaymentIntent)
					assert.Equal(t, int64(2400), resp.Order.Amount)
				}
				assert.Equal(t, tt.wantPIs, env.Sim.CreatedPaymentIntents(), "PaymentIntents created")
			})
		})
	}
}

func ownerOf(t *testing.T, env *testenv.Env, key string) string {
	rec, ok, err := env.Store.GetKey(context.Background(), key)
	require.NoError(t, err)
	require.True(t, ok)
	return rec.UserID
}

func TestConcurrentRequestsOneKey(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first, r := c.Validate(mugCard)
		require.Equal(t, http.StatusOK, r.Status)
		// Make every request take the Stripe path: a new amount, slow Stripe.
		env.Sim.AddFault(stripesim.Fault{Path: "/v1/payment_intents/**", Latency: 50 * time.Millisecond})
		req := withKey(withQuantity(mugCard, 3), first.IdempotencyKey)

		const n = 50
		var wg sync.WaitGroup
		results := make(chan testenv.Response, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- c.JSON(http.MethodPost, "/api/orders/validate", req)
			}()
		}
		wg.Wait()
		close(results)
		var ok, busy int
		for r := range results {
			switch r.Status {
			case http.StatusOK:
				var resp checkout.ValidateResponse
				r.Decode(t, &resp)
				assert.Equal(t, first.IdempotencyKey, resp.IdempotencyKey)
				assert.Equal(t, first.PaymentIntent.ID, resp.PaymentIntent.ID)
				ok++
			case http.StatusConflict:
				assert.Equal(t, checkout.CodeRequestInProgress, r.Error().Code)
				busy++
			default:
				t.Errorf("unexpected answer %d: %s", r.Status, r.Body)
			}
		}
		assert.GreaterOrEqual(t, ok, 1)
		assert.Equal(t, n, ok+busy)
		assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
		t.Logf("%d answered, %d told request_in_progress", ok, busy)
	})
}

// TestConcurrentFirstRequests: many first requests with no key at all are
// separate sessions by contract; with one key they never make two intents.
func TestConcurrentNewKeyCreatesOneIntentPerKey(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		first, r := c.Validate(mugCard)
		require.Equal(t, http.StatusOK, r.Status)
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.JSON(http.MethodPost, "/api/orders/validate", withKey(mugCard, first.IdempotencyKey))
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())
	})
}

// TestCrashBetweenStripeAndRecord: Stripe created the intent, but our
// process never learned it. The retry must find the same intent.
func TestCrashBetweenStripeAndRecord(t *testing.T) {
	t.Run("ResponseDropped", func(t *testing.T) {
		forEachStore(t, testenv.Options{StripeRetries: -1}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			env.Sim.AddFault(stripesim.Fault{Method: http.MethodPost, Path: "/v1/payment_intents", DropCount: 1})
			_, r := c.Validate(mugCard)
			require.Equal(t, http.StatusBadGateway, r.Status, "%s", r.Body)
			assert.Equal(t, checkout.CodePaymentUnavailable, r.Error().Code)
			assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "Stripe did create it")

			// The client retries with no key (it never got one): a new session.
			// What matters is that the key the server issued is still usable
			// and bound to that one intent when retried.
			keys := keysOf(t, env)
			require.Len(t, keys, 1)
			resp, r := c.Validate(withKey(mugCard, keys[0].Key))
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, keys[0].Key, resp.IdempotencyKey)
			assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "the retry replays Stripe's first create")
		})
	})
	t.Run("ProcessDiedBeforeRecord", func(t *testing.T) {
		crash := &crashingStore{}
		forEachStore(t, testenv.Options{WrapStore: crash.wrap}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			crash.set(true)
			_, r := c.Validate(mugCard)
			require.Equal(t, http.StatusInternalServerError, r.Status)
			crash.set(false)
			keys := keysOf(t, env)
			require.Len(t, keys, 1)
			key := keys[0].Key
			assert.NotEmpty(t, keys[0].LockToken, "the dead request still holds the key")
			assert.Equal(t, 1, env.Sim.CreatedPaymentIntents())

			_, r = c.Validate(withKey(mugCard, key))
			require.Equal(t, http.StatusConflict, r.Status)
			assert.Equal(t, checkout.CodeRequestInProgress, r.Error().Code)

			env.Clock.Advance(env.Service.LockLease + time.Second)
			resp, r := c.Validate(withKey(mugCard, key))
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, key, resp.IdempotencyKey)
			assert.Equal(t, env.Sim.PaymentIntents()[0].ID, resp.PaymentIntent.ID)
			assert.Equal(t, 1, env.Sim.CreatedPaymentIntents(), "the takeover replays Stripe's first create")
		})
	})
}

// keysOf lists the key rows the store holds, through the order of
// creation recorded by the simulator's intents' metadata.
func keysOf(t *testing.T, env *testenv.Env) []checkoutsvc.KeyRecord {
	var out []checkoutsvc.KeyRecord
	for _, pi := range env.Sim.PaymentIntents() {
		rec, ok, err := env.Store.GetKey(context.Background(), pi.Metadata["onecharge_key"])
		require.NoError(t, err)
		if ok {
			out = append(out, rec)
		}
	}
	return out
}

// crashingStore makes RecordKey and ReleaseKey fail, as if the process
// died right after the Stripe call.
type crashingStore struct {
	mu    sync.Mutex
	on    bool
	inner checkoutsvc.Store
}

func (c *crashingStore) wrap(s checkoutsvc.Store) checkoutsvc.Store {
	return &crashingStoreView{Store: s, c: c}
}

func (c *crashingStore) set(on bool) { c.mu.Lock(); c.on = on; c.mu.Unlock() }
func (c *crashingStore) crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.on
}

type crashingStoreView struct {
	checkoutsvc.Store
	c *crashingStore
}

var errCrash = errors.New("simulated crash")

func (v *crashingStoreView) RecordKey(ctx context.Context, key string, in checkoutsvc.RecordInput) (checkoutsvc.KeyRecord, error) {
	if v.c.crashed() {
		return checkoutsvc.KeyRecord{}, errCrash
	}
	return v.Store.RecordKey(ctx, key, in)
}

func (v *crashingStoreView) ReleaseKey(ctx context.Context, key, token string, stale bool) error {
	if v.c.crashed() {
		return errCrash
	}
	return v.Store.ReleaseKey(ctx, key, token, stale)
}

func TestForeignKeyRevealsNothing(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		a, b := env.NewClient(t), env.NewClient(t)
		ra, r := a.Validate(mugCard)
		require.Equal(t, http.StatusOK, r.Status)
		rb, r := b.Validate(withKey(mugCard, ra.IdempotencyKey))
		require.Equal(t, http.StatusOK, r.Status)
		assert.NotEqual(t, ra.IdempotencyKey, rb.IdempotencyKey)
		assert.NotEqual(t, ra.PaymentIntent.ID, rb.PaymentIntent.ID)
		assert.NotContains(t, string(r.Body), ra.PaymentIntent.ID)
		assert.NotContains(t, string(r.Body), ra.PaymentIntent.ClientSecret)
		// B cannot read A's order either.
		o := b.Do(http.MethodGet, "/api/orders/"+ra.PaymentIntent.ID, "", nil)
		assert.Equal(t, http.StatusNotFound, o.Status)
		assert.NotContains(t, string(o.Body), ra.PaymentIntent.ClientSecret)
		// A's key still works for A.
		ra2, r := a.Validate(withKey(mugCard, ra.IdempotencyKey))
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, ra.PaymentIntent.ID, ra2.PaymentIntent.ID)
	})
}

func TestPayThenAlreadyCompleted(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		resp, r := c.Validate(mugCard)
		require.Equal(t, http.StatusOK, r.Status)
		conf := c.Confirm(resp.PaymentIntent, "pm_card_visa")
		require.Equal(t, http.StatusOK, conf.Status, "%s", conf.Body)
		env.WaitWebhooks(t)

		_, r = c.Validate(withKey(mugCard, resp.IdempotencyKey))
		require.Equal(t, http.StatusConflict, r.Status)
		assert.Equal(t, checkout.CodePaymentAlreadyCompleted, r.Error().Code)
		assert.Equal(t, "Payment already completed for this session. Please clear your checkout and start a new order.", r.Error().Message)

		var order checkout.OrderResponse
		o := c.Do(http.MethodGet, "/api/orders/"+resp.PaymentIntent.ID, "", nil)
		require.Equal(t, http.StatusOK, o.Status, "%s", o.Body)
		o.Decode(t, &order)
		assert.Equal(t, checkout.OrderPaid, order.Order.Status)
		assert.Equal(t, int64(2400), order.Order.Amount)
		require.Len(t, order.Order.Items, 1)

		var cart checkout.CartResponse
		c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
		assert.Empty(t, cart.Cart.Items, "the webhook empties the cart")

		fresh, r := c.Validate(mugCard)
		require.Equal(t, http.StatusOK, r.Status)
		assert.NotEqual(t, resp.IdempotencyKey, fresh.IdempotencyKey)
		assert.NotEqual(t, resp.PaymentIntent.ID, fresh.PaymentIntent.ID)
		assert.Equal(t, 2, env.Sim.CreatedPaymentIntents())
	})
}

func TestStripeErrors(t *testing.T) {
	t.Run("Unavailable", func(t *testing.T) {
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			first, r := c.Validate(mugCard)
			require.Equal(t, http.StatusOK, r.Status)
			id := env.Sim.AddFault(stripesim.Fault{Path: "all", ErrorStatus: 503, ErrorRate: 1})
			_, r = c.Validate(withKey(withQuantity(mugCard, 4), first.IdempotencyKey))
			require.Equal(t, http.StatusBadGateway, r.Status)
			assert.Equal(t, checkout.CodePaymentUnavailable, r.Error().Code)
			assert.Equal(t, "payment unavailable", r.Error().Message)
			env.Sim.RemoveFault(id)
			// The key stayed usable: the retry updates the same intent.
			resp, r := c.Validate(withKey(withQuantity(mugCard, 4), first.IdempotencyKey))
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, first.PaymentIntent.ID, resp.PaymentIntent.ID)
			assert.Equal(t, int64(4800), resp.PaymentIntent.Amount)
		})
	})
	t.Run("Timeout", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{StripeTimeout: 200 * time.Millisecond, StripeRetries: -1})
		c := env.NewClient(t)
		env.Sim.AddFault(stripesim.Fault{Path: "all", Latency: time.Second})
		_, r := c.Validate(mugCard)
		require.Equal(t, http.StatusBadGateway, r.Status)
		assert.Equal(t, checkout.CodePaymentUnavailable, r.Error().Code)
	})
	t.Run("Misconfigured", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{WrapGateway: func(checkoutsvc.Gateway) checkoutsvc.Gateway {
			return failingGateway{err: checkoutsvc.ErrIntentFailed}
		}})
		c := env.NewClient(t)
		_, r := c.Validate(mugCard)
		require.Equal(t, http.StatusBadGateway, r.Status)
		assert.Equal(t, checkout.CodePaymentIntentFailed, r.Error().Code)
		assert.Equal(t, "failed to create payment intent", r.Error().Message)
	})
}

// failingGateway answers every call with err.
type failingGateway struct {
	checkoutsvc.Gateway
	err error
}

func (g failingGateway) CreatePaymentIntent(context.Context, checkoutsvc.CreateIntentParams) (checkoutsvc.PaymentIntent, error) {
	return checkoutsvc.PaymentIntent{}, g.err
}

// TestLeanReplayPath: a replay of a valid key with unchanged items makes no
// Stripe call and at most two round trips to PostgreSQL.
func TestLeanReplayPath(t *testing.T) {
	tracer := &pgtest.RoundTrips{}
	calls := &countingGateway{}
	env := testenv.New(t, testenv.Options{Store: testenv.Postgres, Tracer: tracer, WrapGateway: calls.wrap})
	c := env.NewClient(t)
	first, r := c.Validate(mugCard)
	require.Equal(t, http.StatusOK, r.Status)
	// The first replay also prepares the statements (pgx caches them per
	// connection); the second shows the steady state.
	for _, phase := range []string{"warm", "counted"} {
		before := calls.n.Load()
		var resp checkout.ValidateResponse
		trips := tracer.Count(func() { resp, r = c.Validate(withKey(mugCard, first.IdempotencyKey)) })
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, first.PaymentIntent.ID, resp.PaymentIntent.ID)
		assert.Equal(t, before, calls.n.Load(), "%s: no Stripe call", phase)
		if phase == "counted" {
			assert.LessOrEqual(t, trips, int64(2), "round trips: %q", tracer.Queries())
			t.Logf("replay: %d round trips: %q", trips, tracer.Queries())
		}
	}
}

// countingGateway counts calls to Stripe.
type countingGateway struct {
	checkoutsvc.Gateway
	n atomic.Int64
}

func (g *countingGateway) wrap(inner checkoutsvc.Gateway) checkoutsvc.Gateway {
	g.Gateway = inner
	return g
}

func (g *countingGateway) CreatePaymentIntent(ctx context.Context, p checkoutsvc.CreateIntentParams) (checkoutsvc.PaymentIntent, error) {
	g.n.Add(1)
	return g.Gateway.CreatePaymentIntent(ctx, p)
}

func (g *countingGateway) UpdatePaymentIntent(ctx context.Context, id string, amount int64, currency, key string) (checkoutsvc.PaymentIntent, error) {
	g.n.Add(1)
	return g.Gateway.UpdatePaymentIntent(ctx, id, amount, currency, key)
}

func (g *countingGateway) GetPaymentIntent(ctx context.Context, id string) (checkoutsvc.PaymentIntent, error) {
	g.n.Add(1)
	return g.Gateway.GetPaymentIntent(ctx, id)
}
