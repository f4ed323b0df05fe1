package stripesim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/onecharge/onecharge/server/stripesim"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a simulator mounted under /_stripe on a test server, as the
// onecharge server mounts it.
type env struct {
	sim   *stripesim.Sim
	srv   *httptest.Server
	base  string // the API base URL for stripe-go: srv.URL + "/_stripe"
	clock *fakeClock
}

// mustSim starts a simulator for the test; cfg.Now defaults to a fake clock.
func mustSim(tb testing.TB, cfg stripesim.Config) *env {
	tb.Helper()
	e := &env{clock: newFakeClock()}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	if cfg.WebhookBackoff == 0 {
		cfg.WebhookBackoff = 5 * time.Millisecond
	}
	e.sim = stripesim.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/_stripe/", http.StripPrefix("/_stripe", e.sim))
	e.srv = httptest.NewServer(mux)
	e.base = e.srv.URL + "/_stripe"
	tb.Cleanup(func() {
		e.srv.Close()
		require.NoError(tb, e.sim.Close())
	})
	return e
}

// api returns a stripe-go client for the simulator with key and retries
// (made without stripe-go's backoff, to keep the tests fast).
func (e *env) api(key string, retries int64) *client.API {
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(e.base),
		HTTPClient:        &http.Client{Timeout: 10 * time.Second},
		MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	b.(*stripe.BackendImplementation).SetNetworkRetriesSleep(false)
	return client.New(key, &stripe.Backends{API: b, Connect: b, Uploads: b})
}

// sk is the secret-key client without retries.
func (e *env) sk() *client.API { return e.api(e.sim.SecretKey(), 0) }

// createPI creates a PaymentIntent through stripe-go.
func (e *env) createPI(tb testing.TB, amount int64, metadata map[string]string) *stripe.PaymentIntent {
	tb.Helper()
	p := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(amount),
		Currency:           stripe.String("usd"),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	for k, v := range metadata {
		p.AddMetadata(k, v)
	}
	pi, err := e.sk().PaymentIntents.New(p)
	require.NoError(tb, err)
	return pi
}

// sessionParams is a Checkout Session of one usd line worth total.
func sessionParams(total int64) *stripe.CheckoutSessionParams {
	return sessionParamsIn("usd", total)
}

// sessionParamsIn is a Checkout Session of one line worth total in currency.
func sessionParamsIn(currency string, total int64) *stripe.CheckoutSessionParams {
	return &stripe.CheckoutSessionParams{
		Mode:       stripe.String("payment"),
		SuccessURL: stripe.String("https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency: stripe.String(currency), UnitAmount: stripe.Int64(total),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Item")},
			},
			Quantity: stripe.Int64(1),
		}},
	}
}

// rawResponse is a plain HTTP answer.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r rawResponse) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	require.NoError(tb, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

// do sends a request as a browser or curl would, without following redirects.
func do(tb testing.TB, method, rawURL string, form url.Values, header map[string]string) rawResponse {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, body)
	require.NoError(tb, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// stripeErr extracts the *stripe.Error of err.
func stripeErr(tb testing.TB, err error) *stripe.Error {
	tb.Helper()
	require.Error(tb, err)
	se, ok := err.(*stripe.Error)
	require.True(tb, ok, "want *stripe.Error, got %T: %v", err, err)
	return se
}

// receiver is a webhook endpoint recording what it receives.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	failures int // answer 500 to this many requests first
	attempts int
	got      []delivered
	notify   chan struct{}
}

type delivered struct {
	Payload   []byte
	Signature string
	EventID   string
	Type      string
}

func newReceiver(tb testing.TB, failures int) *receiver {
	tb.Helper()
	r := &receiver{failures: failures, notify: make(chan struct{}, 1024)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.attempts++
		if r.failures > 0 {
			r.failures--
			r.mu.Unlock()
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		var ev struct{ ID, Type string }
		_ = json.Unmarshal(b, &ev)
		r.got = append(r.got, delivered{Payload: b, Signature: req.Header.Get("Stripe-Signature"), EventID: ev.ID, Type: ev.Type})
		r.mu.Unlock()
		r.notify <- struct{}{}
		w.WriteHeader(http.StatusOK)
	}))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL() string { return r.srv.URL + "/webhook" }

func (r *receiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

func (r *receiver) attemptCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// waitFor waits until the receiver accepted n deliveries.
func (r *receiver) waitFor(tb testing.TB, n int) []delivered {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if got := r.deliveries(); len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-deadline:
			tb.Fatalf("waited for %d webhook deliveries, got %d", n, len(r.deliveries()))
		}
	}
}

// waitIdle waits for the simulator's deliveries to finish.
func waitIdle(tb testing.TB, sim *stripesim.Sim) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(tb, sim.WaitIdle(ctx))
}
