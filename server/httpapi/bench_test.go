package httpapi_test

// The HTTP figure against its floor: the replay of a validation through
// the whole handler (memory store, so the figure is the HTTP layer's and
// the service's own cost) versus a minimal net/http JSON handler, both
// driven by the same client loop at the same concurrency. `make bench`
// prints the ratio.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/onecharge/onecharge/server/testenv"
	"github.com/onecharge/onecharge/shared/checkout"
)

const benchClients = 4

func BenchmarkValidateReplay(b *testing.B) {
	env := testenv.New(b, testenv.Options{})
	c := env.NewClient(b)
	first, r := c.Validate(mugCard)
	if r.Status != http.StatusOK {
		b.Fatalf("validate: %d %s", r.Status, r.Body)
	}
	body, _ := json.Marshal(withKey(mugCard, first.IdempotencyKey))
	benchPost(b, c.HTTP, env.URL+"/api/orders/validate", body)
}

func BenchmarkValidateReplayFloorHTTP(b *testing.B) {
	// The floor decodes a request and answers a response of the same
	// shape, with nothing else.
	answer, _ := json.Marshal(checkout.ValidateResponse{
		Order:         checkout.Order{Items: []checkout.Line{{ProductID: "mug", Name: "Onecharge Mug", Quantity: 2, UnitAmount: 1200}}, Amount: 2400, Currency: "usd"},
		PaymentMethod: checkout.MethodCard, IdempotencyKey: "ik_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		PaymentIntent: &checkout.PaymentIntent{ID: "pi_x", ClientSecret: "pi_x_secret_y", Status: "requires_payment_method", Amount: 2400, Currency: "usd"},
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req checkout.ValidateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	body, _ := json.Marshal(withKey(mugCard, "ik_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	benchPost(b, &http.Client{}, srv.URL, body)
}

// benchPost sends b.N POSTs from benchClients goroutines.
func benchPost(b *testing.B, client *http.Client, url string, body []byte) {
	client.Transport = &http.Transport{MaxIdleConnsPerHost: benchClients}
	var mu sync.Mutex
	left := b.N
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < benchClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
}
