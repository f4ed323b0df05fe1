package stripesim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// Order is the order in which webhook events are delivered.
type Order int

// Delivery orders. With Reversed and Shuffled, events are held back and
// released as a batch (see WebhookMode.Batch and ReleaseWebhooks), then
// delivered one after the other in that order.
const (
	InOrder Order = iota
	Reversed
	Shuffled
)

// WebhookMode shapes webhook delivery, to test receivers against Stripe's
// guarantees: at least once, in no particular order.
type WebhookMode struct {
	// Duplicate delivers every event twice (same event id, signed anew).
	Duplicate bool
	// Order is InOrder (the default), Reversed or Shuffled.
	Order Order
	// Batch, with Reversed or Shuffled, releases the held events as soon as
	// Batch deliveries are held for one endpoint (with Duplicate, an event
	// is two deliveries). Zero holds them until ReleaseWebhooks.
	Batch int
}

// SetWebhookURL makes u the single webhook endpoint ("" stops delivery;
// events emitted meanwhile are recorded but never delivered). It is
// SetWebhookURLs with one URL: retries pending for the first endpoint go
// to u, those of any other endpoint are dropped.
func (s *Sim) SetWebhookURL(u string) {
	if u == "" {
		s.SetWebhookURLs(nil)
		return
	}
	s.SetWebhookURLs([]string{u})
}

// SetWebhookURLs sets the webhook endpoints: every event emitted
// afterwards is delivered to each of them (several server replicas can
// share one simulator), each with its own queue, retries and backoff, all
// signed with the one WebhookSecret. Endpoints are slots: the i-th URL
// replaces the i-th endpoint's, and its pending retries use the URL
// current at their attempt; endpoints beyond len(urls), and "" entries,
// stop receiving (their pending deliveries are dropped).
func (s *Sim) SetWebhookURLs(urls []string) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.setURLsLocked(urls)
}

// WebhookURLs returns the endpoints events are delivered to now.
func (s *Sim) WebhookURLs() []string {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	var out []string
	for _, ep := range s.hooks.endpoints {
		if ep.url != "" {
			out = append(out, ep.url)
		}
	}
	return out
}

// SetWebhookMode changes the delivery mode for events emitted afterwards.
// Switching to InOrder releases the events held so far.
func (s *Sim) SetWebhookMode(m WebhookMode) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if m.Order == InOrder {
		s.hooks.releaseLocked()
	}
	s.hooks.mode = m
	if s.hooks.batchFullLocked() {
		s.hooks.releaseLocked()
	}
}

// ReleaseWebhooks delivers the held events (Reversed or Shuffled mode) now,
// in the mode's order.
func (s *Sim) ReleaseWebhooks() {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.releaseLocked()
}

// WaitIdle waits until every queued delivery, to every endpoint, has
// succeeded or been given up, including retries. Held events (Reversed,
// Shuffled) do not count.
func (s *Sim) WaitIdle(ctx context.Context) error {
	for {
		s.hooks.mu.Lock()
		if s.hooks.busy == 0 {
			s.hooks.mu.Unlock()
			return nil
		}
		ch := s.hooks.idle
		s.hooks.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// emitLocked records an event about obj and queues its delivery to every
// endpoint. s.mu is held.
func (s *Sim) emitLocked(typ string, obj any, c *call) {
	raw, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("stripesim: marshal event object: %v", err))
	}
	ev := Event{
		ID:         newID("evt_", 24),
		Object:     "event",
		APIVersion: stripe.APIVersion,
		Created:    s.cfg.Now().Unix(),
		Data:       EventData{Object: raw},
		Type:       typ,
	}
	if c != nil {
		ev.Request = EventRequest{ID: strPtr(c.requestID), IdempotencyKey: strPtr(c.idemKey)}
	}
	s.hooks.enqueue(&ev)
	s.events = append(s.events, ev)
	s.log.Debug("stripesim: event", "id", ev.ID, "type", typ, "endpoints", ev.PendingWebhooks)
}

// dispatcher delivers events to the webhook endpoints. Each endpoint has
// a goroutine sending first attempts one at a time in queue order;
// failed deliveries are retried by goroutines of their own.
type dispatcher struct {
	s      *Sim
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	endpoints []*endpoint // slots; never removed, url "" when unused
	mode      WebhookMode
	held      []*delivery
	busy      int           // queued, being sent or waiting for a retry, all endpoints
	idle      chan struct{} // closed while busy == 0
}

// endpoint is one webhook URL with its queue of first attempts.
type endpoint struct {
	url   string // guarded by dispatcher.mu; "" receives nothing
	queue []*delivery
	wake  chan struct{}
}

// delivery is one event to one endpoint.
type delivery struct {
	ep      *endpoint
	id, typ string
	payload []byte
	attempt int
}

func newDispatcher(s *Sim) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{
		s: s, ctx: ctx, cancel: cancel,
		mode: s.cfg.WebhookMode,
		idle: make(chan struct{}),
	}
	close(d.idle)
	var urls []string
	if s.cfg.WebhookURL != "" {
		urls = append(urls, s.cfg.WebhookURL)
	}
	urls = append(urls, s.cfg.WebhookURLs...)
	d.mu.Lock()
	d.setURLsLocked(urls)
	d.mu.Unlock()
	return d
}

func (d *dispatcher) close() {
	d.cancel()
	d.wg.Wait()
}

// setURLsLocked points the i-th endpoint at urls[i], starting endpoints
// as needed, and unsets the others. d.mu is held.
func (d *dispatcher) setURLsLocked(urls []string) {
	for i, u := range urls {
		if i < len(d.endpoints) {
			d.endpoints[i].url = u
			continue
		}
		if d.ctx.Err() != nil {
			return
		}
		ep := &endpoint{url: u, wake: make(chan struct{}, 1)}
		d.endpoints = append(d.endpoints, ep)
		d.wg.Add(1)
		go d.run(ep)
	}
	for _, ep := range d.endpoints[min(len(urls), len(d.endpoints)):] {
		ep.url = ""
	}
}

// enqueue queues ev for every endpoint with a URL and sets its
// pending_webhooks to their number.
func (d *dispatcher) enqueue(ev *Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var targets []*endpoint
	for _, ep := range d.endpoints {
		if ep.url != "" {
			targets = append(targets, ep)
		}
	}
	ev.PendingWebhooks = len(targets)
	if len(targets) == 0 || d.ctx.Err() != nil {
		return
	}
	n := 1
	if d.mode.Duplicate {
		n = 2
	}
	payload := ev.Payload()
	for range n {
		for _, ep := range targets {
			dl := &delivery{ep: ep, id: ev.ID, typ: ev.Type, payload: payload}
			if d.mode.Order == InOrder {
				d.pushLocked(dl)
			} else {
				d.held = append(d.held, dl)
			}
		}
	}
	if d.mode.Order != InOrder && d.batchFullLocked() {
		d.releaseLocked()
	}
}

// batchFullLocked reports whether an endpoint has WebhookMode.Batch held
// deliveries. d.mu is held.
func (d *dispatcher) batchFullLocked() bool {
	if d.mode.Batch <= 0 {
		return false
	}
	per := map[*endpoint]int{}
	for _, dl := range d.held {
		if per[dl.ep]++; per[dl.ep] >= d.mode.Batch {
			return true
		}
	}
	return false
}

func (d *dispatcher) pushLocked(dl *delivery) {
	if d.busy == 0 {
		d.idle = make(chan struct{})
	}
	d.busy++
	dl.ep.queue = append(dl.ep.queue, dl)
	select {
	case dl.ep.wake <- struct{}{}:
	default:
	}
}

// releaseLocked queues the held deliveries in the mode's order; each
// endpoint receives its own ones in that order.
func (d *dispatcher) releaseLocked() {
	held := d.held
	d.held = nil
	switch d.mode.Order {
	case Reversed:
		slices.Reverse(held)
	case Shuffled:
		rand.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
	}
	for _, dl := range held {
		d.pushLocked(dl)
	}
}

func (d *dispatcher) doneOne() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.busy--
	if d.busy == 0 {
		close(d.idle)
	}
}

// run sends ep's first attempts one at a time, in queue order; failed
// deliveries are retried by their own goroutines, so that a failing
// endpoint delays neither its next events nor the other endpoints.
func (d *dispatcher) run(ep *endpoint) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			d.drain(ep)
			return
		case <-ep.wake:
		}
		for {
			d.mu.Lock()
			if len(ep.queue) == 0 {
				d.mu.Unlock()
				break
			}
			dl := ep.queue[0]
			ep.queue = ep.queue[1:]
			d.mu.Unlock()
			if d.attempt(dl) {
				d.doneOne()
				continue
			}
			d.wg.Add(1)
			go d.retry(dl)
		}
	}
}

// drain forgets ep's queue on close so WaitIdle returns.
func (d *dispatcher) drain(ep *endpoint) {
	d.mu.Lock()
	n := len(ep.queue)
	ep.queue = nil
	d.mu.Unlock()
	for range n {
		d.doneOne()
	}
}

func (d *dispatcher) retry(dl *delivery) {
	defer d.wg.Done()
	defer d.doneOne()
	for {
		t := time.NewTimer(d.backoff(dl.attempt))
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if d.attempt(dl) {
			return
		}
	}
}

func (d *dispatcher) backoff(attempt int) time.Duration {
	b := d.s.cfg.WebhookBackoff
	for i := 1; i < attempt && b < d.s.cfg.WebhookMaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.s.cfg.WebhookMaxBackoff)
}

// attempt sends dl once to its endpoint's current URL. It reports true
// when dl needs no further attempt: delivered, given up, the endpoint
// unset, or the dispatcher closed.
func (d *dispatcher) attempt(dl *delivery) bool {
	if d.ctx.Err() != nil {
		return true
	}
	dl.attempt++
	d.mu.Lock()
	target := dl.ep.url
	d.mu.Unlock()
	if target == "" {
		return true
	}
	err := d.send(target, dl)
	if err == nil {
		d.s.log.Debug("stripesim: webhook delivered", "event", dl.id, "type", dl.typ, "url", target, "attempt", dl.attempt)
		return true
	}
	if d.ctx.Err() != nil {
		return true
	}
	if dl.attempt >= d.s.cfg.WebhookAttempts {
		d.s.log.Warn("stripesim: webhook given up", "event", dl.id, "type", dl.typ, "url", target, "attempts", dl.attempt, "err", err)
		return true
	}
	d.s.log.Debug("stripesim: webhook failed", "event", dl.id, "type", dl.typ, "url", target, "attempt", dl.attempt, "err", err)
	return false
}

func (d *dispatcher) send(target string, dl *delivery) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(dl.payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", SignatureHeader(dl.payload, d.s.cfg.WebhookSecret, time.Now()))
	resp, err := d.s.cfg.WebhookClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// SignatureHeader returns a Stripe-Signature header for payload: "t=<unix
// seconds>,v1=<hex HMAC-SHA256 of "t.payload" keyed with secret>".
func SignatureHeader(payload []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
