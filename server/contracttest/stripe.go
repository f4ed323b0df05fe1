package contracttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// API is a Stripe reached over HTTP only, as the server under test and a
// shopper's browser reach it: Stripe's test mode, or the simulator
// (standalone, bin/stripesim, or in-process behind an HTTP server). It
// counts PaymentIntents with stripe-go's PaymentIntents.List and the secret
// key, and pays with the publishable key and the client secret, as
// Stripe.js does.
type API struct {
	// Base is the API's root, without /v1 (STRIPE_API_BASE).
	Base           string
	SecretKey      string
	PublishableKey string
	// Client sends the requests; nil means one with a 30 s timeout.
	Client *http.Client
}

var _ Stripe = API{}

func (a API) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// Confirm confirms as a browser does (see the package function Confirm).
func (a API) Confirm(ctx context.Context, id, clientSecret, paymentMethod string) (string, error) {
	return Confirm(ctx, a.client(), a.Base, a.PublishableKey, id, clientSecret, paymentMethod)
}

// PaymentIntents counts the PaymentIntents Stripe lists, walking every
// page (limit 100, starting_after the last of the previous page).
func (a API) PaymentIntents(ctx context.Context) (int, error) {
	backends := &stripe.Backends{API: stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(strings.TrimRight(a.Base, "/")),
		HTTPClient:        a.client(),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(0),
	})}
	sc := client.New(a.SecretKey, backends)
	params := &stripe.PaymentIntentListParams{}
	params.Limit = stripe.Int64(100)
	params.Context = ctx
	n := 0
	it := sc.PaymentIntents.List(params)
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("list PaymentIntents at %s: %w", a.Base, err)
	}
	return n, nil
}

// Confirm confirms a PaymentIntent at a Stripe-compatible API root
// (apiBase, without /v1) as Stripe.js does: POST
// /v1/payment_intents/{id}/confirm with the client secret, authenticated by
// the publishable key. It returns the PaymentIntent's status.
func Confirm(ctx context.Context, client *http.Client, apiBase, publishableKey, id, clientSecret, paymentMethod string) (string, error) {
	form := url.Values{"client_secret": {clientSecret}, "payment_method": {paymentMethod}, "key": {publishableKey}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimRight(apiBase, "/")+"/v1/payment_intents/"+url.PathEscape(id)+"/confirm", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+publishableKey)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("confirm %s: status %d: %s", id, resp.StatusCode, body)
	}
	var pi struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &pi); err != nil {
		return "", fmt.Errorf("confirm %s: %w", id, err)
	}
	return pi.Status, nil
}
