package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/config"
	"github.com/onecharge/onecharge/server/postgres/pgtest"
)

// syncBuffer is a bytes.Buffer safe for the server's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRun(t *testing.T) {
	t.Run("ServesAndShutsDown", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-web", t.TempDir()}, envOf(map[string]string{"PORT": "0"}), &stdout, &stderr)
		}()
		var url string
		require.Eventually(t, func() bool {
			m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(stdout.String())
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
