package stripesim_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/onecharge/onecharge/server/stripesim"
)

// TestDropResponse: the create commits, the answer is lost; a retry with
// the same Idempotency-Key gets the same PaymentIntent.
func TestDropResponse(t *testing.T) {
	t.Parallel()

	t.Run("StripeGoRetry", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", DropCount: 1})
		pi, err := e.api(e.sim.SecretKey(), 2).PaymentIntents.New(createParams(800, "k-drop"))
		require.NoError(t, err)
		assert.Equal(t, "true", pi.LastResponse.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
		assert.Equal(t, pi.ID, e.sim.PaymentIntents()[0].ID)
	})

	t.Run("SecondCall", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", DropCount: 1})
		_, err := e.api(e.sim.SecretKey(), 0).PaymentIntents.New(createParams(800, "k-drop2"))
		require.Error(t, err)
		_, isStripe := err.(*stripe.Error)
		assert.False(t, isStripe, "a dropped response is a network error: %v", err)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents(), "the create was committed")

		pi, err := e.api(e.sim.SecretKey(), 0).PaymentIntents.New(createParams(800, "k-drop2"))
		require.NoError(t, err)
		assert.Equal(t, e.sim.PaymentIntents()[0].ID, pi.ID)
		assert.Equal(t, 1, e.sim.CreatedPaymentIntents())
	})

	t.Run("Rate", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 800, nil)
		e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents/*/confirm", DropRate: 1})
		_, err := e.sk().PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
		require.Error(t, err)
		now, _ := e.sim.PaymentIntent(pi.ID)
		assert.Equal(t, stripesim.StatusSucceeded, now.Status, "committed before the drop")
	})
}

func TestErrorFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   stripesim.Fault
		retries int64
		wantErr bool
		created int
	}{
		// stripe-go retries 503 for POST too; the injected answers come
		// before processing, so nothing is created twice.
		{"503CountRetried", stripesim.Fault{Path: "/v1/payment_intents", ErrorStatus: 503, ErrorCount: 2}, 2, false, 1},
		{"503CountExhaustsRetries", stripesim.Fault{Path: "/v1/payment_intents", ErrorStatus: 503, ErrorCount: 3}, 2, true, 0},
		{"503Rate", stripesim.Fault{ErrorStatus: 503, ErrorRate: 1}, 2, true, 0},
		// stripe-go does not retry a POST answered 500.
		{"500NotRetriedForPOST", stripesim.Fault{Method: "POST", Path: "all", ErrorCount: 1}, 2, true, 0},
		{"OtherMethodUnaffected", stripesim.Fault{Method: "GET", ErrorRate: 1}, 0, false, 1},
		{"OtherPathUnaffected", stripesim.Fault{Path: "/v1/payment_intents/*", ErrorRate: 1}, 0, false, 1},
		{"ZeroRate", stripesim.Fault{ErrorRate: 0}, 0, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustSim(t, stripesim.Config{})
			e.sim.AddFault(tt.fault)
			_, err := e.api(e.sim.SecretKey(), tt.retries).PaymentIntents.New(createParams(800, ""))
			if tt.wantErr {
				se := stripeErr(t, err)
				assert.GreaterOrEqual(t, se.HTTPStatusCode, 500)
				assert.Equal(t, stripe.ErrorTypeAPI, se.Type)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.created, e.sim.CreatedPaymentIntents())
		})
	}

	t.Run("GETRetriedAfter500", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		pi := e.createPI(t, 800, nil)
		e.sim.AddFault(stripesim.Fault{Method: "GET", Path: "/v1/payment_intents/*", ErrorCount: 2})
		got, err := e.api(e.sim.SecretKey(), 2).PaymentIntents.Get(pi.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, pi.ID, got.ID)
	})

	t.Run("RemoveAndClear", func(t *testing.T) {
		t.Parallel()
		e := mustSim(t, stripesim.Config{})
		id := e.sim.AddFault(stripesim.Fault{ErrorRate: 1})
		_, err := e.sk().PaymentIntents.New(createParams(100, ""))
		require.Error(t, err)
		e.sim.RemoveFault(id)
		_, err = e.sk().PaymentIntents.New(createParams(100, ""))
		require.NoError(t, err)
		e.sim.AddFault(stripesim.Fault{ErrorRate: 1})
		e.sim.AddFault(stripesim.Fault{ErrorRate: 1, ErrorStatus: 503})
		e.sim.ClearFaults()
		_, err = e.sk().PaymentIntents.New(createParams(100, ""))
		require.NoError(t, err)
	})
}

func TestLatencyFault(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	pi := e.createPI(t, 800, nil)
	e.sim.AddFault(stripesim.Fault{Method: "GET", Path: "/v1/payment_intents/**", Latency: 150 * time.Millisecond})

	start := time.Now()
	_, err := e.sk().PaymentIntents.Get(pi.ID, nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	start = time.Now()
	e.createPI(t, 800, nil)
	assert.Less(t, time.Since(start), 150*time.Millisecond, "POST is not delayed")

	t.Run("ClientTimeoutStillCommits", func(t *testing.T) {
		e := mustSim(t, stripesim.Config{})
		e.sim.AddFault(stripesim.Fault{Method: "POST", Path: "/v1/payment_intents", Latency: 2 * time.Second})
		var requests atomic.Int32
		b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
			URL: stripe.String(e.base),
			HTTPClient: &http.Client{Timeout: 50 * time.Millisecond, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				requests.Add(1)
				return http.DefaultTransport.RoundTrip(r)
			})},
			MaxNetworkRetries: stripe.Int64(0),
			LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		})
		_, err := client.New(e.sim.SecretKey(), &stripe.Backends{API: b}).PaymentIntents.New(createParams(900, "k-timeout"))
		require.Error(t, err)
		// The server saw the client leave and finished the create anyway.
		require.Eventually(t, func() bool { return e.sim.CreatedPaymentIntents() == 1 && e.sim.InFlight() == 0 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, int32(1), requests.Load())
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPageFaults(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	e.sim.AddFault(stripesim.Fault{Method: "GET", Path: "/checkout/*", ErrorCount: 1, ErrorStatus: 503})
	resp := do(t, http.MethodGet, e.base+"/checkout/cs_test_x", nil, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.Status)
	resp = do(t, http.MethodGet, e.base+"/checkout/cs_test_x", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.Status)
}
