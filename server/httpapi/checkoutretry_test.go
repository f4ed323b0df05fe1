package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// TestCheckoutRetryFromAnotherHost: a hosted checkout whose Checkout
// Session was made at Stripe but whose every answer was lost is retried
// through another of the shop's addresses (found by the fault suite:
// replicas reached at their own addresses; in production the apex and
// www. names of a shop, or http and https). The session's URLs come from
// the request's host, so the retry sends Stripe other parameters: it must
// not reuse the first attempt's Stripe Idempotency-Key, which Stripe then
// refuses (400 idempotency_error) on every retry, forever.
func TestCheckoutRetryFromAnotherHost(t *testing.T) {
	for _, kind := range testenv.Stores {
		t.Run(kind, func(t *testing.T) {
			env := testenv.New(t, testenv.Options{Store: kind})
			c := env.NewClient(t)
			require.Equal(t, http.StatusOK, c.Do(http.MethodGet, "/api/cart", "", nil).Status) // the session cookie
			cart := checkout.CartRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 2}}}
			// Every attempt of stripe-go (the first and its two retries)
			// is processed and its answer dropped.
			f := env.Sim.AddFault(stripesim.Fault{Method: http.MethodPost, Path: "/v1/checkout/sessions", DropCount: 3})
			r := c.JSON(http.MethodPost, "/api/checkout", cart)
			require.Equal(t, http.StatusBadGateway, r.Status, "%s", r.Body)
			env.Sim.RemoveFault(f)
			require.Len(t, env.Sim.CheckoutSessions(), 1, "the session was made at Stripe")

			body, _ := json.Marshal(cart)
			for attempt := 0; attempt < 2; attempt++ {
				req, err := http.NewRequest(http.MethodPost, env.URL+"/api/checkout", strings.NewReader(string(body)))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Host = "www.shop.test"
				for _, ck := range c.HTTP.Jar.Cookies(req.URL) {
					req.AddCookie(ck)
				}
				resp, err := c.HTTP.Do(req)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, "attempt %d: %s", attempt, b)
				var out checkout.CheckoutResponse
				require.NoError(t, json.Unmarshal(b, &out))
				sess, ok := env.Sim.CheckoutSession(out.SessionID)
				require.True(t, ok)
				assert.Contains(t, sess.SuccessURL, "http://www.shop.test/", "the session returns to the host the shopper used")
			}
		})
	}
}
