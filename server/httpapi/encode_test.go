package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

// The bodies the hot paths encode without encoding/json are what
// json.Encoder writes for them, and they carry the same headers.
func TestEncodedBodies(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	req := checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 2}, {ProductID: "tshirt", Quantity: 1}}, PaymentMethod: checkout.MethodCard}
	for _, r := range []struct {
		name string
		do   func() (testenv.Response, any)
	}{
		{"Validate", func() (testenv.Response, any) {
			var v checkout.ValidateResponse
			_, r := c.Validate(req)
			return r, &v
		}},
		{"ValidateCash", func() (testenv.Response, any) {
			var v checkout.ValidateResponse
			_, r := c.Validate(checkout.ValidateRequest{Items: req.Items, PaymentMethod: checkout.MethodCashOnDelivery})
			return r, &v
		}},
		{"PutCart", func() (testenv.Response, any) {
			var v checkout.CartResponse
			return c.JSON(http.MethodPut, "/api/cart", checkout.CartRequest{Items: req.Items}), &v
		}},
		{"GetCart", func() (testenv.Response, any) {
			var v checkout.CartResponse
			return c.Do(http.MethodGet, "/api/cart", "", nil), &v
		}},
		{"GetCartOfNewUser", func() (testenv.Response, any) {
			var v checkout.CartResponse
			return env.NewClient(t).Do(http.MethodGet, "/api/cart", "", nil), &v
		}},
		{"PutEmptyCart", func() (testenv.Response, any) {
			var v checkout.CartResponse
			return c.JSON(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{}}), &v
		}},
	} {
		t.Run(r.name, func(t *testing.T) {
			resp, v := r.do()
			require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
			require.NoError(t, json.Unmarshal(resp.Body, v))
			var want bytes.Buffer
			require.NoError(t, json.NewEncoder(&want).Encode(v))
			assert.Equal(t, want.String(), string(resp.Body))
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.NotEmpty(t, resp.Header.Get("Content-Length"))
		})
	}
}
