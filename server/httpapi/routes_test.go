package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onecharge/onecharge/server/testenv"
)

// Which route answers a method and path, whatever order they are
// registered in.
func TestRouting(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	for _, tt := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{http.MethodGet, "/api/orders/validate", "", 404, "not_found"}, // the order route, for the id "validate"
		{http.MethodPut, "/api/orders/validate", "{}", 405, "method_not_allowed"},
		{http.MethodPost, "/api/orders/pi_123", "{}", 405, "method_not_allowed"},
		{http.MethodGet, "/api/orders/pi_123", "", 404, "not_found"},
		{http.MethodGet, "/api/cart", "", 200, ""},
		{http.MethodPut, "/api/cart", `{"items":[]}`, 200, ""},
		{http.MethodPost, "/api/cart", "{}", 405, "method_not_allowed"},
		{http.MethodGet, "/api/checkout", "", 405, "method_not_allowed"},
		{http.MethodGet, "/api/stripe/webhook", "", 405, "method_not_allowed"},
		{http.MethodDelete, "/healthz", "", 405, "method_not_allowed"},
		{http.MethodGet, "/healthz", "", 200, ""},
		{http.MethodGet, "/api/nope", "", 404, "not_found"},
		{http.MethodGet, "/api/products", "", 200, ""},
		{http.MethodGet, "/api/config", "", 200, ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := c.Do(tt.method, tt.path, "application/json", strings.NewReader(tt.body))
			assert.Equal(t, tt.status, r.Status, "%s", r.Body)
			if tt.code != "" {
				assert.Equal(t, tt.code, string(r.Error().Code))
			}
		})
	}
}

// Which Content-Type a JSON body may come with (mime.ParseMediaType's
// reading of it).
func TestMediaTypes(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	c := env.NewClient(t)
	for ctype, status := range map[string]int{
		"application/json":                200,
		"application/json; charset=utf-8": 200,
		"Application/JSON":                200,
		" application/json ":              200,
		"application/json;":               200,
		"application/json; charset=\"x":   415,
		"application/jsonx":               415,
		"application/json/x":              415,
		"text/json":                       415,
		"":                                415,
		"application/json, text/plain":    415,
	} {
		t.Run(ctype, func(t *testing.T) {
			r := c.Do(http.MethodPut, "/api/cart", ctype, strings.NewReader(`{"items":[]}`))
			assert.Equal(t, status, r.Status, "%s", r.Body)
		})
	}
}
