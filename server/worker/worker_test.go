package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/postgres/cfsocket"
	"github.com/onecharge/onecharge/server/postgres/cfsocket/cfsockettest"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/worker"
	"github.com/onecharge/onecharge/shared/checkout"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var good = map[string]string{
	"STRIPE_SECRET_KEY": "sk_test_worker",
	"SESSION_SECRET":    strings.Repeat("s", 32),
}

func with(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range good {
		m[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func get(t *testing.T, h http.Handler, path string) (int, checkout.ErrorBody) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body checkout.ErrorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestNew(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrNoDatabase", func(t *testing.T) {
		h, release := worker.New(ctx, worker.Env{Getenv: envOf(good)})
		defer release()
		for _, path := range []string{"/api/products", "/api/cart", "/readyz"} {
			status, body := get(t, h, path)
			assert.Equal(t, http.StatusServiceUnavailable, status, path)
			assert.Equal(t, worker.CodeNotConfigured, body.Error.Code)
			assert.Equal(t, worker.MessageNoDatabase, body.Error.Message)
		}
		status, _ := get(t, h, "/healthz")
		assert.Equal(t, http.StatusOK, status)
	})
	for name, env := range map[string]map[string]string{
		"ErrNoStripeKey":     with(map[string]string{"STRIPE_SECRET_KEY": "", "DATABASE_URL": "postgres://u:p@localhost/db"}),
		"ErrNoSessionSecret": with(map[string]string{"SESSION_SECRET": "", "DATABASE_URL": "postgres://u:p@localhost/db"}),
		"ErrInvalid":         with(map[string]string{"KEY_TTL": "forever", "DATABASE_URL": "postgres://u:p@localhost/db"}),
	} {
		t.Run(name, func(t *testing.T) {
			h, release := worker.New(ctx, worker.Env{Getenv: envOf(env)})
			defer release()
			status, body := get(t, h, "/api/products")
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.Equal(t, worker.MessageMisconfigured, body.Error.Message, "the reason is logged, not shown")
		})
	}
	t.Run("HyperdriveOverDatabaseURL", func(t *testing.T) {
		url := pgtest.URL(t)
		env := with(map[string]string{"DATABASE_URL": "postgres://nobody:x@127.0.0.1:1/none"})
		h, release := worker.New(ctx, worker.Env{Getenv: envOf(env), HyperdriveURL: url, Configure: cfsocket.ConfigureWith(cfsockettest.Dial)})
		defer release()
		status, _ := get(t, h, "/api/products")
		assert.Equal(t, http.StatusOK, status)
		status, _ = get(t, h, "/readyz")
		assert.Equal(t, http.StatusOK, status)
	})
	t.Run("DatabaseURLSecret", func(t *testing.T) {
		env := with(map[string]string{"DATABASE_URL": pgtest.URL(t)})
		h, release := worker.New(ctx, worker.Env{Getenv: envOf(env)})
		defer release()
		status, _ := get(t, h, "/api/products")
		require.Equal(t, http.StatusOK, status)
	})
}

func TestJoinSplitHeaders(t *testing.T) {
	var got http.Header
	h := worker.JoinSplitHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header }))
	r := httptest.NewRequest(http.MethodPost, "/api/stripe/webhook", nil)
	// As syumai/workers hands them over: "t=1,v1=ab, v0=cd" split on ",".
	r.Header["Stripe-Signature"] = []string{"t=1", "v1=ab", " v0=cd"}
	r.Header["Accept-Encoding"] = []string{"gzip", " br"}
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.Equal(t, []string{"t=1,v1=ab, v0=cd"}, got["Stripe-Signature"])
	assert.Equal(t, "gzip, br", got.Get("Accept-Encoding"))
	assert.Equal(t, "application/json", got.Get("Content-Type"))
}

func TestNoBodyOnGet(t *testing.T) {
	var seen []*http.Request
	rt := worker.NoBodyOnGet(roundTrip(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r)
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		req := httptest.NewRequest(m, "http://stripe.test/v1/payment_intents/pi_1", strings.NewReader(""))
		_, err := rt.RoundTrip(req)
		require.NoError(t, err)
	}
	assert.Nil(t, seen[0].Body, "GET")
	assert.Nil(t, seen[1].Body, "HEAD")
	assert.NotNil(t, seen[2].Body, "a POST keeps its body")
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
