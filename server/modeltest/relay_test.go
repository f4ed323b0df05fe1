package modeltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/onecharge/onecharge/server/stripesim"
)

// relay stands between the simulator's webhook dispatcher and the server:
// the simulator delivers every event to the relay, which holds it (answering
// 200, so the simulator is done with it) until an action delivers it to the
// server: in order, out of order, twice, late, or never. Each delivery is
// signed anew, as Stripe signs each attempt.
type relay struct {
	srv    *httptest.Server
	target string // the server's webhook URL
	secret string
	client *http.Client

	mu        sync.Mutex
	held      []heldEvent
	received  int
	delivered map[string][]deliveryResult // event id → every delivery to the server
	past      []heldEvent                 // every event delivered at least once, for redelivery
}

type heldEvent struct {
	ID      string
	Type    string
	Object  string // id of the event's object (PaymentIntent or Checkout Session)
	Payload []byte
}

type deliveryResult struct {
	Status    int
	Duplicate bool // the server said it had applied the event before
}

func newRelay(target, secret string) *relay {
	r := &relay{target: target, secret: secret, delivered: map[string][]deliveryResult{},
		client: &http.Client{Timeout: 30 * time.Second}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.receive))
	return r
}

func (r *relay) close() { r.srv.Close() }

func (r *relay) receive(w http.ResponseWriter, req *http.Request) {
	payload, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.held = append(r.held, heldEvent{ID: ev.ID, Type: ev.Type, Object: ev.Data.Object.ID, Payload: payload})
	r.received++
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// heldEvents returns a copy of the events not delivered yet, in arrival order.
func (r *relay) heldEvents() []heldEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]heldEvent(nil), r.held...)
}

// take removes the held event i and returns it.
func (r *relay) take(i int) heldEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.held[i]
	r.held = append(r.held[:i:i], r.held[i+1:]...)
	return ev
}

// deliver posts ev to the server, signed now, and records the answer.
func (r *relay) deliver(ev heldEvent) (deliveryResult, error) {
	req, err := http.NewRequest(http.MethodPost, r.target, bytes.NewReader(ev.Payload))
	if err != nil {
		return deliveryResult{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", stripesim.SignatureHeader(ev.Payload, r.secret, time.Now()))
	resp, err := r.client.Do(req)
	if err != nil {
		return deliveryResult{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	res := deliveryResult{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		var b struct {
			Duplicate *bool `json:"duplicate"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.Duplicate == nil {
			return res, fmt.Errorf("webhook answer %s has no duplicate flag", body)
		}
		res.Duplicate = *b.Duplicate
	}
	r.mu.Lock()
	if len(r.delivered[ev.ID]) == 0 {
		r.past = append(r.past, ev)
	}
	r.delivered[ev.ID] = append(r.delivered[ev.ID], res)
	r.mu.Unlock()
	return res, nil
}

// pastEvents returns the events delivered at least once.
func (r *relay) pastEvents() []heldEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]heldEvent(nil), r.past...)
}

// deliveredOK reports whether event id reached the server with a 2xx answer.
func (r *relay) deliveredOK(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.delivered[id] {
		if d.Status >= 200 && d.Status <= 299 {
			return true
		}
	}
	return false
}

// deliveries returns a copy of every delivery, by event id.
func (r *relay) deliveries() map[string][]deliveryResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]deliveryResult, len(r.delivered))
	for id, ds := range r.delivered {
		out[id] = append([]deliveryResult(nil), ds...)
	}
	return out
}
