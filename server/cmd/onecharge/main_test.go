package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/config"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/testenv"
)

// listeningOn finds the URL in the command's "listening on" line.
var listeningOn = regexp.MustCompile(`listening on (\S+)`)

func TestRun(t *testing.T) {
	t.Run("ServesAndShutsDown", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr testenv.SyncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-web", t.TempDir()}, envOf(map[string]string{"PORT": "0"}), &stdout, &stderr)
		}()
		var url string
		require.Eventually(t, func() bool {
			m := listeningOn.FindStringSubmatch(stdout.String())
			if m != nil {
				url = m[1]
			}
			return m != nil
		}, 10*time.Second, 10*time.Millisecond, "stderr: %s", stderr.String())

		resp, err := http.Get(url + "/healthz")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.JSONEq(t, `{"status":"ok"}`, string(body))
		resp, err = http.Get(url + "/api/config")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)

		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "a signal is a clean shutdown")
		case <-time.After(15 * time.Second):
			t.Fatal("run did not return after the context was cancelled")
		}
		assert.Contains(t, stderr.String(), "payments are simulated")
		assert.Contains(t, stderr.String(), "shutting down")
	})
	t.Run("ErrConfig", func(t *testing.T) {
		err := run(context.Background(), nil, envOf(map[string]string{"KEY_TTL": "soon"}), io.Discard, io.Discard)
		require.Error(t, err)
		assert.False(t, strings.Contains(err.Error(), "\n"))
		assert.Contains(t, err.Error(), "KEY_TTL")
	})
	t.Run("ErrPortTaken", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, err := start(ctx, config.Config{Port: 0, SessionSecret: make([]byte, 32), KeyTTL: time.Hour}, t.TempDir(), discardLogger())
		require.NoError(t, err)
		defer func() { cancel(); a.Wait(ctx) }()
		port := a.ln.Addr().String()
		_, portNum, _ := strings.Cut(port[strings.LastIndex(port, ":"):], ":")
		err = run(context.Background(), nil, envOf(map[string]string{"PORT": portNum}), io.Discard, io.Discard)
		require.Error(t, err, "a listen error is returned synchronously")
		assert.Contains(t, err.Error(), "PORT="+portNum)
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestMetrics: GET /metrics shows what a checkout did.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, err := start(ctx, config.Config{Port: 0, SessionSecret: make([]byte, 32), KeyTTL: time.Hour}, t.TempDir(), discardLogger())
	require.NoError(t, err)
	defer func() { cancel(); a.Wait(ctx) }()

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	body := `{"items":[{"product_id":"mug","quantity":2}],"payment_method":"CARD"}`
	for i := 0; i < 2; i++ {
		resp, err := c.Post(a.URL()+"/api/orders/validate", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	resp, err := c.Get(a.URL() + "/api/orders/pi_%00")
	require.NoError(t, err)
	resp.Body.Close()

	resp, err = http.Get(a.URL() + "/metrics")
	require.NoError(t, err)
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{
		"onecharge_keys_issued_total 2",
		`onecharge_http_requests_total{route="/api/orders/validate",status="200"} 2`,
		`onecharge_http_requests_total{route="/api/orders/{payment_intent_id}",status="404"} 1`,
		`onecharge_stripe_calls_total{operation="create_payment_intent",outcome="ok"} 2`,
		"onecharge_payment_intents_created_total 2",
	} {
		assert.Contains(t, string(text), want)
	}
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRunMigrate(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrNoDatabase", func(t *testing.T) {
		err := run(ctx, []string{"migrate"}, envOf(nil), io.Discard, io.Discard)
		require.EqualError(t, err, "migrate: DATABASE_URL is not set")
	})
	t.Run("ErrArgument", func(t *testing.T) {
		err := run(ctx, []string{"migrate", "down"}, envOf(nil), io.Discard, io.Discard)
		require.ErrorContains(t, err, `unexpected argument "down"`)
	})
	t.Run("OK", func(t *testing.T) {
		url := pgtest.URL(t)
		var out bytes.Buffer
		require.NoError(t, run(ctx, []string{"migrate"}, envOf(map[string]string{"DATABASE_URL": url}), &out, io.Discard))
		assert.Equal(t, "onecharge: migrations applied\n", out.String())
	})
}

// pgProxy is a toxiproxy proxy in front of a test database: stopped, its
// port is closed, as an unreachable database's is.
type pgProxy struct {
	p   *toxiproxy.Proxy
	url string // DATABASE_URL through the proxy
}

func newPGProxy(t *testing.T) *pgProxy {
	t.Helper()
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", u.Host)
	require.NoError(t, srv.Collection.Add(p, true))
	t.Cleanup(p.Stop)
	u.Host = p.Listen
	return &pgProxy{p: p, url: u.String()}
}

// startRun runs run() with env in the background and returns its URL once
// it listens; the server is shut down when the test ends.
func startRun(t *testing.T, env map[string]string, stderr io.Writer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout testenv.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-web", t.TempDir()}, envOf(env), &stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("run did not return after the context was cancelled")
		}
	})
	var base string
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned: %v", err)
		default:
		}
		m := listeningOn.FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	return base
}

func statusOf(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStartWithoutDatabase: with PostgreSQL unreachable the server listens
// at once, /readyz answers 503 and requests that need the store answer 500
// internal, while the migrations are retried with backoff; once the
// database answers it is ready and serves. A later outage is the same, and
// the pool recovers by itself (contract section 9).
func TestStartWithoutDatabase(t *testing.T) {
	pg := newPGProxy(t)
	pg.p.Stop() // the database's port is closed
	var stderr testenv.SyncBuffer
	base := startRun(t, map[string]string{"PORT": "0", "DATABASE_URL": pg.url}, &stderr)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	validate := `{"items":[{"product_id":"mug","quantity":2}],"payment_method":"CARD"}`
	notReady := func(what string) {
		t.Helper()
		st, body := statusOf(t, c, http.MethodGet, base+"/readyz", "")
		assert.Equal(t, http.StatusServiceUnavailable, st, "%s: /readyz %s", what, body)
		st, _ = statusOf(t, c, http.MethodGet, base+"/healthz", "")
		assert.Equal(t, http.StatusOK, st, "%s: /healthz", what)
		for _, r := range []struct{ method, path, body string }{
			{http.MethodGet, "/api/products", ""},
			{http.MethodPut, "/api/cart", `{"items":[{"product_id":"mug","quantity":1}]}`},
			{http.MethodPost, "/api/orders/validate", validate},
		} {
			st, body := statusOf(t, c, r.method, base+r.path, r.body)
			assert.Equal(t, http.StatusInternalServerError, st, "%s: %s %s", what, r.method, r.path)
			assert.JSONEq(t, `{"error":{"code":"internal","message":"Internal error."}}`, body, "%s: %s %s", what, r.method, r.path)
		}
	}
	notReady("never connected")
	require.Eventually(t, func() bool {
		return strings.Count(stderr.String(), "database unavailable: retrying") >= 3
	}, 10*time.Second, 20*time.Millisecond, "the migrations are retried, logged at each attempt")
	notReady("still unreachable")

	require.NoError(t, pg.p.Start())
	ready := func(what string) {
		t.Helper()
		require.Eventually(t, func() bool {
			st, _ := statusOf(t, c, http.MethodGet, base+"/readyz", "")
			return st == http.StatusOK
		}, 15*time.Second, 20*time.Millisecond, "%s: /readyz 200 once the database answers", what)
		st, body := statusOf(t, c, http.MethodPost, base+"/api/orders/validate", validate)
		require.Equal(t, http.StatusOK, st, "%s: %s", what, body)
		assert.Contains(t, body, `"payment_intent"`)
	}
	ready("first connection")
	assert.Equal(t, 1, strings.Count(stderr.String(), "migrations applied"), "one info line when the database comes up")
	assert.Contains(t, stderr.String(), "level=WARN msg=\"database unavailable: retrying\" attempt=1")

	// An outage after start-up: the proxy closes every connection of the
	// pool and refuses new ones; then the database is back.
	pg.p.Stop()
	st, _ := statusOf(t, c, http.MethodGet, base+"/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, st, "outage: /readyz")
	st, body := statusOf(t, c, http.MethodPost, base+"/api/orders/validate", validate)
	assert.Equal(t, http.StatusInternalServerError, st, "outage: validate %s", body)
	require.NoError(t, pg.p.Start())
	ready("after the outage")
}
