package stripesim

import (
	"fmt"
	"net/http"
	"strings"
)

// ForgetPaymentIntent deletes the PaymentIntent id as if Stripe no longer
// had it (another account, or data removed): every later call about it
// answers 404 resource_missing. No event is sent.
func (s *Sim) ForgetPaymentIntent(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.intents[id]; !ok {
		return fmt.Errorf("stripesim: no such payment_intent %q", id)
	}
	// Its id stays in piOrder, so that every intent's seq stays its index
	// there (the list's cursors); the walks skip ids no longer known.
	delete(s.intents, id)
	return nil
}

// ForcePaymentIntentAmount changes the amount of PaymentIntent id behind
// the server's back, as a dashboard edit or another integration would.
// It bypasses the state machine and the amount checks.
func (s *Sim) ForcePaymentIntentAmount(id string, amount int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.intents[id]
	if !ok {
		return fmt.Errorf("stripesim: no such payment_intent %q", id)
	}
	in.pi.Amount = amount
	return nil
}

// Unfaulted serves the API (paths under /v1/) like ServeHTTP but never
// injects a fault: what tests use to look at Stripe's state, through the
// real endpoints (the list, say), without consuming or tripping over the
// faults they armed for the server.
func (s *Sim) Unfaulted() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			http.NotFound(w, r)
			return
		}
		s.serveAPI(w, r, faultAction{})
	})
}
