package stripesim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
)

// cancelPIs creates and cancels n PaymentIntents, one event each, and
// returns their ids in order.
func cancelPIs(t *testing.T, e *env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		pi := e.createPI(t, int64(100+i), nil)
		_, err := e.sk().PaymentIntents.Cancel(pi.ID, nil)
		require.NoError(t, err)
		ids[i] = pi.ID
	}
	return ids
}

func piIDOf(t *testing.T, d delivered) string {
	t.Helper()
	var ev struct {
		Data struct {
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(d.Payload, &ev))
	return ev.Data.Object.ID
}

// TestWebhookSignatures: every event type arrives signed so that stripe-go
// and stripepay accept it.
func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{WebhookSecret: "whsec_test_signatures"})
	rcv := newReceiver(t, 0)
	e.sim.SetWebhookURL(rcv.URL())
	gw, err := stripepay.New(stripepay.Config{SecretKey: e.sim.SecretKey(), WebhookSecret: e.sim.WebhookSecret(), APIBase: e.base})
	require.NoError(t, err)
	ctx := context.Background()

	paid, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 1000, Currency: "usd", IdempotencyKey: "k1", Metadata: map[string]string{"onecharge_key": "ik_paid"}})
	require.NoError(t, err)
	_, err = gw.ConfirmPaymentIntent(ctx, paid.ID, stripesim.PMCardVisa, "", "")
	require.NoError(t, err)

	declined, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 2000, Currency: "eur", Metadata: map[string]string{"onecharge_key": "ik_declined"}})
	require.NoError(t, err)
	_, err = gw.ConfirmPaymentIntent(ctx, declined.ID, stripesim.PMCardChargeDeclined, "", "")
	require.Error(t, err)

	canceled, err := gw.CreatePaymentIntent(ctx, checkoutsvc.CreateIntentParams{Amount: 3000, Currency: "usd", Metadata: map[string]string{"onecharge_key": "ik_canceled"}})
	require.NoError(t, err)
	_, err = gw.CancelPaymentIntent(ctx, canceled.ID, "k-cancel")
	require.NoError(t, err)

	cs, err := e.sk().CheckoutSessions.New(&stripe.CheckoutSessionParams{
		Mode: stripe.String("payment"), SuccessURL: stripe.String("https://shop.example/ok"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(4000),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Kettle")}},
			Quantity: stripe.Int64(1),
		}},
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, do(t, http.MethodPost, cs.URL, nil, nil).Status)

	got := rcv.waitFor(t, 5)
	waitIdle(t, e.sim)
	require.Len(t, got, 5)

	type want struct {
		typ, pi, key, currency string
		amount                 int64
		session                bool
	}
	sessionPI, _ := e.sim.CheckoutSession(cs.ID)
	wants := []want{
		{"payment_intent.succeeded", paid.ID, "ik_paid", "usd", 1000, false},
		{"payment_intent.payment_failed", declined.ID, "ik_declined", "eur", 2000, false},
		{"payment_intent.canceled", canceled.ID, "ik_canceled", "usd", 3000, false},
		{"payment_intent.succeeded", *sessionPI.PaymentIntent, "", "usd", 4000, false},
		{"checkout.session.completed", *sessionPI.PaymentIntent, "", "usd", 4000, true},
	}
	for i, w := range wants {
		t.Run(w.typ, func(t *testing.T) {
			d := got[i]
			ev, err := webhook.ConstructEvent(d.Payload, d.Signature, "whsec_test_signatures")
			require.NoError(t, err)
			assert.Equal(t, stripe.EventType(w.typ), ev.Type)
			assert.Equal(t, stripe.APIVersion, ev.APIVersion)
			assert.Equal(t, "event", ev.Object)
			assert.Regexp(t, `^evt_`, ev.ID)

			parsed, err := gw.ParseEvent(d.Payload, d.Signature)
			require.NoError(t, err)
			assert.Equal(t, ev.ID, parsed.ID)
			assert.Equal(t, w.typ, parsed.Type)
			assert.Equal(t, w.pi, parsed.PaymentIntentID)
			assert.Equal(t, w.key, parsed.OnechargeKey)
			assert.Equal(t, w.amount, parsed.Amount)
			assert.Equal(t, w.currency, parsed.Currency)
			if w.session {
				assert.Equal(t, cs.ID, parsed.CheckoutSessionID)
			}

			_, err = webhook.ConstructEvent(d.Payload, d.Signature, "whsec_other")
			assert.ErrorIs(t, err, webhook.ErrNoValidSignature)
			_, err = gw.ParseEvent(append([]byte(" "), d.Payload...), d.Signature)
			assert.ErrorIs(t, err, checkoutsvc.ErrBadSignature)
		})
	}

	t.Run("RequestRecorded", func(t *testing.T) {
		evs := e.sim.Events()
		require.Len(t, evs, 5)
		require.NotNil(t, evs[2].Request.IdempotencyKey)
		assert.Equal(t, "k-cancel", *evs[2].Request.IdempotencyKey)
		require.NotNil(t, evs[2].Request.ID)
		assert.Regexp(t, `^req_`, *evs[2].Request.ID)
		assert.Nil(t, evs[4].Request.ID, "hosted page events have no request")
		assert.Equal(t, got[0].Payload, evs[0].Payload())
	})
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()

	t.Run("FailingReceiver", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookAttempts: 4})
		rcv := newReceiver(t, 2)
		e.sim.SetWebhookURL(rcv.URL())
		cancelPIs(t, e, 1)
		waitIdle(t, e.sim)
		got := rcv.deliveries()
		require.Len(t, got, 1)
		assert.Equal(t, 3, rcv.attemptCount())
		_, err := webhook.ConstructEvent(got[0].Payload, got[0].Signature, e.sim.WebhookSecret())
		assert.NoError(t, err, "each attempt is signed")
	})

	t.Run("GivesUp", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookAttempts: 3})
		rcv := newReceiver(t, 1000)
		e.sim.SetWebhookURL(rcv.URL())
		cancelPIs(t, e, 2)
		waitIdle(t, e.sim)
		assert.Empty(t, rcv.deliveries())
		assert.Equal(t, 6, rcv.attemptCount())
	})

	t.Run("TransportErrorThenNewURL", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookAttempts: 1000, WebhookBackoff: time.Millisecond, WebhookMaxBackoff: 2 * time.Millisecond})
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		e.sim.SetWebhookURL(deadURL)
		cancelPIs(t, e, 1)
		rcv := newReceiver(t, 0)
		e.sim.SetWebhookURL(rcv.URL()) // retries use the current URL
		rcv.waitFor(t, 1)
		waitIdle(t, e.sim)
		assert.Len(t, rcv.deliveries(), 1)
	})

	t.Run("WaitIdleHonoursContext", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
		}))
		t.Cleanup(slow.Close)
		e := mustSim(t, stripesim.Config{WebhookURL: slow.URL})
		cancelPIs(t, e, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, e.sim.WaitIdle(ctx), context.DeadlineExceeded)
		close(release)
		waitIdle(t, e.sim)
	})

	t.Run("CloseStopsRetries", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookBackoff: time.Hour})
		rcv := newReceiver(t, 1000)
		e.sim.SetWebhookURL(rcv.URL())
		cancelPIs(t, e, 1)
		require.Eventually(t, func() bool { return rcv.attemptCount() == 1 }, 5*time.Second, time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- e.sim.Close() }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not stop the pending retry")
		}
		waitIdle(t, e.sim)
		assert.Equal(t, 1, rcv.attemptCount())
	})

	t.Run("NoURLRecordsOnly", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		cancelPIs(t, e, 2)
		waitIdle(t, e.sim)
		assert.Len(t, e.sim.Events(), 2)
	})
}

func TestWebhookModes(t *testing.T) {
	t.Parallel()

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookMode: stripesim.WebhookMode{Duplicate: true}})
		rcv := newReceiver(t, 0)
		e.sim.SetWebhookURL(rcv.URL())
		ids := cancelPIs(t, e, 2)
		got := rcv.waitFor(t, 4)
		waitIdle(t, e.sim)
		require.Len(t, rcv.deliveries(), 4)
		assert.Equal(t, got[0].EventID, got[1].EventID)
		assert.Equal(t, got[2].EventID, got[3].EventID)
		assert.NotEqual(t, got[0].EventID, got[2].EventID)
		assert.Equal(t, ids, []string{piIDOf(t, got[0]), piIDOf(t, got[2])})
	})

	t.Run("Reversed", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		rcv := newReceiver(t, 0)
		e.sim.SetWebhookURL(rcv.URL())
		e.sim.SetWebhookMode(stripesim.WebhookMode{Order: stripesim.Reversed})
		ids := cancelPIs(t, e, 3)
		waitIdle(t, e.sim)
		assert.Empty(t, rcv.deliveries(), "held until released")
		e.sim.ReleaseWebhooks()
		got := rcv.waitFor(t, 3)
		assert.Equal(t, []string{ids[2], ids[1], ids[0]}, []string{piIDOf(t, got[0]), piIDOf(t, got[1]), piIDOf(t, got[2])})
	})

	t.Run("ReversedBatch", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		rcv := newReceiver(t, 0)
		e.sim.SetWebhookURL(rcv.URL())
		e.sim.SetWebhookMode(stripesim.WebhookMode{Order: stripesim.Reversed, Batch: 2})
		ids := cancelPIs(t, e, 3)
		got := rcv.waitFor(t, 2)
		assert.Equal(t, []string{ids[1], ids[0]}, []string{piIDOf(t, got[0]), piIDOf(t, got[1])})
		e.sim.SetWebhookMode(stripesim.WebhookMode{}) // releases the third
		got = rcv.waitFor(t, 3)
		assert.Equal(t, ids[2], piIDOf(t, got[2]))
	})

	t.Run("ShuffledAndDuplicated", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		rcv := newReceiver(t, 0)
		e.sim.SetWebhookURL(rcv.URL())
		e.sim.SetWebhookMode(stripesim.WebhookMode{Order: stripesim.Shuffled, Duplicate: true})
		ids := cancelPIs(t, e, 4)
		e.sim.ReleaseWebhooks()
		got := rcv.waitFor(t, 8)
		waitIdle(t, e.sim)
		count := map[string]int{}
		for _, d := range got {
			count[piIDOf(t, d)]++
		}
		for _, id := range ids {
			assert.Equal(t, 2, count[id])
		}
	})
}

// TestSignatureHeader checks the exported signer against stripe-go's.
func TestSignatureHeader(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"id":"evt_1","object":"event","api_version":"` + stripe.APIVersion + `","type":"x"}`)
	now := time.Now()
	want := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: "whsec_x", Timestamp: now})
	assert.Equal(t, want.Header, stripesim.SignatureHeader(payload, "whsec_x", now))
	_, err := webhook.ConstructEvent(payload, stripesim.SignatureHeader(payload, "whsec_x", now.Add(-time.Hour)), "whsec_x")
	assert.True(t, errors.Is(err, webhook.ErrTooOld))
}

// TestWebhookEndpoints: with several endpoints (replicas sharing one
// simulator) every event reaches each, signed with the one secret, each
// endpoint with its own retries; WaitIdle waits for all of them.
func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()

	t.Run("EveryEndpointGetsEveryEvent", func(t *testing.T) {
		t.Parallel()
		a, b := newReceiver(t, 0), newReceiver(t, 0)
		e := mustSim(t, stripesim.Config{WebhookURL: a.URL(), WebhookURLs: []string{b.URL()}})
		assert.Equal(t, []string{a.URL(), b.URL()}, e.sim.WebhookURLs())
		ids := cancelPIs(t, e, 3)
		waitIdle(t, e.sim)
		for _, rcv := range []*receiver{a, b} {
			got := rcv.deliveries()
			require.Len(t, got, 3)
			for i, d := range got {
				ev, err := webhook.ConstructEvent(d.Payload, d.Signature, e.sim.WebhookSecret())
				require.NoError(t, err)
				assert.Equal(t, stripe.EventTypePaymentIntentCanceled, ev.Type)
				assert.Equal(t, ids[i], piIDOf(t, d), "in order")
				assert.EqualValues(t, 2, ev.PendingWebhooks)
			}
		}
		assert.Equal(t, a.deliveries()[0].EventID, b.deliveries()[0].EventID, "the same event")
		assert.Equal(t, 2, e.sim.Events()[0].PendingWebhooks)
	})

	t.Run("OwnRetries", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookAttempts: 4})
		healthy, flaky := newReceiver(t, 0), newReceiver(t, 2)
		e.sim.SetWebhookURLs([]string{healthy.URL(), flaky.URL()})
		cancelPIs(t, e, 1)
		waitIdle(t, e.sim)
		assert.Len(t, healthy.deliveries(), 1)
		assert.Equal(t, 1, healthy.attemptCount(), "the healthy endpoint is sent once")
		assert.Len(t, flaky.deliveries(), 1)
		assert.Equal(t, 3, flaky.attemptCount(), "the flaky one is retried on its own")
	})

	t.Run("SlowEndpointDelaysNoOther", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		t.Cleanup(slow.Close)
		fast := newReceiver(t, 0)
		e := mustSim(t, stripesim.Config{WebhookURLs: []string{slow.URL, fast.URL()}})
		cancelPIs(t, e, 2)
		fast.waitFor(t, 2) // while the slow endpoint holds its first delivery
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, e.sim.WaitIdle(ctx), context.DeadlineExceeded, "WaitIdle waits for the slow endpoint too")
		close(release)
		waitIdle(t, e.sim)
	})

	t.Run("SetWebhookURLKeepsOne", func(t *testing.T) {
		t.Parallel()
		a, b := newReceiver(t, 0), newReceiver(t, 0)
		e := mustSim(t, stripesim.Config{WebhookURLs: []string{a.URL(), b.URL()}})
		c := newReceiver(t, 0)
		e.sim.SetWebhookURL(c.URL())
		assert.Equal(t, []string{c.URL()}, e.sim.WebhookURLs())
		cancelPIs(t, e, 1)
		waitIdle(t, e.sim)
		assert.Empty(t, a.deliveries())
		assert.Empty(t, b.deliveries())
		assert.Len(t, c.deliveries(), 1)

		e.sim.SetWebhookURL("")
		assert.Empty(t, e.sim.WebhookURLs())
		cancelPIs(t, e, 1)
		waitIdle(t, e.sim)
		assert.Len(t, c.deliveries(), 1)
		assert.Zero(t, e.sim.Events()[1].PendingWebhooks)
	})

	t.Run("RemovedEndpointStopsRetrying", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{WebhookAttempts: 1000, WebhookBackoff: time.Millisecond, WebhookMaxBackoff: 2 * time.Millisecond})
		ok, failing := newReceiver(t, 0), newReceiver(t, 1000)
		e.sim.SetWebhookURLs([]string{ok.URL(), failing.URL()})
		cancelPIs(t, e, 1)
		require.Eventually(t, func() bool { return failing.attemptCount() >= 2 }, 5*time.Second, time.Millisecond)
		e.sim.SetWebhookURLs([]string{ok.URL()})
		waitIdle(t, e.sim) // the retry is dropped at its next attempt
		n := failing.attemptCount()
		assert.Len(t, ok.deliveries(), 1)
		cancelPIs(t, e, 1)
		waitIdle(t, e.sim)
		assert.Equal(t, n, failing.attemptCount(), "nothing more for a removed endpoint")
		assert.Len(t, ok.deliveries(), 2)
	})

	t.Run("ModesApplyPerEndpoint", func(t *testing.T) {
		t.Parallel()
		a, b := newReceiver(t, 0), newReceiver(t, 0)
		e := mustSim(t, stripesim.Config{WebhookURLs: []string{a.URL(), b.URL()},
			WebhookMode: stripesim.WebhookMode{Order: stripesim.Reversed, Duplicate: true, Batch: 4}})
		ids := cancelPIs(t, e, 2) // two events, four deliveries an endpoint: a batch
		for _, rcv := range []*receiver{a, b} {
			got := rcv.waitFor(t, 4)
			assert.Equal(t, []string{ids[1], ids[1], ids[0], ids[0]},
				[]string{piIDOf(t, got[0]), piIDOf(t, got[1]), piIDOf(t, got[2]), piIDOf(t, got[3])})
		}
		waitIdle(t, e.sim)
	})
}
