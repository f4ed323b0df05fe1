package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/shared/checkout"
)

// Catalog returns the built-in demo catalog, inactive products included,
// ordered by id. It is the catalog the PostgreSQL migration inserts.
func Catalog() []checkout.Product {
	return []checkout.Product{
		{ID: "cap", Name: "Onecharge Cap", UnitAmount: 2000, Currency: "usd", Active: true},
		{ID: "hoodie", Name: "Onecharge Hoodie", UnitAmount: 4500, Currency: "usd", Active: true},
		{ID: "mug", Name: "Onecharge Mug", UnitAmount: 1200, Currency: "usd", Active: true},
		{ID: "retired-poster", Name: "Retired Poster", UnitAmount: 1500, Currency: "usd", Active: false},
		{ID: "stickers", Name: "Sticker Pack", UnitAmount: 500, Currency: "usd", Active: true},
		{ID: "tshirt", Name: "Onecharge T-Shirt", UnitAmount: 2500, Currency: "usd", Active: true},
	}
}

// Store is an in-memory checkoutsvc.Store. Create it with New; the zero
// value is not usable.
type Store struct {
	// Now is the clock of UpsertCart, the one method that is passed no
	// time. New sets it to time.Now.
	Now func() time.Time

	mu       sync.Mutex
	products map[string]checkout.Product
	carts    map[string]*cart                  // by user id
	keys     map[string]*checkoutsvc.KeyRecord // by key
	byPI     map[string]string                 // PaymentIntent id → key
	orders   map[string]order                  // by PaymentIntent (or session) id
	events   map[string]bool                   // applied Stripe event ids
}

type cart struct {
	items     []checkout.Item
	sessionID string
	createdAt time.Time
	updatedAt time.Time
}

type order struct {
	userID    string
	amount    int64
	currency  string
	items     []checkout.Line
	sessionID string
	createdAt time.Time
}

var _ checkoutsvc.Store = (*Store)(nil)

// New returns an empty store holding the demo catalog.
func New() *Store {
	s := &Store{
		Now:      time.Now,
		products: make(map[string]checkout.Product),
		carts:    make(map[string]*cart),
		keys:     make(map[string]*checkoutsvc.KeyRecord),
		byPI:     make(map[string]string),
		orders:   make(map[string]order),
		events:   make(map[string]bool),
	}
	for _, p := range Catalog() {
		s.products[p.ID] = p
	}
	return s
}

// AddProduct adds p to the catalog, or replaces the product with its id
// (tests use it for prices the demo catalog lacks).
func (s *Store) AddProduct(p checkout.Product) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.products[p.ID] = p
}

// ErrInvalidUserID is returned when a user id is not a UUID: a caller bug.
var ErrInvalidUserID = checkoutsvc.ErrInvalidUserID

var errNoKey = errors.New("memstore: idempotency key not found")

// Ping always answers.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

// Products returns the active products, ordered by id.
func (s *Store) Products(ctx context.Context) ([]checkout.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]checkout.Product, 0, len(s.products))
	for _, p := range s.products {
		if p.Active {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ProductsByID returns the catalog entries for ids, inactive ones included.
func (s *Store) ProductsByID(ctx context.Context, ids []string) (map[string]checkout.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.productsByID(ids), nil
}

func (s *Store) productsByID(ids []string) map[string]checkout.Product {
	out := make(map[string]checkout.Product, len(ids))
	for _, id := range ids {
		if p, ok := s.products[id]; ok {
			out[id] = p
		}
	}
	return out
}

// GetCart returns the user's cart lines.
func (s *Store) GetCart(ctx context.Context, userID string) ([]checkout.Item, time.Time, bool, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[userID]
	if !ok {
		return nil, time.Time{}, false, nil
	}
	return slices.Clone(c.items), c.updatedAt, true, nil
}

// UpsertCart stores items as the user's one cart.
func (s *Store) UpsertCart(ctx context.Context, userID string, items []checkout.Item, sessionID string) (time.Time, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return time.Time{}, err
	}
	now := normTime(s.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upsertCart(userID, items, sessionID, now)
	return now, nil
}

func (s *Store) upsertCart(userID string, items []checkout.Item, sessionID string, now time.Time) {
	c, ok := s.carts[userID]
	if !ok {
		c = &cart{createdAt: now}
		s.carts[userID] = c
	}
	c.items = append([]checkout.Item{}, items...)
	if sessionID != "" {
		c.sessionID = sessionID
	}
	c.updatedAt = now
}

// UserForCheckoutSession returns the user whose cart carries sessionID.
func (s *Store) UserForCheckoutSession(ctx context.Context, sessionID string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userForSession(sessionID)
	return u, ok, nil
}

func (s *Store) userForSession(sessionID string) (string, bool) {
	if sessionID == "" {
		return "", false
	}
	for u, c := range s.carts {
		if c.sessionID == sessionID {
			return u, true
		}
	}
	return "", false
}

// ReplayKey stores the cart and touches the key when its row matches want;
// otherwise it writes nothing. See checkoutsvc.Store and server/storetest
// for what "matches" means.
func (s *Store) ReplayKey(ctx context.Context, want checkoutsvc.KeyRecord, items []checkout.Item, now time.Time) (bool, error) {
	userID, err := parseUser(want.UserID)
	if err != nil {
		return false, err
	}
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.keys[want.Key]
	if !ok || want.PaymentIntentID == "" || !cur.LockedAt.IsZero() ||
		cur.UserID != userID ||
		cur.PaymentMethod != want.PaymentMethod ||
		cur.PaymentIntentID != want.PaymentIntentID ||
		cur.PIStatus != want.PIStatus ||
		cur.PIAmount != want.PIAmount ||
		cur.PICurrency != want.PICurrency ||
		cur.Amount != want.Amount ||
		cur.Currency != want.Currency ||
		!slices.Equal(cur.Items, want.Items) {
		return false, nil
	}
	cur.LastUsedAt = now
	s.upsertCart(userID, items, "", now)
	return true, nil
}

// GetKey returns the key's row.
func (s *Store) GetKey(ctx context.Context, key string) (checkoutsvc.KeyRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.keys[key]
	if !ok {
		return checkoutsvc.KeyRecord{}, false, nil
	}
	return copyRecord(rec), true, nil
}

// Lookup returns the catalog entries for ids and the row of key.
func (s *Store) Lookup(ctx context.Context, ids []string, key string) (map[string]checkout.Product, *checkoutsvc.KeyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	products := s.productsByID(ids)
	if rec, ok := s.keys[key]; ok && key != "" {
		c := copyRecord(rec)
		return products, &c, nil
	}
	return products, nil, nil
}

// ClaimKey upserts the cart, lets decide look at the key's row while the
// store's mutex is held and applies the decision.
func (s *Store) ClaimKey(ctx context.Context, in checkoutsvc.ClaimInput, decide func(cur *checkoutsvc.KeyRecord) checkoutsvc.Decision) (checkoutsvc.Decision, error) {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return checkoutsvc.Decision{}, err
	}
	now := normTime(in.Now)
	s.mu.Lock()
	defer s.mu.Unlock()

	var cur *checkoutsvc.KeyRecord
	if row, ok := s.keys[in.Key]; ok && in.Key != "" {
		c := copyRecord(row)
		cur = &c
	}
	d := decide(cur)

	// Check before writing anything, so that a refused decision leaves
	// the store as it was, as the rolled-back transaction does on
	// PostgreSQL.
	var insert checkoutsvc.KeyRecord
	switch d.Kind {
	case checkoutsvc.DecideNone:
	case checkoutsvc.DecideInsert:
		insert = copyRecord(&d.Record)
		if insert.UserID == "" {
			insert.UserID = userID
		}
		if insert.UserID, err = parseUser(insert.UserID); err != nil {
			return checkoutsvc.Decision{}, err
		}
		if insert.Key == "" {
			return checkoutsvc.Decision{}, errors.New("memstore: claim key: insert without a key")
		}
		if _, dup := s.keys[insert.Key]; dup {
			return checkoutsvc.Decision{}, errors.New("memstore: claim key: key already exists")
		}
		if _, dup := s.byPI[insert.PaymentIntentID]; dup && insert.PaymentIntentID != "" {
			return checkoutsvc.Decision{}, errors.New("memstore: claim key: PaymentIntent already bound")
		}
	case checkoutsvc.DecideLock, checkoutsvc.DecideTouch:
		if cur == nil {
			return checkoutsvc.Decision{}, fmt.Errorf("memstore: claim key: %w", errNoKey)
		}
	default:
		return checkoutsvc.Decision{}, fmt.Errorf("memstore: claim key: unknown decision %d", d.Kind)
	}

	if d.Kind != checkoutsvc.DecideNone { // a refusal writes nothing, not even the cart
		s.upsertCart(userID, in.Cart, "", now)
	}
	switch d.Kind {
	case checkoutsvc.DecideInsert:
		insert.LockedAt = now
		insert.CreatedAt = now
		insert.LastUsedAt = now
		insert.SyncedAt = normTime(insert.SyncedAt)
		insert.WebhookSeenAt = normTime(insert.WebhookSeenAt)
		s.keys[insert.Key] = &insert
		if insert.PaymentIntentID != "" {
			s.byPI[insert.PaymentIntentID] = insert.Key
		}
	case checkoutsvc.DecideLock:
		row := s.keys[in.Key]
		row.LockedAt = now
		row.LastUsedAt = now
		row.Items = append([]checkout.Line{}, d.Record.Items...)
		row.Amount = d.Record.Amount
		row.Currency = d.Record.Currency
	case checkoutsvc.DecideTouch:
		s.keys[in.Key].LastUsedAt = now
	}
	return d, nil
}

// RecordPaymentIntent stores the PaymentIntent bound to key and releases
// the lock.
func (s *Store) RecordPaymentIntent(ctx context.Context, key string, pi checkoutsvc.PaymentIntent, now time.Time) (checkoutsvc.KeyRecord, error) {
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.keys[key]
	if !ok {
		return checkoutsvc.KeyRecord{}, fmt.Errorf("memstore: record payment intent: %w", errNoKey)
	}
	if other, bound := s.byPI[pi.ID]; bound && other != key {
		return checkoutsvc.KeyRecord{}, errors.New("memstore: record payment intent: PaymentIntent bound to another key")
	}
	if row.PaymentIntentID != "" && row.PaymentIntentID != pi.ID {
		delete(s.byPI, row.PaymentIntentID)
	}
	if pi.ID != "" {
		s.byPI[pi.ID] = key
	}
	if row.PaymentIntentID != pi.ID || !terminal(row.PIStatus) {
		row.PIStatus = pi.Status
	}
	row.PaymentIntentID = pi.ID
	row.ClientSecret = pi.ClientSecret
	row.PIAmount = pi.Amount
	row.PICurrency = pi.Currency
	row.LockedAt = time.Time{}
	row.SyncedAt = now
	return copyRecord(row), nil
}

// ReleaseKey clears the key's lock if it is still the one taken at
// lockedAt; an unknown key is not an error.
func (s *Store) ReleaseKey(ctx context.Context, key string, lockedAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if row, ok := s.keys[key]; ok && row.LockedAt.Equal(normTime(lockedAt)) {
		row.LockedAt = time.Time{}
	}
	return nil
}

// ApplyEvent applies a Stripe event at most once.
func (s *Store) ApplyEvent(ctx context.Context, ev checkoutsvc.Event) (bool, error) {
	now := ev.Now
	if now.IsZero() {
		now = s.Now()
	}
	now = normTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events[ev.ID] {
		return false, nil
	}
	s.events[ev.ID] = true

	switch ev.Type {
	case checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled:
		row := s.rowForIntent(ev)
		if row == nil {
			return true, nil
		}
		row.WebhookSeenAt = now
		row.SyncedAt = now
		switch ev.Type {
		case checkoutsvc.EventPaymentSucceeded:
			row.PIStatus = checkoutsvc.StatusSucceeded
			if ev.Currency != "" {
				row.PIAmount, row.PICurrency = ev.Amount, ev.Currency
			}
			if _, exists := s.orders[row.PaymentIntentID]; !exists {
				o := order{userID: row.UserID, amount: row.Amount, currency: row.Currency,
					items: append([]checkout.Line{}, row.Items...), createdAt: now}
				if ev.Currency != "" {
					o.amount, o.currency = ev.Amount, ev.Currency
				}
				s.orders[row.PaymentIntentID] = o
			}
			s.emptyCart(row.UserID, now)
		case checkoutsvc.EventPaymentFailed:
			if !terminal(row.PIStatus) {
				row.PIStatus = checkoutsvc.StatusRequiresPaymentMethod
			}
		case checkoutsvc.EventPaymentCanceled:
			if row.PIStatus != checkoutsvc.StatusSucceeded {
				row.PIStatus = checkoutsvc.StatusCanceled
			}
		}
	case checkoutsvc.EventCheckoutCompleted:
		userID, ok := s.userForSession(ev.CheckoutSessionID)
		if !ok {
			return true, nil
		}
		id := ev.PaymentIntentID
		if id == "" {
			id = ev.CheckoutSessionID
		}
		if _, exists := s.orders[id]; !exists {
			c := s.carts[userID]
			o := order{userID: userID, items: []checkout.Line{}, sessionID: ev.CheckoutSessionID, createdAt: now}
			for _, it := range c.items {
				p, ok := s.products[it.ProductID]
				if !ok {
					continue
				}
				o.items = append(o.items, checkout.Line{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitAmount: p.UnitAmount})
				o.amount += p.UnitAmount * int64(it.Quantity)
				if o.currency == "" {
					o.currency = p.Currency
				}
			}
			if ev.Currency != "" {
				o.amount, o.currency = ev.Amount, ev.Currency
			}
			s.orders[id] = o
		}
		s.emptyCart(userID, now)
	}
	return true, nil
}

// rowForIntent returns the key row bound to ev.PaymentIntentID or, when none
// is, the row of ev.OnechargeKey if it is not bound yet, binding it.
func (s *Store) rowForIntent(ev checkoutsvc.Event) *checkoutsvc.KeyRecord {
	if ev.PaymentIntentID == "" {
		return nil
	}
	if key, ok := s.byPI[ev.PaymentIntentID]; ok {
		return s.keys[key]
	}
	row, ok := s.keys[ev.OnechargeKey]
	if !ok || ev.OnechargeKey == "" || row.PaymentIntentID != "" {
		return nil
	}
	row.PaymentIntentID = ev.PaymentIntentID
	s.byPI[ev.PaymentIntentID] = row.Key
	return row
}

func (s *Store) emptyCart(userID string, now time.Time) {
	if c, ok := s.carts[userID]; ok {
		c.items = []checkout.Item{}
		c.updatedAt = now
	}
}

// GetOrder returns what userID may see of the order of PaymentIntent piID.
// The status rules are those of server/postgres (see its package comment).
func (s *Store) GetOrder(ctx context.Context, userID, piID string) (checkout.OrderStatus, bool, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return checkout.OrderStatus{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[piID]; ok {
		if o.userID != userID {
			return checkout.OrderStatus{}, false, nil
		}
		return checkout.OrderStatus{Status: checkout.OrderPaid, Amount: o.amount, Currency: o.currency,
			Items: append([]checkout.Line{}, o.items...)}, true, nil
	}
	key, ok := s.byPI[piID]
	if !ok || piID == "" {
		return checkout.OrderStatus{}, false, nil
	}
	row := s.keys[key]
	if row.UserID != userID {
		return checkout.OrderStatus{}, false, nil
	}
	st := checkout.OrderStatus{
		Status:   checkoutsvc.OrderStatusOf(row.PIStatus, !row.WebhookSeenAt.IsZero()),
		Amount:   row.Amount,
		Currency: row.Currency,
		Items:    append([]checkout.Line{}, row.Items...),
	}
	if row.PICurrency != "" {
		st.Amount, st.Currency = row.PIAmount, row.PICurrency
	}
	return st, true, nil
}

// terminal reports whether a PaymentIntent status can never change again.
func terminal(status string) bool {
	return status == checkoutsvc.StatusSucceeded || status == checkoutsvc.StatusCanceled
}

func copyRecord(r *checkoutsvc.KeyRecord) checkoutsvc.KeyRecord {
	c := *r
	c.Items = append([]checkout.Line{}, r.Items...)
	return c
}

// normTime returns t in UTC truncated to microseconds, as PostgreSQL stores
// it; the zero time stays zero.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// parseUser checks the user id before it reaches the store.
func parseUser(id string) (string, error) { return checkoutsvc.ParseUserID(id) }
