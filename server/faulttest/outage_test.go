package faulttest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onecharge/onecharge/server/postgres/pgtest"
	"github.com/onecharge/onecharge/server/stripesim"
	"github.com/onecharge/onecharge/shared/checkout"
)

// TestOutageMidRequest: PostgreSQL goes away while a validation holds its
// key in a slow Stripe call, so the lease renewals fail and the lease runs
// out; then it comes back. The request ends (it is not wedged), the key is
// usable again at once with the same PaymentIntent, no lease is left, and
// the replica serves on without a restart (contract section 9).
func TestOutageMidRequest(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	sim := stripesim.New(stripesim.Config{})
	t.Cleanup(func() { sim.Close() })
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	proxies := newToxics()
	pgLink := proxies.Link(t, "pg", u.Host)
	stripeLink := proxies.Link(t, "stripe", strings.TrimPrefix(simSrv.URL, "http://"))
	viaProxy := *u
	viaProxy.Host = pgLink.Addr()
	r := startReplica(t, "replica", map[string]string{
		"DATABASE_URL": viaProxy.String(), "SESSION_SECRET": "faulttest-session-secret-0123456789abcdef",
		"STRIPE_SECRET_KEY": sim.SecretKey(), "STRIPE_API_BASE": "http://" + stripeLink.Addr(),
		"STRIPE_WEBHOOK_SECRET": sim.WebhookSecret(), "STRIPE_PUBLISHABLE_KEY": sim.PublishableKey(),
	})
	sim.SetWebhookURL(r.URL + "/api/stripe/webhook")

	ctx := context.Background()
	sh := newRawClient()
	first := sh.do(ctx, http.MethodPost, r.URL, "/api/orders/validate", validateBody(2, ""), nil)
	require.NoError(t, first.err)
	require.Equal(t, http.StatusOK, first.status, "%s", first.body)
	var issued checkout.ValidateResponse
	require.NoError(t, json.Unmarshal(first.body, &issued))
	key, pi := issued.IdempotencyKey, issued.PaymentIntent.ID

	// The amount update reaches Stripe and its answer takes 5 s to come
	// back; 300 ms into it the database goes away for 5 s, longer than
	// the 3 s lease.
	require.NoError(t, stripeLink.Add(toxic{Name: "slow", Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 5000}}))
	inflight := make(chan answer, 1)
	sent := time.Now()
	go func() {
		inflight <- sh.do(ctx, http.MethodPost, r.URL, "/api/orders/validate", validateBody(3, key), nil)
	}()
	time.Sleep(300 * time.Millisecond)
	pgLink.p.Stop()
	time.Sleep(5 * time.Second)
	require.NoError(t, pgLink.p.Start())
	require.NoError(t, stripeLink.Remove("slow"))

	select {
	case a := <-inflight:
		require.NoError(t, a.err)
		t.Logf("the request in flight during the outage answered %d after %v: %s", a.status, time.Since(sent).Round(time.Millisecond), a.body)
		assert.Contains(t, []int{http.StatusOK, http.StatusInternalServerError, http.StatusConflict, http.StatusBadGateway}, a.status)
	case <-time.After(20 * time.Second):
		t.Fatal("the request in flight during the outage never ended: wedged")
	}

	// The key is usable again within the contract's 5 s, with the same
	// PaymentIntent, now for 3 mugs.
	back := time.Now()
	var resp checkout.ValidateResponse
	for {
		a := sh.do(ctx, http.MethodPost, r.URL, "/api/orders/validate", validateBody(3, key), nil)
		require.NoError(t, a.err)
		if a.status == http.StatusOK {
			require.NoError(t, json.Unmarshal(a.body, &resp))
			break
		}
		require.Contains(t, []int{http.StatusInternalServerError, http.StatusConflict}, a.status, "%s", a.body)
		require.Less(t, time.Since(back), 5*time.Second, "the key stays blocked after the database came back: %s", a.body)
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("validation 200 %v after the database came back", time.Since(back).Round(time.Millisecond))
	assert.Equal(t, key, resp.IdempotencyKey)
	assert.Equal(t, pi, resp.PaymentIntent.ID)
	assert.Equal(t, int64(3*1200), resp.PaymentIntent.Amount)
	assert.Equal(t, 1, sim.CreatedPaymentIntents(), "one key, one PaymentIntent")

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var held bool
	require.NoError(t, conn.QueryRow(ctx, `select lock_token is not null from idempotency_keys where key = $1`, key).Scan(&held))
	assert.False(t, held, "no lease left on the key")
}
