package workertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"testing"

	"github.com/onecharge/onecharge/server/contracttest"
	"github.com/onecharge/onecharge/server/stripesim"
)

// Stripe is the Stripe simulator the Worker talks to: what the harness
// needs of it, so that the in-process simulator can give way to the
// standalone one (bin/stripesim) by changing StartStripe alone.
type Stripe interface {
	contracttest.Stripe
	// APIBase is the root of the API (STRIPE_API_BASE), on loopback.
	APIBase() string
	SecretKey() string
	PublishableKey() string
	WebhookSecret() string
	// SetWebhookURL says where to deliver events (the Worker's webhook).
	SetWebhookURL(url string)
}

// StartStripe starts the simulator, stopped in t.Cleanup.
func StartStripe(t testing.TB) Stripe {
	t.Helper()
	return startInProcess(t)
}

// inProcess is stripesim.Sim served by an http.Server of its own on a
// loopback port, as the standalone command will serve it.
type inProcess struct {
	sim    *stripesim.Sim
	base   string
	secret string
}

func startInProcess(t testing.TB) *inProcess {
	secret := "sk_test_" + randomHex(12)
	sim := stripesim.New(stripesim.Config{
		SecretKey:     secret,
		WebhookSecret: "whsec_" + randomHex(16),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stripe simulator: %v", err)
	}
	srv := &http.Server{Handler: sim}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	return &inProcess{sim: sim, base: "http://" + ln.Addr().String(), secret: secret}
}

func (s *inProcess) APIBase() string          { return s.base }
func (s *inProcess) SecretKey() string        { return s.secret }
func (s *inProcess) PublishableKey() string   { return s.sim.PublishableKey() }
func (s *inProcess) WebhookSecret() string    { return s.sim.WebhookSecret() }
func (s *inProcess) SetWebhookURL(url string) { s.sim.SetWebhookURL(url) }

func (s *inProcess) Confirm(ctx context.Context, id, clientSecret, pm string) (string, error) {
	return contracttest.Confirm(ctx, http.DefaultClient, s.base, s.sim.PublishableKey(), id, clientSecret, pm)
}

func (s *inProcess) PaymentIntents(context.Context) (int, error) {
	return s.sim.CreatedPaymentIntents(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
