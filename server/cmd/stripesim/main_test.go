package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onecharge/onecharge/server/testenv"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// started is a run() serving in the background.
type started struct {
	url    string
	stdout *testenv.SyncBuffer
	stderr *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	err      error
}

// startRun calls run with env on a free port and waits for its
// "listening on" line.
func startRun(t *testing.T, env map[string]string) *started {
	t.Helper()
	env["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, nil, envOf(env), s.stdout, s.stderr) }()
	t.Cleanup(func() { s.stop(t) })
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`(?m)^stripesim listening on (\S+)$`).FindStringSubmatch(s.stdout.String())
		if m != nil {
			s.url = m[1]
		}
		return m != nil
	}, 10*time.Second, 5*time.Millisecond, "stderr: %s", s.stderr.String())
	return s
}

// stop cancels run's context and waits for it to return; it reports run's error.
func (s *started) stop(t *testing.T) error {
	t.Helper()
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(15 * time.Second):
			t.Fatal("run did not return after the context was cancelled")
		}
	})
	return s.err
}

// printed is what run printed after label (one line).
func (s *started) printed(t *testing.T, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `.*: (\S+)$`).FindStringSubmatch(s.stdout.String())
	require.NotNil(t, m, "no %q line in %q", label, s.stdout.String())
	return m[1]
}

func stripeClient(base, key string) *client.API {
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(base),
		HTTPClient:        &http.Client{Timeout: 10 * time.Second},
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return client.New(key, &stripe.Backends{API: b, Connect: b, Uploads: b})
}

// hookReceiver records the webhook bodies and signatures it receives.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

type received struct {
	payload   []byte
	signature string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{b, req.Header.Get("Stripe-Signature")})
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func TestRun(t *testing.T) {
	t.Run("ServesAndShutsDown", func(t *testing.T) {
		a, b := newHookReceiver(t), newHookReceiver(t)
		s := startRun(t, map[string]string{"STRIPESIM_WEBHOOK_URL": a.srv.URL + "/api/stripe/webhook, " + b.srv.URL + "/api/stripe/webhook"})
		assert.Regexp(t, `^http://localhost:\d+$`, s.url)
		key := s.printed(t, "stripesim secret key")
		secret := s.printed(t, "stripesim webhook secret")
		assert.Regexp(t, `^sk_test_sim_[A-Za-z0-9]{32}$`, key)
		assert.Regexp(t, `^whsec_[0-9a-f]{48}$`, secret)
		assert.Contains(t, s.stdout.String(), "stripesim publishable key: pk_test_simulator\n")
		assert.True(t, strings.HasSuffix(s.stdout.String(), "stripesim listening on "+s.url+"\n"), "the listening line is the last")

		// A real stripe-go client at the root: create and confirm.
		api := stripeClient(s.url, key)
		pi, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(4200), Currency: stripe.String("usd")})
		require.NoError(t, err)
		pi, err = api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)

		// Both endpoints receive the signed event.
		for _, rcv := range []*hookReceiver{a, b} {
			require.Eventually(t, func() bool { return len(rcv.received()) == 1 }, 10*time.Second, 5*time.Millisecond)
			got := rcv.received()[0]
			ev, err := webhook.ConstructEvent(got.payload, got.signature, secret)
			require.NoError(t, err)
			assert.Equal(t, stripe.EventTypePaymentIntentSucceeded, ev.Type)
			assert.Equal(t, pi.ID, ev.Data.Object["id"])
		}

		// The hosted pages are at the root too.
		threeDS, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(4200), Currency: stripe.String("usd"),
			PaymentMethod: stripe.String("pm_card_threeDSecure2Required"), Confirm: stripe.Bool(true)})
		require.NoError(t, err)
		challenge := threeDS.NextAction.RedirectToURL.URL
		assert.True(t, strings.HasPrefix(challenge, s.url+"/challenge/"), challenge)
		resp, err := http.Get(challenge)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)

		// Another key is refused; so is the publishable one on the secret API.
		_, err = stripeClient(s.url, "sk_test_guess").PaymentIntents.Get(pi.ID, nil)
		assert.Equal(t, 401, err.(*stripe.Error).HTTPStatusCode)
		_, err = stripeClient(s.url, "pk_test_simulator").PaymentIntents.Get(pi.ID, nil)
		assert.Equal(t, 401, err.(*stripe.Error).HTTPStatusCode)

		assert.NoError(t, s.stop(t), "a cancelled context is a clean shutdown")
		assert.Contains(t, s.stderr.String(), "shutting down")
		_, err = http.Get(s.url + "/v1/payment_intents")
		assert.Error(t, err, "no longer listening")
	})

	t.Run("ConfiguredKeys", func(t *testing.T) {
		s := startRun(t, map[string]string{
			"STRIPESIM_SECRET_KEY":      "sk_test_replicas_share_this",
			"STRIPESIM_PUBLISHABLE_KEY": "pk_test_shop",
			"STRIPESIM_WEBHOOK_SECRET":  "whsec_shared",
		})
		out := s.stdout.String()
		assert.NotContains(t, out, "sk_test_replicas_share_this", "a configured secret is not printed")
		assert.NotContains(t, out, "whsec_shared")
		assert.Contains(t, out, "stripesim publishable key: pk_test_shop\n")
		assert.Contains(t, out, "stripesim webhook endpoints: none")
		pi, err := stripeClient(s.url, "sk_test_replicas_share_this").PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(1000), Currency: stripe.String("usd")})
		require.NoError(t, err)
		p := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")}
		p.AddExtra("client_secret", pi.ClientSecret)
		got, err := stripeClient(s.url, "pk_test_shop").PaymentIntents.Confirm(pi.ID, p)
		require.NoError(t, err)
		assert.Equal(t, stripe.PaymentIntentStatusSucceeded, got.Status)
	})

	t.Run("ErrConfig", func(t *testing.T) {
		tests := []struct {
			variable, value string
		}{
			{"PORT", "http"},
			{"PORT", "70000"},
			{"PORT", "-1"},
			{"STRIPESIM_SECRET_KEY", "sk_live_abc"},
			{"STRIPESIM_SECRET_KEY", "pk_test_abc"},
			{"STRIPESIM_SECRET_KEY", "sk_test_"},
			{"STRIPESIM_SECRET_KEY", "sk_test_a b"},
			{"STRIPESIM_PUBLISHABLE_KEY", "sk_test_abc"},
			{"STRIPESIM_PUBLISHABLE_KEY", "pk_live_abc"},
			{"STRIPESIM_WEBHOOK_SECRET", "hunter2"},
			{"STRIPESIM_WEBHOOK_URL", "localhost:8080/api/stripe/webhook"},
			{"STRIPESIM_WEBHOOK_URL", "ftp://example.com/hook"},
			{"STRIPESIM_WEBHOOK_URL", "/api/stripe/webhook"},
			{"STRIPESIM_WEBHOOK_URL", "http://"},
			{"STRIPESIM_WEBHOOK_URL", "http://a.example/hook,,http://b.example/hook"},
			{"STRIPESIM_WEBHOOK_URL", "http://a.example/hook,http://a.example/hook"},
		}
		for _, tt := range tests {
			var stdout testenv.SyncBuffer
			err := run(context.Background(), nil, envOf(map[string]string{tt.variable: tt.value}), &stdout, io.Discard)
			require.Error(t, err, "%s=%q", tt.variable, tt.value)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.True(t, strings.HasPrefix(err.Error(), tt.variable), "names the variable first: %v", err)
			assert.Empty(t, stdout.String(), "nothing started")
		}
		err := run(context.Background(), []string{"-port", "1"}, envOf(nil), io.Discard, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "environment only")
	})

	t.Run("ErrPortTaken", func(t *testing.T) {
		ln, err := net.Listen("tcp", ":0")
		require.NoError(t, err)
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		var stdout testenv.SyncBuffer
		err = run(context.Background(), nil, envOf(map[string]string{"PORT": strconv.Itoa(port)}), &stdout, io.Discard)
		require.Error(t, err, "a listen error is returned synchronously")
		assert.Contains(t, err.Error(), "PORT="+strconv.Itoa(port))
		assert.NotContains(t, stdout.String(), "listening")
	})

	t.Run("DefaultPort", func(t *testing.T) {
		c, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		assert.Equal(t, 12111, c.Port)
		assert.Equal(t, "pk_test_simulator", c.PublishableKey)
		assert.True(t, c.SecretKeyRandom)
		assert.True(t, c.WebhookSecretRandom)
		other, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		assert.NotEqual(t, c.SecretKey, other.SecretKey, "random per start")
		assert.NotEqual(t, c.WebhookSecret, other.WebhookSecret)
	})
}
