package main

// The floors of CONTRACT.md section 8 that are Go programs, each run as a
// process of its own (serverbench floor -kind ...), as the server is:
//
//   - json: the HTTP floor, a minimal net/http JSON handler: it decodes
//     the validation request with encoding/json and encodes an answer of
//     the same shape (priced lines, key, PaymentIntent) with it.
//   - pgx: the HTTP+database floor, a minimal net/http handler running
//     the very SQL of the path through pgx/v5 (postgres.Statements):
//     PUT /api/cart runs ProductsByID then UpsertCart; the validate
//     replay runs Lookup's pipelined batch (ProductsByID, KeyByID) then
//     ReplayKey with the row it read. The user is the cookie's id,
//     unverified (a minimal handler has no sessions).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/postgres"
	"github.com/onecharge/onecharge/shared/checkout"
)

func floorMain(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	kind := fs.String("kind", "json", "json or pgx")
	dbURL := fs.String("db", "", "PostgreSQL (pgx)")
	maxConns := fs.Int("maxconns", 32, "pool size (pgx)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mux := http.NewServeMux()
	switch *kind {
	case "json":
		catalog := map[string]checkout.Product{}
		for _, p := range memstore.Catalog() {
			catalog[p.ID] = p
		}
		mux.HandleFunc("POST /api/orders/validate", func(w http.ResponseWriter, r *http.Request) {
			var req checkout.ValidateRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			order := priced(req.Items, catalog)
			writeJSON(w, checkout.ValidateResponse{Order: order, PaymentMethod: req.PaymentMethod, IdempotencyKey: req.IdempotencyKey,
				PaymentIntent: &checkout.PaymentIntent{ID: "pi_0123456789abcdefghijklmn", ClientSecret: "pi_0123456789abcdefghijklmn_secret_0123456789abcdefghijklm",
					Status: "requires_payment_method", Amount: order.Amount, Currency: order.Currency}})
		})
	case "pgx":
		cfg, err := pgxpool.ParseConfig(*dbURL)
		if err != nil {
			return err
		}
		cfg.MaxConns = int32(*maxConns)
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			return err
		}
		f := &pgxFloor{pool: pool, sql: postgres.Statements()}
		mux.HandleFunc("PUT /api/cart", f.putCart)
		mux.HandleFunc("POST /api/orders/validate", f.replay)
	default:
		return fmt.Errorf("unknown floor kind %q", *kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("floor listening on http://%s\n", ln.Addr())
	return (&http.Server{Handler: mux}).Serve(ln)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func priced(items []checkout.Item, catalog map[string]checkout.Product) checkout.Order {
	o := checkout.Order{Items: []checkout.Line{}, Currency: "usd"}
	for _, it := range items {
		p := catalog[it.ProductID]
		o.Items = append(o.Items, checkout.Line{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitAmount: p.UnitAmount})
		o.Amount += p.UnitAmount * int64(it.Quantity)
	}
	return o
}

type pgxFloor struct {
	pool *pgxpool.Pool
	sql  postgres.HotStatements
}

func cookieUser(r *http.Request) string {
	c, err := r.Cookie("onecharge_session")
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(c.Value, ".")
	return id
}

func fail(w http.ResponseWriter, status int, err error) { http.Error(w, err.Error(), status) }

func (f *pgxFloor) products(rows pgx.Rows) (map[string]checkout.Product, error) {
	out := map[string]checkout.Product{}
	var p checkout.Product
	_, err := pgx.ForEachRow(rows, []any{&p.ID, &p.Name, &p.UnitAmount, &p.Currency, &p.Active}, func() error {
		out[p.ID] = p
		return nil
	})
	return out, err
}

func ids(items []checkout.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ProductID
	}
	return out
}

func (f *pgxFloor) putCart(w http.ResponseWriter, r *http.Request) {
	var req checkout.CartRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	rows, err := f.pool.Query(ctx, f.sql.ProductsByID, ids(req.Items))
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	catalog, err := f.products(rows)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	order := priced(req.Items, catalog)
	items, _ := json.Marshal(req.Items)
	var updated time.Time
	if err := f.pool.QueryRow(ctx, f.sql.UpsertCart, cookieUser(r), string(items)).Scan(&updated); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, checkout.CartResponse{Cart: checkout.Cart{Items: order.Items, Amount: order.Amount, Currency: order.Currency, UpdatedAt: updated.UTC()}})
}

// keyRow is what KeyByID returns, in its column order.
type keyRow struct {
	key, user, method                  string
	items, pendingItems                []checkout.Line
	amount, pendingAmount, createAmt   int64
	currency, pendingCur, createCur    string
	piID, secret, piStatus, piCurrency string
	piAmount                           int64
	lockToken                          string
	lease, synced, webhook             pgtype.Timestamptz
	created, lastUsed                  time.Time
}

func (f *pgxFloor) replay(w http.ResponseWriter, r *http.Request) {
	var req checkout.ValidateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	var catalog map[string]checkout.Product
	var k keyRow
	b := &pgx.Batch{}
	b.Queue(f.sql.ProductsByID, ids(req.Items)).Query(func(rows pgx.Rows) error {
		var err error
		catalog, err = f.products(rows)
		return err
	})
	b.Queue(f.sql.KeyByID, req.IdempotencyKey).QueryRow(func(row pgx.Row) error {
		return row.Scan(&k.key, &k.user, &k.method, &k.items, &k.amount, &k.currency,
			&k.pendingItems, &k.pendingAmount, &k.pendingCur, &k.createAmt, &k.createCur,
			&k.piID, &k.secret, &k.piStatus, &k.piAmount, &k.piCurrency, &k.lockToken, &k.lease,
			&k.created, &k.lastUsed, &k.synced, &k.webhook)
	})
	if err := f.pool.SendBatch(ctx, b).Close(); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	order := priced(req.Items, catalog)
	snapshot, _ := json.Marshal(k.items)
	cart, _ := json.Marshal(req.Items)
	var matched bool
	if err := f.pool.QueryRow(ctx, f.sql.ReplayKey, k.key, cookieUser(r), k.method, k.piID, k.piStatus, k.piAmount, k.piCurrency,
		k.amount, k.currency, string(snapshot), time.Now(), string(cart)).Scan(&matched); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	if !matched {
		fail(w, http.StatusInternalServerError, errors.New("the key row did not match"))
		return
	}
	writeJSON(w, checkout.ValidateResponse{Order: order, PaymentMethod: req.PaymentMethod, IdempotencyKey: k.key,
		PaymentIntent: &checkout.PaymentIntent{ID: k.piID, ClientSecret: k.secret, Status: k.piStatus, Amount: k.piAmount, Currency: k.piCurrency}})
}
