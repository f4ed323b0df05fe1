// Package memstore is the in-memory checkoutsvc.Store, the embedded
// default of `make run`. Everything lives under one mutex, so every method
// is trivially atomic; it follows the same rules as server/postgres and
// passes the same suite (server/storetest). Data is lost when the process
// ends, and it serves one process only: replicas need PostgreSQL.
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
	aliases  map[string]map[string]alias       // user id → alias → key
	sessions map[string]*session               // by Checkout Session id
	lastSeq  int                               // the last session's seq: never reused, as an identity column
	byOrder  map[string]*order                 // PaymentIntent or session id → order
	events   map[string]time.Time              // applied Stripe event ids

	reaping sync.Mutex // held while a reaper runs
}

type cart struct {
	items     []checkout.Item
	createdAt time.Time
	updatedAt time.Time
	// The user's hosted-checkout lease.
	checkoutToken string
	checkoutLease time.Time
}

type alias struct {
	key       string
	createdAt time.Time
}

type session struct {
	checkoutsvc.CheckoutSession
	createdAt time.Time
	seq       int // orders a user's sessions, as the column of PostgreSQL
}

type order struct {
	userID    string
	status    string
	amount    int64
	currency  string
	items     []checkout.Line
	piID      string
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
		aliases:  make(map[string]map[string]alias),
		sessions: make(map[string]*session),
		byOrder:  make(map[string]*order),
		events:   make(map[string]time.Time),
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
func (s *Store) UpsertCart(ctx context.Context, userID string, items []checkout.Item) (time.Time, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return time.Time{}, err
	}
	now := checkoutsvc.NormTime(s.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upsertCart(userID, items, now)
	return now, nil
}

func (s *Store) upsertCart(userID string, items []checkout.Item, now time.Time) *cart {
	c, ok := s.carts[userID]
	if !ok {
		c = &cart{createdAt: now}
		s.carts[userID] = c
	}
	c.items = append([]checkout.Item{}, items...)
	c.updatedAt = now
	return c
}

// ReplayKey stores the cart and touches the key when its row matches want;
// otherwise it writes nothing. See checkoutsvc.Store and server/storetest
// for what "matches" means.
func (s *Store) ReplayKey(ctx context.Context, want checkoutsvc.KeyRecord, items []checkout.Item, now time.Time) (bool, error) {
	userID, err := parseUser(want.UserID)
	if err != nil {
		return false, err
	}
	now = checkoutsvc.NormTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.keys[want.Key]
	if !ok || want.PaymentIntentID == "" || cur.LockToken != "" ||
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
	s.upsertCart(userID, items, now)
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

// ClaimKey resolves the request's key through the user's aliases, lets
// decide look at its row while the store's mutex is held and applies the
// decision.
func (s *Store) ClaimKey(ctx context.Context, in checkoutsvc.ClaimInput, decide func(checkoutsvc.Claim) checkoutsvc.Decision) (checkoutsvc.Decision, error) {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return checkoutsvc.Decision{}, err
	}
	now := checkoutsvc.NormTime(in.Now)
	s.mu.Lock()
	defer s.mu.Unlock()

	key := in.Key
	if key == "" && in.Nonce != "" {
		if a, ok := s.aliases[userID][checkoutsvc.AliasNonce(in.Nonce)]; ok && !a.createdAt.Before(checkoutsvc.NormTime(in.NonceSince)) {
			key = a.key
		}
	}
	for hop := 0; key != "" && hop < checkoutsvc.MaxAliasHops; hop++ {
		a, ok := s.aliases[userID][checkoutsvc.AliasRotation(key)]
		if !ok {
			break
		}
		key = a.key
	}
	var cur *checkoutsvc.KeyRecord
	if row, ok := s.keys[key]; ok && key != "" {
		c := copyRecord(row)
		cur = &c
	}
	d := decide(checkoutsvc.Claim{Key: key, Cur: cur})

	// Check before writing anything, so that a refused decision leaves
	// the store as it was, as the rolled-back transaction does on
	// PostgreSQL.
	var insert checkoutsvc.KeyRecord
	switch d.Kind {
	case checkoutsvc.DecideNone:
		return d, nil
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
		if a, taken := s.aliases[userID][d.Alias]; taken && d.Alias != "" && !aliasReplaceable(d.Alias, a, checkoutsvc.NormTime(in.NonceSince)) {
			// Under one mutex no other request can have bound it since
			// the resolution above: decide saw the winner already.
			return checkoutsvc.Decision{}, errors.New("memstore: claim key: alias already bound")
		}
	case checkoutsvc.DecideLock, checkoutsvc.DecideTouch:
		if cur == nil {
			return checkoutsvc.Decision{}, fmt.Errorf("memstore: claim key: %w", errNoKey)
		}
	default:
		return checkoutsvc.Decision{}, fmt.Errorf("memstore: claim key: unknown decision %d", d.Kind)
	}

	switch d.Kind {
	case checkoutsvc.DecideInsert:
		s.upsertCart(userID, in.Cart, now)
		insert.CreatedAt, insert.LastUsedAt = now, now
		insert.LeaseUntil = checkoutsvc.NormTime(insert.LeaseUntil)
		insert.SyncedAt = checkoutsvc.NormTime(insert.SyncedAt)
		insert.WebhookSeenAt = checkoutsvc.NormTime(insert.WebhookSeenAt)
		s.keys[insert.Key] = &insert
		if insert.PaymentIntentID != "" {
			s.byPI[insert.PaymentIntentID] = insert.Key
		}
		if d.Alias != "" {
			if s.aliases[userID] == nil {
				s.aliases[userID] = map[string]alias{}
			}
			s.aliases[userID][d.Alias] = alias{key: insert.Key, createdAt: now}
		}
	case checkoutsvc.DecideLock:
		row := s.keys[cur.Key]
		row.LockToken = d.Record.LockToken
		row.LeaseUntil = checkoutsvc.NormTime(d.Record.LeaseUntil)
	case checkoutsvc.DecideTouch:
		s.upsertCart(userID, in.Cart, now)
		s.keys[cur.Key].LastUsedAt = now
	}
	return d, nil
}

// aliasReplaceable reports whether the alias a, bound already, may be
// bound anew: a nonce alias older than the nonces honoured (since).
// Rotation aliases are forever (until retention deletes them).
func aliasReplaceable(name string, a alias, since time.Time) bool {
	return checkoutsvc.IsNonceAlias(name) && a.createdAt.Before(since)
}

// RecordKey stores what Stripe said and releases the lease, when in.Token
// still holds the key.
func (s *Store) RecordKey(ctx context.Context, key string, in checkoutsvc.RecordInput) (checkoutsvc.KeyRecord, error) {
	now := checkoutsvc.NormTime(in.Now)
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.keys[key]
	if !ok {
		return checkoutsvc.KeyRecord{}, fmt.Errorf("memstore: record key: %w", errNoKey)
	}
	next, storeCart, err := checkoutsvc.ApplyRecord(copyRecord(row), in)
	if err != nil {
		return checkoutsvc.KeyRecord{}, err
	}
	if next.PaymentIntentID != "" {
		if other, bound := s.byPI[next.PaymentIntentID]; bound && other != key {
			return checkoutsvc.KeyRecord{}, errors.New("memstore: record key: PaymentIntent bound to another key")
		}
		s.byPI[next.PaymentIntentID] = key
	}
	next.SyncedAt, next.LastUsedAt = checkoutsvc.NormTime(next.SyncedAt), checkoutsvc.NormTime(next.LastUsedAt)
	*row = next
	if storeCart {
		s.upsertCart(row.UserID, in.Cart, now)
	}
	return copyRecord(row), nil
}

// ReleaseKey clears the key's lease if token still holds it.
func (s *Store) ReleaseKey(ctx context.Context, key, token string, stale bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if row, ok := s.keys[key]; ok && token != "" && row.LockToken == token {
		row.LockToken, row.LeaseUntil = "", time.Time{}
		if stale {
			row.SyncedAt, row.WebhookSeenAt = time.Time{}, time.Time{}
		}
	}
	return nil
}

// SetPending stores the pending order of a key token holds.
func (s *Store) SetPending(ctx context.Context, key, token string, order *checkout.Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.keys[key]
	if !ok || token == "" || row.LockToken != token {
		return checkoutsvc.ErrLeaseLost
	}
	row.Pending = nil
	if order != nil {
		p := copyOrder(*order)
		row.Pending = &p
	}
	return nil
}

// MarkStale makes the next request re-read the key's PaymentIntent.
func (s *Store) MarkStale(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if row, ok := s.keys[key]; ok {
		row.SyncedAt, row.WebhookSeenAt = time.Time{}, time.Time{}
	}
	return nil
}

// RenewLease moves a lease that still holds to until.
func (s *Store) RenewLease(ctx context.Context, l checkoutsvc.Lease, now, until time.Time) error {
	now, until = checkoutsvc.NormTime(now), checkoutsvc.NormTime(until)
	s.mu.Lock()
	defer s.mu.Unlock()
	var token *string
	var lease *time.Time
	switch l.Kind {
	case checkoutsvc.LeaseKey:
		if row, ok := s.keys[l.ID]; ok {
			token, lease = &row.LockToken, &row.LeaseUntil
		}
	case checkoutsvc.LeaseCheckout:
		if c, ok := s.carts[l.ID]; ok {
			token, lease = &c.checkoutToken, &c.checkoutLease
		}
	default:
		return fmt.Errorf("memstore: renew lease: unknown kind %d", l.Kind)
	}
	if token == nil || l.Token == "" || *token != l.Token || !now.Before(*lease) {
		return checkoutsvc.ErrLeaseLost
	}
	*lease = until
	return nil
}

// ClaimCheckout takes the user's checkout lease, stores the cart and
// returns the user's open and newest sessions.
func (s *Store) ClaimCheckout(ctx context.Context, in checkoutsvc.CheckoutClaimInput) (checkoutsvc.CheckoutClaim, error) {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return checkoutsvc.CheckoutClaim{}, err
	}
	now := checkoutsvc.NormTime(in.Now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.carts[userID]; ok && c.checkoutToken != "" && now.Before(c.checkoutLease) {
		return checkoutsvc.CheckoutClaim{InProgress: true, LeaseUntil: c.checkoutLease}, nil
	}
	c := s.upsertCart(userID, in.Cart, now)
	c.checkoutToken, c.checkoutLease = in.Token, checkoutsvc.NormTime(in.LeaseUntil)
	var out checkoutsvc.CheckoutClaim
	var newest *session
	for _, ss := range s.sessions {
		if ss.UserID != userID {
			continue
		}
		if ss.Status == checkoutsvc.SessionOpen {
			out.Open = append(out.Open, ss.ID)
		}
		if newest == nil || ss.seq > newest.seq {
			newest = ss
		}
	}
	sort.Strings(out.Open)
	if newest != nil {
		out.Last = newest.ID
	}
	return out, nil
}

// RecordCheckout stores the closed and new sessions and releases the
// user's checkout lease, when in.Token still holds it.
func (s *Store) RecordCheckout(ctx context.Context, in checkoutsvc.CheckoutRecord) error {
	userID, err := parseUser(in.UserID)
	if err != nil {
		return err
	}
	now := checkoutsvc.NormTime(in.Now)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[userID]
	if !ok || in.Token == "" || c.checkoutToken != in.Token {
		return checkoutsvc.ErrLeaseLost
	}
	s.closeSessions(in.Closed)
	if in.Session != nil {
		if _, exists := s.sessions[in.Session.ID]; !exists {
			ss := &session{CheckoutSession: *in.Session, createdAt: now, seq: s.lastSeq + 1}
			ss.UserID = userID
			ss.Items = append([]checkout.Line{}, in.Session.Items...)
			s.sessions[ss.ID] = ss
			s.lastSeq = ss.seq
		}
	}
	c.checkoutToken, c.checkoutLease = "", time.Time{}
	return nil
}

// ReleaseCheckout releases the user's checkout lease when token holds it.
func (s *Store) ReleaseCheckout(ctx context.Context, userID, token string) error {
	userID, err := parseUser(userID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.carts[userID]; ok && token != "" && c.checkoutToken == token {
		c.checkoutToken, c.checkoutLease = "", time.Time{}
	}
	return nil
}

// ApplyEvent applies a Stripe event at most once.
func (s *Store) ApplyEvent(ctx context.Context, ev checkoutsvc.Event) (checkoutsvc.EventResult, error) {
	now := ev.Now
	if now.IsZero() {
		now = s.Now()
	}
	now = checkoutsvc.NormTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.events[ev.ID]; seen {
		return checkoutsvc.EventResult{}, nil
	}
	s.events[ev.ID] = now
	res := checkoutsvc.EventResult{Applied: true}

	switch ev.Type {
	case checkoutsvc.EventPaymentSucceeded, checkoutsvc.EventPaymentFailed, checkoutsvc.EventPaymentCanceled:
		row := s.rowForIntent(ev)
		if row == nil {
			if ev.Type == checkoutsvc.EventPaymentSucceeded && ev.OnechargeKey != "" {
				// Ours, but no key row knows it (gone, or never stored).
				if u, err := parseUser(ev.MetadataUserID); err == nil {
					res.Order = s.recordOrder(&order{userID: u, status: checkout.OrderNeedsReview, amount: ev.Amount,
						currency: ev.Currency, items: []checkout.Line{}, piID: ev.PaymentIntentID, createdAt: now}, 0)
					s.emptyCart(u, now)
				}
			}
			return res, nil
		}
		row.WebhookSeenAt = now
		switch ev.Type {
		case checkoutsvc.EventPaymentSucceeded:
			row.PIStatus = checkoutsvc.ForwardStatus(row.PIStatus, checkoutsvc.StatusSucceeded)
			if row.PIStatus != checkoutsvc.StatusSucceeded {
				return res, nil // canceled before: Stripe never does this
			}
			if ev.Currency != "" {
				row.PIAmount, row.PICurrency = ev.Amount, ev.Currency
			}
			status, items := checkoutsvc.PaidOrder(row, ev.Amount, ev.Currency)
			o := &order{userID: row.UserID, status: status, amount: ev.Amount, currency: ev.Currency,
				items: append([]checkout.Line{}, items...), piID: row.PaymentIntentID, createdAt: now}
			res.Order = s.recordOrder(o, row.Amount)
			s.emptyCart(row.UserID, now)
		case checkoutsvc.EventPaymentFailed:
			row.PIStatus = checkoutsvc.ForwardStatus(row.PIStatus, checkoutsvc.StatusRequiresPaymentMethod)
		case checkoutsvc.EventPaymentCanceled:
			row.PIStatus = checkoutsvc.ForwardStatus(row.PIStatus, checkoutsvc.StatusCanceled)
		}
	case checkoutsvc.EventCheckoutCompleted:
		ss, ok := s.sessions[ev.CheckoutSessionID]
		if !ok {
			if u, err := parseUser(ev.ClientReferenceID); err == nil && ev.CheckoutSessionID != "" {
				res.Order = s.recordOrder(&order{userID: u, status: checkout.OrderNeedsReview, amount: ev.Amount, currency: ev.Currency,
					items: []checkout.Line{}, piID: ev.PaymentIntentID, sessionID: ev.CheckoutSessionID, createdAt: now}, 0)
				s.emptyCart(u, now)
			}
			return res, nil
		}
		ss.Status = checkoutsvc.SessionComplete
		o := &order{userID: ss.UserID, status: checkoutsvc.SessionOrder(&ss.CheckoutSession, ev.Amount, ev.Currency),
			amount: ev.Amount, currency: ev.Currency, items: append([]checkout.Line{}, ss.Items...),
			piID: ev.PaymentIntentID, sessionID: ss.ID, createdAt: now}
		res.Order = s.recordOrder(o, ss.Amount)
		s.emptyCart(ss.UserID, now)
	case checkoutsvc.EventCheckoutExpired:
		if ss, ok := s.sessions[ev.CheckoutSessionID]; ok && ss.Status == checkoutsvc.SessionOpen {
			ss.Status = checkoutsvc.SessionExpired
		}
	}
	return res, nil
}

// recordOrder stores o unless an order for its PaymentIntent or session
// exists already (one order per payment), and describes what it stored.
func (s *Store) recordOrder(o *order, bound int64) *checkoutsvc.RecordedOrder {
	for _, id := range []string{o.piID, o.sessionID} {
		if _, exists := s.byOrder[id]; exists && id != "" {
			return nil
		}
	}
	for _, id := range []string{o.piID, o.sessionID} {
		if id != "" {
			s.byOrder[id] = o
		}
	}
	id := o.sessionID
	if id == "" {
		id = o.piID
	}
	return &checkoutsvc.RecordedOrder{ID: id, UserID: o.userID, Status: o.status, Amount: o.amount, Currency: o.currency, Bound: bound}
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

// GetOrder returns what userID may see of the order with id: the recorded
// order, or else the state of the key or session it belongs to.
func (s *Store) GetOrder(ctx context.Context, userID, id string) (checkout.OrderStatus, bool, error) {
	userID, err := parseUser(userID)
	if err != nil {
		return checkout.OrderStatus{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		return checkout.OrderStatus{}, false, nil
	}
	if o, ok := s.byOrder[id]; ok {
		if o.userID != userID {
			return checkout.OrderStatus{}, false, nil
		}
		return checkout.OrderStatus{Status: o.status, Amount: o.amount, Currency: o.currency,
			Items: append([]checkout.Line{}, o.items...)}, true, nil
	}
	if key, ok := s.byPI[id]; ok {
		row := s.keys[key]
		if row.UserID != userID {
			return checkout.OrderStatus{}, false, nil
		}
		return checkout.OrderStatus{Status: checkoutsvc.OrderStatusOf(row.PIStatus), Amount: row.Amount,
			Currency: row.Currency, Items: append([]checkout.Line{}, row.Items...)}, true, nil
	}
	if ss, ok := s.sessions[id]; ok {
		if ss.UserID != userID {
			return checkout.OrderStatus{}, false, nil
		}
		return checkout.OrderStatus{Status: checkoutsvc.SessionOrderStatusOf(ss.Status), Amount: ss.Amount,
			Currency: ss.Currency, Items: append([]checkout.Line{}, ss.Items...)}, true, nil
	}
	return checkout.OrderStatus{}, false, nil
}

func copyRecord(r *checkoutsvc.KeyRecord) checkoutsvc.KeyRecord {
	c := *r
	c.Items = append([]checkout.Line{}, r.Items...)
	if r.Pending != nil {
		p := copyOrder(*r.Pending)
		c.Pending = &p
	}
	return c
}

func copyOrder(o checkout.Order) checkout.Order {
	o.Items = append([]checkout.Line{}, o.Items...)
	return o
}

// parseUser checks the user id before it reaches the store.
func parseUser(id string) (string, error) { return checkoutsvc.ParseUserID(id) }
