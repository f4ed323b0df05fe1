package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/metrics"
)

// Metrics implements the interfaces checkoutsvc and httpapi declare.
var (
	_ checkoutsvc.Metrics = (*metrics.Metrics)(nil)
	_ httpapi.Metrics     = (*metrics.Metrics)(nil)
)

// allNames are the names of onecharge's metrics and their types.
var allNames = map[string]string{
	"onecharge_keys_issued_total":             "counter",
	"onecharge_keys_replayed_total":           "counter",
	"onecharge_keys_rotated_total":            "counter",
	"onecharge_refusals_total":                "counter",
	"onecharge_payment_intents_created_total": "counter",
	"onecharge_payment_intents_updated_total": "counter",
	"onecharge_stripe_calls_total":            "counter",
	"onecharge_stripe_call_duration_seconds":  "histogram",
	"onecharge_webhooks_total":                "counter",
	"onecharge_orders_recorded_total":         "counter",
	"onecharge_orders_needs_review_total":     "counter",
	"onecharge_reaper_actions_total":          "counter",
	"onecharge_http_requests_total":           "counter",
	"onecharge_http_request_duration_seconds": "histogram",
}

// sample is one series of a gathered metric.
type sample struct {
	labels map[string]string
	value  float64 // a counter's value, a histogram's sample count
	sum    float64 // a histogram's sum
}

// series gathers name from m's registry.
func series(t *testing.T, m *metrics.Metrics, name string) []sample {
	t.Helper()
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	var out []sample
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range mt.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			if h := mt.GetHistogram(); h != nil {
				s.value, s.sum = float64(h.GetSampleCount()), h.GetSampleSum()
			} else {
				s.value = mt.GetCounter().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// value is the value of the series of name with exactly labels (0 when absent).
func value(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	for _, s := range series(t, m, name) {
		if len(s.labels) == len(labels) && func() bool {
			for k, v := range labels {
				if s.labels[k] != v {
					return false
				}
			}
			return true
		}() {
			return s.value
		}
	}
	return 0
}

// exposition is what m's handler serves a scraper.
func exposition(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestCounts(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.KeyIssued()
	m.KeyIssued()
	m.KeyReplayed()
	m.KeyRotated("expired")
	m.KeyRotated("expired")
	m.KeyRotated("foreign")
	m.Refused("request_in_progress")
	m.Refused("payment_already_completed")
	m.Refused("payment_already_completed")
	m.IntentCreated()
	m.IntentUpdated()
	m.IntentUpdated()
	m.IntentUpdated()
	m.StripeCall("create_payment_intent", "ok", 30*time.Millisecond)
	m.StripeCall("create_payment_intent", "unavailable", 5*time.Second)
	m.StripeCall("expire_checkout_session", "unexpected_state", 10*time.Millisecond)
	m.Webhook("payment_intent.succeeded", "applied")
	m.Webhook("payment_intent.succeeded", "duplicate")
	m.Webhook("checkout.session.completed", "applied")
	m.OrderRecorded("paid")
	m.OrderRecorded("paid")
	m.OrderRecorded("needs_review")
	m.ReaperAction("delete_keys", 40)
	m.ReaperAction("delete_keys", 2)
	m.ReaperAction("cancel_payment_intent", 1)
	m.ReaperAction("error", 0) // nothing to count
	m.ReaperAction("error", -3)
	m.Request("/api/orders/{payment_intent_id}", 200, 2*time.Millisecond)
	m.Request("/api/orders/{payment_intent_id}", 404, time.Millisecond)
	m.Request("/api/orders/validate", 200, time.Millisecond)

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"onecharge_keys_issued_total", nil, 2},
		{"onecharge_keys_replayed_total", nil, 1},
		{"onecharge_keys_rotated_total", labels("reason", "expired"), 2},
		{"onecharge_keys_rotated_total", labels("reason", "foreign"), 1},
		{"onecharge_keys_rotated_total", labels("reason", "vanished"), 0},
		{"onecharge_refusals_total", labels("code", "payment_already_completed"), 2},
		{"onecharge_refusals_total", labels("code", "request_in_progress"), 1},
		{"onecharge_payment_intents_created_total", nil, 1},
		{"onecharge_payment_intents_updated_total", nil, 3},
		{"onecharge_stripe_calls_total", labels("operation", "create_payment_intent", "outcome", "ok"), 1},
		{"onecharge_stripe_calls_total", labels("operation", "create_payment_intent", "outcome", "unavailable"), 1},
		{"onecharge_stripe_calls_total", labels("operation", "expire_checkout_session", "outcome", "unexpected_state"), 1},
		{"onecharge_stripe_calls_total", labels("operation", "cancel_payment_intent", "outcome", "ok"), 0},
		{"onecharge_webhooks_total", labels("type", "payment_intent.succeeded", "outcome", "applied"), 1},
		{"onecharge_webhooks_total", labels("type", "payment_intent.succeeded", "outcome", "duplicate"), 1},
		{"onecharge_webhooks_total", labels("type", "checkout.session.completed", "outcome", "applied"), 1},
		{"onecharge_orders_recorded_total", labels("status", "paid"), 2},
		{"onecharge_orders_recorded_total", labels("status", "needs_review"), 1},
		{"onecharge_orders_needs_review_total", nil, 1},
		{"onecharge_reaper_actions_total", labels("action", "delete_keys"), 42},
		{"onecharge_reaper_actions_total", labels("action", "cancel_payment_intent"), 1},
		{"onecharge_reaper_actions_total", labels("action", "error"), 0},
		{"onecharge_http_requests_total", labels("route", "/api/orders/{payment_intent_id}", "status", "200"), 1},
		{"onecharge_http_requests_total", labels("route", "/api/orders/{payment_intent_id}", "status", "404"), 1},
		{"onecharge_http_requests_total", labels("route", "/api/orders/validate", "status", "200"), 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, value(t, m, tt.name, tt.labels), "%s%v", tt.name, tt.labels)
	}

	// The exposition of a few, exactly.
	assert.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP onecharge_keys_issued_total Idempotency keys issued: no key sent, or a first-call nonce seen for the first time.
# TYPE onecharge_keys_issued_total counter
onecharge_keys_issued_total 2
# HELP onecharge_refusals_total 409 refusals, by error code.
# TYPE onecharge_refusals_total counter
onecharge_refusals_total{code="other"} 0
onecharge_refusals_total{code="payment_already_completed"} 2
onecharge_refusals_total{code="request_in_progress"} 1
`), "onecharge_keys_issued_total", "onecharge_refusals_total"))
}

func TestHistograms(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.StripeCall("create_payment_intent", "ok", 30*time.Millisecond)
	m.StripeCall("create_payment_intent", "rejected", 70*time.Millisecond)
	m.StripeCall("retrieve_payment_intent", "ok", -time.Second) // a clock step: observed as 0
	m.Request("/api/cart", 200, 4*time.Millisecond)
	m.Request("/api/cart", 500, 6*time.Millisecond)

	find := func(name string, l map[string]string) sample {
		t.Helper()
		for _, s := range series(t, m, name) {
			if s.labels[l["k"]] == l["v"] {
				return s
			}
		}
		t.Fatalf("no %s %v", name, l)
		return sample{}
	}
	create := find("onecharge_stripe_call_duration_seconds", map[string]string{"k": "operation", "v": "create_payment_intent"})
	assert.Equal(t, 2.0, create.value, "one observation a call, whatever the outcome")
	assert.InDelta(t, 0.1, create.sum, 1e-9)
	retrieve := find("onecharge_stripe_call_duration_seconds", map[string]string{"k": "operation", "v": "retrieve_payment_intent"})
	assert.Equal(t, 1.0, retrieve.value)
	assert.Zero(t, retrieve.sum)
	cart := find("onecharge_http_request_duration_seconds", map[string]string{"k": "route", "v": "/api/cart"})
	assert.Equal(t, 2.0, cart.value)
	assert.InDelta(t, 0.01, cart.sum, 1e-9)
	assert.Len(t, cart.labels, 1, "the HTTP histogram is by route only")

	// Buckets: 30ms and 70ms fall in le=0.05 and le=0.1.
	text := exposition(t, m)
	assert.Contains(t, text, `onecharge_stripe_call_duration_seconds_bucket{operation="create_payment_intent",le="0.025"} 0`)
	assert.Contains(t, text, `onecharge_stripe_call_duration_seconds_bucket{operation="create_payment_intent",le="0.05"} 1`)
	assert.Contains(t, text, `onecharge_stripe_call_duration_seconds_bucket{operation="create_payment_intent",le="0.1"} 2`)
	assert.Contains(t, text, `onecharge_stripe_call_duration_seconds_bucket{operation="create_payment_intent",le="+Inf"} 2`)
}

// TestUnknownLabelValuesAreOther: no caller can add a label value outside
// the fixed sets.
func TestUnknownLabelValuesAreOther(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.KeyRotated("cosmic_rays")
	m.Refused("teapot")
	m.StripeCall("create_refund", "exploded", time.Millisecond)
	m.StripeCall("create_payment_intent", "EOF: "+strings.Repeat("x", 100), time.Millisecond)
	m.Webhook("customer.created", "applied")
	m.Webhook("", "invalid_signature")
	m.Webhook("payment_intent.succeeded", "panicked")
	m.OrderRecorded("shipped")
	m.ReaperAction("vacuum", 3)
	m.Request("", 404, time.Millisecond)
	m.Request("/api/cart", 1000, time.Millisecond)
	m.Request("/api/cart", -1, time.Millisecond)

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"onecharge_keys_rotated_total", labels("reason", "other"), 1},
		{"onecharge_refusals_total", labels("code", "other"), 1},
		{"onecharge_stripe_calls_total", labels("operation", "other", "outcome", "other"), 1},
		{"onecharge_stripe_calls_total", labels("operation", "create_payment_intent", "outcome", "other"), 1},
		{"onecharge_webhooks_total", labels("type", "other", "outcome", "applied"), 1},
		{"onecharge_webhooks_total", labels("type", "other", "outcome", "invalid_signature"), 1},
		{"onecharge_webhooks_total", labels("type", "payment_intent.succeeded", "outcome", "other"), 1},
		{"onecharge_orders_recorded_total", labels("status", "other"), 1},
		{"onecharge_orders_needs_review_total", nil, 0},
		{"onecharge_reaper_actions_total", labels("action", "other"), 3},
		{"onecharge_http_requests_total", labels("route", "other", "status", "404"), 1},
		{"onecharge_http_requests_total", labels("route", "/api/cart", "status", "other"), 2},
	}
	for _, c := range checks {
		assert.Equal(t, c.want, value(t, m, c.name, c.labels), "%s%v", c.name, c.labels)
	}
	bogus := []string{"cosmic_rays", "teapot", "create_refund", "exploded", "customer.created", "panicked", "shipped", "vacuum", "1000", "-1"}
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				assert.NotContains(t, bogus, l.GetValue(), "%s", f.GetName())
				assert.NotContains(t, l.GetValue(), "EOF")
			}
		}
	}
}

// TestRoutesBounded: a caller passing raw paths instead of route templates
// makes at most MaxRoutes series; the rest is "other".
func TestRoutesBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	for i := range metrics.MaxRoutes + 50 {
		m.Request("/api/orders/pi_"+strconv.Itoa(i), 404, time.Millisecond)
	}
	m.Request("/api/orders/pi_0", 200, time.Millisecond) // a route already seen stays itself
	routes := map[string]bool{}
	for _, s := range series(t, m, "onecharge_http_request_duration_seconds") {
		routes[s.labels["route"]] = true
	}
	assert.Len(t, routes, metrics.MaxRoutes+1)
	assert.True(t, routes["other"])
	assert.Equal(t, 50.0, value(t, m, "onecharge_http_requests_total", labels("route", "other", "status", "404")))
	assert.Equal(t, 1.0, value(t, m, "onecharge_http_requests_total", labels("route", "/api/orders/pi_0", "status", "200")))
}

// TestExposition: the handler serves every metric, with HELP and TYPE, in
// the Prometheus text format, next to the Go and process collectors'.
func TestExposition(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Request("/healthz", 200, time.Millisecond) // the HTTP series appear with their first request
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4"), resp.Header.Get("Content-Type"))
	text := string(body)
	for name, typ := range allNames {
		assert.Contains(t, text, "\n# HELP "+name+" ", name)
		assert.Contains(t, text, "\n# TYPE "+name+" "+typ+"\n", name)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		assert.Contains(t, text, "\n# HELP "+name+" ", name)
	}
	// Every onecharge metric is named onecharge_.
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			name := strings.Fields(line)[2]
			if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
				assert.True(t, strings.HasPrefix(name, "onecharge_"), name)
			}
		}
	}
	// The fixed label sets are there at 0 before anything happened.
	assert.Contains(t, text, `onecharge_stripe_calls_total{operation="cancel_payment_intent",outcome="not_found"} 0`)
	assert.Contains(t, text, `onecharge_keys_rotated_total{reason="vanished"} 0`)

	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "onecharge_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestOwnRegistry: each Metrics has its own registry; nothing goes to the
// global one.
func TestOwnRegistry(t *testing.T) {
	t.Parallel()
	a, b := metrics.New(), metrics.New()
	a.KeyIssued()
	assert.Equal(t, 1.0, value(t, a, "onecharge_keys_issued_total", nil))
	assert.Equal(t, 0.0, value(t, b, "onecharge_keys_issued_total", nil))
	n, err := testutil.GatherAndCount(prometheus.DefaultGatherer, "onecharge_keys_issued_total")
	require.NoError(t, err)
	assert.Zero(t, n, "the default registry has none of them")
}

// TestConcurrentUse: the methods may be called from any goroutine (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				m.KeyIssued()
				m.KeyRotated("expired")
				m.StripeCall("create_payment_intent", "ok", time.Millisecond)
				m.Webhook("payment_intent.succeeded", "applied")
				m.OrderRecorded("needs_review")
				m.ReaperAction("delete_events", 2)
				m.Request("/r/"+strconv.Itoa((g*100+i)%150), 200, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 800.0, value(t, m, "onecharge_keys_issued_total", nil))
	assert.Equal(t, 800.0, value(t, m, "onecharge_orders_needs_review_total", nil))
	assert.Equal(t, 1600.0, value(t, m, "onecharge_reaper_actions_total", labels("action", "delete_events")))
	routes := map[string]bool{}
	total := 0.0
	for _, s := range series(t, m, "onecharge_http_requests_total") {
		routes[s.labels["route"]] = true
		total += s.value
	}
	assert.Equal(t, 800.0, total)
	assert.LessOrEqual(t, len(routes), metrics.MaxRoutes+1)
}
