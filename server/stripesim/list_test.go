package stripesim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/onecharge/onecharge/server/stripesim"
)

// createN creates n PaymentIntents (amounts 1000, 1001, ...) and returns
// their ids in creation order.
func createN(t *testing.T, e *env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.createPI(t, int64(1000+i), nil).ID
	}
	return ids
}

// countingClient is a secret-key stripe-go client counting its HTTP requests.
func (e *env) countingClient(requests *atomic.Int32) *client.API {
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL: stripe.String(e.base),
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return http.DefaultTransport.RoundTrip(r)
		})},
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return client.New(e.sim.SecretKey(), &stripe.Backends{API: b})
}

func newestFirst(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

// TestListPaymentIntents: GET /v1/payment_intents is Stripe's list, and
// stripe-go's auto-paginating iterator walks it whole in both directions.
func TestListPaymentIntents(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	ids := createN(t, e, 250)

	t.Run("AutoPaginationForward", func(t *testing.T) {
		for _, tt := range []struct {
			limit int64 // 0: the default, 10
			pages int32
		}{{100, 3}, {0, 25}, {7, 36}} {
			var requests atomic.Int32
			params := &stripe.PaymentIntentListParams{}
			if tt.limit != 0 {
				params.Limit = stripe.Int64(tt.limit)
			}
			it := e.countingClient(&requests).PaymentIntents.List(params)
			var got []string
			for it.Next() {
				got = append(got, it.PaymentIntent().ID)
			}
			require.NoError(t, it.Err())
			assert.Equal(t, newestFirst(ids), got, "limit %d", tt.limit)
			assert.Equal(t, tt.pages, requests.Load(), "limit %d: one request a page", tt.limit)
		}
	})

	t.Run("AutoPaginationBackward", func(t *testing.T) {
		// ending_before walks towards the newest; stripe-go hands the
		// items out oldest first.
		params := &stripe.PaymentIntentListParams{}
		params.Limit = stripe.Int64(100)
		params.EndingBefore = stripe.String(ids[9])
		it := e.sk().PaymentIntents.List(params)
		var got []string
		for it.Next() {
			got = append(got, it.PaymentIntent().ID)
		}
		require.NoError(t, it.Err())
		assert.Equal(t, ids[10:], got)
	})

	t.Run("Pages", func(t *testing.T) {
		page := func(q url.Values) (ids []string, hasMore bool) {
			t.Helper()
			resp := do(t, http.MethodGet, e.base+"/v1/payment_intents?"+q.Encode(), nil, bearer(e.sim.SecretKey()))
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			var l struct {
				Object  string `json:"object"`
				Data    []struct{ ID string }
				HasMore bool   `json:"has_more"`
				URL     string `json:"url"`
			}
			require.NoError(t, json.Unmarshal(resp.Body, &l))
			assert.Equal(t, "list", l.Object)
			assert.Equal(t, "/v1/payment_intents", l.URL)
			assert.NotNil(t, l.Data, "data is [] when empty, never null")
			for _, d := range l.Data {
				ids = append(ids, d.ID)
			}
			return ids, l.HasMore
		}
		tests := []struct {
			name string
			q    url.Values
			want []string
			more bool
		}{
			{"Default10", url.Values{}, newestFirst(ids[240:]), true},
			{"Max100", url.Values{"limit": {"100"}}, newestFirst(ids[150:]), true},
			{"StartingAfter", url.Values{"limit": {"3"}, "starting_after": {ids[100]}}, []string{ids[99], ids[98], ids[97]}, true},
			{"StartingAfterNearEnd", url.Values{"limit": {"3"}, "starting_after": {ids[2]}}, []string{ids[1], ids[0]}, false},
			{"StartingAfterExactEnd", url.Values{"limit": {"2"}, "starting_after": {ids[2]}}, []string{ids[1], ids[0]}, false},
			{"StartingAfterOldest", url.Values{"starting_after": {ids[0]}}, nil, false},
			{"EndingBefore", url.Values{"limit": {"3"}, "ending_before": {ids[100]}}, []string{ids[103], ids[102], ids[101]}, true},
			{"EndingBeforeNearStart", url.Values{"limit": {"3"}, "ending_before": {ids[247]}}, []string{ids[249], ids[248]}, false},
			{"EndingBeforeNewest", url.Values{"ending_before": {ids[249]}}, nil, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, more := page(tt.q)
				assert.Equal(t, tt.want, got)
				assert.Equal(t, tt.more, more)
			})
		}
	})

	t.Run("ObjectsAsRetrieveReturnsThem", func(t *testing.T) {
		_, err := e.sk().PaymentIntents.Confirm(ids[249], &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(stripesim.PMCardThreeDSecure2)})
		require.NoError(t, err)
		_, err = e.sk().PaymentIntents.Cancel(ids[248], nil)
		require.NoError(t, err)
		resp := do(t, http.MethodGet, e.base+"/v1/payment_intents?limit=3", nil, bearer(e.sim.SecretKey()))
		require.Equal(t, http.StatusOK, resp.Status)
		var l struct{ Data []json.RawMessage }
		require.NoError(t, json.Unmarshal(resp.Body, &l))
		require.Len(t, l.Data, 3)
		for i, raw := range l.Data {
			one := do(t, http.MethodGet, e.base+"/v1/payment_intents/"+ids[249-i], nil, bearer(e.sim.SecretKey()))
			require.Equal(t, http.StatusOK, one.Status)
			assert.JSONEq(t, string(one.Body), string(raw))
		}
	})

	t.Run("Errors", func(t *testing.T) {
		tests := []struct {
			name   string
			q      url.Values
			key    string
			status int
			code   string
			param  string
		}{
			{"LimitZero", url.Values{"limit": {"0"}}, "", 400, "", "limit"},
			{"Limit101", url.Values{"limit": {"101"}}, "", 400, "", "limit"},
			{"LimitNotInteger", url.Values{"limit": {"ten"}}, "", 400, "parameter_invalid_integer", "limit"},
			{"UnknownStartingAfter", url.Values{"starting_after": {"pi_missing"}}, "", 400, "resource_missing", "starting_after"},
			{"UnknownEndingBefore", url.Values{"ending_before": {"pi_missing"}}, "", 400, "resource_missing", "ending_before"},
			{"BothCursors", url.Values{"starting_after": {ids[1]}, "ending_before": {ids[0]}}, "", 400, "", "ending_before"},
			{"BadCreated", url.Values{"created[gt]": {"yesterday"}}, "", 400, "parameter_invalid_integer", "created[gt]"},
			{"PublishableKey", url.Values{}, e.sim.PublishableKey(), 401, "", ""},
			{"WrongSecretKey", url.Values{}, "sk_test_guess", 401, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := tt.key
				if key == "" {
					key = e.sim.SecretKey()
				}
				resp := do(t, http.MethodGet, e.base+"/v1/payment_intents?"+tt.q.Encode(), nil, bearer(key))
				require.Equal(t, tt.status, resp.Status, string(resp.Body))
				errObj := resp.JSON(t)["error"].(map[string]any)
				assert.Equal(t, "invalid_request_error", errObj["type"])
				assert.NotEmpty(t, errObj["message"])
				code, _ := errObj["code"].(string)
				param, _ := errObj["param"].(string)
				assert.Equal(t, tt.code, code)
				assert.Equal(t, tt.param, param)
			})
		}
		t.Run("ThroughStripeGo", func(t *testing.T) {
			params := &stripe.PaymentIntentListParams{}
			params.StartingAfter = stripe.String("pi_missing")
			it := e.sk().PaymentIntents.List(params)
			assert.False(t, it.Next())
			se := stripeErr(t, it.Err())
			assert.Equal(t, 400, se.HTTPStatusCode)
			assert.Equal(t, stripe.ErrorCodeResourceMissing, se.Code)
			assert.Equal(t, "starting_after", se.Param)
		})
	})
}

// TestListPaymentIntentsCreated filters on the creation time.
func TestListPaymentIntentsCreated(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	t0 := e.clock.Now().Unix()
	var ids []string
	for range 3 {
		ids = append(ids, e.createPI(t, 1000, nil).ID)
		e.clock.Advance(time.Minute)
	}
	list := func(params *stripe.PaymentIntentListParams) []string {
		t.Helper()
		it := e.sk().PaymentIntents.List(params)
		var got []string
		for it.Next() {
			got = append(got, it.PaymentIntent().ID)
		}
		require.NoError(t, it.Err())
		return got
	}
	assert.Equal(t, []string{ids[2], ids[1]}, list(&stripe.PaymentIntentListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThan: t0}}))
	assert.Equal(t, []string{ids[1], ids[0]}, list(&stripe.PaymentIntentListParams{CreatedRange: &stripe.RangeQueryParams{LesserThanOrEqual: t0 + 60}}))
	assert.Equal(t, []string{ids[1]}, list(&stripe.PaymentIntentListParams{Created: stripe.Int64(t0 + 60)}))
	assert.Empty(t, list(&stripe.PaymentIntentListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: t0 + 180}}))
}

// TestListAfterForget: a PaymentIntent forgotten by the test hook leaves
// the list, and paging over the others in either direction still visits
// each once and ends.
func TestListAfterForget(t *testing.T) {
	t.Parallel()
	e := mustSim(t, stripesim.Config{})
	ids := createN(t, e, 6)
	require.NoError(t, e.sim.ForgetPaymentIntent(ids[2]))
	ids = append(slices.Delete(ids, 2, 3), createN(t, e, 1)...)

	list := func(params *stripe.PaymentIntentListParams) []string {
		t.Helper()
		params.Limit = stripe.Int64(1)
		it := e.sk().PaymentIntents.List(params)
		var got []string
		for it.Next() && len(got) <= len(ids) { // bounded: a broken cursor pages forever
			got = append(got, it.PaymentIntent().ID)
		}
		require.NoError(t, it.Err())
		return got
	}
	assert.Equal(t, newestFirst(ids), list(&stripe.PaymentIntentListParams{}))
	backward := &stripe.PaymentIntentListParams{}
	backward.EndingBefore = stripe.String(ids[0])
	assert.Equal(t, ids[1:], list(backward))
	var inOrder []string
	for _, pi := range e.sim.PaymentIntents() {
		inOrder = append(inOrder, pi.ID)
	}
	assert.Equal(t, ids, inOrder)
}
