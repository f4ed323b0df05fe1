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
	// Batch of them are held. Zero holds them until ReleaseWebhooks.
	Batch int
}

// SetWebhookURL sets where events are delivered ("" stops delivery; events
// emitted meanwhile are recorded but never delivered). Retries use the URL
// current at their attempt.
func (s *Sim) SetWebhookURL(u string) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.url = u
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
	if m.Batch > 0 && len(s.hooks.held) >= m.Batch {
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

// WaitIdle waits until every queued delivery has succeeded or been given
// up, including retries. Held events (Reversed, Shuffled) do not count.
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

// emitLocked records an event about obj and queues its delivery. s.mu is held.
func (s *Sim) emitLocked(typ string, obj any, c *call) {
	raw, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("stripesim: marshal event object: %v", err))
	}
	ev := Event{
		ID:              newID("evt_", 24),
		Object:          "event",
		APIVersion:      stripe.APIVersion,
		Created:         s.cfg.Now().Unix(),
		Data:            EventData{Object: raw},
		PendingWebhooks: 1,
		Type:            typ,
	}
	if c != nil {
		ev.Request = EventRequest{ID: strPtr(c.requestID), IdempotencyKey: strPtr(c.idemKey)}
	}
	s.events = append(s.events, ev)
	s.log.Debug("stripesim: event", "id", ev.ID, "type", typ)
	s.hooks.enqueue(ev)
}

type dispatcher struct {
	s      *Sim
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu    sync.Mutex
	url   string
	mode  WebhookMode
	queue []*delivery
	held  []*delivery
	busy  int           // queued, being sent or waiting for a retry
	idle  chan struct{} // closed while busy == 0
}

type delivery struct {
	id, typ string
	payload []byte
	attempt int
}

func newDispatcher(s *Sim) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{
		s: s, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1),
		url:  s.cfg.WebhookURL,
		mode: s.cfg.WebhookMode,
		idle: make(chan struct{}),
	}
	close(d.idle)
	d.wg.Add(1)
	go d.run()
	return d
}

func (d *dispatcher) close() {
	d.cancel()
	d.wg.Wait()
}

func (d *dispatcher) enqueue(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.url == "" || d.ctx.Err() != nil {
		return
	}
	n := 1
	if d.mode.Duplicate {
		n = 2
	}
	payload := ev.Payload()
	for range n {
		dl := &delivery{id: ev.ID, typ: ev.Type, payload: payload}
		if d.mode.Order == InOrder {
			d.pushLocked(dl)
		} else {
			d.held = append(d.held, dl)
		}
	}
	if d.mode.Order != InOrder && d.mode.Batch > 0 && len(d.held) >= d.mode.Batch {
		d.releaseLocked()
	}
}

func (d *dispatcher) pushLocked(dl *delivery) {
	if d.busy == 0 {
		d.idle = make(chan struct{})
	}
	d.busy++
	d.queue = append(d.queue, dl)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

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

// run sends first attempts one at a time, in queue order; failed
// deliveries are retried by their own goroutines.
func (d *dispatcher) run() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			d.drain()
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			if len(d.queue) == 0 {
				d.mu.Unlock()
				break
			}
			dl := d.queue[0]
			d.queue = d.queue[1:]
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

// drain forgets the queue on close so WaitIdle returns.
func (d *dispatcher) drain() {
	d.mu.Lock()
	n := len(d.queue)
	d.queue = nil
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

// attempt sends dl once. It reports true when dl needs no further attempt:
// delivered, given up, or the dispatcher closed.
func (d *dispatcher) attempt(dl *delivery) bool {
	if d.ctx.Err() != nil {
		return true
	}
	dl.attempt++
	d.mu.Lock()
	target := d.url
	d.mu.Unlock()
	if target == "" {
		return true
	}
	err := d.send(target, dl)
	if err == nil {
		d.s.log.Debug("stripesim: webhook delivered", "event", dl.id, "type", dl.typ, "attempt", dl.attempt)
		return true
	}
	if d.ctx.Err() != nil {
		return true
	}
	if dl.attempt >= d.s.cfg.WebhookAttempts {
		d.s.log.Warn("stripesim: webhook given up", "event", dl.id, "type", dl.typ, "attempts", dl.attempt, "err", err)
		return true
	}
	d.s.log.Debug("stripesim: webhook failed", "event", dl.id, "type", dl.typ, "attempt", dl.attempt, "err", err)
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
