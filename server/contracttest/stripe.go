package contracttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

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
