package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

var updatePath = regexp.MustCompile(`^/v1/payment_intents/pi_[A-Za-z0-9]+$`)

// stallingStripe is the Stripe a doomed replica talks to: an amount
// update reaches it (the request is sent in full) and then hangs, so the
// replica is killed in the middle of its Stripe call. When the dead
// replica's connection drops, the update is delivered to the simulator
// anyway, as a request already on the wire would be.
type stallingStripe struct {
	sim     http.Handler
	arrived chan struct{}
}

func (s *stallingStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !updatePath.MatchString(r.URL.Path) {
		s.sim.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	<-r.Context().Done() // the replica died
	late := r.Clone(context.Background())
	late.Body = io.NopCloser(bytes.NewReader(body))
	s.sim.ServeHTTP(httptest.NewRecorder(), late)
}

func validateBody(quantity int, key string) string {
	req := checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: quantity}}, PaymentMethod: checkout.MethodCard, IdempotencyKey: key}
	return string(checkout.EncodeValidateRequest(req))
}

// TestKilledReplicaFreesKey: a replica is SIGKILLed while it holds a
// shopper's key in a Stripe call; the shopper's retries on another replica
// get request_in_progress until the dead request's lease runs out, then
// the checkout goes on with the same key and PaymentIntent. Contract rule
// 7: usable again within 5 seconds.
func TestKilledReplicaFreesKey(t *testing.T) {
	dbURL := pgtest.URL(t)
	sim := stripesim.New(stripesim.Config{})
	t.Cleanup(func() { sim.Close() })
	stall := &stallingStripe{sim: sim, arrived: make(chan struct{}, 1)}
	slow, fast := httptest.NewServer(stall), httptest.NewServer(sim)
	t.Cleanup(slow.Close)
	t.Cleanup(fast.Close)

	env := func(stripe string) map[string]string {
		return map[string]string{
			"DATABASE_URL": dbURL, "SESSION_SECRET": "faulttest-session-secret-0123456789abcdef",
			"STRIPE_SECRET_KEY": sim.SecretKey(), "STRIPE_API_BASE": stripe,
			"STRIPE_WEBHOOK_SECRET": sim.WebhookSecret(), "STRIPE_PUBLISHABLE_KEY": sim.PublishableKey(),
		}
	}
	doomed := startReplica(t, "doomed", env(slow.URL))
	survivor := startReplica(t, "survivor", env(fast.URL))
	sim.SetWebhookURLs([]string{doomed.URL + "/api/stripe/webhook", survivor.URL + "/api/stripe/webhook"})

	ctx := context.Background()
	sh := newRawClient()
	first := sh.do(ctx, http.MethodPost, survivor.URL, "/api/orders/validate", validateBody(2, ""), nil)
	require.NoError(t, first.err)
	require.Equal(t, http.StatusOK, first.status, "%s", first.body)
	var issued checkout.ValidateResponse
	require.NoError(t, json.Unmarshal(first.body, &issued))
	key, pi := issued.IdempotencyKey, issued.PaymentIntent.ID

	const rounds = 5
	var blocked []time.Duration
	for round := 0; round < rounds; round++ {
		qty := 3 + round
		go sh.do(ctx, http.MethodPost, doomed.URL, "/api/orders/validate", validateBody(qty, key), nil)
		select {
		case <-stall.arrived:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: the doomed replica never called Stripe", round)
		}
		killed := time.Now()
		doomed.Kill()

		var inProgress int
		for {
			r := sh.do(ctx, http.MethodPost, survivor.URL, "/api/orders/validate", validateBody(qty+10, key), nil)
			require.NoError(t, r.err)
			if r.status == http.StatusOK {
				var resp checkout.ValidateResponse
				require.NoError(t, json.Unmarshal(r.body, &resp))
				assert.Equal(t, key, resp.IdempotencyKey, "round %d: same key", round)
				assert.Equal(t, pi, resp.PaymentIntent.ID, "round %d: same PaymentIntent", round)
				assert.Equal(t, int64(1200*(qty+10)), resp.PaymentIntent.Amount)
				break
			}
			require.Equal(t, http.StatusConflict, r.status, "round %d: %s", round, r.body)
			require.Contains(t, string(r.body), string(checkout.CodeRequestInProgress))
			require.NotEmpty(t, r.header.Get("Retry-After"))
			inProgress++
			require.Less(t, time.Since(killed), 30*time.Second, "round %d: the key stays blocked", round)
			time.Sleep(50 * time.Millisecond)
		}
		d := time.Since(killed)
		blocked = append(blocked, d)
		t.Logf("round %d: key blocked %v after the kill (%d answers request_in_progress)", round, d.Round(time.Millisecond), inProgress)
		doomed.Restart(t)
		sim.SetWebhookURLs([]string{doomed.URL + "/api/stripe/webhook", survivor.URL + "/api/stripe/webhook"})
	}
	slices.Sort(blocked)
	median, worst := blocked[len(blocked)/2], blocked[len(blocked)-1]
	t.Logf("key blocked after a SIGKILL: median %v, max %v over %d kills (lease %v)", median.Round(time.Millisecond), worst.Round(time.Millisecond), rounds, 3*time.Second)
	report(t, fmt.Sprintf("faulttest TestKilledReplicaFreesKey: key blocked after a SIGKILL mid-Stripe-call: median %v, max %v over %d kills (lease %v)\n",
		median.Round(time.Millisecond), worst.Round(time.Millisecond), rounds, 3*time.Second))
	assert.Less(t, worst, 5*time.Second, "contract rule 7: usable again within 5 seconds")
	assert.Equal(t, 1, sim.CreatedPaymentIntents(), "one key, one PaymentIntent (I2)")
}
