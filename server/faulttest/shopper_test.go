package faulttest

// Shoppers: each is a browser with its own cookie jar, running the real
// client lifecycle (shared/keyflow, natively) over a transport that
// spreads its requests over the replicas, and paying at the simulator as
// Stripe.js would.

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onecharge/onecharge/shared/checkout"
	"github.com/onecharge/onecharge/shared/keyflow"
)

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// counters are the campaign's request figures.
type counters struct {
	requests, networkErrors, status5xx, inProgress atomic.Int64
	validates, validate200                         atomic.Int64
	keyflowRetries                                 atomic.Int64 // attempts after a validation's first
	checkouts, paid, needsReview, hosted           atomic.Int64
	checkoutRetries                                atomic.Int64 // a checkout failed after keyflow's retries: the shopper clicked again
	firstCallsLost                                 atomic.Int64 // first validations (no key) without a 200: each may leave an orphan PaymentIntent
	firstCallNonce                                 atomic.Bool  // the client sent an Idempotency-Key nonce on first validations
}

// fleet is what shoppers send requests to.
type fleet struct {
	replicas []*Replica
	next     atomic.Uint64
}

// pick returns the next replica, round robin (a load balancer without
// health checks: a dead replica's turn is a connection refused).
func (f *fleet) pick() (*Replica, string) {
	n := f.next.Add(1)
	r := f.replicas[int(n)%len(f.replicas)]
	base, _ := r.BaseURL()
	return r, base
}

// inflight is a validation being sent, for the kill measurements.
type inflight struct {
	replica *Replica
	key     string // the idempotency key in its body, "" for a first call
	start   time.Time
	sh      *shopper
}

// blockWatch measures how long a key stays blocked after the replica
// holding it was killed: from the kill to the shopper's next 200 for it.
type blockWatch struct {
	key      string
	killedAt time.Time
	held     bool // a request_in_progress was answered meanwhile: the key was held
	trail    []string
	// clean: nothing but request_in_progress was answered after the
	// killed request's own failure, so the wait is the dead holder's.
	clean bool
	seen  int
}

// blocked is one measured kill.
type blocked struct {
	d     time.Duration // from the kill to the sending of the request that got through
	clean bool
	trail string
}

// tracker knows the validations in flight and the kills being measured.
type tracker struct {
	mu       sync.Mutex
	inflight map[*inflight]struct{}
	watches  map[string]*blockWatch // by key
	blocked  []blocked              // keys held by killed requests
	free     int                    // keys in flight at a kill that were free at once
}

func newTracker() *tracker {
	return &tracker{inflight: map[*inflight]struct{}{}, watches: map[string]*blockWatch{}}
}

// candidates returns the keyed validations in flight on r for at least min.
func (tr *tracker) candidates(r *Replica, min time.Duration) []*inflight {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []*inflight
	for f := range tr.inflight {
		if f.replica == r && f.key != "" && time.Since(f.start) >= min {
			out = append(out, f)
		}
	}
	return out
}

// killed starts a watch for every keyed validation in flight on r.
func (tr *tracker) killed(r *Replica, at time.Time) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for f := range tr.inflight {
		if f.replica == r && f.key != "" {
			if _, ok := tr.watches[f.key]; !ok {
				tr.watches[f.key] = &blockWatch{key: f.key, killedAt: at, clean: true}
				n++
			}
		}
	}
	return n
}

// answered is told every validation's answer (status 0: a network error).
func (tr *tracker) answered(key, replica string, sent time.Time, status int, code checkout.Code) {
	if key == "" {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	w, ok := tr.watches[key]
	if !ok {
		return
	}
	w.trail = append(w.trail, fmt.Sprintf("%s %.2f-%.2fs %d %s", replica, sent.Sub(w.killedAt).Seconds(), time.Since(w.killedAt).Seconds(), status, code))
	w.seen++
	inProgress := status == http.StatusConflict && code == checkout.CodeRequestInProgress
	if w.seen > 1 && !inProgress && status != http.StatusOK {
		w.clean = false
	}
	switch {
	case inProgress:
		w.held = true
	case status == http.StatusOK || (status == http.StatusConflict && code == checkout.CodePaymentAlreadyCompleted):
		// The key is usable again (already completed: the killed request
		// had nothing left to do; the key was not blocked by it).
		delete(tr.watches, key)
		if w.held {
			tr.blocked = append(tr.blocked, blocked{d: sent.Sub(w.killedAt), clean: w.clean, trail: strings.Join(w.trail, ", ")})
		} else {
			tr.free++
		}
	}
}

// transport is a keyflow.Transport over the fleet: every request (each
// retry too) goes to the next replica.
type transport struct {
	f    *fleet
	http *http.Client
	c    *counters
	tr   *tracker
	sh   *shopper
}

func (t *transport) Do(ctx keyflow.Context, req keyflow.Request) (keyflow.Response, error) {
	r, base := t.f.pick()
	hreq, err := http.NewRequestWithContext(keyflow.StdContext(ctx), req.Method, base+req.URL, strings.NewReader(string(req.Body)))
	if err != nil {
		return keyflow.Response{}, err
	}
	for k, v := range req.Header {
		hreq.Header.Set(k, v)
	}
	var fl *inflight
	validate := req.URL == keyflow.ValidatePath
	if validate {
		var body struct {
			IdempotencyKey string `json:"idempotency_key"`
		}
		_ = json.Unmarshal(req.Body, &body)
		fl = &inflight{replica: r, key: body.IdempotencyKey, start: time.Now(), sh: t.sh}
		for k, v := range req.Header {
			if fl.key == "" && v != "" && strings.EqualFold(k, "Idempotency-Key") {
				t.c.firstCallNonce.Store(true)
			}
		}
		t.tr.mu.Lock()
		t.tr.inflight[fl] = struct{}{}
		t.tr.mu.Unlock()
		t.c.validates.Add(1)
	}
	t.c.requests.Add(1)
	resp, err := t.http.Do(hreq)
	var out keyflow.Response
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			err = rerr
		} else {
			out = keyflow.Response{Status: resp.StatusCode, Header: map[string]string{}, Body: b}
			for k := range resp.Header {
				out.Header[strings.ToLower(k)] = resp.Header.Get(k)
			}
		}
	}
	if validate {
		t.tr.mu.Lock()
		delete(t.tr.inflight, fl)
		t.tr.mu.Unlock()
	}
	if err != nil {
		t.c.networkErrors.Add(1)
		if validate && fl.key == "" {
			t.c.firstCallsLost.Add(1)
			t.sh.firstCallsLost.Add(1)
		}
		if validate {
			t.tr.answered(fl.key, r.Name, fl.start, 0, "")
		}
		return keyflow.Response{}, err
	}
	code := errorCode(out.Body)
	if out.Status >= 500 {
		t.c.status5xx.Add(1)
	}
	if out.Status == http.StatusConflict && code == checkout.CodeRequestInProgress {
		t.c.inProgress.Add(1)
	}
	if validate {
		if out.Status == http.StatusOK {
			t.c.validate200.Add(1)
		} else if fl.key == "" && out.Status >= 500 {
			t.c.firstCallsLost.Add(1)
			t.sh.firstCallsLost.Add(1)
		}
		t.tr.answered(fl.key, r.Name, fl.start, out.Status, code)
	}
	return out, nil
}

func errorCode(body []byte) checkout.Code {
	var e checkout.ErrorBody
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// shopper is one browser.
type shopper struct {
	ID   int
	http *http.Client
	kf   *keyflow.Client
	tr   *transport
	sim  *simProcess
	c    *counters
	rnd  *rand.Rand

	// firstCallsLost counts this shopper's first validations without a 200.
	firstCallsLost atomic.Int64

	mu     sync.Mutex
	orders []paidOrder // what this shopper paid
	errs   []string    // what went wrong that must not (reported)
}

// paidOrder is one finished checkout.
type paidOrder struct {
	PI, Key string
	Session string // a hosted checkout's (then PI and Key are "")
	Amount  int64
	Status  string
}

func newShopper(id int, f *fleet, sim *simProcess, c *counters, tr *tracker, maxAttempts int) *shopper {
	jar, _ := cookiejar.New(nil)
	s := &shopper{ID: id, sim: sim, c: c, rnd: rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))}
	s.http = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.tr = &transport{f: f, http: s.http, c: c, tr: tr, sh: s}
	s.kf = keyflow.New(&keyflow.MemoryStore{}, s.tr)
	s.kf.MaxAttempts = maxAttempts
	s.kf.Log = func(msg string) {
		if strings.Contains(msg, "retrying in") {
			c.keyflowRetries.Add(1)
		}
	}
	return s
}

func (s *shopper) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf("shopper %d: ", s.ID)+fmt.Sprintf(format, args...))
}

// do sends one request to the fleet (the page's own calls, outside
// keyflow), trying again after network errors and 5xx, as a shopper
// reloading would, until ctx ends.
func (s *shopper) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.tr.Do(ctx, keyflow.Request{Method: method, URL: path, Header: map[string]string{"Content-Type": "application/json"}, Body: body})
		if err == nil && res.Status < 500 {
			return res.Status, res.Body, nil
		}
		if ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("status %d: %s", res.Status, res.Body)
			}
			return 0, nil, fmt.Errorf("%s %s: %w (%v)", method, path, ctx.Err(), err)
		}
		time.Sleep(time.Duration(100+s.rnd.IntN(200*min(attempt+1, 8))) * time.Millisecond)
	}
}

// think is a shopper's pause between two clicks.
func (s *shopper) think() { time.Sleep(time.Duration(100+s.rnd.IntN(400)) * time.Millisecond) }

var catalog = []string{"cap", "hoodie", "mug", "stickers", "tshirt"}

func (s *shopper) randomCart() []checkout.Item {
	n := 1 + s.rnd.IntN(3)
	perm := s.rnd.Perm(len(catalog))
	items := make([]checkout.Item, n)
	for i := range items {
		items[i] = checkout.Item{ProductID: catalog[perm[i]], Quantity: 1 + s.rnd.IntN(4)}
	}
	return items
}

// Scenarios of a payment.
const (
	payVisa     = "visa"
	payDeclined = "declined then visa"
	pay3DS      = "3-D Secure"
)

// checkout is one whole checkout: cart, validation (and sometimes a cart
// change and another validation, or a page refresh), payment, and the
// wait for the order. Failures of the validation after keyflow's retries
// are clicked again until ctx ends.
func (s *shopper) checkout(ctx context.Context) error {
	s.c.checkouts.Add(1)
	items := s.randomCart()
	body, _ := json.Marshal(checkout.CartRequest{Items: items})
	if st, b, err := s.do(ctx, http.MethodPut, "/api/cart", body); err != nil {
		return err
	} else if st != http.StatusOK {
		s.fail("PUT /api/cart: %d %s", st, b)
		return fmt.Errorf("PUT /api/cart: %d", st)
	}
	resp, err := s.validate(ctx, items)
	if err != nil {
		return err
	}
	if s.rnd.IntN(2) == 0 { // the shopper changes the cart
		items = s.randomCart()
		body, _ := json.Marshal(checkout.CartRequest{Items: items})
		if _, _, err := s.do(ctx, http.MethodPut, "/api/cart", body); err != nil {
			return err
		}
		next, err := s.validate(ctx, items)
		if err != nil {
			return err
		}
		if next.IdempotencyKey != resp.IdempotencyKey || next.PaymentIntent.ID != resp.PaymentIntent.ID {
			// Allowed only as a rotation, which this flow never asks for.
			s.fail("cart change: key or PaymentIntent changed (%s %s → %s %s)", resp.IdempotencyKey[:10], resp.PaymentIntent.ID, next.IdempotencyKey[:10], next.PaymentIntent.ID)
		}
		resp = next
	}
	if s.rnd.IntN(3) == 0 { // a page refresh validates again
		if resp, err = s.validate(ctx, items); err != nil {
			return err
		}
	}
	s.think()
	pi := resp.PaymentIntent
	if pi == nil || pi.Amount != resp.Order.Amount {
		s.fail("validation answered PaymentIntent %+v for order amount %d", pi, resp.Order.Amount)
		return errors.New("bad validation")
	}
	if s.rnd.IntN(5) == 0 {
		// Hosted checkout instead: the same cart on Stripe's page. The
		// PaymentIntent validated above stays unpaid (the reaper's work).
		return s.hosted(ctx, items)
	}
	scenario := []string{payVisa, payDeclined, pay3DS}[s.rnd.IntN(3)]
	if err := s.pay(ctx, pi, scenario); err != nil {
		return err
	}
	o, err := s.waitOrder(ctx, pi.ID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.orders = append(s.orders, paidOrder{PI: pi.ID, Key: resp.IdempotencyKey, Amount: o.Amount, Status: o.Status})
	s.mu.Unlock()
	switch o.Status {
	case checkout.OrderPaid:
		s.c.paid.Add(1)
		if o.Amount != pi.Amount {
			s.fail("order %s paid %d, validated %d", pi.ID, o.Amount, pi.Amount)
		}
	case checkout.OrderNeedsReview:
		s.c.needsReview.Add(1)
	}
	return nil
}

// hosted is a hosted checkout: POST /api/checkout (clicked again while it
// fails transiently), the simulator's Checkout page, and the wait for the
// session's order.
func (s *shopper) hosted(ctx context.Context, items []checkout.Item) error {
	s.c.hosted.Add(1)
	body, _ := json.Marshal(checkout.CartRequest{Items: items})
	var resp checkout.CheckoutResponse
	for {
		st, b, err := s.do(ctx, http.MethodPost, "/api/checkout", body)
		if err != nil {
			return err
		}
		if st == http.StatusConflict && errorCode(b) == checkout.CodeRequestInProgress {
			time.Sleep(time.Duration(300+s.rnd.IntN(700)) * time.Millisecond)
			continue
		}
		if st != http.StatusOK || json.Unmarshal(b, &resp) != nil || resp.SessionID == "" {
			s.fail("POST /api/checkout: %d %s", st, b)
			return fmt.Errorf("checkout: %d", st)
		}
		break
	}
	// The page is built from the address stripe-go used (the replica's
	// proxy); the browser goes to Stripe itself.
	page, err := url.Parse(resp.URL)
	if err != nil {
		s.fail("checkout URL %q: %v", resp.URL, err)
		return err
	}
	sim, _ := url.Parse(s.sim.URL)
	page.Scheme, page.Host = sim.Scheme, sim.Host
	s.think()
	if st, _, err := s.sim.page(ctx, s.http, http.MethodGet, page.String(), nil); err != nil || st != http.StatusOK {
		s.fail("checkout page: %d %v", st, err)
		return fmt.Errorf("checkout page: %d %v", st, err)
	}
	st, loc, err := s.sim.page(ctx, s.http, http.MethodPost, page.String(), url.Values{})
	if err != nil || st != http.StatusSeeOther || !strings.Contains(loc, resp.SessionID) {
		s.fail("checkout pay: %d %q %v", st, loc, err)
		return fmt.Errorf("checkout pay: %d %v", st, err)
	}
	o, err := s.waitOrder(ctx, resp.SessionID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.orders = append(s.orders, paidOrder{Session: resp.SessionID, Amount: o.Amount, Status: o.Status})
	s.mu.Unlock()
	switch o.Status {
	case checkout.OrderPaid:
		s.c.paid.Add(1)
	case checkout.OrderNeedsReview:
		s.c.needsReview.Add(1)
	}
	return nil
}

// validate is ValidateCartItems, clicked again while it fails transiently.
func (s *shopper) validate(ctx context.Context, items []checkout.Item) (checkout.ValidateResponse, error) {
	for {
		resp, err := s.kf.ValidateCartItems(ctx, checkout.ValidateRequest{Items: items, PaymentMethod: checkout.MethodCard})
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return resp, fmt.Errorf("validate: %w (%v)", ctx.Err(), err)
		}
		var rej *keyflow.Rejection
		if errors.As(err, &rej) && rej.Kind == keyflow.KindValidation {
			s.fail("validate refused: %v", err)
			return resp, err
		}
		s.c.checkoutRetries.Add(1)
		time.Sleep(time.Duration(200+s.rnd.IntN(800)) * time.Millisecond)
	}
}

// pay confirms the PaymentIntent at the simulator with its client secret
// and the publishable key, as Stripe.js does, and ends the checkout in
// keyflow (PaymentSucceeded, or HandleRedirectReturn after 3-D Secure).
func (s *shopper) pay(ctx context.Context, pi *checkout.PaymentIntent, scenario string) error {
	switch scenario {
	case payDeclined:
		st, body, err := s.confirm(ctx, pi, "pm_card_chargeDeclined")
		if err != nil {
			return err
		}
		if st != http.StatusPaymentRequired || !strings.Contains(string(body), "card_declined") {
			s.fail("declined card: %d %s", st, body)
		}
		fallthrough
	case payVisa:
		st, body, err := s.confirm(ctx, pi, "pm_card_visa")
		if err != nil {
			return err
		}
		if st != http.StatusOK || !strings.Contains(string(body), `"succeeded"`) {
			s.fail("visa: %d %s", st, body)
			return fmt.Errorf("confirm: %d", st)
		}
		s.kf.PaymentSucceeded()
	case pay3DS:
		st, body, err := s.confirm(ctx, pi, "pm_card_threeDSecure2Required")
		if err != nil {
			return err
		}
		var next struct {
			Status     string `json:"status"`
			NextAction struct {
				RedirectToURL struct {
					URL string `json:"url"`
				} `json:"redirect_to_url"`
			} `json:"next_action"`
		}
		if st != http.StatusOK || json.Unmarshal(body, &next) != nil || next.Status != "requires_action" || next.NextAction.RedirectToURL.URL == "" {
			s.fail("3-D Secure confirm: %d %s", st, body)
			return fmt.Errorf("confirm: %d", st)
		}
		page := next.NextAction.RedirectToURL.URL
		if st, _, err := s.sim.page(ctx, s.http, http.MethodGet, page, nil); err != nil || st != http.StatusOK {
			s.fail("challenge page: %d %v", st, err)
			return fmt.Errorf("challenge page: %d %v", st, err)
		}
		st, loc, err := s.sim.page(ctx, s.http, http.MethodPost, page, url.Values{"action": {"complete"}})
		if err != nil || st != http.StatusSeeOther {
			s.fail("challenge complete: %d %v", st, err)
			return fmt.Errorf("challenge: %d %v", st, err)
		}
		if !s.kf.HandleRedirectReturn(loc) {
			s.fail("redirect return %q not succeeded", loc)
		}
	}
	return nil
}

// confirm posts the confirmation to the simulator (no fault on that path:
// the shopper's browser talks to Stripe directly).
func (s *shopper) confirm(ctx context.Context, pi *checkout.PaymentIntent, pm string) (int, []byte, error) {
	form := url.Values{"client_secret": {pi.ClientSecret}, "payment_method": {pm}, "key": {s.sim.PublishableKey},
		"return_url": {"http://shop.test/checkout/return"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sim.URL+"/v1/payment_intents/"+url.PathEscape(pi.ID)+"/confirm", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// page loads or submits a hosted page; it returns the status and, for a
// redirect, its Location.
func (sp *simProcess) page(ctx context.Context, c *http.Client, method, u string, form url.Values) (int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// waitOrder polls GET /api/orders/{pi} until the webhook recorded it.
func (s *shopper) waitOrder(ctx context.Context, pi string) (checkout.OrderStatus, error) {
	reported := false
	for {
		st, body, err := s.do(ctx, http.MethodGet, "/api/orders/"+pi, nil)
		if err != nil {
			return checkout.OrderStatus{}, fmt.Errorf("order %s: %w", pi, err)
		}
		var o checkout.OrderResponse
		if st == http.StatusOK && json.Unmarshal(body, &o) == nil && (o.Order.Status == checkout.OrderPaid || o.Order.Status == checkout.OrderNeedsReview) {
			return o.Order, nil
		}
		if st != http.StatusOK && !reported {
			s.fail("GET /api/orders/%s: %d %s", pi, st, body)
			reported = true
		}
		select {
		case <-ctx.Done():
			return checkout.OrderStatus{}, fmt.Errorf("order %s still %q: %w", pi, o.Order.Status, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
