package modeltest

// Every read of a store's own rows (what HTTP cannot tell) is behind the
// inspector interface, implemented here and only here for both stores, so
// that a schema change is adapted in this one file.
//
// memstore keeps its rows in unexported maps: memInspector reads them by
// reflection, holding the store's own mutex, and fails loudly (naming this
// file) when a field it expects is gone or changed type. pgInspector runs
// SQL on a connection of its own to the test's database, whose URL it learns
// from the store's first query (testenv.Options.Tracer).

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/shared/checkout"
)

// keyRow is what the checks need of one idempotency key row.
type keyRow struct {
	Key             string
	UserID          string
	Method          string
	PaymentIntentID string
	PIStatus        string
	PIAmount        int64 // the PaymentIntent's amount as the store last learned it
	Amount          int64 // the bound order's amount
	Locked          bool  // a lease token is on the row (its lease may have run out)
	// Row is the whole row (every column or field) but the lease
	// (lock_token, lease_until), to detect any write. The lease is
	// bookkeeping, not the shopper's data: a refused request takes and
	// releases it, and may release a dead holder's expired one (I4 as
	// the README states it).
	Row string
}

// orderRow is one recorded order.
type orderRow struct {
	ID        string // the PaymentIntent id it is recorded under (or, without one, its session id)
	SessionID string // the Checkout Session it came from, "" for a validation
	UserID    string
	Amount    int64
	Currency  string
	Status    string // "" until the store has an order status (needs_review)
	Items     []checkout.Line
}

// inspector reads a store's rows directly.
type inspector interface {
	// Keys returns every key row, by key.
	Keys(ctx context.Context) (map[string]keyRow, error)
	// Cart returns how many cart rows userID has and the whole of them.
	Cart(ctx context.Context, userID string) (rows int, row string, err error)
	// DuplicateCarts returns the users with more than one cart row (I3).
	DuplicateCarts(ctx context.Context) (map[string]int, error)
	// Orders returns every recorded order.
	Orders(ctx context.Context) ([]orderRow, error)
	// AppliedEvents returns the ids of the Stripe events recorded as applied.
	AppliedEvents(ctx context.Context) (map[string]bool, error)
	Close()
}

// ---- memory

type memInspector struct {
	mu     *sync.Mutex
	keys   map[string]*checkoutsvc.KeyRecord
	carts  reflect.Value // map[string]*cart
	orders reflect.Value // map[string]*order: by PaymentIntent or session id
	events map[string]time.Time
}

func newMemInspector(s *memstore.Store) *memInspector {
	v := reflect.ValueOf(s).Elem()
	field := func(name string) reflect.Value {
		f := v.FieldByName(name)
		if !f.IsValid() {
			panic("modeltest/inspect_test.go: memstore.Store has no field " + name + ": adapt memInspector")
		}
		return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	}
	typed := func(name string, want reflect.Type) any {
		f := field(name)
		if f.Type() != want {
			panic(fmt.Sprintf("modeltest/inspect_test.go: memstore.Store.%s is %v, not %v: adapt memInspector", name, f.Type(), want))
		}
		return f.Addr().Interface()
	}
	return &memInspector{
		mu:     typed("mu", reflect.TypeFor[sync.Mutex]()).(*sync.Mutex),
		keys:   *typed("keys", reflect.TypeFor[map[string]*checkoutsvc.KeyRecord]()).(*map[string]*checkoutsvc.KeyRecord),
		carts:  field("carts"),
		orders: field("byOrder"),
		events: *typed("events", reflect.TypeFor[map[string]time.Time]()).(*map[string]time.Time),
	}
}

func (m *memInspector) Close() {}

func (m *memInspector) Keys(ctx context.Context) (map[string]keyRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]keyRow, len(m.keys))
	for k, r := range m.keys {
		row := *r
		row.LockToken, row.LeaseUntil = "", time.Time{}
		pending := ""
		if r.Pending != nil {
			pending = fmt.Sprintf("%+v", *r.Pending)
		}
		out[k] = keyRow{
			Key: r.Key, UserID: r.UserID, Method: string(r.PaymentMethod),
			PaymentIntentID: r.PaymentIntentID, PIStatus: r.PIStatus, PIAmount: r.PIAmount, Amount: r.Amount, Locked: r.LockToken != "",
			Row: fmt.Sprintf("%+v pending=%s", row, pending),
		}
	}
	return out, nil
}

func (m *memInspector) Cart(ctx context.Context, userID string) (int, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.carts.MapIndex(reflect.ValueOf(userID))
	if !c.IsValid() {
		return 0, "", nil
	}
	return 1, fmt.Sprintf("%+v", c.Elem()), nil
}

func (m *memInspector) DuplicateCarts(ctx context.Context) (map[string]int, error) {
	return nil, nil // a map holds one cart per user by construction
}

func (m *memInspector) Orders(ctx context.Context) ([]orderRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []orderRow
	seen := map[uintptr]bool{} // an order stands under each of its ids
	for it := m.orders.MapRange(); it.Next(); {
		p := it.Value().Pointer()
		if seen[p] {
			continue
		}
		seen[p] = true
		o := it.Value().Elem()
		get := func(name string) reflect.Value {
			f := o.FieldByName(name)
			if !f.IsValid() {
				panic("modeltest/inspect_test.go: memstore order has no field " + name + ": adapt memInspector")
			}
			return f
		}
		row := orderRow{
			ID: get("piID").String(), SessionID: get("sessionID").String(), UserID: get("userID").String(),
			Amount: get("amount").Int(), Currency: get("currency").String(), Status: get("status").String(),
		}
		if row.ID == "" {
			row.ID = row.SessionID
		}
		items := get("items")
		for i := 0; i < items.Len(); i++ {
			l := items.Index(i)
			row.Items = append(row.Items, checkout.Line{
				ProductID: l.FieldByName("ProductID").String(), Name: l.FieldByName("Name").String(),
				Quantity: int(l.FieldByName("Quantity").Int()), UnitAmount: l.FieldByName("UnitAmount").Int(),
			})
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m *memInspector) AppliedEvents(ctx context.Context) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.events))
	for id := range m.events {
		out[id] = true
	}
	return out, nil
}

// ---- PostgreSQL

// connTracer learns the connection string of the store's pool from its
// first query.
type connTracer struct {
	once sync.Once
	url  chan string
}

func newConnTracer() *connTracer { return &connTracer{url: make(chan string, 1)} }

func (c *connTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.once.Do(func() { c.url <- conn.Config().ConnString() })
	return ctx
}

func (c *connTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type pgInspector struct{ conn *pgx.Conn }

// newPGInspector connects to the database of store (whose queries tr traces).
func newPGInspector(ctx context.Context, store checkoutsvc.Store, tr *connTracer) (*pgInspector, error) {
	if _, err := store.Products(ctx); err != nil { // a first query, so tr learns the URL
		return nil, err
	}
	var url string
	select {
	case url = <-tr.url:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("inspect: the store's tracer saw no query")
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	return &pgInspector{conn: conn}, nil
}

func (p *pgInspector) Close() { _ = p.conn.Close(context.Background()) }

func (p *pgInspector) Keys(ctx context.Context) (map[string]keyRow, error) {
	rows, err := p.conn.Query(ctx, `
select key, user_id::text, payment_method, coalesce(payment_intent_id, ''), pi_status,
       pi_amount, amount, lock_token is not null, (to_jsonb(k) - 'lock_token' - 'lease_until')::text
  from idempotency_keys k`)
	if err != nil {
		return nil, err
	}
	out := map[string]keyRow{}
	for rows.Next() {
		var r keyRow
		if err := rows.Scan(&r.Key, &r.UserID, &r.Method, &r.PaymentIntentID, &r.PIStatus, &r.PIAmount, &r.Amount, &r.Locked, &r.Row); err != nil {
			rows.Close()
			return nil, err
		}
		out[r.Key] = r
	}
	return out, rows.Err()
}

func (p *pgInspector) Cart(ctx context.Context, userID string) (int, string, error) {
	var n int
	var row string
	err := p.conn.QueryRow(ctx, `
select count(*), coalesce(string_agg(to_jsonb(c)::text, ',' order by c.id), '')
  from carts c where user_id = $1::uuid`, userID).Scan(&n, &row)
	return n, row, err
}

func (p *pgInspector) DuplicateCarts(ctx context.Context) (map[string]int, error) {
	rows, err := p.conn.Query(ctx, `select user_id::text, count(*) from carts group by user_id having count(*) > 1`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var u string
		var n int
		if err := rows.Scan(&u, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out[u] = n
	}
	return out, rows.Err()
}

func (p *pgInspector) Orders(ctx context.Context) ([]orderRow, error) {
	rows, err := p.conn.Query(ctx, `
select coalesce(payment_intent_id, checkout_session_id), coalesce(checkout_session_id, ''), user_id::text, amount, currency,
       status, items::text
  from orders o order by 1`)
	if err != nil {
		return nil, err
	}
	var out []orderRow
	for rows.Next() {
		var r orderRow
		var items string
		if err := rows.Scan(&r.ID, &r.SessionID, &r.UserID, &r.Amount, &r.Currency, &r.Status, &items); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(items), &r.Items); err != nil {
			rows.Close()
			return nil, fmt.Errorf("order %s items: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (p *pgInspector) AppliedEvents(ctx context.Context) (map[string]bool, error) {
	rows, err := p.conn.Query(ctx, `select id from stripe_events`)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}
