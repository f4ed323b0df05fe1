// Package testenv builds the whole onecharge server for tests: a store
// (memory or a fresh PostgreSQL database), the Stripe simulator reached by
// the real stripe-go client over HTTP, the checkout service on a fake
// clock, and the HTTP handler on an httptest server. The HTTP, client and
// browser suites share it so that they test the same assembly.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/httpapi"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/stripepay"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

// Store kinds.
const (
	Memory   = "memory"
	Postgres = "postgres"
)

// Stores lists the store kinds every conformance-level test runs against.
var Stores = []string{Memory, Postgres}

// Options configures New.
type Options struct {
	Store string // Memory (default) or Postgres
	// WebDir is served at "/" when set (os.DirFS).
	WebDir string
	// Tracer traces PostgreSQL queries.
	Tracer pgx.QueryTracer
	// Gateway wraps the real gateway, for fault tests.
	WrapGateway func(checkoutsvc.Gateway) checkoutsvc.Gateway
	// WrapStore wraps the real store, for crash tests.
	WrapStore func(checkoutsvc.Store) checkoutsvc.Store
	// StripeRetries is stripe-go's MaxNetworkRetries (default 2, -1 none).
	StripeRetries int
	// StripeTimeout bounds each Stripe call (default 5s).
	StripeTimeout time.Duration
	// Logs shows the server's logs in the test output.
	Logs bool
	// ExtraProducts are added to the store's catalog (prices the demo
	// catalog lacks, such as totals outside Stripe's bounds).
	ExtraProducts []checkout.Product
}

// Env is a running server.
type Env struct {
	URL     string
	Server  *httptest.Server
	Sim     *stripesim.Sim
	Service *checkoutsvc.Service
	Store   checkoutsvc.Store
	Clock   *Clock
}

// New starts a server for t; it stops in t.Cleanup.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Clock: NewClock(time.Now())}
	logger := slog.New(slog.DiscardHandler)
	if o.Logs || os.Getenv("ONECHARGE_TEST_LOGS") != "" {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	switch o.Store {
	case "", Memory:
		e.Store = memstore.New()
	case Postgres:
		url := pgtest.URL(t)
		addProducts(t, url, o.ExtraProducts)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		db, err := postgres.Open(ctx, postgres.Config{URL: url, Tracer: o.Tracer})
		cancel()
		require.NoError(t, err)
		t.Cleanup(db.Close)
		e.Store = db
	default:
		t.Fatalf("testenv: unknown store %q", o.Store)
	}
	if ms, ok := e.Store.(*memstore.Store); ok {
		for _, p := range o.ExtraProducts {
			ms.AddProduct(p)
		}
	}
	if o.WrapStore != nil {
		e.Store = o.WrapStore(e.Store)
	}

	secret := "whsec_" + randomHex(16)
	e.Sim = stripesim.New(stripesim.Config{
		WebhookSecret:  secret,
		WebhookBackoff: 20 * time.Millisecond,
		Now:            e.Clock.Now,
		Logger:         logger,
	})
	mux := http.NewServeMux()
	e.Server = httptest.NewUnstartedServer(mux)
	e.Server.Start()
	e.URL = e.Server.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Sim.WaitIdle(ctx)
		e.Server.Close()
		e.Sim.Close()
	})
	e.Sim.SetWebhookURL(e.URL + "/api/stripe/webhook")

	timeout := o.StripeTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	retries := o.StripeRetries
	if retries == 0 {
		retries = 2
	}
	gw, err := stripepay.New(stripepay.Config{
		SecretKey: e.Sim.SecretKey(), WebhookSecret: secret, APIBase: e.URL + "/_stripe",
		MaxNetworkRetries: retries, NoRetryDelay: true, Timeout: timeout, Logger: logger,
	})
	require.NoError(t, err)
	var gateway checkoutsvc.Gateway = gw
	if o.WrapGateway != nil {
		gateway = o.WrapGateway(gateway)
	}
	e.Service = checkoutsvc.New(checkoutsvc.Service{Store: e.Store, Gateway: gateway, Logger: logger, Now: e.Clock.Now})

	cfg := httpapi.Config{
		Service: e.Service, Auth: &httpapi.CookieAuth{Secret: []byte(strings.Repeat("k", 32))}, Logger: logger,
		Stripe:    checkout.StripeConfig{PublishableKey: e.Sim.PublishableKey(), APIBase: "/_stripe", Simulated: true},
		StripeSim: e.Sim,
	}
	if o.WebDir != "" {
		cfg.Web = os.DirFS(o.WebDir)
	}
	mux.Handle("/", httpapi.NewHandler(cfg))
	return e
}

// addProducts inserts products into the database at url.
func addProducts(t testing.TB, url string, ps []checkout.Product) {
	t.Helper()
	if len(ps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, p := range ps {
		_, err := conn.Exec(ctx, `insert into products (id, name, unit_amount, currency, active) values ($1, $2, $3, $4, $5)
on conflict (id) do update set name = excluded.name, unit_amount = excluded.unit_amount, currency = excluded.currency, active = excluded.active`,
			p.ID, p.Name, p.UnitAmount, p.Currency, p.Active)
		require.NoError(t, err)
	}
}

// Client is a shopper: an HTTP client with its own cookie jar, so its own
// anonymous user.
type Client struct {
	t    testing.TB
	env  *Env
	HTTP *http.Client
}

// NewClient returns a new shopper.
func (e *Env) NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, env: e, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error decodes an error body.
func (r Response) Error() checkout.ErrorDetail {
	var b checkout.ErrorBody
	_ = json.Unmarshal(r.Body, &b)
	return b.Error
}

// Decode decodes the body into v, failing the test on error.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// Do sends a request with a raw body and content type.
func (c *Client) Do(method, path, contentType string, body io.Reader) Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.env.URL+path, body)
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// JSON sends v as a JSON body.
func (c *Client) JSON(method, path string, v any) Response {
	c.t.Helper()
	data, err := json.Marshal(v)
	require.NoError(c.t, err)
	return c.Do(method, path, "application/json", strings.NewReader(string(data)))
}

// Validate posts a ValidateOrderItemsInsert request.
func (c *Client) Validate(req checkout.ValidateRequest) (checkout.ValidateResponse, Response) {
	c.t.Helper()
	r := c.JSON(http.MethodPost, "/api/orders/validate", req)
	var out checkout.ValidateResponse
	if r.Status == http.StatusOK {
		r.Decode(c.t, &out)
	}
	return out, r
}

// Confirm confirms a PaymentIntent as the browser does: with the
// publishable key and the client secret.
func (c *Client) Confirm(pi *checkout.PaymentIntent, paymentMethod string) Response {
	c.t.Helper()
	form := "client_secret=" + pi.ClientSecret + "&payment_method=" + paymentMethod + "&return_url=" + c.env.URL + "/order"
	req, err := http.NewRequest(http.MethodPost, c.env.URL+"/_stripe/v1/payment_intents/"+pi.ID+"/confirm", strings.NewReader(form))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+c.env.Sim.PublishableKey())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// WaitWebhooks waits until the simulator delivered every event.
func (e *Env) WaitWebhooks(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Sim.WaitIdle(ctx))
}

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
