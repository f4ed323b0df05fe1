package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// TestReaper runs the reaper against the simulator on a fake clock: it
// cancels what an abandoned checkout left payable, and nothing a shopper
// may still be paying.
func TestReaper(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		reaper := &checkoutsvc.Reaper{Service: env.Service}

		// Abandoned: validated, then left for longer than KEY_TTL.
		abandoned := env.NewClient(t)
		a := validateOK(t, abandoned, mugs(1))
		// In a 3-D Secure challenge on an old tab, with the stored status
		// still requires_payment_method (the confirm is the browser's).
		challenged := env.NewClient(t)
		c := validateOK(t, challenged, mugs(2))
		require.Equal(t, http.StatusOK, challenged.Confirm(c.PaymentIntent, stripesim.PMCardThreeDSecure2).Status)
		// Paid, and the webhook has not come yet.
		paid := env.NewClient(t)
		d := validateOK(t, paid, mugs(3))
		release := holdWebhooks(t, env)
		require.Equal(t, http.StatusOK, paid.Confirm(d.PaymentIntent, "pm_card_visa").Status)

		env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Minute)
		// A tab that still holds a live key: used within KEY_TTL.
		live := env.NewClient(t)
		b := validateOK(t, live, mugs(4))

		rep, err := reaper.Once(ctx)
		require.NoError(t, err)
		assert.True(t, rep.Ran)
		assert.Equal(t, 1, rep.Canceled, "the abandoned checkout's intent")
		assert.Equal(t, 2, rep.Settled, "the challenged and the paid one are left alone")
		assert.Zero(t, rep.Errors)

		status := func(id string) string {
			pi, ok := env.Sim.PaymentIntent(id)
			require.True(t, ok)
			return pi.Status
		}
		assert.Equal(t, "canceled", status(a.PaymentIntent.ID))
		assert.Equal(t, "requires_action", status(c.PaymentIntent.ID), "never a 3-D Secure challenge")
		assert.Equal(t, "succeeded", status(d.PaymentIntent.ID))
		assert.Equal(t, "requires_payment_method", status(b.PaymentIntent.ID), "never a live key")
		assert.Equal(t, http.StatusBadRequest, abandoned.Confirm(a.PaymentIntent, "pm_card_visa").Status, "an old tab cannot pay it")
		rec, ok, err := env.Store.GetKey(ctx, d.IdempotencyKey)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, checkoutsvc.StatusSucceeded, rec.PIStatus, "what the reaper learned is recorded")
		assert.Equal(t, d.PaymentIntent.Amount, rec.PIAmount)

		// A second pass finds nothing more to do.
		rep, err = reaper.Once(ctx)
		require.NoError(t, err)
		assert.Equal(t, checkoutsvc.ReapReport{Ran: true}, rep, "what the first pass learned is not asked again")

		// The shopper comes back to the reaped key: it rotates.
		again := validateOK(t, abandoned, withKey(mugs(1), a.IdempotencyKey))
		assert.NotEqual(t, a.IdempotencyKey, again.IdempotencyKey)

		release()
		o, code := orderOf(t, paid, d.PaymentIntent.ID)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, checkout.OrderPaid, o.Status)

		// Retention: everything idle for RETENTION goes, orders stay.
		env.Clock.Advance(checkoutsvc.DefaultRetention + time.Hour)
		rep, err = reaper.Once(ctx)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, rep.Deleted.Keys, 5)
		assert.GreaterOrEqual(t, rep.Deleted.Events, 1)
		_, ok, err = env.Store.GetKey(ctx, d.IdempotencyKey)
		require.NoError(t, err)
		assert.False(t, ok)
		o, code = orderOf(t, paid, d.PaymentIntent.ID)
		require.Equal(t, http.StatusOK, code, "the order outlives its key")
		assert.Equal(t, checkout.OrderPaid, o.Status)
	})
}

// TestReaperExpiresReplacedSessions: an open session that a newer one
// replaced (a crash between its expiry and the record, say) is expired at
// Stripe; the newest stays payable.
func TestReaperExpiresReplacedSessions(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		user := "0d8f6a2c-4b1e-4c3a-9f7d-2e5b8c1a6f30"
		lines := []checkout.Line{{ProductID: "mug", Name: "Onecharge Mug", Quantity: 1, UnitAmount: 1200}}
		var ids []string
		for i := 0; i < 2; i++ {
			sess, err := env.Service.Gateway.CreateCheckoutSession(ctx, checkoutsvc.CheckoutSessionParams{
				Lines: lines, Currency: "usd", SuccessURL: env.URL + "/", ClientRefID: user})
			require.NoError(t, err)
			claim, err := env.Store.ClaimCheckout(ctx, checkoutsvc.CheckoutClaimInput{UserID: user, Token: "tok", LeaseUntil: env.Clock.Now().Add(time.Second), Now: env.Clock.Now()})
			require.NoError(t, err)
			require.False(t, claim.InProgress)
			sess.UserID, sess.Items, sess.Amount, sess.Currency, sess.Status = user, lines, 1200, "usd", checkoutsvc.SessionOpen
			require.NoError(t, env.Store.RecordCheckout(ctx, checkoutsvc.CheckoutRecord{UserID: user, Token: "tok", Session: &sess, Now: env.Clock.Now()}))
			ids = append(ids, sess.ID)
		}
		rep, err := (&checkoutsvc.Reaper{Service: env.Service}).Once(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, rep.Expired)
		cs, _ := env.Sim.CheckoutSession(ids[0])
		assert.Equal(t, "expired", cs.Status, "the replaced session")
		cs, _ = env.Sim.CheckoutSession(ids[1])
		assert.Equal(t, "open", cs.Status, "the newest stays payable")
		rep, err = (&checkoutsvc.Reaper{Service: env.Service}).Once(ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Expired, "recorded: not expired twice")
	})
}

// TestReaperOneAtATime: of two reapers started together, one runs.
func TestReaperOneAtATime(t *testing.T) {
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ran := 0
		slow := env.Sim.AddFault(stripesim.Fault{Path: "all", Latency: 200 * time.Millisecond})
		defer env.Sim.RemoveFault(slow)
		c := env.NewClient(t)
		validateOK(t, c, mugs(1))
		env.Clock.Advance(checkoutsvc.DefaultKeyTTL + time.Minute)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := (&checkoutsvc.Reaper{Service: env.Service}).Once(context.Background())
				assert.NoError(t, err)
				if rep.Ran {
					mu.Lock()
					ran++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, ran)
	})
}
