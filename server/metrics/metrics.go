package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Other is the label value of every value outside a label's fixed set.
const Other = "other"

// MaxRoutes bounds the distinct route labels of the HTTP metrics; routes
// seen after that many count as Other.
const MaxRoutes = 100

// The fixed label sets.
var (
	rotationReasons = []string{"unknown", "expired", "foreign", "other_method", "canceled", "vanished"}
	refusalCodes    = []string{"payment_already_completed", "request_in_progress"}
	stripeOps       = []string{"create_payment_intent", "update_payment_intent", "retrieve_payment_intent",
		"confirm_payment_intent", "cancel_payment_intent", "list_payment_intents",
		"create_checkout_session", "retrieve_checkout_session", "expire_checkout_session"}
	stripeOutcomes = []string{"ok", "unavailable", "rejected", "unexpected_state", "not_found"}
	webhookTypes   = []string{"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
		"payment_intent.processing", "payment_intent.requires_action", "payment_intent.created",
		"checkout.session.completed", "checkout.session.expired",
		"checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"}
	webhookOutcomes = []string{"applied", "duplicate", "invalid_signature", "error"}
	orderStatuses   = []string{"paid", "needs_review"}
	reaperActions   = []string{"cancel_payment_intent", "expire_checkout_session", "delete_keys", "delete_events", "error"}
)

// Latency buckets, in seconds. Stripe calls go up to the client timeouts.
var (
	stripeBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	httpBuckets   = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// Metrics records onecharge's metrics on its own registry. Create it with
// New; its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	keysIssued        prometheus.Counter
	keysReplayed      prometheus.Counter
	keysRotated       *prometheus.CounterVec
	refusals          *prometheus.CounterVec
	intentsCreated    prometheus.Counter
	intentsUpdated    prometheus.Counter
	stripeCalls       *prometheus.CounterVec
	stripeDuration    *prometheus.HistogramVec
	webhooks          *prometheus.CounterVec
	ordersRecorded    *prometheus.CounterVec
	ordersNeedsReview prometheus.Counter
	reaper            *prometheus.CounterVec
	httpRequests      *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec

	routesMu sync.RWMutex
	routes   map[string]struct{}
}

// New returns Metrics on a fresh registry holding onecharge's metrics
// (every series of the fixed label sets at 0) and the Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		routes: map[string]struct{}{},

		keysIssued: prometheus.NewCounter(prometheus.CounterOpts{Name: "onecharge_keys_issued_total",
			Help: "Idempotency keys issued: no key sent, or a first-call nonce seen for the first time."}),
		keysReplayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "onecharge_keys_replayed_total",
			Help: "Validations answered with the same key and the same PaymentIntent."}),
		keysRotated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_keys_rotated_total",
			Help: "Keys rotated (replaced by a new one), by reason."}, []string{"reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_refusals_total",
			Help: "409 refusals, by error code."}, []string{"code"}),
		intentsCreated: prometheus.NewCounter(prometheus.CounterOpts{Name: "onecharge_payment_intents_created_total",
			Help: "PaymentIntents created at Stripe."}),
		intentsUpdated: prometheus.NewCounter(prometheus.CounterOpts{Name: "onecharge_payment_intents_updated_total",
			Help: "PaymentIntents whose amount or currency was updated at Stripe."}),
		stripeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_stripe_calls_total",
			Help: "Stripe API calls, by operation and outcome."}, []string{"operation", "outcome"}),
		stripeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onecharge_stripe_call_duration_seconds",
			Help: "Latency of Stripe API calls, by operation.", Buckets: stripeBuckets}, []string{"operation"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_webhooks_total",
			Help: "Stripe webhook deliveries received, by event type and outcome."}, []string{"type", "outcome"}),
		ordersRecorded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_orders_recorded_total",
			Help: "Orders recorded, by status."}, []string{"status"}),
		ordersNeedsReview: prometheus.NewCounter(prometheus.CounterOpts{Name: "onecharge_orders_needs_review_total",
			Help: "Orders recorded as needs_review: a paid amount that matches no order bound to its payment."}),
		reaper: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_reaper_actions_total",
			Help: "Reaper work, in items, by action."}, []string{"action"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onecharge_http_requests_total",
			Help: "HTTP requests, by route template and status code."}, []string{"route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onecharge_http_request_duration_seconds",
			Help: "Latency of HTTP requests, by route template.", Buckets: httpBuckets}, []string{"route"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.keysIssued, m.keysReplayed, m.keysRotated, m.refusals, m.intentsCreated, m.intentsUpdated,
		m.stripeCalls, m.stripeDuration, m.webhooks, m.ordersRecorded, m.ordersNeedsReview, m.reaper,
		m.httpRequests, m.httpDuration,
	)
	// Every series of the fixed sets from the start, so that rates and
	// alerts see a 0 before the first event.
	for _, r := range withOther(rotationReasons) {
		m.keysRotated.WithLabelValues(r)
	}
	for _, c := range withOther(refusalCodes) {
		m.refusals.WithLabelValues(c)
	}
	for _, op := range withOther(stripeOps) {
		m.stripeDuration.WithLabelValues(op)
		for _, o := range withOther(stripeOutcomes) {
			m.stripeCalls.WithLabelValues(op, o)
		}
	}
	for _, typ := range withOther(webhookTypes) {
		for _, o := range withOther(webhookOutcomes) {
			m.webhooks.WithLabelValues(typ, o)
		}
	}
	for _, s := range withOther(orderStatuses) {
		m.ordersRecorded.WithLabelValues(s)
	}
	for _, a := range withOther(reaperActions) {
		m.reaper.WithLabelValues(a)
	}
	return m
}

func withOther(set []string) []string { return append(append([]string(nil), set...), Other) }

// bounded returns v when it is in set, otherwise Other.
func bounded(v string, set []string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return Other
}

// Handler serves the registry in the Prometheus text format (OpenMetrics
// or protobuf only to a scraper that asks for them).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the metrics are on, for collectors of other
// packages (a database pool's statistics, say) and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// KeyIssued counts a new key: no key sent, or a first-call nonce seen for
// the first time.
func (m *Metrics) KeyIssued() { m.keysIssued.Inc() }

// KeyReplayed counts a validation answered with the same key and
// PaymentIntent.
func (m *Metrics) KeyReplayed() { m.keysReplayed.Inc() }

// KeyRotated counts a rotation; reason is one of unknown, expired,
// foreign, other_method, canceled, vanished.
func (m *Metrics) KeyRotated(reason string) {
	m.keysRotated.WithLabelValues(bounded(reason, rotationReasons)).Inc()
}

// Refused counts a 409; code is payment_already_completed or
// request_in_progress.
func (m *Metrics) Refused(code string) { m.refusals.WithLabelValues(bounded(code, refusalCodes)).Inc() }

// IntentCreated counts a PaymentIntent created at Stripe.
func (m *Metrics) IntentCreated() { m.intentsCreated.Inc() }

// IntentUpdated counts a PaymentIntent updated at Stripe.
func (m *Metrics) IntentUpdated() { m.intentsUpdated.Inc() }

// StripeCall counts one Stripe API call of operation op (such as
// create_payment_intent) with its outcome (ok, unavailable, rejected,
// unexpected_state, not_found) and observes its duration d.
func (m *Metrics) StripeCall(op, outcome string, d time.Duration) {
	op = bounded(op, stripeOps)
	m.stripeCalls.WithLabelValues(op, bounded(outcome, stripeOutcomes)).Inc()
	m.stripeDuration.WithLabelValues(op).Observe(seconds(d))
}

// Webhook counts one webhook delivery of eventType with its outcome
// (applied, duplicate, invalid_signature, error).
func (m *Metrics) Webhook(eventType, outcome string) {
	m.webhooks.WithLabelValues(bounded(eventType, webhookTypes), bounded(outcome, webhookOutcomes)).Inc()
}

// OrderRecorded counts an order recorded with status paid or
// needs_review; needs_review is also counted on its own
// (onecharge_orders_needs_review_total).
func (m *Metrics) OrderRecorded(status string) {
	status = bounded(status, orderStatuses)
	m.ordersRecorded.WithLabelValues(status).Inc()
	if status == "needs_review" {
		m.ordersNeedsReview.Inc()
	}
}

// ReaperAction counts n items of reaper work of action
// (cancel_payment_intent, expire_checkout_session, delete_keys,
// delete_events, error); n <= 0 counts nothing.
func (m *Metrics) ReaperAction(action string, n int) {
	if n <= 0 {
		return
	}
	m.reaper.WithLabelValues(bounded(action, reaperActions)).Add(float64(n))
}

// Request counts one HTTP request of route (the mux route template) that
// was answered status, and observes its duration d.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	route = m.route(route)
	code := Other
	if status >= 100 && status <= 599 {
		code = strconv.Itoa(status)
	}
	m.httpRequests.WithLabelValues(route, code).Inc()
	m.httpDuration.WithLabelValues(route).Observe(seconds(d))
}

// route returns r when it is one of the first MaxRoutes distinct
// non-empty routes seen, otherwise Other.
func (m *Metrics) route(r string) string {
	if r == "" {
		return Other
	}
	m.routesMu.RLock()
	_, ok := m.routes[r]
	m.routesMu.RUnlock()
	if ok {
		return r
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if _, ok := m.routes[r]; ok {
		return r
	}
	if len(m.routes) >= MaxRoutes {
		return Other
	}
	m.routes[r] = struct{}{}
	return r
}

func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }
