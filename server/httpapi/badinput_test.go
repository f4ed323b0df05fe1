package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// TestBadInputWritesNothing: every rejection row of contract section 3 is
// answered as specified, and no rejected request writes anything: the
// cart stays as it was and Stripe is never called.
func TestBadInputWritesNothing(t *testing.T) {
	lines := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"product_id":"p%d","quantity":1}`, i)
		}
		return b.String()
	}
	tests := []struct {
		name   string
		path   string
		method string
		ctype  string
		body   string
		status int
		code   checkout.Code
	}{
		{"MalformedJSON", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug"`, 400, checkout.CodeInvalidRequest},
		{"WrongType", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":"two"}],"payment_method":"CARD"}`, 400, checkout.CodeInvalidRequest},
		{"UnknownField", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":1,"unit_amount":1}],"payment_method":"CARD"}`, 400, checkout.CodeInvalidRequest},
		{"MalformedKey", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"CARD","idempotency_key":"ik_short"}`, 400, checkout.CodeInvalidRequest},
		{"TooLarge", "/api/orders/validate", "POST", "application/json", `{"email":"` + strings.Repeat("x", 64<<10) + `"}`, 413, checkout.CodeRequestTooLarge},
		{"NotJSON", "/api/orders/validate", "POST", "application/x-www-form-urlencoded", `items=mug`, 415, checkout.CodeUnsupportedMediaType},
		{"NoItems", "/api/orders/validate", "POST", "application/json", `{"items":[],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"FiftyOneLines", "/api/orders/validate", "POST", "application/json", `{"items":[` + lines(51) + `],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"ProductTwice", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":1},{"product_id":"mug","quantity":1}],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"UnknownProduct", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"unicorn","quantity":1}],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"InactiveProduct", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"retired-poster","quantity":1}],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"QuantityZero", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":0}],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"Quantity100", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":100}],"payment_method":"CARD"}`, 422, checkout.CodeInvalidItems},
		{"PaymentMethod", "/api/orders/validate", "POST", "application/json", `{"items":[{"product_id":"mug","quantity":1}],"payment_method":"PAYPAL"}`, 422, checkout.CodeInvalidPaymentMethod},
		{"CartUnknownProduct", "/api/cart", "PUT", "application/json", `{"items":[{"product_id":"unicorn","quantity":1}]}`, 422, checkout.CodeInvalidItems},
		{"CartMalformed", "/api/cart", "PUT", "application/json", `{"items":{}}`, 400, checkout.CodeInvalidRequest},
		{"CheckoutNoItems", "/api/checkout", "POST", "application/json", `{"items":[]}`, 422, checkout.CodeInvalidItems},
		{"CheckoutTextPlain", "/api/checkout", "POST", "text/plain", `{"items":[]}`, 415, checkout.CodeUnsupportedMediaType},
	}
	forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		c := env.NewClient(t)
		r := c.JSON(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{{ProductID: "tshirt", Quantity: 1}}})
		require.Equal(t, http.StatusOK, r.Status)
		var before checkout.CartResponse
		c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &before)

		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := c.Do(tt.method, tt.path, tt.ctype, strings.NewReader(tt.body))
				assert.Equal(t, tt.status, r.Status, "%s", r.Body)
				assert.Equal(t, tt.code, r.Error().Code)
				var after checkout.CartResponse
				c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &after)
				assert.Equal(t, before, after, "the cart is untouched")
				assert.Zero(t, env.Sim.CreatedPaymentIntents(), "no PaymentIntent")
				assert.Empty(t, env.Sim.CheckoutSessions(), "no Checkout Session")
			})
		}
	})
}
