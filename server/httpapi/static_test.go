package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

func TestStaticFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>shop</title>"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "onecharge.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644))
	env := testenv.New(t, testenv.Options{WebDir: dir})
	c := env.NewClient(t)

	r := c.Do(http.MethodGet, "/", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), "<title>shop</title>")

	r = c.Do(http.MethodGet, "/onecharge.wasm", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "application/wasm", r.Header.Get("Content-Type"), "instantiateStreaming needs it")
	assert.Equal(t, "no-cache", r.Header.Get("Cache-Control"))

	for _, path := range []string{"/missing.js", "/../../etc/passwd", "/%2e%2e/secret"} {
		r = c.Do(http.MethodGet, path, "", nil)
		assert.Equal(t, http.StatusNotFound, r.Status, path)
		assert.Equal(t, checkout.CodeNotFound, r.Error().Code, path)
	}
	// The catch-all never shadows the API.
	r = c.Do(http.MethodGet, "/api/products", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
}

func TestConfigAndCatalog(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	var cfg checkout.ConfigResponse
	c.Do(http.MethodGet, "/api/config", "", nil).Decode(t, &cfg)
	assert.Equal(t, checkout.StripeConfig{PublishableKey: "pk_test_simulator", APIBase: "/_stripe", Simulated: true}, cfg.Stripe)

	var products checkout.ProductsResponse
	c.Do(http.MethodGet, "/api/products", "", nil).Decode(t, &products)
	require.NotEmpty(t, products.Products)
	for _, p := range products.Products {
		assert.NotEqual(t, "retired-poster", p.ID, "inactive products are not listed")
		assert.Positive(t, p.UnitAmount)
	}

	t.Run("CartPutGet", func(t *testing.T) {
		forEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
			c := env.NewClient(t)
			var cart checkout.CartResponse
			c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
			assert.Empty(t, cart.Cart.Items)
			for q := 1; q <= 3; q++ { // repeated PUTs: one row, last items win, never 23505
				r := c.JSON(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{{ProductID: "tshirt", Quantity: q}}})
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			}
			c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
			require.Len(t, cart.Cart.Items, 1)
			assert.Equal(t, 3, cart.Cart.Items[0].Quantity)
			assert.Equal(t, int64(3*2500), cart.Cart.Amount)
			assert.False(t, cart.Cart.UpdatedAt.IsZero())
			r := c.JSON(http.MethodPut, "/api/cart", checkout.CartRequest{Items: []checkout.Item{}})
			require.Equal(t, http.StatusOK, r.Status)
			c.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
			assert.Empty(t, cart.Cart.Items, "an empty PUT empties the cart")
		})
	})
}
