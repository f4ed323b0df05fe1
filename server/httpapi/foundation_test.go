package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

var mugCard = checkout.ValidateRequest{Items: []checkout.Item{{ProductID: "mug", Quantity: 2}}, PaymentMethod: checkout.MethodCard}

func TestHealth(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	r := c.Do(http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	r = c.Do(http.MethodGet, "/readyz", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
}

func TestErrorsAreJSON(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        checkout.Code
	}{
		{"UnknownRoute", http.MethodGet, "/api/nope", "", "", 404, checkout.CodeNotFound},
		{"UnknownTopLevel", http.MethodGet, "/nope/deeper", "", "", 404, checkout.CodeNotFound},
		{"MethodNotAllowed", http.MethodDelete, "/api/cart", "", "", 405, checkout.CodeMethodNotAllowed},
		{"TooLarge", http.MethodPost, "/api/orders/validate", "application/json", `{"email":"` + strings.Repeat("a", 65<<10) + `"}`, 413, checkout.CodeRequestTooLarge},
		{"TextPlain", http.MethodPost, "/api/orders/validate", "text/plain", `{}`, 415, checkout.CodeUnsupportedMediaType},
		{"NoContentType", http.MethodPut, "/api/cart", "", `{}`, 415, checkout.CodeUnsupportedMediaType},
		{"MalformedJSON", http.MethodPost, "/api/orders/validate", "application/json", `{"items":`, 400, checkout.CodeInvalidRequest},
		{"JSONWithCharset", http.MethodPut, "/api/cart", "application/json; charset=utf-8", `{"items":"mug"}`, 400, checkout.CodeInvalidRequest},
		{"OrderNotFound", http.MethodGet, "/api/orders/pi_unknown", "", "", 404, checkout.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			} else {
				body = strings.NewReader("")
			}
			r := c.Do(tt.method, tt.path, tt.contentType, body)
			assert.Equal(t, tt.status, r.Status, "body: %s", r.Body)
			assert.Equal(t, tt.code, r.Error().Code)
			assert.NotEmpty(t, r.Error().Message)
			assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
		})
	}
}

// TooLarge without Content-Length (chunked) is caught while reading.
func TestChunkedBodyTooLarge(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	body := strings.NewReader(`{"items":[],"email":"` + strings.Repeat("a", 80<<10) + `"}`)
	req, err := http.NewRequest(http.MethodPost, env.URL+"/api/orders/validate", struct{ *strings.Reader }{body})
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1 // sent chunked
	resp, err := c.HTTP.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestSessionCookie(t *testing.T) {
	env := testenv.New(t, testenv.Options{})

	t.Run("IssuedOnce", func(t *testing.T) {
		c := env.NewClient(t)
		r := c.Do(http.MethodGet, "/api/cart", "", nil)
		require.Equal(t, http.StatusOK, r.Status)
		cookie := findCookie(r.Header, httpapi.SessionCookie)
		require.NotNil(t, cookie)
		assert.True(t, cookie.HttpOnly)
		assert.Equal(t, http.SameSiteLaxMode, cookie.SameSite)
		r = c.Do(http.MethodGet, "/api/cart", "", nil)
		assert.Nil(t, findCookie(r.Header, httpapi.SessionCookie), "a valid cookie is not reissued")
	})

	t.Run("TamperedGetsFreshUser", func(t *testing.T) {
		a := env.NewClient(t)
		_, r := a.Validate(mugCard)
		require.Equal(t, http.StatusOK, r.Status)
		cookie := findCookie(r.Header, httpapi.SessionCookie)
		require.NotNil(t, cookie)

		// Flip one character of the user id, keep the signature.
		tampered := []byte(cookie.Value)
		if tampered[0] == 'a' {
			tampered[0] = 'b'
		} else {
			tampered[0] = 'a'
		}
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/cart", nil)
		req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: string(tampered)})
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		fresh := findCookie(resp.Header, httpapi.SessionCookie)
		require.NotNil(t, fresh, "a tampered cookie is treated as absent")
		assert.NotEqual(t, cookie.Value, fresh.Value)
		assert.NotEqual(t, strings.SplitN(string(tampered), ".", 2)[0], strings.SplitN(fresh.Value, ".", 2)[0])

		// The fresh user sees none of A's cart.
		var cart checkout.CartResponse
		b := env.NewClient(t)
		b.HTTP.Jar.SetCookies(mustURL(env.URL), []*http.Cookie{{Name: httpapi.SessionCookie, Value: string(tampered)}})
		b.Do(http.MethodGet, "/api/cart", "", nil).Decode(t, &cart)
		assert.Empty(t, cart.Cart.Items)
	})
}

func findCookie(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
