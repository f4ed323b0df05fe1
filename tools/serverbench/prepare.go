package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
)

// shopper is one anonymous user of a server with a validated key.
type shopper struct {
	Cookie string // onecharge_session=...
	Items  []checkout.Item
	Key    string
	PI     checkout.PaymentIntent
}

// cartOf is shopper i's cart: one to three lines of the demo catalog.
func cartOf(i int) []checkout.Item {
	items := []checkout.Item{{ProductID: "mug", Quantity: 1 + i%3}}
	if i%2 == 0 {
		items = append(items, checkout.Item{ProductID: "tshirt", Quantity: 1})
	}
	if i%5 == 0 {
		items = append(items, checkout.Item{ProductID: "stickers", Quantity: 2})
	}
	return items
}

func (s shopper) cartBody() []byte {
	b, _ := json.Marshal(checkout.CartRequest{Items: s.Items})
	return b
}

func (s shopper) replayBody() []byte {
	return checkout.EncodeValidateRequest(checkout.ValidateRequest{Items: s.Items, PaymentMethod: checkout.MethodCard, IdempotencyKey: s.Key})
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// prepare makes n shoppers on the server at base: each gets a session
// cookie and validates its cart (a key and a PaymentIntent), then its
// card is declined at the simulator (pm_card_chargeDeclined), as a
// shopper's first attempt may be. The declined attempt's webhook
// (payment_intent.payment_failed) tells the server the intent's state,
// which stays requires_payment_method: the key is replayable for as long
// as the benchmark runs, without the server re-reading the intent from
// Stripe every StaleAfter (5s). prepare waits for the n webhooks
// (GET /metrics), then checks that each shopper's replay answers 200 with
// its key.
func prepare(base string, n int) ([]shopper, error) {
	var pk string
	out := make([]shopper, n)
	errs := make(chan error, n)
	work := make(chan int)
	var wg sync.WaitGroup
	var pkOnce sync.Once
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s, key, err := newShopper(base, i)
				if err == nil {
					pkOnce.Do(func() { pk = key })
					err = decline(base, pk, s.PI)
				}
				if err != nil {
					errs <- fmt.Errorf("shopper %d: %w", i, err)
					continue
				}
				out[i] = s
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		got, err := metric(base, `onecharge_webhooks_total{outcome="applied",type="payment_intent.payment_failed"}`)
		if err != nil {
			return nil, err
		}
		if got >= float64(n) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %v of %d declined-payment webhooks applied after 60s", base, got, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for i, s := range out {
		status, body, err := do(base, http.MethodPost, "/api/orders/validate", s.Cookie, s.replayBody(), nil)
		if err != nil {
			return nil, err
		}
		var resp checkout.ValidateResponse
		if status != http.StatusOK || json.Unmarshal(body, &resp) != nil || resp.IdempotencyKey != s.Key {
			return nil, fmt.Errorf("shopper %d: replay answered %d %s", i, status, body)
		}
	}
	return out, nil
}

// newShopper makes shopper i: a cookie (GET /api/config, which also
// tells the publishable key) and a first validation.
func newShopper(base string, i int) (shopper, string, error) {
	resp, err := client.Get(base + "/api/config")
	if err != nil {
		return shopper{}, "", err
	}
	var cfg checkout.ConfigResponse
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil {
		return shopper{}, "", err
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "onecharge_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		return shopper{}, "", fmt.Errorf("GET /api/config set no session cookie")
	}
	s := shopper{Cookie: cookie, Items: cartOf(i)}
	body := checkout.EncodeValidateRequest(checkout.ValidateRequest{Items: s.Items, PaymentMethod: checkout.MethodCard})
	status, data, err := do(base, http.MethodPost, "/api/orders/validate", cookie, body, nil)
	if err != nil {
		return shopper{}, "", err
	}
	var v checkout.ValidateResponse
	if status != http.StatusOK || json.Unmarshal(data, &v) != nil || v.PaymentIntent == nil {
		return shopper{}, "", fmt.Errorf("first validation answered %d %s", status, data)
	}
	s.Key, s.PI = v.IdempotencyKey, *v.PaymentIntent
	return s, cfg.Stripe.PublishableKey, nil
}

// decline confirms pi with a card the simulator declines, as Stripe.js
// would: the publishable key and the client secret.
func decline(base, pk string, pi checkout.PaymentIntent) error {
	form := url.Values{"client_secret": {pi.ClientSecret}, "payment_method": {"pm_card_chargeDeclined"}}.Encode()
	status, body, err := do(base, http.MethodPost, "/_stripe/v1/payment_intents/"+pi.ID+"/confirm", "", []byte(form),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Bearer " + pk}})
	if err != nil {
		return err
	}
	if status != http.StatusPaymentRequired && !bytes.Contains(body, []byte("card_declined")) {
		return fmt.Errorf("declined confirm answered %d %s", status, body)
	}
	return nil
}

func do(base, method, path, cookie string, body []byte, h http.Header) (int, []byte, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// metric reads one series of GET /metrics (0 when absent).
func metric(base, series string) (float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
}
